"""The page-wide status from component statuses and open incidents (rules: docs/status-rules.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from statuspage.core.enums import DESCRIPTIONS, ComponentStatus, Impact, Indicator

_INDICATOR_RANK = {
    Indicator.NONE: 0,
    Indicator.MAINTENANCE: 1,
    Indicator.MINOR: 2,
    Indicator.MAJOR: 3,
    Indicator.CRITICAL: 4,
}


@dataclass(frozen=True)
class OverallStatus:
    """The `status` object of the Statuspage API: an indicator and its description."""

    indicator: Indicator
    description: str

    @property
    def rank(self) -> int:
        return _INDICATOR_RANK[self.indicator]


def from_components(statuses: Iterable[ComponentStatus | str]) -> OverallStatus:
    """Derive the status from the components alone (rules 1-5)."""
    values = [ComponentStatus(s) for s in statuses]
    if not values:
        return OverallStatus(Indicator.NONE, DESCRIPTIONS["operational"])
    worst = max(values, key=lambda s: s.severity)
    if worst is ComponentStatus.MAJOR_OUTAGE:
        # Every component down is a major outage; some of them down is a partial one.
        if all(s is ComponentStatus.MAJOR_OUTAGE for s in values):
            return OverallStatus(Indicator.CRITICAL, DESCRIPTIONS["major"])
        return OverallStatus(Indicator.MAJOR, DESCRIPTIONS["partial"])
    if worst is ComponentStatus.PARTIAL_OUTAGE:
        return OverallStatus(Indicator.MAJOR, DESCRIPTIONS["partial"])
    if worst is ComponentStatus.DEGRADED_PERFORMANCE:
        problems = [s for s in values if s is not ComponentStatus.UNDER_MAINTENANCE]
        if all(s is ComponentStatus.DEGRADED_PERFORMANCE for s in problems):
            return OverallStatus(Indicator.MINOR, DESCRIPTIONS["degraded"])
        return OverallStatus(Indicator.MINOR, DESCRIPTIONS["partially_degraded"])
    if worst is ComponentStatus.UNDER_MAINTENANCE:
        return OverallStatus(Indicator.MAINTENANCE, DESCRIPTIONS["maintenance"])
    return OverallStatus(Indicator.NONE, DESCRIPTIONS["operational"])


def from_incident(impact: Impact | str) -> OverallStatus:
    """Derive the status an open incident of this impact implies on its own (rule 6)."""
    impact = Impact(impact)
    if impact is Impact.CRITICAL:
        return OverallStatus(Indicator.CRITICAL, DESCRIPTIONS["major"])
    if impact is Impact.MAJOR:
        return OverallStatus(Indicator.MAJOR, DESCRIPTIONS["partial"])
    if impact is Impact.MINOR:
        return OverallStatus(Indicator.MINOR, DESCRIPTIONS["minor"])
    if impact is Impact.MAINTENANCE:
        return OverallStatus(Indicator.MAINTENANCE, DESCRIPTIONS["maintenance"])
    return OverallStatus(Indicator.NONE, DESCRIPTIONS["operational"])


def overall_status(
    component_statuses: Iterable[ComponentStatus | str],
    open_incident_impacts: Iterable[Impact | str] = (),
    maintenance_in_progress: bool = False,
) -> OverallStatus:
    """Return the worst of what the components, open incidents and maintenances say (rule 7)."""
    candidates = [from_components(component_statuses)]
    candidates += [from_incident(impact) for impact in open_incident_impacts]
    if maintenance_in_progress:
        candidates.append(from_incident(Impact.MAINTENANCE))
    # max() keeps the first of equal ranks, so the components' wording wins a tie.
    return max(candidates, key=lambda status: status.rank)
