"""Read-side queries for the public page, API and feeds: bounded, indexed, eager where needed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from . import status as status_rules
from . import uptime
from .enums import ComponentStatus, IncidentKind, IncidentStatus, MaintenanceStatus
from .extensions import db
from .models import (
    Component,
    ComponentGroup,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    incident_components,
)

CLOSED_INCIDENT = (IncidentStatus.RESOLVED.value, IncidentStatus.POSTMORTEM.value)
UPTIME_DAYS = 90


def _with_timeline():
    return (
        selectinload(Incident.updates).selectinload(IncidentUpdate.component_changes),
        selectinload(Incident.components),
    )


@dataclass
class ComponentTree:
    """Components in display order: groups with their members, then ungrouped ones."""

    groups: list[ComponentGroup]
    members: dict[int, list[Component]]
    ungrouped: list[Component]

    @property
    def components(self) -> list[Component]:
        """Every component in display order."""
        ordered = [c for g in self.groups for c in self.members.get(g.id, [])]
        return ordered + self.ungrouped


def component_tree() -> ComponentTree:
    """Load all groups and components in display order (two queries)."""
    groups = db.session.scalars(
        sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)
    ).all()
    components = db.session.scalars(
        sa.select(Component).order_by(Component.position, Component.id)
    ).all()
    members: dict[int, list[Component]] = defaultdict(list)
    ungrouped = []
    for component in components:
        if component.group_id is None:
            ungrouped.append(component)
        else:
            members[component.group_id].append(component)
    return ComponentTree(groups=list(groups), members=dict(members), ungrouped=ungrouped)


def unresolved_incidents() -> list[Incident]:
    """Open incidents, newest first, with their timelines."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            # resolved_at is empty exactly while an incident is open; the index finds those.
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.INCIDENT.value)
            .where(Incident.status.not_in(CLOSED_INCIDENT))
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .options(*_with_timeline())
        )
    )


def active_maintenances() -> list[Incident]:
    """Maintenances in progress or being verified, soonest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.MAINTENANCE.value)
            .where(
                Incident.status.in_(
                    (MaintenanceStatus.IN_PROGRESS.value, MaintenanceStatus.VERIFYING.value)
                )
            )
            .order_by(Incident.scheduled_for, Incident.id)
            .options(*_with_timeline())
        )
    )


def upcoming_maintenances() -> list[Incident]:
    """Maintenances still scheduled, soonest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.MAINTENANCE.value)
            .where(Incident.status == MaintenanceStatus.SCHEDULED.value)
            .order_by(Incident.scheduled_for, Incident.id)
            .options(*_with_timeline())
        )
    )


def recent_incidents(
    *, since: datetime, kind: IncidentKind | None = None, limit: int = 50
) -> list[Incident]:
    """Incidents (and maintenances) that started or ended since `since`, newest first."""
    # A union of two index ranges: with OR, SQLite walks the whole started_at index.
    recent = sa.union(
        sa.select(Incident.id).where(Incident.started_at >= since),
        sa.select(Incident.id).where(Incident.resolved_at >= since),
    )
    query = (
        sa.select(Incident)
        .where(Incident.id.in_(recent))
        .order_by(Incident.started_at.desc(), Incident.id.desc())
        .limit(limit)
        .options(*_with_timeline())
    )
    if kind is not None:
        query = query.where(Incident.kind == kind.value)
    return list(db.session.scalars(query))


def latest_incidents(
    limit: int = 50, *, kind: IncidentKind = IncidentKind.INCIDENT
) -> list[Incident]:
    """The newest incidents (or maintenances), open or not."""
    order = (Incident.started_at.desc(), Incident.id.desc())
    if kind is IncidentKind.MAINTENANCE:
        order = (Incident.scheduled_for.desc(), Incident.id.desc())
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.kind == kind.value)
            .order_by(*order)
            .limit(limit)
            .options(*_with_timeline())
        )
    )


def incidents_between(start: datetime, end: datetime) -> list[Incident]:
    """Incidents and maintenances that started in [start, end), newest first (a history page)."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.started_at >= start, Incident.started_at < end)
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .options(*_with_timeline())
        )
    )


def first_incident_start() -> datetime | None:
    """When the oldest incident started, to bound history pagination."""
    return db.session.scalar(sa.select(sa.func.min(Incident.started_at)))


def incidents_for_component(component_id: int, limit: int = 20) -> list[Incident]:
    """The newest incidents and maintenances that affected a component."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .join(incident_components, incident_components.c.incident_id == Incident.id)
            .where(incident_components.c.component_id == component_id)
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .limit(limit)
            .options(*_with_timeline())
        )
    )


def incident_with_timeline(incident_id: int) -> Incident | None:
    """One incident with its updates and components, or None."""
    return db.session.scalar(
        sa.select(Incident).where(Incident.id == incident_id).options(*_with_timeline())
    )


def feed_updates(limit: int = 50, *, component_id: int | None = None) -> list[IncidentUpdate]:
    """The newest updates for a feed, optionally only for incidents touching one component."""
    query = (
        sa.select(IncidentUpdate)
        .join(Incident, Incident.id == IncidentUpdate.incident_id)
        .order_by(IncidentUpdate.display_at.desc(), IncidentUpdate.id.desc())
        .limit(limit)
        .options(
            selectinload(IncidentUpdate.incident).selectinload(Incident.components),
            selectinload(IncidentUpdate.component_changes),
        )
    )
    if component_id is not None:
        query = query.join(
            incident_components, incident_components.c.incident_id == Incident.id
        ).where(incident_components.c.component_id == component_id)
    return list(db.session.scalars(query))


def feed_postmortems(limit: int = 50, *, component_id: int | None = None) -> list[Incident]:
    """The newest published postmortems, optionally of incidents touching one component."""
    query = (
        sa.select(Incident)
        .where(Incident.postmortem_published_at.is_not(None))
        .order_by(Incident.postmortem_published_at.desc(), Incident.id.desc())
        .limit(limit)
        .options(selectinload(Incident.components))
    )
    if component_id is not None:
        query = query.join(
            incident_components, incident_components.c.incident_id == Incident.id
        ).where(incident_components.c.component_id == component_id)
    return list(db.session.scalars(query))


def status_changes(component_ids: list[int], since: datetime) -> dict[int, list[uptime.Change]]:
    """Each component's status changes since `since`, plus the one in force at `since`."""
    if not component_ids:
        return {}
    table = ComponentStatusChange
    # The change in force when the window opens: one indexed lookup per component
    # (component_id, started_at), so the cost does not grow with the history.
    in_force = (
        sa.select(table.id)
        .where(table.component_id == Component.id, table.started_at <= since)
        .order_by(table.started_at.desc(), table.id.desc())
        .limit(1)
        .correlate(Component)
        .scalar_subquery()
    )
    opening_ids = sa.select(in_force).where(Component.id.in_(component_ids))
    rows = db.session.execute(
        sa.select(table.component_id, table.started_at, table.status)
        .where(
            sa.or_(
                sa.and_(table.component_id.in_(component_ids), table.started_at > since),
                table.id.in_(opening_ids),
            )
        )
        .order_by(table.component_id, table.started_at, table.id)
    ).all()
    result: dict[int, list[uptime.Change]] = {cid: [] for cid in component_ids}
    for component_id, at, status in rows:
        result[component_id].append(uptime.Change(at=at, status=ComponentStatus(status)))
    return result


@dataclass
class ComponentUptime:
    """A component's recent days and its uptime percentages."""

    days: list[uptime.DayUptime]
    percent_90: float | None
    percent_30: float | None
    extra: dict = field(default_factory=dict)


def uptimes(
    components: list[Component], *, now: datetime, tz: ZoneInfo, days: int = UPTIME_DAYS
) -> dict[int, ComponentUptime]:
    """Compute the daily uptime bars and percentages of several components at once."""
    since = now - timedelta(days=days + 1)
    changes = status_changes([c.id for c in components], since)
    result = {}
    for component in components:
        data_start = component.created_at
        daily = uptime.daily_uptime(
            changes.get(component.id, []), now=now, days=days, tz=tz, data_start=data_start
        )
        result[component.id] = ComponentUptime(
            days=daily,
            percent_90=uptime.uptime_percent(daily),
            percent_30=uptime.uptime_percent(daily[-30:]),
        )
    return result


def overall_status(
    tree: ComponentTree, open_incidents: list[Incident], maintenances: list[Incident]
) -> status_rules.OverallStatus:
    """The page-wide status from what is already loaded (no further queries)."""
    return status_rules.overall_status(
        [c.status for c in tree.components],
        [i.impact for i in open_incidents],
        maintenance_in_progress=bool(maintenances),
    )


def last_change_at() -> datetime | None:
    """The newest `updated_at` among components and incidents: the page's `updated_at`."""
    times = [
        db.session.scalar(sa.select(sa.func.max(Incident.updated_at))),
        db.session.scalar(sa.select(sa.func.max(Component.updated_at))),
    ]
    return max((t for t in times if t is not None), default=None)


def closed_incidents(kind: IncidentKind, *, offset: int = 0, limit: int = 25) -> list[Incident]:
    """Resolved incidents (or completed maintenances), newest first, one admin page at a time."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.kind == kind.value)
            .where(Incident.resolved_at.is_not(None))
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .offset(offset)
            .limit(limit)
            .options(*_with_timeline())
        )
    )
