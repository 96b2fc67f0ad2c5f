"""Readiness: is the database reachable, writable, at this version's schema and undamaged?

`/readyz` asks `Readiness.verdict()`. A verdict is reused for `READY_CACHE_SECONDS`, so a
flood of probes costs each process one check per period. Nothing here commits: the write
probe is rolled back, so the public generation (and with it every page cache) never moves.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from statuspage.db import database

log = logging.getLogger(__name__)

#: How long a verdict is reused. `PRAGMA quick_check` reads the whole SQLite file (about
#: 0.15 s for 100 MB), so this bounds what probes cost whatever their rate.
READY_CACHE_SECONDS = 5.0
#: Less free space than this beside an SQLite file and the next commits may fail: each writes
#: whole pages to the WAL, which grows to about 4 MB between checkpoints.
MIN_FREE_BYTES = 1 << 20
#: The write probe waits this long for the write lock; longer means writes are stalled.
PROBE_LOCK_TIMEOUT_MS = 1000
#: The probe writes more than a page, so it needs room for new pages, as a publish does.
PROBE_BYTES = 8192

#: SQLite's primary result codes (`sqlite_errorcode & 0xFF`).
SQLITE_BUSY, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 8, 11, 13, 26
#: PostgreSQL SQLSTATEs: disk_full, read_only_sql_transaction, insufficient_privilege,
#: lock_not_available, query_canceled (statement_timeout), data_corrupted, index_corrupted.
PG_DISK_FULL, PG_READ_ONLY, PG_DENIED = "53100", "25006", "42501"
PG_LOCKED, PG_CANCELED = "55P03", "57014"
PG_DAMAGED = frozenset({"XX001", "XX002"})

DISK_FULL = "the database's disk is full"
#: What a PM whose change failed on a full disk reads (web/errors.py answers 503 with it).
DISK_FULL_MESSAGE = (
    "The database's disk is full, so nothing was saved. Free space on the disk that holds "
    "the database, then send this again."
)


@dataclass(frozen=True)
class Verdict:
    """Whether the database is ready for this process, and if not, why (one line)."""

    ready: bool
    reason: str = ""
    #: For the log only (it may name hosts and files): the error or the check's own words.
    detail: str = field(default="", compare=False)


class Readiness:
    """The last verdict on one engine, checked again once it is `ttl` seconds old."""

    def __init__(self, engine: sa.Engine, *, ttl: float | None = None) -> None:
        self.engine = engine
        self.ttl = READY_CACHE_SECONDS if ttl is None else ttl
        self._lock = threading.Lock()
        self._verdict: Verdict | None = None
        self._checked_at = 0.0

    def verdict(self) -> Verdict:
        """The verdict, checked afresh only when the last one has expired."""
        with self._lock:  # concurrent probes wait for the one check instead of adding theirs
            if self._verdict is None or time.monotonic() - self._checked_at >= self.ttl:
                verdict = check(self.engine)
                if not verdict.ready and verdict != self._verdict:
                    # Once per change, not once per probe: an outage does not flood the log.
                    log.warning("not ready: %s (%s)", verdict.reason, verdict.detail)
                self._verdict, self._checked_at = verdict, time.monotonic()
            return self._verdict


def check(engine: sa.Engine) -> Verdict:
    """Check the database now: schema, soundness (SQLite), free space (SQLite), a write."""
    detail = ""
    missing = database.sqlite_file_missing(engine.url)
    if missing:
        # Opening it now would create an empty database beside the one this process holds.
        return Verdict(ready=False, reason=missing, detail="")
    try:
        with engine.connect() as conn:
            reason, detail = _schema(conn), ""
            if not reason and engine.dialect.name == "sqlite":
                reason, detail = _sqlite_sound(conn)
                reason = reason or _sqlite_space(engine.url)
            if not reason:
                _write_probe(conn)
    except sa.exc.DBAPIError as exc:
        reason, detail = describe(exc), _first_line(exc.orig or exc)
    except Exception as exc:
        # A probe answers; whatever went wrong is a reason to stay out of rotation.
        reason, detail = "the readiness check failed (see the log)", repr(exc)
    return Verdict(ready=not reason, reason=reason, detail=detail)


@functools.cache
def _head() -> str | None:
    return database.head_revision()  # parses the migration scripts: once per process


def _schema(conn: sa.Connection) -> str:
    current = MigrationContext.configure(conn).get_current_revision()
    conn.rollback()
    head = _head()
    if current is None:
        return "the database has no schema yet"
    if current != head:
        return f"the database schema is at revision {current}, this version needs {head}"
    return ""


def _sqlite_sound(conn: sa.Connection) -> tuple[str, str]:
    result = conn.exec_driver_sql("PRAGMA quick_check(1)").scalar()
    conn.rollback()
    if result != "ok":
        found = " ".join(str(result).split())
        return "the database file is damaged (PRAGMA quick_check failed)", found
    return "", ""


def _sqlite_space(url: sa.URL) -> str:
    if url.database in (None, "", ":memory:"):
        return ""
    folder = Path(url.database.removeprefix("file:")).absolute().parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return ""  # the write probe tells
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        return DISK_FULL
    return ""


def _write_probe(conn: sa.Connection) -> None:
    """Write in a transaction and roll it back: raises what a real write would meet."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {PROBE_LOCK_TIMEOUT_MS}")
        conn.rollback()  # the pragma began a transaction; the probe needs its own
        try:
            # BEGIN IMMEDIATE (db/database.py): the write lock, as every write transaction.
            with conn.execution_options(statuspage_write=True).begin() as transaction:
                conn.exec_driver_sql(
                    "INSERT INTO alembic_version (version_num) VALUES (randomblob(?))",
                    (PROBE_BYTES,),
                )
                transaction.rollback()
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {database.BUSY_TIMEOUT_MS}")
            conn.rollback()
        return
    with conn.begin() as transaction:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {PROBE_LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {5 * PROBE_LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(
            "INSERT INTO alembic_version (version_num) VALUES (%(probe)s)",
            {"probe": f"readyz-{os.getpid()}"},
        )
        # That row fits in a page the table has; new pages are what a full disk refuses, and
        # PostgreSQL writes them to disk as soon as a table grows (a temporary one too).
        conn.exec_driver_sql("CREATE TEMPORARY TABLE readyz_probe (n bigint) ON COMMIT DROP")
        conn.exec_driver_sql(
            "INSERT INTO readyz_probe SELECT generate_series(1, %(rows)s)",
            {"rows": PROBE_BYTES // 8},
        )
        transaction.rollback()


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error, or one it led to, says the disk is full."""
    # The chain matters: SQLite rolls the whole transaction back on SQLITE_FULL, so the
    # savepoint a publish then rolls back to is gone, and "no such savepoint" is what surfaces.
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; a bound keeps a cycle harmless
        if seen is None:
            return False
        orig = seen.orig if isinstance(seen, sa.exc.DBAPIError) else seen
        if isinstance(orig, sqlite3.Error) and _sqlite_code(orig) == SQLITE_FULL:
            return True
        if getattr(orig, "sqlstate", None) == PG_DISK_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: sa.exc.DBAPIError) -> str:
    """Say in one line, without addresses or other details, what a database error means."""
    orig = exc.orig
    code = _sqlite_code(orig) if isinstance(orig, sqlite3.Error) else None
    state = getattr(orig, "sqlstate", None)
    if is_disk_full(exc):
        return DISK_FULL
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB) or state in PG_DAMAGED:
        return "the database file is damaged"
    if code == SQLITE_READONLY or state == PG_READ_ONLY:
        return "the database is read-only"
    if state == PG_DENIED:
        return "the database refuses this user's writes"
    if code == SQLITE_BUSY or state in (PG_LOCKED, PG_CANCELED):
        return f"the database is locked: no write lock within {PROBE_LOCK_TIMEOUT_MS} ms"
    return "the database cannot be reached"


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
