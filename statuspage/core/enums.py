"""The status vocabulary shared by pages, API and feeds (Atlassian Statuspage's words)."""

from __future__ import annotations

from enum import StrEnum


class ComponentStatus(StrEnum):
    """How one component is doing right now."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @property
    def label(self) -> str:
        return COMPONENT_LABELS[self]

    @property
    def severity(self) -> int:
        """Order used to find the worst status (maintenance ranks below any problem)."""
        return COMPONENT_SEVERITY[self]


COMPONENT_LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded Performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial Outage",
    ComponentStatus.MAJOR_OUTAGE: "Major Outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under Maintenance",
}

COMPONENT_SEVERITY = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}


class IncidentStatus(StrEnum):
    """Where an incident is in its lifecycle."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def is_closed(self) -> bool:
        return self in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)


class MaintenanceStatus(StrEnum):
    """Where a scheduled maintenance is in its lifecycle."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_closed(self) -> bool:
        return self is MaintenanceStatus.COMPLETED


class Impact(StrEnum):
    """How bad an incident is; maintenances carry `maintenance`."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def rank(self) -> int:
        return IMPACT_RANK[self]


IMPACT_RANK = {
    Impact.NONE: 0,
    Impact.MAINTENANCE: 0,
    Impact.MINOR: 1,
    Impact.MAJOR: 2,
    Impact.CRITICAL: 3,
}


class Indicator(StrEnum):
    """The page-wide status indicator of `/api/v2/status.json`."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


class IncidentKind(StrEnum):
    """Incidents and scheduled maintenances share one table, as in Statuspage."""

    INCIDENT = "incident"
    MAINTENANCE = "maintenance"


#: The descriptions Statuspage clients know, keyed by the situation that produces them.
DESCRIPTIONS = {
    "operational": "All Systems Operational",
    "minor": "Minor Service Outage",
    "partial": "Partial System Outage",
    "major": "Major System Outage",
    "maintenance": "Service Under Maintenance",
    "degraded": "Degraded System Service",
    "partially_degraded": "Partially Degraded Service",
}


def status_for(kind: IncidentKind | str, value: str) -> IncidentStatus | MaintenanceStatus:
    """Parse a stored status string with the enum that fits the incident kind."""
    if IncidentKind(kind) is IncidentKind.MAINTENANCE:
        return MaintenanceStatus(value)
    return IncidentStatus(value)
