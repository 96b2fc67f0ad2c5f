"""postmortem action items: what must get done after an incident, by whom, by when

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

One row per action item of an incident (`action_items`), deleted with the incident. An item is
open while `done_at` is empty; the index on (done_at, due_on) finds the overdue ones.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(254), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("link", sa.String(2000), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_action_items_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_items")),
    )
    op.create_index(
        op.f("ix_action_items_incident_id"), "action_items", ["incident_id"], unique=False
    )
    op.create_index("ix_action_items_open_due", "action_items", ["done_at", "due_on"], unique=False)


def downgrade() -> None:
    op.drop_table("action_items")
