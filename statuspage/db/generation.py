"""The public-side generation: bumped in the same transaction as any change customers see."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime
from itertools import chain
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from statuspage.clock import utcnow
from statuspage.core.times import as_utc
from statuspage.db.availability import is_unreachable
from statuspage.db.extensions import db
from statuspage.db.models import PUBLIC_MODELS, SiteState
from statuspage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

_BUMPED = "statuspage_generation_bumped"


def init_app() -> None:
    """Watch every flush of the app's sessions (idempotent)."""
    if not sa.event.contains(db.session, "after_flush", _after_flush):
        sa.event.listen(db.session, "after_flush", _after_flush)
        for name in ("after_commit", "after_rollback", "after_soft_rollback"):
            sa.event.listen(db.session, name, _forget)


def _after_flush(session: Session, _context) -> None:
    if session.info.get(_BUMPED):
        return
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, PUBLIC_MODELS) for obj in changed):
        bump(session, utcnow())
        session.info[_BUMPED] = True


def bump_once(now: datetime) -> None:
    """Move the public side on with this transaction (once per transaction, however often asked).

    The publishing acts call this, so what they set off is visible in their code; the flush
    listener above stays as the safety net for every other writer (admin edits, restore, tools).
    """
    session = db.session()
    if not session.info.get(_BUMPED):
        bump(session, now)
        session.info[_BUMPED] = True


def _forget(session: Session, *_args) -> None:
    session.info.pop(_BUMPED, None)


def bump(session: Session, now: datetime) -> None:
    """Increment the generation (creating the row if a tool emptied the table)."""
    # An UPDATE without RETURNING gives a CursorResult (SQLAlchemy types it as any Result).
    result = cast(
        sa.CursorResult[Any],
        session.execute(
            sa.update(SiteState.__table__)
            .where(SiteState.__table__.c.id == 1)
            .values(generation=SiteState.__table__.c.generation + 1, changed_at=now)
        ),
    )
    if result.rowcount == 0:
        session.execute(sa.insert(SiteState.__table__).values(id=1, generation=1, changed_at=now))


def read() -> tuple[int, datetime | None]:
    """The current generation and when it last moved; (0, None) before the first change."""
    row = db.session.execute(
        sa.select(SiteState.generation, SiteState.changed_at).where(SiteState.id == 1)
    ).first()
    return (row[0], row[1]) if row else (0, None)


class Reader:
    """Read the generation on every request for microseconds, not the ORM's hundreds.

    Each thread keeps its own driver connection in autocommit (outside the pool, so a request
    never waits for one), with a staleness bound from the config (0: read every time). While
    the database cannot be reached, the process tries it at most once every `retry_seconds`
    and answers DatabaseUnavailable in between, so an outage costs no connection attempt per
    request; `confirmed_age` tells the web side how old its last rendered bytes are.
    """

    QUERY = "SELECT generation, changed_at FROM site_state WHERE id = 1"

    def __init__(
        self, engine: sa.Engine, *, max_staleness: float = 0.0, retry_seconds: float = 1.0
    ) -> None:
        self.engine = engine
        self.max_staleness = max_staleness
        self.retry_seconds = retry_seconds
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._last: tuple[Any, Any, tuple[int, datetime | None]] = (None, None, (0, None))
        self._read_at: float | None = None  # never read yet
        #: When the database stopped answering (None: it answers), and when to try it again.
        self._failing_since: float | None = None
        self._retry_at = 0.0
        sa.event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def read(self) -> tuple[int, datetime | None]:
        """The current generation and when it moved (see `read`), within the staleness bound."""
        read_at = self._read_at
        now = time.monotonic()
        if read_at is not None and now - read_at < self.max_staleness:
            return self._last[2]
        if self._failing_since is not None and now < self._retry_at:
            raise DatabaseUnavailable()
        try:
            row = self._fetch_or_reconnect()
        except Exception as exc:
            if is_unreachable(exc):
                self._failed(exc)
            raise
        if self._failing_since is not None:
            log.warning(
                "the database answers again (unreachable for %.1f s)",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        number, changed = (row[0], row[1]) if row else (0, None)
        last_number, last_changed, value = self._last
        if number != last_number or changed != last_changed:
            value = (number, _as_datetime(changed))
            self._last = (number, changed, value)
        self._read_at = time.monotonic()
        return value

    def confirmed_age(self, generation: int) -> float | None:
        """Seconds since `generation` was last read as the current one; None if the last read
        found another generation (or none was read yet)."""
        read_at = self._read_at
        if read_at is None or self._last[2][0] != generation:
            return None
        return time.monotonic() - read_at

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._retry_at = now + self.retry_seconds
        if self._failing_since is None:
            self._failing_since = now
            log.warning("the database cannot be reached: %s", _first_line(exc))

    def _fetch_or_reconnect(self) -> tuple | None:
        kept = getattr(self._local, "conn", None) is not None
        try:
            return self._fetch()
        except Exception:
            # A dropped connection (database restart, idle timeout): open a new one.
            self._discard()
            if not kept:
                raise
        # The kept connection may have died while the database is fine: one fresh try decides.
        try:
            return self._fetch()
        except Exception:
            self._discard()
            raise

    def _fetch(self) -> tuple | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        cursor = conn.cursor()
        try:
            cursor.execute(self.QUERY)
            return cursor.fetchone()
        finally:
            cursor.close()

    def _connect(self) -> Any:
        dialect = self.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.engine.url)
        if dialect.name == "sqlite":
            # Closed from whichever thread disposes the engine; never shared while in use.
            cparams = {**cparams, "check_same_thread": False, "isolation_level": None}
        conn = dialect.connect(*cargs, **cparams)
        if dialect.name != "sqlite":
            conn.autocommit = True  # a bare SELECT must not leave a transaction open
        with self._lock:
            self._opened.append(conn)
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._opened:
                    self._opened.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close every thread's connection (the engine was disposed)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_datetime(value: Any) -> datetime | None:
    """A raw changed_at (SQLite hands back text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)
