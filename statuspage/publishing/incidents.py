"""Incidents and scheduled maintenances: open, post updates, apply component statuses.

Functions here change the session and flush; the caller runs each user action inside one
`database.write_transaction()` so that all of it happens or none of it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from statuspage.core import limits
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
)
from statuspage.core.markup import render_markdown
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate, UpdateComponentChange, User
from statuspage.errors import Conflict, NotFound, ValidationError
from statuspage.publishing import components as component_service


def parse_impact(value: str, field: str = "impact") -> Impact:
    """Parse an impact, or raise ValidationError naming the choices."""
    try:
        return Impact(value)
    except ValueError:
        choices = ", ".join(i.value for i in Impact if i is not Impact.MAINTENANCE)
        raise ValidationError(
            f"unknown impact {value!r} (expected one of: {choices})", field=field
        ) from None


def parse_status(
    kind: IncidentKind, value: str, field: str = "status"
) -> IncidentStatus | MaintenanceStatus:
    """Parse an incident or maintenance status, or raise ValidationError naming the choices."""
    enum = MaintenanceStatus if kind is IncidentKind.MAINTENANCE else IncidentStatus
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(s.value for s in enum)
        raise ValidationError(
            f"unknown status {value!r} (expected one of: {choices})", field=field
        ) from None


def get_incident(incident_id: int) -> Incident:
    """Return the incident or maintenance, or raise NotFound."""
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    return incident


def open_incident(
    *,
    name: str,
    impact: Impact,
    body: str,
    now: datetime,
    body_html: str | None = None,
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    component_statuses: Mapping[Component, ComponentStatus] | None = None,
    author: User | None = None,
    notify: bool = True,
) -> Incident:
    """Open an incident with its first update."""
    if impact is Impact.MAINTENANCE:
        raise ValidationError("use a scheduled maintenance for planned work", field="impact")
    incident = Incident(
        kind=IncidentKind.INCIDENT.value,
        name=limits.title(name, field="name"),
        status=status.value,
        impact=impact.value,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(incident)
    post_update(
        incident,
        status=status,
        body=body,
        body_html=body_html,
        now=now,
        component_statuses=component_statuses,
        author=author,
        notify=notify,
    )
    return incident


def schedule_maintenance(
    *,
    name: str,
    body: str,
    scheduled_for: datetime,
    body_html: str | None = None,
    scheduled_until: datetime,
    now: datetime,
    components: list[Component] = (),  # type: ignore[assignment]
    author: User | None = None,
    notify: bool = True,
) -> Incident:
    """Schedule a maintenance window with its first (scheduled) update."""
    if scheduled_until <= scheduled_for:
        raise ValidationError("the maintenance must end after it starts", field="scheduled_until")
    incident = Incident(
        kind=IncidentKind.MAINTENANCE.value,
        name=limits.title(name, field="name"),
        status=MaintenanceStatus.SCHEDULED.value,
        impact=Impact.MAINTENANCE.value,
        started_at=scheduled_for,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        created_at=now,
        updated_at=now,
    )
    incident.components = list(components)
    db.session.add(incident)
    post_update(
        incident,
        status=MaintenanceStatus.SCHEDULED,
        body=body,
        body_html=body_html,
        now=now,
        author=author,
        notify=notify,
    )
    return incident


def post_update(
    incident: Incident,
    *,
    status: IncidentStatus | MaintenanceStatus,
    body: str,
    now: datetime,
    body_html: str | None = None,
    component_statuses: Mapping[Component, ComponentStatus] | None = None,
    author: User | None = None,
    notify: bool = True,
    impact: Impact | None = None,
) -> IncidentUpdate:
    """Add an update to the timeline, move the incident's status and apply component statuses.

    `body_html` is the body already rendered by the publishing core (it checked the body);
    without it the body is checked and rendered here.
    """
    kind = IncidentKind(incident.kind)
    status = parse_status(kind, str(status.value if hasattr(status, "value") else status))
    if incident.id is not None and incident.is_closed and status.value == incident.status:
        raise Conflict("this incident is already closed; reopen it with another status")
    update = IncidentUpdate(
        incident=incident,
        status=status.value,
        body=body if body_html is not None else limits.body(body),
        author=author,
        display_at=now,
        deliver_notifications=notify,
        created_at=now,
        updated_at=now,
    )
    update.body_html = body_html if body_html is not None else render_markdown(update.body)
    db.session.add(update)
    _move_status(incident, status, now)
    if impact is not None and kind is IncidentKind.INCIDENT:
        if impact is Impact.MAINTENANCE:
            raise ValidationError("an incident cannot have the maintenance impact", field="impact")
        incident.impact = impact.value
    for component, new_status in (component_statuses or {}).items():
        old_status = component.status
        if component not in incident.components:
            incident.components.append(component)
        if component_service.set_status(component, new_status, now=now):
            update.component_changes.append(
                UpdateComponentChange(
                    component_id=component.id,
                    component_name=component.name,
                    old_status=old_status,
                    new_status=new_status.value,
                )
            )
    incident.updated_at = now
    db.session.flush()
    return update


def _move_status(
    incident: Incident, status: IncidentStatus | MaintenanceStatus, now: datetime
) -> None:
    """Set the incident's status and the lifecycle timestamps that go with it."""
    incident.status = status.value
    if status in (IncidentStatus.IDENTIFIED,) and incident.identified_at is None:
        incident.identified_at = now
    if status is IncidentStatus.MONITORING and incident.monitoring_at is None:
        incident.monitoring_at = now
    if status is MaintenanceStatus.IN_PROGRESS:
        incident.started_at = now
    closed = status in (
        IncidentStatus.RESOLVED,
        IncidentStatus.POSTMORTEM,
        MaintenanceStatus.COMPLETED,
    )
    if closed and incident.resolved_at is None:
        incident.resolved_at = now
    if not closed:
        # Reopening clears the end: the incident is ongoing again.
        incident.resolved_at = None


def publish_postmortem(incident: Incident, *, body: str, now: datetime) -> None:
    """Attach (or replace) the postmortem of a resolved incident and publish it."""
    if incident.is_maintenance:
        raise ValidationError("maintenances have no postmortem")
    if not incident.is_closed:
        raise Conflict("resolve the incident before publishing its postmortem")
    incident.postmortem_body = limits.body(body)
    incident.postmortem_html = render_markdown(incident.postmortem_body)
    incident.postmortem_published_at = now
    incident.status = IncidentStatus.POSTMORTEM.value
    incident.updated_at = now
