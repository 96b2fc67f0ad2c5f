"""daily uptime rollup: one row per component and closed local day

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

The public page's uptime bars read closed days from here instead of the raw status history;
`statuspage worker` (and `statuspage tick`) fill it, so it starts empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The same text as models.ROLLUP_NOT_QUIET (a migration does not import the models).
NOT_QUIET = sa.text(
    "(known_seconds != 86400 OR major_outage_seconds != 0 OR partial_outage_seconds != 0"
    " OR degraded_seconds != 0 OR maintenance_seconds != 0)"
)


def upgrade() -> None:
    op.create_table(
        "uptime_rollup",
        sa.Column("component_id", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("known_seconds", sa.Float(), nullable=False),
        sa.Column("major_outage_seconds", sa.Float(), nullable=False),
        sa.Column("partial_outage_seconds", sa.Float(), nullable=False),
        sa.Column("degraded_seconds", sa.Float(), nullable=False),
        sa.Column("maintenance_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("component_id", "time_zone", "day"),
    )
    with op.batch_alter_table("uptime_rollup", schema=None) as batch_op:
        batch_op.create_index(
            "ix_uptime_rollup_not_quiet",
            ["component_id", "time_zone", "day"],
            unique=False,
            sqlite_where=NOT_QUIET,
            postgresql_where=NOT_QUIET,
        )


def downgrade() -> None:
    op.drop_table("uptime_rollup")
