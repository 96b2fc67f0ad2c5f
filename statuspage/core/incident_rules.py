"""Rules an incident's updates follow (docs/status-rules.md): impact from components, promises.

Pure: values in, values out. The publishing core applies them; the dashboard and the
escalation planner read what they produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from statuspage.core.enums import IMPACT_RANK, ComponentStatus, Impact

#: The impact a component status implies for the incident that set it (Statuspage's mapping).
COMPONENT_IMPACT: dict[ComponentStatus, Impact] = {
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
}

#: The blank of canned messages that holds the promise of the next update ("30 minutes").
PROMISE_VARIABLE = "next_update"
#: The blank that the names of the update's components fill when it is left empty.
COMPONENT_VARIABLE = "component"
#: The longest promise we take as one: anything longer is not a "next update" clock.
MAX_PROMISE = timedelta(days=7)

_DURATION = re.compile(
    r"(?:in\s+|within\s+)?(?P<n>\d{1,4}|an?|one)\s*"
    r"(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?)\.?",
    re.IGNORECASE,
)
_UNITS = {"m": 1, "h": 60, "d": 24 * 60}
_WORDS = {"a": 1, "an": 1, "one": 1}


def impact_from_components(statuses: Iterable[ComponentStatus | str]) -> Impact | None:
    """The impact the worst of these component statuses implies; None if none is a problem."""
    implied = [COMPONENT_IMPACT.get(ComponentStatus(s)) for s in statuses]
    found = [i for i in implied if i is not None]
    return max(found, key=IMPACT_RANK.__getitem__) if found else None


def incident_impact(
    *, chosen: Impact | None, current: Impact, components: Iterable[ComponentStatus | str]
) -> Impact:
    """An incident's impact after an update.

    A PM's explicit choice wins. Otherwise the impact follows the incident's components: it rises
    to what their worst status implies and never falls on its own (a resolve that brings every
    component back keeps the impact the incident had, as Statuspage's history shows it).
    """
    if chosen is not None:
        return chosen
    implied = impact_from_components(components)
    if implied is None or IMPACT_RANK[implied] <= IMPACT_RANK[current]:
        return current
    return implied


def parse_promise(text: str) -> timedelta | None:
    """Read "30 minutes", "1 hour", "in 2 hrs", "90 min" as a duration; None if it is not one."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    raw = match["n"].lower()
    count = _WORDS[raw] if raw in _WORDS else int(raw)
    minutes = count * _UNITS[match["unit"][0].lower()]
    if minutes <= 0 or timedelta(minutes=minutes) > MAX_PROMISE:
        return None
    return timedelta(minutes=minutes)


def promised_minutes(explicit: int | None, values: dict[str, str]) -> int | None:
    """The next update promised in an update: an explicit number, else the `next_update` blank."""
    if explicit is not None:
        return explicit
    promise = parse_promise(values.get(PROMISE_VARIABLE, ""))
    return None if promise is None else int(promise.total_seconds() // 60)


def next_update_due(
    last_update_at: datetime, promised_at: datetime | None, cadence: timedelta
) -> datetime:
    """When customers are owed the next update: the time the last one promised, else the cadence.

    A promise is what customers were told ("within 30 minutes"), so it wins over the
    configured cadence in both directions.
    """
    return promised_at if promised_at is not None else last_update_at + cadence


def with_component_names(values: dict[str, str], names: list[str]) -> dict[str, str]:
    """The values with an empty `component` blank filled from the update's components."""
    if not names or values.get(COMPONENT_VARIABLE, "").strip():
        return values
    return {**values, COMPONENT_VARIABLE: ", ".join(names)}
