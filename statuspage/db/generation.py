"""The public-side generation: bumped in the same transaction as any change customers see."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from datetime import datetime
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from statuspage.clock import utcnow
from statuspage.core.times import as_utc
from statuspage.db import notify
from statuspage.db.availability import is_unreachable
from statuspage.db.extensions import db
from statuspage.db.models import PUBLIC_MODELS, SiteState
from statuspage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

_BUMPED = "statuspage_generation_bumped"
#: The (generation, changed_at) this transaction wrote, told to this process's followers.
_WROTE = "statuspage_generation_wrote"


def init_app() -> None:
    """Watch every flush of the app's sessions (idempotent)."""
    if not sa.event.contains(db.session, "after_flush", _after_flush):
        sa.event.listen(db.session, "after_flush", _after_flush)
        sa.event.listen(db.session, "after_commit", _committed)
        for name in ("after_commit", "after_rollback", "after_soft_rollback"):
            sa.event.listen(db.session, name, _forget)
    notify.watch_sessions(db.session)


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
    session.info.pop(_WROTE, None)


def _committed(session: Session) -> None:
    wrote = session.info.get(_WROTE)
    if wrote is not None and _FOLLOWERS:
        # This process's own next request must not wait for the NOTIFY to come back. Only
        # followers of the same database: another one's numbers mean nothing here.
        url = session.get_bind().engine.url
        for follower in list(_FOLLOWERS):
            if follower.url == url:
                follower.saw(*wrote)


def bump(session: Session, now: datetime) -> None:
    """Increment the generation (creating the row if a tool emptied the table) and NOTIFY it.

    The NOTIFY is part of the transaction: PostgreSQL sends it on commit and drops it on
    rollback, and sends notifications in commit order, so each process's listener sees the
    generations in the order they were written.
    """
    table = SiteState.__table__
    row = session.execute(
        sa.update(table)
        .where(table.c.id == 1)
        .values(generation=table.c.generation + 1, changed_at=now)
        .returning(table.c.generation, table.c.changed_at)
    ).first()
    number: int = 1
    changed: datetime | None = as_utc(now)
    if row is None:
        session.execute(sa.insert(table).values(id=1, generation=1, changed_at=now))
    else:
        number, changed = row[0], _as_datetime(row[1])
    session.info[_WROTE] = (number, changed)
    notify.send(session, notify.GENERATION, _payload(number, changed))


def _payload(number: int, changed: datetime | None) -> str:
    return f"{number} {changed.isoformat()}" if changed is not None else str(number)


def _parse(payload: str) -> tuple[int, datetime | None]:
    number, _, changed = payload.partition(" ")
    return int(number), _as_datetime(changed or None)


def read() -> tuple[int, datetime | None]:
    """The current generation and when it last moved; (0, None) before the first change."""
    row = db.session.execute(
        sa.select(SiteState.generation, SiteState.changed_at).where(SiteState.id == 1)
    ).first()
    return (row[0], row[1]) if row else (0, None)


QUERY = "SELECT generation, changed_at FROM site_state WHERE id = 1"

#: The followers of this process, told of the generations its own transactions commit.
_FOLLOWERS: weakref.WeakSet[Follower] = weakref.WeakSet()


class Follower:
    """The generation as PostgreSQL's notifications tell it, with no query per request.

    `current` is exact while the listener is connected: it LISTENs before it reads the
    generation once, each commit that moves the generation NOTIFYs the new number, and
    `current` first takes every notification that already reached the socket (so it does not
    wait for the listener's thread to be scheduled). It is None whenever that chain is broken
    (not connected yet, connection lost, a number that went backwards): the caller then reads
    the database as it would without a listener.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.url = engine.url
        self._value: tuple[int, datetime | None] | None = None
        #: While `_connected` reads: the notifications that came meanwhile.
        self._reading: list[tuple[int, datetime | None]] | None = None
        # `saw` runs in the committing thread, the rest in the listener's: a value is only
        # ever replaced by a newer one under this lock (no I/O is done holding it).
        self._move = threading.Lock()
        self.listener = notify.Listener(
            engine,
            [notify.GENERATION],
            on_notify=self._notified,
            on_connect=self._connected,
            on_disconnect=self._lost,
        )
        _FOLLOWERS.add(self)

    def current(self) -> tuple[int, datetime | None] | None:
        """The current generation, or None when only the database can tell."""
        listener = self.listener
        listener.start()
        if not listener.poll():
            return None
        return self._value

    def saw(self, number: int, changed: datetime | None) -> None:
        """A transaction of this process committed `number`: take it if it is news."""
        with self._move:
            value = self._value
            if value is not None and number > value[0]:
                self._value = (number, changed)

    def close(self) -> None:
        """Stop listening (the engine is being disposed)."""
        self._value = None
        self.listener.close()

    def _connected(self, conn: Any) -> None:
        # Runs after LISTEN (and again to verify): whatever commits after this read is
        # notified. A notification can arrive while the read runs, for a commit the read did
        # not see: those are kept aside and the newest wins over the read.
        self._reading = []
        try:
            row = conn.execute(QUERY).fetchone()
            value = (row[0], _as_datetime(row[1])) if row else (0, None)
            for number, changed in self._reading:
                if number > value[0]:
                    value = (number, changed)
        except BaseException:
            self._value = None
            raise
        finally:
            self._reading = None
        with self._move:
            held = self._value
            # A verify that read just before this process's own commit must not move back
            # what `saw` took; a generation that went back is told by its own NOTIFY.
            if held is None or held[0] <= value[0]:
                self._value = value

    def _notified(self, _channel: str, payload: str) -> None:
        try:
            number, changed = _parse(payload)
        except ValueError:
            log.warning("ignored a generation notification %r", payload[:100])
            return
        if self._reading is not None:
            self._reading.append((number, changed))
            return
        with self._move:
            value = self._value
            if value is None:
                return  # not followed (the listener is resyncing): its read covers this
            if number > value[0]:
                self._value = (number, changed)
                return
            if number == value[0]:
                return
            # Older than what we hold: one sent just before the read on connect, or a tool
            # that emptied the table. Only the database knows which; ask it.
            self._value = None
        self.listener.resync()

    def _lost(self) -> None:
        with self._move:
            self._value = None


def _after_fork() -> None:
    for follower in list(_FOLLOWERS):
        # Its listener starts afresh in the child; until it has read, the child asks the
        # database. The lock may have been held by a thread the child does not have.
        follower._move = threading.Lock()
        follower._reading = None
        follower._value = None


os.register_at_fork(after_in_child=_after_fork)


class Reader:
    """Read the generation on every request for microseconds, not the ORM's hundreds.

    On PostgreSQL with `listen`, a `Follower` answers without a query while its listener is
    connected. Otherwise each thread keeps its own driver connection in autocommit (outside
    the pool, so a request never waits for one), with a staleness bound from the config (0:
    read every time). While the database cannot be reached, the process tries it at most once
    every `retry_seconds` and answers DatabaseUnavailable in between, so an outage costs no
    connection attempt per request; `confirmed_age` tells the web side how old its last
    rendered bytes are.
    """

    QUERY = QUERY

    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_staleness: float = 0.0,
        retry_seconds: float = 1.0,
        listen: bool = False,
    ) -> None:
        self.engine = engine
        self.max_staleness = max_staleness
        self.retry_seconds = retry_seconds
        self.follower = Follower(engine) if listen and engine.dialect.name == "postgresql" else None
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
        follower = self.follower
        if follower is not None:
            followed = follower.current()
            if followed is not None:
                if self._last[2] is not followed:
                    self._last = (followed[0], followed[1], followed)
                # Confirmed now: what the stale-if-error answers count their age from.
                self._read_at = time.monotonic()
                if self._failing_since is not None:
                    self._answers_again()
                return followed
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
            self._answers_again()
        number, changed = (row[0], row[1]) if row else (0, None)
        last_number, last_changed, value = self._last
        if number != last_number or changed != last_changed:
            value = (number, _as_datetime(changed))
            self._last = (number, changed, value)
        self._read_at = time.monotonic()
        return value

    def _answers_again(self) -> None:
        since, self._failing_since = self._failing_since, None
        if since is not None:
            log.warning(
                "the database answers again (unreachable for %.1f s)", time.monotonic() - since
            )

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
        """Close every thread's connection and the listener (the engine was disposed)."""
        if self.follower is not None:
            self.follower.close()
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
