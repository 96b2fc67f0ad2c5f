"""Schema migrations and transactions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from statuspage.db import database
from statuspage.db.extensions import db


def test_migrations_match_the_models(ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_upgrade_is_safe_to_run_twice(ctx):
    head = database.head_revision()
    assert database.upgrade() == (head, head)
    assert database.current_revision() == head


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(ctx):
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_write_transaction_begins_immediate_on_sqlite(ctx):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with database.write_transaction():
            db.session.execute(sa.text("SELECT 1"))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    if db.engine.dialect.name == "sqlite":
        assert "BEGIN IMMEDIATE" in statements


def test_write_transaction_rolls_back_everything_on_error(ctx):
    from statuspage.db.models import ComponentGroup

    try:
        with database.write_transaction():
            db.session.add(ComponentGroup(name="half-done"))
            db.session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ComponentGroup)) == 0


def test_upgrade_from_first_revision_keeps_existing_updates(empty_app):
    """Column additions with NOT NULL carry server defaults, so old rows survive the upgrade."""
    from alembic import command

    with empty_app.app_context(), db.engine.begin() as conn:
        cfg = database._alembic_config(conn)
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO incidents (id, kind, name, status, impact, started_at, created_at,"
            " updated_at) VALUES (1, 'incident', 'x', 'resolved', 'minor', '2026-01-01',"
            " '2026-01-01', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO incident_updates (id, incident_id, status, body, body_html, display_at,"
            " deliver_notifications, created_at, updated_at) VALUES (1, 1, 'resolved', 'b',"
            " '<p>b</p>', '2026-01-01', TRUE, '2026-01-01', '2026-01-01')"
        )
        command.upgrade(cfg, "head")
        assert not conn.exec_driver_sql("SELECT text_edited FROM incident_updates").scalar()
