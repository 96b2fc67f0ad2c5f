"""import map: what an import brought over from another status page, by its id there

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09

One row per imported object (group, component, incident, template, subscriber): the page it
came from, its kind and id there, and its id here. The import writes it in the transaction of
the object, so running the import again adds nothing and a killed import resumes; the old
incident permalinks (/incidents/<code>) redirect through it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_map",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("local_id", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_map")),
        sa.UniqueConstraint("source", "kind", "external_id", name="uq_import_map_external"),
    )
    op.create_index(
        "ix_import_map_kind_external", "import_map", ["kind", "external_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("import_map")
