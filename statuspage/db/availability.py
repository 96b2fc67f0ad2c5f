"""Tell an unreachable database (an outage: retry later) from every other database error.

The web side answers 503 with Retry-After, or the last rendered bytes, for these; the worker
waits for the database and hands its claims back. Any other error (a bug, a constraint) stays
what it was.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from statuspage.errors import DatabaseUnavailable

#: SQLite's primary result codes for a database that cannot be used now: SQLITE_BUSY (locked
#: past the busy timeout), SQLITE_IOERR (the disk or volume failed), SQLITE_CANTOPEN (the file
#: or its folder is gone). SQLITE_FULL is not one: a full disk is not fixed by waiting.
_SQLITE_CODES = frozenset({5, 10, 14})
#: PostgreSQL SQLSTATEs of the same: the server shutting down, crashed or starting up, and too
#: many connections; class 08 (connection exceptions) is matched by its prefix.
_PG_CODES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc` (SQLAlchemy's, a driver's or our own) means the database cannot be reached."""
    if isinstance(exc, (DatabaseUnavailable, sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return is_unreachable(exc.orig) if exc.orig is not None else False
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_CODES
    if type(exc).__module__.startswith("psycopg"):
        return _psycopg_unreachable(exc)
    return False


def _psycopg_unreachable(exc: BaseException) -> bool:
    # Imported here: a SQLite site never loads the PostgreSQL driver.
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    # No SQLSTATE: the client library's own error (refused, closed, timed out, EOF).
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _PG_CODES
