"""A frozen `statuspage.clock`, for tests whose outcome would depend on when they run.

Production code reads the time only through `statuspage.clock.utcnow()`, and every module
imports that function itself (`from statuspage.clock import utcnow`), so replacing the function
would miss them. The clock module's own `datetime` is replaced instead, which every copy of
`utcnow` reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import statuspage.clock
from tests.support import NOW


class FrozenClock:
    """The time `utcnow()` answers while frozen; it moves only when the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock on by `delta` (or by timedelta(**kwargs)); return the new time."""
        self.now += delta if delta is not None else timedelta(**kwargs)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return self.now


def freeze(monkeypatch: pytest.MonkeyPatch, now: datetime = NOW) -> FrozenClock:
    """Make `statuspage.clock.utcnow()` answer `now` until the test ends."""
    clock = FrozenClock(now)

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None) -> datetime:  # type: ignore[override]
            if tz is None:
                return clock.now.astimezone().replace(tzinfo=None)
            return clock.now.astimezone(tz)

    monkeypatch.setattr(statuspage.clock, "datetime", FrozenDatetime)
    # If clock.py stops reading its module's `datetime`, say so rather than run unfrozen.
    assert statuspage.clock.utcnow() == now, "tests/support/clock.py cannot freeze utcnow()"
    assert statuspage.clock.utcnow().tzinfo is not None
    return clock
