"""SMTP connections shared by a worker's sending threads, within the server's limits.

Each connection serves one message at a time (one envelope per message, as ever) and is
closed after `max_messages` messages; `pace` spaces sends to at most `rate` per second.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Link", "SmtpPool"]


@dataclass(eq=False)
class Link:
    """One open SMTP connection and how much it has carried."""

    smtp: smtplib.SMTP
    sent: int = 0
    #: Whether a message went over it before: a server may have closed it while idle.
    reused: bool = False
    #: Set after an error: the connection is closed instead of going back to the pool.
    broken: bool = False


class SmtpPool:
    """At most `size` connections, opened on demand and reused until `max_messages`."""

    def __init__(
        self,
        connect: Callable[[], smtplib.SMTP],
        *,
        size: int,
        max_messages: int,
        rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connect = connect
        self.max_messages = max(1, max_messages)
        self.rate = rate
        self.clock, self.sleep = clock, sleep
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._lock = threading.Lock()
        self._idle: list[Link] = []
        self._next_send = 0.0
        #: Connections opened so far (for tests and the benchmark).
        self.opened = 0

    @contextmanager
    def link(self) -> Iterator[Link]:
        """Borrow a connection (an idle one, else a new one) for one message."""
        with self._slots:
            with self._lock:
                link = self._idle.pop() if self._idle else None
            if link is None:
                link = Link(self.connect())
                with self._lock:
                    self.opened += 1
            try:
                yield link
            except BaseException:
                link.broken = True
                raise
            finally:
                self._give_back(link)

    def _give_back(self, link: Link) -> None:
        if link.broken or link.sent >= self.max_messages:
            _quit(link.smtp, politely=not link.broken)
            return
        link.reused = link.sent > 0
        with self._lock:
            self._idle.append(link)

    def pace(self) -> None:
        """Wait for this send's turn under `rate` (messages per second; 0 is no limit)."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self.clock()
            turn = max(now, self._next_send)
            self._next_send = turn + 1.0 / self.rate
        if turn > now:
            self.sleep(turn - now)

    def close(self) -> None:
        """Close the idle connections (borrowed ones close when given back, if broken)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for link in idle:
            _quit(link.smtp, politely=True)


def _quit(connection: smtplib.SMTP, *, politely: bool) -> None:
    if politely:
        try:
            connection.quit()
            return
        except (smtplib.SMTPException, OSError):
            pass
    connection.close()
