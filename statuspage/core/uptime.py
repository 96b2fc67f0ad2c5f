"""Uptime from a component's status history (rules: docs/status-rules.md, "Uptime")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from statuspage.core.enums import ComponentStatus

#: How much of an interval counts as downtime, by status (Statuspage's weighting).
DOWNTIME_WEIGHT = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}


@dataclass(frozen=True)
class Change:
    """From `at` on, the component had `status`."""

    at: datetime
    status: ComponentStatus


@dataclass
class DayUptime:
    """One day of one component: its worst status and the seconds spent in each problem."""

    day: date
    known_seconds: float = 0.0
    seconds: dict[ComponentStatus, float] | None = None

    @property
    def has_data(self) -> bool:
        return self.known_seconds > 0

    @property
    def worst(self) -> ComponentStatus | None:
        """The worst status seen this day, or None when the day has no data."""
        if not self.has_data:
            return None
        seen = [s for s, secs in (self.seconds or {}).items() if secs > 0]
        return max(seen, key=lambda s: s.severity, default=ComponentStatus.OPERATIONAL)

    @property
    def downtime_seconds(self) -> float:
        """Weighted downtime: major outage in full, partial outage at 30%."""
        return sum(
            secs * DOWNTIME_WEIGHT.get(status, 0.0) for status, secs in (self.seconds or {}).items()
        )

    def seconds_in(self, status: ComponentStatus) -> float:
        return (self.seconds or {}).get(status, 0.0)

    @property
    def uptime(self) -> float | None:
        """The fraction of the known time that was up, or None when there is no data."""
        if not self.has_data:
            return None
        return max(0.0, 1.0 - self.downtime_seconds / self.known_seconds)


def daily_uptime(
    changes: Sequence[Change],
    *,
    now: datetime,
    days: int,
    tz: ZoneInfo,
    data_start: datetime | None = None,
) -> list[DayUptime]:
    """Split the history into the last `days` local days (oldest first), ending today.

    `changes` must be sorted by time and include the last change before the window, so
    the status in force when the window opens is known. Time before the first change, or
    before `data_start`, has no data.
    """
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=days - 1)
    result = [DayUptime(day=first_day + timedelta(days=i), seconds={}) for i in range(days)]
    window_start = _local_midnight(first_day, tz)
    floor = max(window_start, data_start) if data_start else window_start
    for index, change in enumerate(changes):
        start = max(change.at, floor)
        end = changes[index + 1].at if index + 1 < len(changes) else now
        end = min(end, now)
        if end <= start:
            continue
        _spread(result, first_day, tz, start, end, ComponentStatus(change.status))
    return result


def _spread(
    result: list[DayUptime],
    first_day: date,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    status: ComponentStatus,
) -> None:
    """Add the span [start, end) to the days it covers."""
    day = start.astimezone(tz).date()
    while True:
        next_midnight = _local_midnight(day + timedelta(days=1), tz)
        piece_end = min(end, next_midnight)
        offset = (day - first_day).days
        if 0 <= offset < len(result):
            seconds = (piece_end - start).total_seconds()
            bucket = result[offset]
            bucket.known_seconds += seconds
            assert bucket.seconds is not None
            bucket.seconds[status] = bucket.seconds.get(status, 0.0) + seconds
        if piece_end >= end:
            return
        start, day = piece_end, day + timedelta(days=1)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # In UTC: Python subtracts two times of one ZoneInfo on the wall clock, which would make
    # the days clocks change on 24 hours long instead of 23 or 25.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def zone_key(tz: tzinfo) -> str:
    """The name a time zone's rolled-up days are stored under ("Europe/Berlin", "UTC")."""
    return getattr(tz, "key", None) or str(tz)


#: The statuses a rolled-up day keeps seconds for, in the rollup's column order.
PROBLEM_STATUSES = (
    ComponentStatus.MAJOR_OUTAGE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.UNDER_MAINTENANCE,
)


def problem_seconds(day: DayUptime) -> tuple[float, ...]:
    """The seconds a day spent in each of PROBLEM_STATUSES (what a rollup row stores)."""
    return tuple(day.seconds_in(status) for status in PROBLEM_STATUSES)


def day_from_seconds(day: date, known_seconds: float, problems: Sequence[float]) -> DayUptime:
    """Rebuild a day from its known seconds and `problem_seconds`.

    Operational time is left out: it is the rest, and no figure or colour reads it.
    """
    seconds = {s: secs for s, secs in zip(PROBLEM_STATUSES, problems, strict=True) if secs}
    return DayUptime(day=day, known_seconds=known_seconds, seconds=seconds)


@dataclass(frozen=True)
class Totals:
    """Known time and weighted downtime added up over days, oldest first."""

    known: float = 0.0
    down: float = 0.0

    def plus(self, day: DayUptime) -> Totals:
        """These totals with one more (later) day."""
        return Totals(self.known + day.known_seconds, self.down + day.downtime_seconds)

    @property
    def percent(self) -> float | None:
        """Uptime in percent with two decimals; None without data."""
        if self.known <= 0:
            return None
        return round(max(0.0, 100.0 * (1.0 - self.down / self.known)), 2)


def totals(days: Sequence[DayUptime], start: Totals = Totals()) -> Totals:
    """Add days to `start` in order (so totals of a prefix can be finished later, exactly)."""
    for day in days:
        start = start.plus(day)
    return start


def uptime_percent(days: Sequence[DayUptime]) -> float | None:
    """Uptime over several days in percent, weighted by known time; None without data."""
    return totals(days).percent
