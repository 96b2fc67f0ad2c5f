"""Plan an escalation run: every notification due by a given time, from a path and the facts.

Pure: the worker and `statuspage escalation simulate` both call `plan`, so they agree by
construction. A due notification depends only on facts known at its due time, so the plan up to
`t1` is part of the plan up to any later `t2`, and facts arriving later (an acknowledgement, an
update, the resolve) never change what was already due. docs/escalation.md states the rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from statuspage.core.enums import IMPACT_RANK
from statuspage.core.escalation.config import (
    CHANNEL_TYPES,
    Channel,
    EscalationPath,
    Step,
    parse_path,
    parse_window,
)
from statuspage.core.escalation.windows import WEEKDAYS, Window, is_open, next_opening
from statuspage.core.times import as_utc
from statuspage.errors import ConfigError

__all__ = [
    "KINDS",
    "SNAPSHOT_FORMAT",
    "Due",
    "IncidentFacts",
    "Plan",
    "Snapshot",
    "from_snapshot",
    "last_update_before",
    "plan",
    "snapshot",
]

#: Kinds of due notification, in the order they sort at the same moment.
KINDS = ("step", "repeat", "reminder", "missed_update_escalation", "resolved")
SNAPSHOT_FORMAT = 1
_SNAPSHOT_SOURCE = "escalation run snapshot"


@dataclass(frozen=True, kw_only=True)
class IncidentFacts:
    """What is known about the incident, as far as the run is concerned (aware datetimes)."""

    #: Goes into every idempotency key: two incidents never share a key.
    incident_id: int | str
    #: When the run started: the moment the incident first matched the path.
    started_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    #: When public updates were published (any order; those up to the start are ignored).
    public_update_times: Sequence[datetime] = ()
    #: The next update an update promised customers: its time -> the promised time.
    promises: Mapping[datetime, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Due:
    """One notification to send at `at` (UTC) to one channel.

    `key` is the outbox idempotency key: `<incident>:<path>:<step>:<loop>:<channel>` for steps,
    `<incident>:<path>:reminder:<n>:<channel>` for reminders, `...:missed:<n>:<channel>` for
    missed-update escalations, and the trigger's key plus `:resolved` for a PagerDuty resolve,
    whose `dedup_key` is the trigger's key (everything else: `dedup_key == key`).
    """

    at: datetime
    kind: str
    path: str
    #: The step index (None for reminders and what follows from them).
    step: int | None
    #: The repeat loop (0 = the first pass), or the reminder number (1, 2, ...).
    loop: int
    channel: str
    key: str
    dedup_key: str
    #: Reminders: consecutive reminders without a public update, this one included.
    missed: int = 0


@dataclass(frozen=True)
class Plan:
    """Every notification due at or before `until`, in time order, and when the next falls due.

    `next_at` is None when nothing more is due on the facts known; a later fact (the resolve,
    which sends PagerDuty resolves) can still add notifications.
    """

    due: tuple[Due, ...]
    next_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """A path as a run holds it: the path, the windows it names, its channels' types."""

    path: EscalationPath
    windows: Mapping[str, Window] = field(hash=False)
    channel_types: Mapping[str, str] = field(hash=False)


# -- snapshots -----------------------------------------------------------------------------------


def snapshot(
    path: EscalationPath, windows: Mapping[str, Window], channels: Mapping[str, Channel]
) -> dict[str, Any]:
    """The JSON form of a path with the windows and channel types it uses: a self-contained run."""
    return {
        "format": SNAPSHOT_FORMAT,
        "name": path.name,
        "path": _path_raw(path),
        "windows": {name: _window_raw(windows[name]) for name in path.window_names()},
        "channels": {name: channels[name].type for name in path.channel_names()},
    }


def from_snapshot(data: Mapping[str, Any]) -> Snapshot:
    """Read a snapshot back, checked by the config's own rules (ConfigError if malformed)."""
    if not isinstance(data, Mapping) or data.get("format") != SNAPSHOT_FORMAT:
        raise ConfigError(f"{_SNAPSHOT_SOURCE}: format: expected {SNAPSHOT_FORMAT}")
    name, raw_windows, raw_channels = data.get("name"), data.get("windows"), data.get("channels")
    if not isinstance(name, str) or not isinstance(raw_windows, Mapping):
        raise ConfigError(f"{_SNAPSHOT_SOURCE}: expected a name and windows")
    if not isinstance(raw_channels, Mapping) or any(
        kind not in CHANNEL_TYPES for kind in raw_channels.values()
    ):
        raise ConfigError(f"{_SNAPSHOT_SOURCE}: channels: expected channel name -> type")
    windows = {
        key: parse_window(_SNAPSHOT_SOURCE, f"windows.{key}", key, value)
        for key, value in raw_windows.items()
    }
    path = parse_path(
        _SNAPSHOT_SOURCE,
        f"paths.{name}",
        name,
        data.get("path"),
        channels=list(raw_channels),
        windows=list(windows),
    )
    return Snapshot(
        path=path,
        windows=MappingProxyType(windows),
        channel_types=MappingProxyType(dict(raw_channels)),
    )


def _path_raw(path: EscalationPath) -> dict[str, Any]:
    match: dict[str, Any] = {
        "impact_in": [i.value for i in sorted(path.match.impacts, key=lambda i: IMPACT_RANK[i])]
    }
    if path.match.any_component:
        match["any_component"] = True
    else:
        match["components"] = list(path.match.components)
    raw: dict[str, Any] = {
        "match": match,
        "priority": path.priority,
        "continue": path.continue_,
        "stop_on": sorted(path.stop_on),
        "steps": [_step_raw(step) for step in path.steps],
    }
    if path.repeat is not None:
        raw["repeat"] = {
            "times": path.repeat.times,
            "from_step": path.repeat.from_step,
            "after_minutes": path.repeat.after_minutes,
        }
    reminders = path.update_reminders
    if reminders is not None:
        raw["update_reminders"] = {
            "every_minutes": reminders.every_minutes,
            "remind": list(reminders.remind),
        }
        if reminders.escalate_after_missed is not None:
            raw["update_reminders"]["escalate_after_missed"] = reminders.escalate_after_missed
            raw["update_reminders"]["escalate_to"] = list(reminders.escalate_to)
    return raw


def _step_raw(step: Step) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "after_minutes": step.after_minutes,
        "notify": list(step.notify),
        "condition": step.condition,
    }
    if step.only_during is not None:
        raw["only_during"] = step.only_during
        raw["outside_window"] = step.outside_window
    return raw


def _window_raw(window: Window) -> dict[str, Any]:
    return {
        "time_zone": window.time_zone,
        "weekdays": [WEEKDAYS[day] for day in sorted(window.weekdays)],
        "start": _hhmm(window.start),
        "end": "24:00" if window.end is None else _hhmm(window.end),
    }


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


# -- planning ------------------------------------------------------------------------------------


def plan(
    path_snapshot: Mapping[str, Any] | Snapshot, facts: IncidentFacts, until: datetime
) -> Plan:
    """Every notification due at or before `until`, and the time of the next one after it."""
    snap = path_snapshot if isinstance(path_snapshot, Snapshot) else from_snapshot(path_snapshot)
    until = as_utc(until)
    triggers = [*_step_dues(snap, facts), *_reminder_dues(snap, facts, until)]
    everything = triggers + _resolve_dues(snap, facts, triggers)
    everything.sort(key=_order)
    due = tuple(d for d in everything if d.at <= until)
    later = [d.at for d in everything if d.at > until]
    return Plan(due=due, next_at=min(later) if later else None)


def last_update_before(facts: IncidentFacts, at: datetime) -> datetime:
    """The last public update at or before `at`, or the run's start if none came after it."""
    start, at = as_utc(facts.started_at), as_utc(at)
    times = [as_utc(t) for t in facts.public_update_times]
    return max([start, *(t for t in times if t <= at)])


def _order(due: Due) -> tuple[datetime, int, str, int, int]:
    # A stable sort: the channels of one step stay in the order the config lists them.
    step = -1 if due.step is None else due.step
    return (due.at, KINDS.index(due.kind), due.path, step, due.loop)


def _occurrences(path: EscalationPath, start: datetime) -> Iterator[tuple[int, int, datetime]]:
    """(loop, step index, nominal time) of every step, repeats included, in order."""
    offsets = [step.after_minutes for step in path.steps]
    for index, offset in enumerate(offsets):
        yield 0, index, start + timedelta(minutes=offset)
    repeat = path.repeat
    if repeat is None or not offsets:
        return
    first = offsets[repeat.from_step]
    last_nominal = start + timedelta(minutes=offsets[-1])
    for loop in range(1, repeat.times + 1):
        loop_start = last_nominal + timedelta(minutes=repeat.after_minutes)
        for index in range(repeat.from_step, len(offsets)):
            yield loop, index, loop_start + timedelta(minutes=offsets[index] - first)
        last_nominal = loop_start + timedelta(minutes=offsets[-1] - first)


def _step_dues(snap: Snapshot, facts: IncidentFacts) -> Iterator[Due]:
    path = snap.path
    start = as_utc(facts.started_at)
    acked = None if facts.acknowledged_at is None else as_utc(facts.acknowledged_at)
    resolved = None if facts.resolved_at is None else as_utc(facts.resolved_at)
    stop_on_ack = "acknowledged" in path.stop_on
    seen: set[tuple[int, datetime]] = set()
    for loop, index, nominal in _occurrences(path, start):
        step = path.steps[index]
        at: datetime | None = nominal
        if step.only_during is not None:
            window = snap.windows[step.only_during]
            if not is_open(window, nominal):
                at = None if step.outside_window == "skip" else next_opening(window, nominal)
        # Loops deferred to the same opening would say the same thing twice at once: the first
        # stands for all (the same step at the same time meets the same conditions).
        if at is None or (index, at) in seen:
            continue
        seen.add((index, at))
        if resolved is not None and at >= resolved:
            continue
        stopped_by_ack = step.condition == "unacknowledged" or stop_on_ack
        if acked is not None and at >= acked and stopped_by_ack:
            continue
        for channel in step.notify:
            key = f"{facts.incident_id}:{path.name}:{index}:{loop}:{channel}"
            kind = "step" if loop == 0 else "repeat"
            yield Due(at, kind, path.name, index, loop, channel, key, key)


def _reminder_dues(snap: Snapshot, facts: IncidentFacts, until: datetime) -> Iterator[Due]:
    """Reminders up to the resolve, or up to and including the first one after `until`."""
    reminders = snap.path.update_reminders
    if reminders is None:
        return
    start = as_utc(facts.started_at)
    resolved = None if facts.resolved_at is None else as_utc(facts.resolved_at)
    updates = sorted(t for t in (as_utc(u) for u in facts.public_update_times) if t > start)
    promises = {as_utc(k): as_utc(v) for k, v in facts.promises.items()}
    every = timedelta(minutes=reminders.every_minutes)
    base, missed, number, index = start, 0, 0, 0
    prefix = f"{facts.incident_id}:{snap.path.name}"
    while True:
        # An update that promised the next one by a time is owed by then (not `every` later);
        # once a reminder has gone out, reminders repeat every `every`.
        at = promises.get(base, base + every) if missed == 0 else base + every
        while index < len(updates) and updates[index] <= base:
            index += 1
        if index < len(updates) and updates[index] <= at:
            # A public update within the interval: the count starts again from it.
            base, missed = updates[index], 0
            continue
        if resolved is not None and at >= resolved:
            return
        number += 1
        missed += 1
        for channel in reminders.remind:
            key = f"{prefix}:reminder:{number}:{channel}"
            yield Due(at, "reminder", snap.path.name, None, number, channel, key, key, missed)
        threshold = reminders.escalate_after_missed
        if threshold is not None and missed >= threshold:
            for channel in reminders.escalate_to:
                key = f"{prefix}:missed:{number}:{channel}"
                kind = "missed_update_escalation"
                yield Due(at, kind, snap.path.name, None, number, channel, key, key, missed)
        if at > until:
            return
        base = at


def _resolve_dues(snap: Snapshot, facts: IncidentFacts, triggers: list[Due]) -> list[Due]:
    """A PagerDuty resolve, at the resolve, for every trigger sent to a PagerDuty channel."""
    if facts.resolved_at is None:
        return []
    resolved = as_utc(facts.resolved_at)
    return [
        Due(
            resolved,
            "resolved",
            trigger.path,
            trigger.step,
            trigger.loop,
            trigger.channel,
            f"{trigger.key}:resolved",
            trigger.key,
        )
        for trigger in triggers
        if snap.channel_types.get(trigger.channel) == "pagerduty" and trigger.at < resolved
    ]
