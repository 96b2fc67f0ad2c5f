"""Alembic environment: runs on the connection `statuspage.db.database.upgrade` hands over."""

from alembic import context

from statuspage.db import models  # noqa: F401  (registers the tables on the metadata)
from statuspage.db.extensions import db

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=db.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
