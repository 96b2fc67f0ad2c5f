"""Backups of an SQLite database with SQLite's online backup API, and the PostgreSQL commands.

The backup API copies a consistent snapshot while the app keeps reading and writing; a restore
copies the other way into the live file, so running processes need no restart.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from errno import ENOSPC
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from statuspage.clock import utcnow
from statuspage.db.database import MIGRATIONS
from statuspage.db.health import SQLITE_FULL
from statuspage.errors import Conflict, StatuspageError, ValidationError

#: Tables whose rows do not make a database "non-empty": the schema version and the
#: generation counter exist in a freshly migrated database.
BOOKKEEPING = frozenset({"alembic_version", "site_state"})
#: How SQLAlchemy stores a (naive UTC) datetime in SQLite.
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class BackupInfo:
    """What a backup or restore copied."""

    path: Path
    bytes: int
    revision: str | None


def sqlite_path(url: sa.URL) -> Path | None:
    """The database file of an SQLite URL; None for any other database or an in-memory one."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def postgres_commands(url: sa.URL, file: str) -> tuple[str, str]:
    """The pg_dump and pg_restore command lines for this database (password left out)."""
    libpq = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    ).render_as_string(hide_password=False)
    dump = f"pg_dump --format=custom --no-owner --file={shlex.quote(file)} {shlex.quote(libpq)}"
    restore = (
        "pg_restore --clean --if-exists --no-owner --single-transaction "
        f"--dbname={shlex.quote(libpq)} {shlex.quote(file)}"
    )
    return dump, restore


def postgres_advice(url: sa.URL, file: str) -> str:
    """How to back up and restore PostgreSQL with its own tools, as lines to print."""
    dump, restore = postgres_commands(url, file)
    return (
        "This database is PostgreSQL: use its own tools "
        "(the password comes from PGPASSWORD or ~/.pgpass).\n"
        f"  back up:  {dump}\n"
        f"  restore:  {restore}\n"
        "After a restore, restart the web processes so no page cached before it is served."
    )


def backup_sqlite(database: Path, dest: Path, *, force: bool = False) -> BackupInfo:
    """Copy a consistent snapshot of `database` into `dest` (mode 0600, checked, then renamed)."""
    # A copy that fails its check is removed and `dest` left as it was: no backup that only
    # looks good.
    if not database.is_file():
        raise StatuspageError(f"no database at {database}")
    if dest.exists() and not force:
        raise Conflict(f"{dest} exists: choose another name or pass --force to overwrite it")
    if not dest.parent.is_dir():
        raise StatuspageError(f"{dest.parent} is not a folder")
    partial = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    try:
        # Password hashes and tokens are inside: readable by the owner only, from the start.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with _connect(database) as source:
            revision = _revision(source)
            _copy(source, partial)
        _verify(partial, revision, database)
        _fsync(partial)
        os.replace(partial, dest)
        _fsync(dest.parent)
    except (sqlite3.Error, OSError) as exc:
        raise StatuspageError(
            f"backup failed, {dest} not written: {_failure(exc, dest.parent)}"
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(path=dest, bytes=dest.stat().st_size, revision=revision)


def _copy(source: sqlite3.Connection, target_file: Path) -> None:
    """Copy `source` into `target_file` with the online backup API, as one self-contained file."""
    with _connect(target_file) as target:
        source.backup(target)
        # Whatever journal mode the live database uses: no -wal file beside the copy.
        target.execute("PRAGMA journal_mode=DELETE")


def _verify(copy_file: Path, revision: str | None, database: Path) -> None:
    """Raise unless the copy is undamaged and at the schema revision the database had."""
    with _connect(copy_file, read_only=True) as copy:
        found = [row[0] for row in copy.execute("PRAGMA integrity_check(1)")]
        if found != ["ok"]:
            # Say whether the damage was copied from the database or made on the way.
            where = "the database is damaged" if _damaged(database) else "the copy is damaged"
            raise sqlite3.DatabaseError(f"{where} ({' '.join(found[0].split())})")
        copied = _revision(copy)
    if copied != revision:
        raise sqlite3.DatabaseError(
            f"the copy is at schema revision {copied}, the database at {revision}"
        )


def _damaged(database: Path) -> bool:
    try:
        with _connect(database, read_only=True) as conn:
            return conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
    except sqlite3.DatabaseError:
        return True


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash right after keeps the backup."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _failure(exc: sqlite3.Error | OSError, folder: Path) -> str:
    """One line on why a copy failed; a full disk is named as such."""
    code = getattr(exc, "sqlite_errorcode", None)
    if (code is not None and code & 0xFF == SQLITE_FULL) or getattr(exc, "errno", None) == ENOSPC:
        return f"the disk holding {folder} is full"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def restore_sqlite(source: Path, database: Path, *, force: bool = False) -> BackupInfo:
    """Copy a backup into the live database, refusing to replace data unless `force`.

    The generation number ends above both the old and the restored one, so every web
    process renders its pages afresh instead of serving ones cached before the restore.
    """
    if not source.is_file():
        raise StatuspageError(f"no backup at {source}")
    try:
        return _restore(source, database, force=force)
    except sqlite3.Error as exc:
        raise StatuspageError(f"restore failed: {_failure(exc, database.parent)}") from None


def _restore(source: Path, database: Path, *, force: bool) -> BackupInfo:
    with _connect(source, read_only=True) as backup:
        check = backup.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ValidationError(f"{source} is damaged: {' '.join(check.split())}")
        revision = _revision(backup)
        if revision is None:
            raise ValidationError(f"{source} is not a statuspage database (no schema version)")
        _check_known(revision)
        with _connect(database) as live:
            rows = _data_rows(live)
            if rows and not force:
                raise Conflict(
                    f"{database} is not empty ({rows}): pass --force to replace its data"
                )
            before = _generation(live) or 0
            backup.backup(live)
            restored = _generation(live)
            if restored is not None:
                with live:
                    live.execute(
                        "UPDATE site_state SET generation = ?, changed_at = ? WHERE id = 1",
                        (max(before, restored) + 1, utcnow().strftime(SQLITE_TIME)),
                    )
    return BackupInfo(path=database, bytes=database.stat().st_size, revision=revision)


@contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """An sqlite3 connection, closed at the end of the block."""
    if read_only:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path)
    try:
        yield conn
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def _revision(conn: sqlite3.Connection) -> str | None:
    if "alembic_version" not in _tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _generation(conn: sqlite3.Connection) -> int | None:
    if "site_state" not in _tables(conn):
        return None
    row = conn.execute("SELECT generation FROM site_state WHERE id = 1").fetchone()
    return row[0] if row else 0


def _data_rows(conn: sqlite3.Connection) -> str:
    """Describe the tables holding data, like "components: 12, users: 1"; empty when none."""
    counts = []
    for table in sorted(set(_tables(conn)) - BOOKKEEPING):
        count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        if count:
            counts.append(f"{table}: {count}")
    return ", ".join(counts)


def _check_known(revision: str) -> None:
    """Refuse a backup whose schema this version does not know (made by a newer version)."""
    script = ScriptDirectory(str(MIGRATIONS))
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise Conflict(
            f"the backup's schema revision {revision} is unknown to this version "
            f"(newest: {script.get_current_head()}): restore it with the version that made it"
        )
