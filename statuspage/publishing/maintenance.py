"""Scheduled maintenances that move on their own: start and end at the times of their window.

`tick(now)` is what `statuspage tick` runs and what the worker will call; running it twice at
the same `now` changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.core.enums import ComponentStatus, IncidentKind, MaintenanceStatus
from statuspage.core.times import format_window_time
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Incident
from statuspage.delivery import subscriber_delivery
from statuspage.errors import NotFound, ValidationError
from statuspage.publishing import library as library_service
from statuspage.publishing.publish import Draft, publish

TICK = audit.TICK

STARTED_MESSAGE = "maintenance-started"
COMPLETED_MESSAGE = "maintenance-completed"
STARTED_TEXT = "The scheduled maintenance has started."
COMPLETED_TEXT = "The scheduled maintenance is complete and everything is working normally."
OPEN = (
    MaintenanceStatus.SCHEDULED.value,
    MaintenanceStatus.IN_PROGRESS.value,
    MaintenanceStatus.VERIFYING.value,
)


@dataclass(frozen=True)
class Transition:
    """One maintenance moved by a tick."""

    incident_id: int
    name: str
    old: MaintenanceStatus
    new: MaintenanceStatus
    published: bool  # False: another tick published this very transition first

    def __str__(self) -> str:
        return f"maintenance {self.incident_id} ({self.name}): {self.old.value} -> {self.new.value}"


def due(now: datetime) -> list[Incident]:
    """Open maintenances whose start or end has come, oldest first, locked for this tick."""
    query = (
        sa.select(Incident)
        .where(Incident.kind == IncidentKind.MAINTENANCE.value)
        .where(Incident.status.in_(OPEN))
        .where(
            sa.or_(
                sa.and_(
                    Incident.status == MaintenanceStatus.SCHEDULED.value,
                    Incident.scheduled_for <= now,
                ),
                Incident.scheduled_until <= now,
            )
        )
        .order_by(Incident.scheduled_for, Incident.id)
        .options(selectinload(Incident.components))
        # Several workers may tick at once; each maintenance is moved by one of them.
        .with_for_update(skip_locked=True, of=Incident)
    )
    return list(db.session.scalars(query))


def tick(now: datetime, *, tz: ZoneInfo, actor: audit.Actor = TICK) -> list[Transition]:
    """Start and complete the maintenances that are due at `now`; the caller commits."""
    subscriber_delivery.remind_maintenances(now, tz=tz)
    transitions = []
    for incident in due(now):
        old = MaintenanceStatus(incident.status)
        assert incident.scheduled_until is not None
        if incident.scheduled_until <= now:
            # A window that passed unseen (the tick did not run) goes straight to completed:
            # announcing a start and an end in the same minute would only be noise.
            new = MaintenanceStatus.COMPLETED
            message, text = COMPLETED_MESSAGE, COMPLETED_TEXT
            statuses = {
                c.id: ComponentStatus.OPERATIONAL.value
                for c in incident.components
                # A component that broke during the window keeps its incident's status.
                if c.status == ComponentStatus.UNDER_MAINTENANCE.value
            }
        else:
            new = MaintenanceStatus.IN_PROGRESS
            message, text = STARTED_MESSAGE, STARTED_TEXT
            statuses = {
                c.id: ComponentStatus.UNDER_MAINTENANCE.value
                for c in incident.components
                if c.status == ComponentStatus.OPERATIONAL.value
            }
        draft = Draft(
            incident_id=incident.id,
            status=new.value,
            component_statuses=statuses,
            # One key per transition of one window: a second tick cannot publish it again.
            idempotency_key=f"tick:{incident.id}:{new.value}:{_window_key(incident)}",
        )
        created = _publish(draft, message, _values(incident, tz), text, now=now, actor=actor)
        transitions.append(Transition(incident.id, incident.name, old, new, published=created))
    return transitions


def _window_key(incident: Incident) -> str:
    end = incident.scheduled_until
    return f"{int(end.timestamp())}" if end is not None else "-"


def _values(incident: Incident, tz: ZoneInfo) -> dict[str, str]:
    """What the maintenance messages' blanks can be filled with, from the maintenance itself."""
    values = {
        "component": ", ".join(c.name for c in incident.components) or incident.name,
        "name": incident.name,
    }
    if incident.scheduled_for is not None:
        values["window_start"] = format_window_time(incident.scheduled_for, tz)
    if incident.scheduled_until is not None:
        values["window_end"] = format_window_time(incident.scheduled_until, tz)
    return values


def _publish(
    draft: Draft,
    message: str,
    values: dict[str, str],
    text: str,
    *,
    now: datetime,
    actor: audit.Actor,
) -> bool:
    """Publish from the library message when it exists and can be filled, else as plain text."""
    try:
        version = library_service.current_version(library_service.get_message(message))
        declared = {v["name"] for v in version.variables}
        filled = replace(draft, message=message, variables=_only(values, declared))
        with db.session.begin_nested():
            return publish(filled, now=now, actor=actor, approved=True).created
    except (NotFound, ValidationError):
        # No such message, archived, or a required blank we cannot fill: say it plainly.
        pass
    # The window was published (and approved, if its plan asks) when it was scheduled; its
    # start and end follow from it, so they wait for no one.
    return publish(replace(draft, body=text), now=now, actor=actor, approved=True).created


def _only(values: dict[str, str], names: set[str]) -> dict[str, str]:
    return {name: value for name, value in values.items() if name in names}
