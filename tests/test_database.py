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


def statements_of(act) -> list[str]:
    """The SQL statements `act` ran, in a write transaction."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with database.write_transaction():
            act()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return statements


def test_write_transaction_begins_immediate_on_sqlite(ctx):
    statements = statements_of(lambda: db.session.execute(sa.text("SELECT 1")))
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


def _planner_rows(table: str) -> float:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = %(t)s", {"t": table}
        ).scalar_one()


def _add_groups(count: int) -> None:
    from statuspage.db.models import ComponentGroup

    db.session.execute(sa.insert(ComponentGroup), [{"name": f"group {n}"} for n in range(count)])


def test_refresh_statistics_counts_the_rows_its_transaction_wrote(ctx):
    if db.engine.dialect.name != "postgresql":
        statements = statements_of(lambda: database.refresh_statistics("component_groups"))
        assert not [s for s in statements if "ANALYZE" in s.upper()], statements
        return
    with database.write_transaction():
        _add_groups(500)
        database.refresh_statistics("component_groups")
    assert _planner_rows("component_groups") == 500


def test_refresh_statistics_gives_up_on_a_table_a_vacuum_holds(ctx, caplog):
    """The write goes on with the old figures rather than wait for the VACUUM."""
    if db.engine.dialect.name != "postgresql":
        return
    from statuspage.db.models import ComponentGroup

    with db.engine.connect() as other:
        # What VACUUM and ANALYZE take: one of them at a time per table.
        other.exec_driver_sql("LOCK TABLE component_groups IN SHARE UPDATE EXCLUSIVE MODE")
        with database.write_transaction():
            _add_groups(3)
            database.refresh_statistics("component_groups")
            _add_groups(1)  # the transaction goes on
        other.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ComponentGroup)) == 4
    assert "statistics of component_groups not renewed" in caplog.text
    assert _planner_rows("component_groups") <= 0  # never analysed: -1 on PostgreSQL 14+
