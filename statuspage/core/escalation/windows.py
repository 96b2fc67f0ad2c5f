"""Time windows ("weekdays 09:00-18:00 in Europe/Paris"): is a moment inside, when next open.

A window is defined on the wall clock of its time zone. It opens on each listed weekday at
`start` and closes at `end` the same day, or the next day when `end` is before `start` (an
overnight window belongs to the weekday it opens on). Across daylight-saving changes the wall
clock decides: a start time skipped by the clock opens the window when the clock jumps past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["WEEKDAYS", "Window", "is_open", "never_opens", "next_opening"]

#: Weekday names as the config writes them, in `datetime.weekday()` order.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: How far ahead to look for an opening: a window that opens at all opens within a week, or
#: within two when the clock change skips this week's hours (a window inside the lost hour).
_SEARCH_DAYS = 16


@dataclass(frozen=True)
class Window:
    """When escalation steps that name this window may fire."""

    name: str
    time_zone: str
    #: Days the window opens on, 0 = Monday (as `datetime.weekday()`).
    weekdays: frozenset[int]
    start: time
    #: None stands for 24:00, the end of the day.
    end: time | None

    @property
    def overnight(self) -> bool:
        """Whether the window closes on the day after it opens."""
        return self.end is not None and self.end < self.start

    def describe(self) -> str:
        """The window in the config's words, e.g. `mon,tue 09:00-18:00 Europe/Paris`."""
        days = ",".join(WEEKDAYS[d] for d in sorted(self.weekdays)) or "no days"
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{days} {self.start.strftime('%H:%M')}-{end} {self.time_zone}"


def never_opens(window: Window) -> bool:
    """Whether the window can never be open: no weekdays, or no time between start and end."""
    return not window.weekdays or window.end == window.start


def is_open(window: Window, at: datetime) -> bool:
    """Whether the aware datetime `at` falls inside the window."""
    if never_opens(window):
        return False
    local = at.astimezone(ZoneInfo(window.time_zone))
    clock = local.time().replace(tzinfo=None, fold=0)
    today = local.weekday()
    if window.end is None:
        return today in window.weekdays and clock >= window.start
    if not window.overnight:
        return today in window.weekdays and window.start <= clock < window.end
    yesterday = (today - 1) % 7
    return (today in window.weekdays and clock >= window.start) or (
        yesterday in window.weekdays and clock < window.end
    )


def next_opening(window: Window, at: datetime) -> datetime | None:
    """The first moment at or after `at` when the window is open (UTC), or None if never."""
    if never_opens(window):
        return None
    if is_open(window, at):
        return at.astimezone(UTC)
    zone = ZoneInfo(window.time_zone)
    first_day = at.astimezone(zone).date() - timedelta(days=1)
    candidates: list[datetime] = []
    for offset in range(_SEARCH_DAYS + 1):
        day = first_day + timedelta(days=offset)
        wall = datetime.combine(day, window.start)
        for fold in (0, 1):
            moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            # A wall time the clock skips maps to a moment whose wall time differs.
            if moment.astimezone(zone).replace(tzinfo=None) == wall:
                candidates.append(moment)
        # Between clock changes the wall clock runs smoothly, so a window can only open at its
        # start time or at a clock change (a jump over the start, or back into the window).
        change = _clock_change(zone, day)
        if change is not None:
            candidates.append(change)
    later = sorted(c for c in candidates if c > at and is_open(window, c))
    return later[0] if later else None


def _clock_change(zone: ZoneInfo, day: date) -> datetime | None:
    """The moment (UTC) the zone's UTC offset changes during the local `day`, if it does."""
    low = datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC)
    high = low + timedelta(hours=26)
    if low.astimezone(zone).utcoffset() == high.astimezone(zone).utcoffset():
        return None
    before = low.astimezone(zone).utcoffset()
    # Offsets change on whole seconds; bisect to the first second with the new offset.
    lo, hi = 0, int((high - low).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return low + timedelta(seconds=hi)
