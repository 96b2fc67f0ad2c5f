"""per-incident subscriptions: a subscriber may follow one incident until it is resolved

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

A subscriber row with `incident_id` follows that incident or maintenance only. The one-per-address
key becomes two partial ones: one page-wide subscription per address, and one per address and
incident. Existing subscribers are page-wide (no incident) and keep their key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _rebuilding(change) -> None:
    """Change the subscribers table; on SQLite that rebuilds it (a batch), and dropping the old
    table cascades into subscriber_components (foreign keys are on): the component choices are
    kept aside and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE kept_choices AS SELECT * FROM subscriber_components")
    with op.batch_alter_table("subscribers") as batch:
        change(batch)
    if sqlite:
        op.execute("INSERT OR IGNORE INTO subscriber_components SELECT * FROM kept_choices")
        op.execute("DROP TABLE kept_choices")


def upgrade() -> None:
    def add(batch) -> None:
        batch.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_subscribers_incident_id_incidents"),
            "incidents",
            ["incident_id"],
            ["id"],
            ondelete="CASCADE",
        )

    _rebuilding(add)
    op.drop_index("uq_subscribers_address", table_name="subscribers")
    op.create_index(
        "uq_subscribers_address",
        "subscribers",
        ["kind", "email", "url"],
        unique=True,
        sqlite_where=sa.text("incident_id IS NULL"),
        postgresql_where=sa.text("incident_id IS NULL"),
    )
    op.create_index(
        "uq_subscribers_incident_address",
        "subscribers",
        ["incident_id", "kind", "email", "url"],
        unique=True,
        sqlite_where=sa.text("incident_id IS NOT NULL"),
        postgresql_where=sa.text("incident_id IS NOT NULL"),
    )


def downgrade() -> None:
    # Per-incident subscriptions have no place in the older schema.
    op.execute(
        "DELETE FROM subscriber_components WHERE subscriber_id IN "
        "(SELECT id FROM subscribers WHERE incident_id IS NOT NULL)"
    )
    op.execute("DELETE FROM subscribers WHERE incident_id IS NOT NULL")
    op.drop_index("uq_subscribers_incident_address", table_name="subscribers")
    op.drop_index("uq_subscribers_address", table_name="subscribers")
    op.create_index("uq_subscribers_address", "subscribers", ["kind", "email", "url"], unique=True)

    def drop(batch) -> None:
        batch.drop_constraint("fk_subscribers_incident_id_incidents", type_="foreignkey")
        batch.drop_column("incident_id")

    _rebuilding(drop)
