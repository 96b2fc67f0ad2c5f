"""one subscription per address: a unique key on subscribers (kind, email, url)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

Before it, two sign-ups for one address racing on PostgreSQL could both insert. Such duplicates
are removed first, keeping the oldest row: the one sign-up, import and the admin always found.
The unique key starts with (kind, email), so the old index on those columns goes.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Explicitly, not by cascade: SQLite enforces foreign keys only when asked per connection.
    op.execute(
        "DELETE FROM subscriber_components WHERE subscriber_id IN "
        "(SELECT id FROM subscribers WHERE id NOT IN "
        "(SELECT MIN(id) FROM subscribers GROUP BY kind, email, url))"
    )
    op.execute(
        "DELETE FROM subscribers WHERE id NOT IN "
        "(SELECT MIN(id) FROM subscribers GROUP BY kind, email, url)"
    )
    # A unique index, not a table constraint: on SQLite a constraint means rebuilding the table,
    # and dropping the old one would cascade into subscriber_components.
    op.drop_index("ix_subscribers_kind_email", table_name="subscribers")
    op.create_index("uq_subscribers_address", "subscribers", ["kind", "email", "url"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_subscribers_address", table_name="subscribers")
    op.create_index("ix_subscribers_kind_email", "subscribers", ["kind", "email"], unique=False)
