"""index incidents that have a published postmortem (the feeds' newest postmortems)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WITH_POSTMORTEM = sa.text("postmortem_published_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incidents_postmortem",
            ["postmortem_published_at"],
            unique=False,
            sqlite_where=WITH_POSTMORTEM,
            postgresql_where=WITH_POSTMORTEM,
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_postmortem")
