"""PostgreSQL LISTEN/NOTIFY: NOTIFY inside a writing transaction, and one listener thread.

`send` queues a notification in the session's transaction, so PostgreSQL delivers it only if
that transaction commits. A `Listener` keeps a connection of its own in autocommit, LISTENs,
and hands each notification to a callback from a daemon thread; any thread may `poll` it to
take what already arrived without waiting for that thread. `Doorbell` is what a worker sleeps
on: a notification on PostgreSQL, a cheap probe query every few milliseconds on SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)

#: The generation moved; the payload is "<generation> <changed_at ISO 8601>".
GENERATION = "statuspage_generation"
#: Rows were written to the outbox; no payload.
OUTBOX = "statuspage_outbox"
#: How a listener connection names itself in pg_stat_activity.
APPLICATION_NAME = "statuspage listener"

_OUTBOX_SENT = "statuspage_outbox_notified"
#: libpq's CONNECTION_OK (psycopg.pq.ConnStatus.OK), without importing psycopg on SQLite.
_CONNECTION_OK = 0


def watch_sessions(session: Any) -> None:
    """Forget a transaction's notifications when it ends (idempotent)."""
    for name in ("after_commit", "after_rollback", "after_soft_rollback"):
        if not sa.event.contains(session, name, _forget):
            sa.event.listen(session, name, _forget)


def _forget(session: Session, *_args: Any) -> None:
    # A rolled-back savepoint takes its NOTIFY with it: the next write must send one again.
    session.info.pop(_OUTBOX_SENT, None)


def send(session: Session | scoped_session[Any], channel: str, payload: str = "") -> None:
    """NOTIFY `channel` when the session's transaction commits (PostgreSQL; nothing elsewhere)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(channel, payload)))


def outbox_written(session: Session | scoped_session[Any]) -> None:
    """Wake the workers when this transaction commits (one NOTIFY per transaction)."""
    if not session.info.get(_OUTBOX_SENT):
        send(session, OUTBOX)
        session.info[_OUTBOX_SENT] = True


def connect_args(engine: sa.Engine) -> tuple[list[Any], dict[str, Any]]:
    """The driver's connect arguments for `engine`, as the pool would use them."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    return list(cargs), dict(cparams)


class Listener:
    """LISTEN on `channels` over a connection of its own, in a daemon thread of this process.

    On each (re)connect it LISTENs first and only then calls `on_connect(connection)`, so a
    change committed while it reads its starting state is either in that read or notified
    after it. `on_notify(channel, payload)` runs with the connection's lock held, from the
    thread or from `poll`; `on_disconnect()` runs when the connection is lost. It reconnects
    with backoff until `close`. A process that forks gets a listener of its own on first use
    (`start` compares the pid): a connection is never shared across a fork.
    """

    def __init__(
        self,
        engine: sa.Engine,
        channels: Sequence[str],
        *,
        on_notify: Callable[[str, str], None],
        on_connect: Callable[[Any], None] = lambda _conn: None,
        on_disconnect: Callable[[], None] = lambda: None,
        verify_seconds: float = 30.0,
        min_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        self.engine = engine
        self.channels = tuple(channels)
        self.on_notify = on_notify
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        #: Run `on_connect` again this often: the one bound on a change made without NOTIFY.
        self.verify_seconds = verify_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._resync = False
        #: How many times it connected (tests wait on it after killing the connection).
        self.connects = 0
        _LISTENERS.add(self)

    def _forked(self) -> None:
        """In a forked child: start afresh on first use; leave the parent's connection be."""
        # Not closed: libpq would say goodbye on a socket the parent still uses.
        _inherited.append((self._conn, self._wake_r, self._wake_w))
        self._lock = threading.Lock()  # it may have been held by a thread the child lacks
        self._conn = None
        self._thread = None
        self._pid = None
        self._wake_r = self._wake_w = -1

    @property
    def connected(self) -> bool:
        """Whether the connection is up and LISTENing (as of the last thing it saw)."""
        return self._conn is not None and self._pid == os.getpid()

    def start(self) -> None:
        """Start the thread in this process unless it runs already (cheap enough per request)."""
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._resync = False
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            self._thread = threading.Thread(
                target=self._run, name=f"listen {','.join(self.channels)}", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    def poll(self) -> bool:
        """Handle the notifications that already arrived; return whether it is connected.

        Never waits: if the thread holds the connection (connecting, handling), the answer is
        False and the caller does what it does without a listener.
        """
        if not self.connected or not self._lock.acquire(blocking=False):
            return False
        try:
            conn = self._conn
            if conn is None:
                return False
            return self._drain(conn)
        finally:
            self._lock.release()

    def resync(self) -> None:
        """Have the thread run `on_connect` again soon (a notification did not add up)."""
        self._resync = True
        self._wake()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the connection (only this process's own)."""
        self._stop.set()
        if self._pid != os.getpid():
            return
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        backoff = self.min_backoff
        failing = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._open()
                with self._lock:
                    for channel in self.channels:
                        conn.execute(f'LISTEN "{channel}"')
                    self.on_connect(conn)
                    self._conn = conn
                    self.connects += 1
                if failing:
                    log.info("listening on %s again", ", ".join(self.channels))
                failing = False
                backoff = self.min_backoff
                self._listen(conn)
            except Exception as exc:
                if not self._stop.is_set() and not failing:
                    log.warning("listener on %s: %s", ", ".join(self.channels), _first_line(exc))
                failing = True
            finally:
                with self._lock:
                    was_connected = self._conn is not None
                    self._conn = None
                    if was_connected:
                        self.on_disconnect()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            if self._stop.is_set():
                break
            self._pause(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _open(self) -> Any:
        cargs, cparams = connect_args(self.engine)
        cparams = {
            # Keepalives: a peer that vanished without closing the socket is noticed in
            # about 25 s rather than never; a closed one is noticed at once.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "connect_timeout": 5,
            "application_name": APPLICATION_NAME,
            **cparams,
            "autocommit": True,
        }
        conn = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        # Notifications that arrive while a statement runs on it (LISTEN, on_connect's read).
        conn.add_notify_handler(lambda n: self.on_notify(n.channel, n.payload))
        return conn

    def _listen(self, conn: Any) -> None:
        """Wait for notifications until the connection fails or `close` is called."""
        fd = conn.fileno()
        verify_at = time.monotonic() + self.verify_seconds
        while not self._stop.is_set():
            timeout = max(0.0, verify_at - time.monotonic())
            readable, _, _ = select.select([fd, self._wake_r], [], [], timeout)
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 512)
            with self._lock:
                if not self._drain(conn):
                    raise ConnectionError("the listener's connection was lost")
                if self._resync or time.monotonic() >= verify_at:
                    self._resync = False
                    self.on_connect(conn)
                    verify_at = time.monotonic() + self.verify_seconds

    def _drain(self, conn: Any) -> bool:
        """Read what the socket holds and hand on each notification (lock held)."""
        pgconn = conn.pgconn
        try:
            pgconn.consume_input()
        except Exception:
            return False
        if pgconn.status != _CONNECTION_OK:
            return False
        while (notice := pgconn.notifies()) is not None:
            self.on_notify(notice.relname.decode(), notice.extra.decode())
        return True

    def _pause(self, seconds: float) -> None:
        """Sleep before reconnecting; `close` cuts it short."""
        with contextlib.suppress(OSError, ValueError):
            select.select([self._wake_r], [], [], seconds)
            os.read(self._wake_r, 512)


#: Connections and pipes a forked child inherited: kept referenced, never closed here.
_inherited: list[tuple[Any, int, int]] = []
_LISTENERS: weakref.WeakSet[Listener] = weakref.WeakSet()


def _after_fork() -> None:
    for listener in list(_LISTENERS):
        listener._forked()


os.register_at_fork(after_in_child=_after_fork)


class Doorbell:
    """What an idle worker sleeps on: woken by a NOTIFY on PostgreSQL, by a probe on SQLite.

    `arm` before looking for work, then `wait`: a ring that came in between is not lost. On
    SQLite `probe` (a query returning one value, e.g. the outbox's highest id) is run on a
    connection of its own every `interval` seconds; a change rings. Without a listener
    (`listen` false, not connected) `wait` is a plain sleep, so a worker still polls.
    """

    def __init__(
        self,
        engine: sa.Engine,
        channel: str,
        probe: str,
        *,
        listen: bool = True,
        interval: float = 0.05,
    ) -> None:
        self.engine = engine
        self.probe = probe
        self.listen = listen
        self.interval = interval
        self._rung = threading.Event()
        self._listener: Listener | None = None
        self._probe_conn: Any = None
        self._mark: Any = None
        if engine.dialect.name == "postgresql" and listen:
            self._listener = Listener(
                engine,
                [channel],
                on_notify=lambda _channel, _payload: self._rung.set(),
                # Rung on each (re)connect: a notification may have been missed before.
                on_connect=lambda _conn: self._rung.set(),
            )
            self._listener.start()

    @property
    def listening(self) -> bool:
        """Whether a ring can come before the wait is over (a listener is up, or SQLite)."""
        if self._listener is not None:
            return self._listener.connected
        return self.listen and self.engine.dialect.name == "sqlite"

    def arm(self) -> None:
        """Forget earlier rings; note the probe's value (call before looking for work)."""
        self._rung.clear()
        if self.engine.dialect.name == "sqlite" and self.listen:
            self._mark = self._read_probe()

    def wait(self, seconds: float, stopped: Callable[[], bool]) -> bool:
        """Sleep up to `seconds`, less if rung or `stopped()`; return whether it was rung."""
        deadline = time.monotonic() + seconds
        sqlite = self.engine.dialect.name == "sqlite"
        step = self.interval if sqlite else 0.1  # 0.1 s: how soon a stop request is seen
        while not stopped():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._rung.wait(min(left, step)):
                return True
            if sqlite and self._mark is not None:
                now = self._read_probe()
                if now is not None and now != self._mark:
                    return True
        return False

    def _read_probe(self) -> Any:
        try:
            if self._probe_conn is None:
                cargs, cparams = connect_args(self.engine)
                cparams = {**cparams, "isolation_level": None}  # autocommit: each read is fresh
                self._probe_conn = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
            return self._probe_conn.execute(self.probe).fetchone()
        except Exception:
            # The database is busy or gone: a plain sleep until the next arm.
            self.close_probe()
            return None

    def close_probe(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Stop the listener and close the probe's connection."""
        if self._listener is not None:
            self._listener.close()
        self.close_probe()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
