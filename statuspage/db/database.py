"""Engine set-up (SQLite pragmas, immediate write transactions) and schema migrations."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from statuspage.db.extensions import db

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


def sqlite_file_missing(url: sa.URL | str) -> str:
    """Why an SQLite database cannot be used as it is (its file is not at its path), or "".

    SQLite creates a missing file on open; a process that does so while another holds the real
    file open (moved away and back, a restore) splits the database in two and loses writes.
    """
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return ""
    path = Path(url.database.removeprefix("file:").split("?")[0])
    if path.exists():
        return ""
    return f"no database file at {path.absolute()} (was it moved or deleted?)"


def engine_options(uri: str) -> dict:
    """Return SQLAlchemy engine options suited to the database in `uri`."""
    if uri.startswith("sqlite"):
        # Autocommit at the driver level; we issue BEGIN ourselves (see `_sqlite_begin`).
        return {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "isolation_level": None}}
    # A host that drops packets would otherwise hold a web thread for minutes per connection
    # attempt; a `connect_timeout` in the URL's query still wins over this default.
    connect = {} if "connect_timeout=" in uri else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return {"pool_pre_ping": True, "connect_args": connect}


def init_app(app: Flask) -> None:
    """Bind the database to the app and install the SQLite connection hooks."""
    db.init_app(app)
    from statuspage.db import generation

    generation.init_app()
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_connect)
            sa.event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers carry on while one writer writes; the busy timeout makes writers queue.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE), so two writers
    # queue on the busy timeout instead of failing on lock upgrade half-way through.
    if conn.get_execution_options().get("statuspage_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def lock(model: type[T], ident: int) -> T | None:
    """Read a row afresh and lock it until the write transaction ends.

    PostgreSQL: SELECT ... FOR UPDATE, so a second writer of the same row waits for the first
    and then reads what it wrote. SQLite: the write transaction's BEGIN IMMEDIATE already holds
    the database's write lock, so a plain fresh read is the same guarantee. Acts lock the
    incident first, then components in id order, so two acts never wait on each other in a ring.
    """
    query = sa.select(model).where(model.id == ident).with_for_update()  # type: ignore[attr-defined]
    return db.session.scalar(query.execution_options(populate_existing=True))


def lock_name(name: str) -> None:
    """Hold a lock on a name (not a row) until the write transaction ends.

    For acts that must not run twice at once but have no row to lock yet (two alerts of one rule
    each finding no draft and making one). PostgreSQL: a transaction-level advisory lock; SQLite:
    BEGIN IMMEDIATE already serialises writers.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


#: PostgreSQL's "lock_not_available", raised when lock_timeout runs out.
_LOCK_NOT_AVAILABLE = "55P03"


def refresh_statistics(table: str) -> None:
    """On PostgreSQL, renew the planner's statistics of `table` in the current transaction
    (counting the rows it wrote), so queries on a table that just grew get plans that fit it.

    A table stuck with figures from when it was small is read the costly way: a claim sorting
    every pending row instead of reading the first ones from an index. Gives up, leaving the
    old figures, rather than wait more than a second for a VACUUM holding the table.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite's plans do not change with a table's size here
    try:
        # A failure rolls the savepoint back, with the SET LOCAL made in it.
        with db.session.begin_nested():
            db.session.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
            db.session.execute(sa.text(f'ANALYZE "{table}"'))
            db.session.execute(sa.text("SET LOCAL lock_timeout = DEFAULT"))
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        log.warning("statistics of %s not renewed: %s", table, str(exc.orig).splitlines()[0])


#: PostgreSQL's "deadlock detected" and "could not serialize access": the transaction was
#: chosen as the victim and may simply be run again.
_RETRYABLE_PGCODES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed write transaction may be run once more as it is (a deadlock victim)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in _RETRYABLE_PGCODES


def run_write(act: Callable[[], T]) -> T:
    """Run `act` in one write transaction; run it once more if the database made it a deadlock
    victim (the second run reads what the winner wrote and decides again)."""
    try:
        with write_transaction():
            return act()
    except sa.exc.DBAPIError as exc:
        if not is_retryable(exc):
            raise
    with write_transaction():
        return act()


@contextmanager
def write_transaction() -> Iterator[None]:
    """Run the block as one write transaction: commit on success, roll back on any error."""
    if db.session().in_transaction():
        # Reads made earlier in the request hold a deferred transaction; start afresh.
        db.session.rollback()
    db.session.connection(execution_options={"statuspage_write": True})
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _alembic_config(connection: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade() -> tuple[str | None, str | None]:
    """Upgrade the schema to the newest migration; return (revision before, revision after)."""
    with db.engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(_alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after


def current_revision() -> str | None:
    """Return the revision the database is at, or None when it has no schema yet."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest migration shipped with this version."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
