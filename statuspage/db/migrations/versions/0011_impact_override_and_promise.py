"""an incident's explicit impact, and the next update an update promised

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Existing incidents keep the impact they have: it is taken as chosen, since nobody can tell now
whether a PM picked it. New incidents follow their components until a PM picks an impact.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("impact_override", sa.String(16), nullable=True))
    with op.batch_alter_table("incident_updates") as batch:
        batch.add_column(sa.Column("next_update_at", sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE incidents SET impact_override = impact WHERE kind = 'incident'"))


def downgrade() -> None:
    with op.batch_alter_table("incident_updates") as batch:
        batch.drop_column("next_update_at")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("impact_override")
