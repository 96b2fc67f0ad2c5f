"""postmortem drafts: a postmortem being written, kept apart from the published one

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09

Statuspage's postmortem has a draft (`body_draft`) beside the published text; the compatible
API and the importer keep it in `incidents.postmortem_draft`, which no public page reads.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("postmortem_draft", sa.Text(), nullable=True))
        batch.add_column(sa.Column("postmortem_draft_updated_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("postmortem_draft_updated_at")
        batch.drop_column("postmortem_draft")
