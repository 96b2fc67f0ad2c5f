"""Reliability figures from plain values: per incident, uptime and SLAs per period, aggregates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from statuspage.core.enums import ComponentStatus, Impact
from statuspage.core.escalation.config import Table, named_tables
from statuspage.core.times import as_utc
from statuspage.core.uptime import DOWNTIME_WEIGHT, Change, DayUptime, Totals
from statuspage.errors import ValidationError

__all__ = [
    "CLOSED_STATUSES",
    "ComponentHistory",
    "ComponentInterval",
    "Counting",
    "IncidentFacts",
    "IncidentFigures",
    "IncidentStats",
    "Period",
    "PeriodUptime",
    "Promise",
    "PromiseOutcome",
    "PublicUpdate",
    "SlaFigures",
    "SlaTarget",
    "Summary",
    "component_uptime",
    "evaluate_sla",
    "incident_figures",
    "incident_stats",
    "parse_period",
    "parse_sla",
    "percentile",
    "sla_figures",
    "summarize",
    "uptime_from_days",
]

#: Update statuses that close an incident (a maintenance's "completed" too).
CLOSED_STATUSES = frozenset({"resolved", "postmortem", "completed"})
#: The percentile reported beside the mean.
P90 = 90
#: The config section of SLA targets ([sla.NAME]).
SECTION = "sla"

_ZERO = timedelta(0)


# -- per incident --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicUpdate:
    """A public update: when, the status it set, and the next update it promised, if any."""

    at: datetime
    status: str
    promised_next_at: datetime | None = None


@dataclass(frozen=True)
class ComponentInterval:
    """A component in one status from `start` until `end` (None: still so)."""

    component: int
    status: ComponentStatus
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class IncidentFacts:
    """What an incident's figures are computed from; `reopened` means open again after a resolve."""

    started_at: datetime
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    updates: Sequence[PublicUpdate] = ()
    # The last resolve. With `reopened`, updates came after it: the incident is open again.
    resolved_at: datetime | None = None
    reopened: bool = False
    components: Sequence[ComponentInterval] = ()
    impact: Impact = Impact.NONE

    @property
    def is_open(self) -> bool:
        """Whether the incident is still going (never resolved, or reopened since)."""
        return self.resolved_at is None or self.reopened

    def end(self, now: datetime) -> datetime:
        """Where the incident's span ends: its resolve when closed, else `now` (never past it)."""
        now = as_utc(now)
        if self.resolved_at is None or self.reopened:
            return now
        return min(as_utc(self.resolved_at), now)


class PromiseOutcome(StrEnum):
    """What became of a promised next update."""

    KEPT = "kept"
    BROKEN = "broken"
    PENDING = "pending"


@dataclass(frozen=True)
class Promise:
    """One promise: made at, due at, and what became of it."""

    made_at: datetime
    due_at: datetime
    outcome: PromiseOutcome


@dataclass(frozen=True)
class IncidentFigures:
    """One incident's figures; None where the event has not happened (yet)."""

    time_to_acknowledge: timedelta | None
    time_to_first_update: timedelta | None
    gaps: tuple[timedelta, ...]
    promises: tuple[Promise, ...]
    time_to_resolve: timedelta | None
    component_durations: Mapping[int, Mapping[ComponentStatus, timedelta]]

    @property
    def longest_gap(self) -> timedelta | None:
        """The longest time between two consecutive public updates; None with fewer than two."""
        return max(self.gaps, default=None)

    @property
    def promises_kept(self) -> int:
        """How many promised updates came in time (or the incident was resolved by then)."""
        return sum(p.outcome is PromiseOutcome.KEPT for p in self.promises)

    @property
    def promises_broken(self) -> int:
        """How many promised updates came late or are overdue."""
        return sum(p.outcome is PromiseOutcome.BROKEN for p in self.promises)

    @property
    def promises_pending(self) -> int:
        """How many promises are not due yet."""
        return sum(p.outcome is PromiseOutcome.PENDING for p in self.promises)


def incident_figures(facts: IncidentFacts, *, now: datetime) -> IncidentFigures:
    """Compute one incident's figures as they stand at `now`."""
    now = as_utc(now)
    started = as_utc(facts.started_at)
    # Reaction times run from the first sign anyone could act on: the alert, else the start.
    origin = as_utc(facts.detected_at) if facts.detected_at is not None else started
    updates = sorted(
        (
            PublicUpdate(as_utc(u.at), u.status, _utc_or_none(u.promised_next_at))
            for u in facts.updates
            if as_utc(u.at) <= now
        ),
        key=lambda u: u.at,
    )
    acknowledged = _utc_or_none(facts.acknowledged_at)
    first = updates[0].at if updates else None
    # Time to resolve is the customers' wait: from the start (which a PM may backdate) to the
    # last resolve; a reopened incident has none until it is resolved again.
    to_resolve = None if facts.is_open else facts.end(now) - started
    return IncidentFigures(
        time_to_acknowledge=_since(origin, acknowledged),
        time_to_first_update=_since(origin, first),
        gaps=tuple(b.at - a.at for a, b in pairwise(updates)),
        promises=_promises(facts, updates, now),
        time_to_resolve=None if to_resolve is None else max(to_resolve, _ZERO),
        component_durations=_component_durations(facts, started, facts.end(now)),
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _since(origin: datetime, value: datetime | None) -> timedelta | None:
    if value is None:
        return None
    # An ack or update recorded before the alert arrived counts as immediate, not negative.
    return max(value - origin, _ZERO)


def _promises(
    facts: IncidentFacts, updates: Sequence[PublicUpdate], now: datetime
) -> tuple[Promise, ...]:
    closed_at = None if facts.is_open else facts.end(now)
    found = []
    for index, update in enumerate(updates):
        due = update.promised_next_at
        if due is None:
            continue
        following = updates[index + 1].at if index + 1 < len(updates) else None
        if (
            (following is not None and following <= due)
            # A resolve needs no follow-up: the promise is kept if the incident was resolved by
            # then, by this very update or by a resolve recorded without one.
            or update.status in CLOSED_STATUSES
            or (closed_at is not None and closed_at <= due)
        ):
            outcome = PromiseOutcome.KEPT
        elif following is not None or closed_at is not None or now > due:
            outcome = PromiseOutcome.BROKEN
        else:
            outcome = PromiseOutcome.PENDING
        found.append(Promise(update.at, due, outcome))
    return tuple(found)


def _component_durations(
    facts: IncidentFacts, start: datetime, end: datetime
) -> Mapping[int, Mapping[ComponentStatus, timedelta]]:
    spans: dict[tuple[int, ComponentStatus], list[tuple[datetime, datetime]]] = {}
    for interval in facts.components:
        lo = max(as_utc(interval.start), start)
        hi = min(as_utc(interval.end), end) if interval.end is not None else end
        if hi > lo:
            key = (interval.component, ComponentStatus(interval.status))
            spans.setdefault(key, []).append((lo, hi))
    result: dict[int, dict[ComponentStatus, timedelta]] = {}
    for (component, status), pieces in sorted(spans.items()):
        result.setdefault(component, {})[status] = _union_length(pieces)
    return MappingProxyType({k: MappingProxyType(v) for k, v in result.items()})


def _union_length(pieces: Iterable[tuple[datetime, datetime]]) -> timedelta:
    """The time covered by these intervals, overlaps counted once."""
    total, reach = _ZERO, None
    for lo, hi in sorted(pieces):
        if reach is not None:
            lo = max(lo, reach)
        if hi > lo:
            total += hi - lo
        reach = hi if reach is None else max(reach, hi)
    return total


# -- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A span of time [start, end), kept in UTC so lengths are true lengths across DST."""

    start: datetime
    end: datetime
    label: str = ""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"a period's {name} must be an aware datetime, got {value!r}")
            # Two datetimes sharing one ZoneInfo subtract as wall-clock times; UTC does not.
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"a period must end after it starts ({self.start} to {self.end})")

    @classmethod
    def month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        """The calendar month in `tz`, local midnight to local midnight."""
        if not 1 <= month <= 12:
            raise ValueError(f"a month is 1-12, got {month}")
        after = (year + 1, 1) if month == 12 else (year, month + 1)
        return cls(
            datetime(year, month, 1, tzinfo=tz),
            datetime(*after, 1, tzinfo=tz),
            f"{year:04d}-{month:02d}",
        )

    @classmethod
    def quarter(cls, year: int, quarter: int, tz: ZoneInfo) -> Period:
        """The calendar quarter (1-4) in `tz`."""
        if not 1 <= quarter <= 4:
            raise ValueError(f"a quarter is 1-4, got {quarter}")
        first = 3 * quarter - 2
        after = (year + 1, 1) if quarter == 4 else (year, first + 3)
        return cls(
            datetime(year, first, 1, tzinfo=tz),
            datetime(*after, 1, tzinfo=tz),
            f"{year:04d}-Q{quarter}",
        )

    @classmethod
    def custom(cls, start: datetime, end: datetime, label: str = "") -> Period:
        """Any range of aware datetimes; the label defaults to the two instants in UTC."""
        period = cls(start, end, label)
        if label:
            return period
        return cls(
            period.start, period.end, f"{period.start:%Y-%m-%dT%H:%MZ}/{period.end:%Y-%m-%dT%H:%MZ}"
        )

    @property
    def duration(self) -> timedelta:
        """The period's true length."""
        return self.end - self.start

    @property
    def hours(self) -> float:
        """The period's length in hours (743 for March in Europe/Berlin)."""
        return self.duration.total_seconds() / 3600

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls in [start, end)."""
        return self.start <= as_utc(moment) < self.end


#: The longest custom period a report covers (reads stay bounded; a year fits).
MAX_CUSTOM_DAYS = 366
PERIOD_FORMS = "YYYY-MM, YYYY-Qn or YYYY-MM-DD..YYYY-MM-DD"
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER_RE = re.compile(r"(\d{4})-[Qq]([1-4])", re.ASCII)
_RANGE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", re.ASCII)


def parse_period(text: str, tz: ZoneInfo) -> Period:
    """Read `2026-11`, `2026-Q4` or `2026-11-01..2026-11-15` (both days included) in `tz`."""
    value = text
    try:
        if found := _MONTH_RE.fullmatch(value):
            return Period.month(int(found[1]), int(found[2]), tz)
        if found := _QUARTER_RE.fullmatch(value):
            return Period.quarter(int(found[1]), int(found[2]), tz)
        if found := _RANGE_RE.fullmatch(value):
            first, last = date.fromisoformat(found[1]), date.fromisoformat(found[2])
            if last < first:
                raise ValueError(f"the range ends ({last}) before it starts ({first})")
            if (last - first).days + 1 > MAX_CUSTOM_DAYS:
                raise ValueError(f"a range covers at most {MAX_CUSTOM_DAYS} days")
            after = last + timedelta(days=1)
            return Period(
                datetime(first.year, first.month, first.day, tzinfo=tz),
                datetime(after.year, after.month, after.day, tzinfo=tz),
                f"{first.isoformat()}..{last.isoformat()}",
            )
    except (ValueError, OverflowError) as exc:
        # OverflowError: a period at the edge of the calendar cannot be moved to UTC.
        raise ValidationError(f"period: {value!r}: {exc}", field="period") from None
    raise ValidationError(
        f"period: {value!r} is not a period (expected {PERIOD_FORMS})", field="period"
    )


# -- uptime over a period ------------------------------------------------------------------------


@dataclass(frozen=True)
class Counting:
    """What counts as downtime (weights per status) and whether maintenance time is left out."""

    count_degraded: float = 0.0
    count_partial: float = DOWNTIME_WEIGHT[ComponentStatus.PARTIAL_OUTAGE]
    exclude_maintenance: bool = True

    def __post_init__(self) -> None:
        for name in ("count_degraded", "count_partial"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a weight from 0 to 1, got {value}")

    @property
    def weights(self) -> Mapping[ComponentStatus, float]:
        """The share of each status's time that is downtime (major outage always in full)."""
        return {
            **DOWNTIME_WEIGHT,
            ComponentStatus.PARTIAL_OUTAGE: self.count_partial,
            ComponentStatus.DEGRADED_PERFORMANCE: self.count_degraded,
        }


@dataclass(frozen=True)
class PeriodUptime:
    """One component's uptime over a period under one `Counting`."""

    counting: Counting
    known_seconds: float
    downtime_seconds: float
    seconds: Mapping[ComponentStatus, float] = field(default_factory=dict)

    @property
    def percent(self) -> float | None:
        """Uptime in percent, unrounded (an SLA is judged on this); None without data."""
        if self.known_seconds <= 0:
            return None
        return max(0.0, 100.0 * (1.0 - self.downtime_seconds / self.known_seconds))

    @property
    def totals(self) -> Totals:
        """The same figures as uptime.Totals, whose `percent` is the two decimals pages show."""
        return Totals(self.known_seconds, self.downtime_seconds)


@dataclass(frozen=True)
class ComponentHistory:
    """A component's status changes (any order) and when it was created (no data before)."""

    changes: Sequence[Change]
    created_at: datetime | None = None


def component_uptime(
    changes: Sequence[Change],
    period: Period,
    *,
    now: datetime,
    created_at: datetime | None = None,
    counting: Counting = Counting(),
) -> PeriodUptime:
    """Uptime over `period` (up to `now`) from the status history, by docs/status-rules.md."""
    # As in uptime.daily_uptime: the history includes the last change before the period, and
    # time before the first change or before the component existed has no data.
    lo = period.start if created_at is None else max(period.start, as_utc(created_at))
    hi = min(period.end, as_utc(now))
    ordered = sorted(changes, key=lambda c: as_utc(c.at))
    seconds: dict[ComponentStatus, float] = {}
    for index, change in enumerate(ordered):
        start = max(as_utc(change.at), lo)
        end = min(as_utc(ordered[index + 1].at), hi) if index + 1 < len(ordered) else hi
        if end > start:
            status = ComponentStatus(change.status)
            seconds[status] = seconds.get(status, 0.0) + (end - start).total_seconds()
    return _period_uptime(seconds, sum(seconds.values()), counting)


def uptime_from_days(days: Sequence[DayUptime], counting: Counting = Counting()) -> PeriodUptime:
    """The same figure from rolled-up days that exactly cover the period (operational left out)."""
    seconds: dict[ComponentStatus, float] = {}
    for day in days:
        for status, secs in (day.seconds or {}).items():
            seconds[status] = seconds.get(status, 0.0) + secs
    return _period_uptime(seconds, sum(d.known_seconds for d in days), counting)


def _period_uptime(
    seconds: Mapping[ComponentStatus, float], known: float, counting: Counting
) -> PeriodUptime:
    if counting.exclude_maintenance:
        # Announced maintenance is neither up nor down: it leaves the known time altogether.
        known -= seconds.get(ComponentStatus.UNDER_MAINTENANCE, 0.0)
    weights = counting.weights
    down = sum(secs * weights.get(status, 0.0) for status, secs in seconds.items())
    return PeriodUptime(counting, max(known, 0.0), down, MappingProxyType(dict(seconds)))


# -- SLAs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTarget:
    """An `[sla.NAME]` table: the components it covers, the target percent, what counts."""

    name: str
    components: tuple[str, ...]
    target: float
    counting: Counting = field(default_factory=Counting)


def parse_sla(source: str, data: Mapping[str, Any]) -> dict[str, SlaTarget]:
    """Read the `sla` section (its NAME tables), or raise ConfigError naming the key."""
    return {
        name: _parse_target(source, name, table)
        for name, table in named_tables(source, SECTION, data)
    }


def _parse_target(source: str, name: str, data: Any) -> SlaTarget:
    table = Table(source, f"{SECTION}.{name}", data)
    components = table.strings("components")
    target = table.get("target", (int, float))
    # 100 is allowed (a budget of zero); 0 or less promises nothing.
    if not 0 < target <= 100:
        table.fail(f"expected a percentage above 0 and at most 100, got {target}", "target")
    weights = {}
    for key, default in (
        ("count_degraded", Counting.count_degraded),
        ("count_partial", Counting.count_partial),
    ):
        weights[key] = float(table.get(key, (int, float), default))
        if not 0 <= weights[key] <= 1:
            table.fail(f"expected a weight from 0 to 1, got {weights[key]}", key)
    exclude = bool(table.get("exclude_maintenance", bool, True))
    table.done()
    counting = Counting(
        count_degraded=weights["count_degraded"],
        count_partial=weights["count_partial"],
        exclude_maintenance=exclude,
    )
    return SlaTarget(name, tuple(components), float(target), counting)


@dataclass(frozen=True)
class SlaFigures:
    """An SLA over a period; budgets in seconds, `budget_left` negative once blown."""

    sla: SlaTarget
    uptimes: Mapping[str, PeriodUptime]
    # The component that decides (lowest uptime); None when none has data.
    binding: str | None
    achieved: float | None
    met: bool | None
    budget_allowed: float
    budget_left: float
    missing: tuple[str, ...] = ()


def sla_figures(
    sla: SlaTarget, period: Period, histories: Mapping[str, ComponentHistory], *, now: datetime
) -> SlaFigures:
    """Compute each covered component's uptime with the SLA's counting, then evaluate it."""
    by_name = {name.casefold(): history for name, history in histories.items()}
    uptimes: dict[str, PeriodUptime | None] = {}
    for name in sla.components:
        history = by_name.get(name.casefold())
        uptimes[name] = (
            None
            if history is None
            else component_uptime(
                history.changes,
                period,
                now=now,
                created_at=history.created_at,
                counting=sla.counting,
            )
        )
    return evaluate_sla(sla, uptimes)


def evaluate_sla(sla: SlaTarget, uptimes: Mapping[str, PeriodUptime | None]) -> SlaFigures:
    """Judge an SLA by its worst component: a group's SLA promises each of its members."""
    # Worst, not mean: a customer who uses only the broken component gets no comfort from the
    # others, and a mean would let a large group absorb one member's blown budget.
    found: dict[str, PeriodUptime] = {}
    missing = []
    for name in sla.components:
        uptime = uptimes.get(name)
        if uptime is None:
            missing.append(name)
            continue
        if uptime.counting != sla.counting:
            raise ValueError(f"{name}: uptime counted otherwise than sla.{sla.name} says")
        found[name] = uptime
    judged = [(name, u, _budget(sla, u)) for name, u in found.items() if u.percent is not None]
    if not judged:
        return SlaFigures(sla, MappingProxyType(found), None, None, None, 0.0, 0.0, tuple(missing))
    name, uptime, (allowed, left) = min(
        judged, key=lambda item: (item[1].percent, item[2][1], item[0])
    )
    return SlaFigures(
        sla=sla,
        uptimes=MappingProxyType(found),
        binding=name,
        achieved=uptime.percent,
        met=left >= 0,
        budget_allowed=allowed,
        budget_left=left,
        missing=tuple(missing),
    )


def _budget(sla: SlaTarget, uptime: PeriodUptime) -> tuple[float, float]:
    """Downtime allowed and left, in seconds."""
    allowed = uptime.known_seconds * (100.0 - sla.target) / 100.0
    # Rounded to the microsecond, the resolution of the times behind them, so that float noise
    # cannot blow a budget: 99.9 % of a 30-day month allows exactly 2592 s.
    return round(allowed, 6), round(allowed - uptime.downtime_seconds, 6)


# -- aggregates over a period's incidents --------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Count, mean and p90 (nearest rank) of one figure; None without values."""

    count: int
    mean: timedelta | None
    p90: timedelta | None


def percentile(values: Iterable[timedelta], percent: int) -> timedelta | None:
    """The nearest-rank percentile: the smallest value with `percent` % of values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile is 1-100, got {percent}")
    # ceil(percent * n / 100) in integers, so no float rounding moves the rank.
    rank = (percent * len(ordered) + 99) // 100
    return ordered[rank - 1]


def summarize(values: Iterable[timedelta | None]) -> Summary:
    """Summarise the values that exist (None means the incident has none yet)."""
    present = [v for v in values if v is not None]
    if not present:
        return Summary(0, None, None)
    return Summary(len(present), sum(present, _ZERO) / len(present), percentile(present, P90))


@dataclass(frozen=True)
class IncidentStats:
    """A period's incidents: counts of all that overlap it, figures of those that started in it."""

    period: Period
    counts: Mapping[Impact, int]
    time_to_first_update: Summary
    time_to_resolve: Summary

    @property
    def total(self) -> int:
        """How many incidents touched the period."""
        return sum(self.counts.values())


def incident_stats(
    incidents: Iterable[IncidentFacts], period: Period, *, now: datetime
) -> IncidentStats:
    """Aggregate a period's incidents; one across a boundary counts in both, its figures once."""
    # Counts answer "what did customers live through this month", so an incident still going when
    # the month began counts again. Its figures count once, in the month it started, so that
    # quarterly means are the months' means combined and no wait is reported twice.
    counts = dict.fromkeys((Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL), 0)
    first_updates: list[timedelta | None] = []
    resolves: list[timedelta | None] = []
    for facts in incidents:
        started = as_utc(facts.started_at)
        if started >= period.end or started > as_utc(now):
            continue
        if started < period.start and facts.end(now) <= period.start:
            continue
        impact = Impact(facts.impact)
        counts[impact] = counts.get(impact, 0) + 1
        if period.contains(started):
            figures = incident_figures(facts, now=now)
            first_updates.append(figures.time_to_first_update)
            resolves.append(figures.time_to_resolve)
    return IncidentStats(
        period=period,
        counts=MappingProxyType(counts),
        time_to_first_update=summarize(first_updates),
        time_to_resolve=summarize(resolves),
    )
