"""Past incidents and maintenances written as they happened: imports and backfills.

`record_incident` is the one act that writes history. It checks every text and rule as a
publish does and renders once, then writes the incident, every update at its own time, the
component changes and the components' status history at those times, an audit entry and the
public generation, in the caller's transaction. It sends nothing: no subscriber fan-out, no
escalation, no component webhooks; what it writes already happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.markup import render_markdown
from statuspage.core.text import clean_text
from statuspage.db import audit, generation
from statuspage.db.extensions import db
from statuspage.db.models import (
    Component,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    UpdateComponentChange,
)
from statuspage.errors import ValidationError

#: The most updates one incident may bring; more is not a timeline anyone wrote.
MAX_UPDATES = 1000
#: History is in the past: a time further ahead than this (clocks differ) is a bad date.
CLOCK_SKEW = timedelta(days=1)
#: Nor does it reach back before status pages existed.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PastChange:
    """A component status change an update made."""

    component_id: int
    new_status: str
    #: The status before, as the source recorded it; None reads it from the history.
    old_status: str | None = None


@dataclass(frozen=True)
class PastUpdate:
    """One update of a timeline, at the time it was posted."""

    status: str
    body: str
    at: datetime
    changes: Sequence[PastChange] = ()


@dataclass(frozen=True)
class PastIncident:
    """An incident or maintenance as it happened: plain values, from any way in."""

    kind: IncidentKind
    name: str
    #: The incident's impact (maintenances always have `maintenance`).
    impact: str
    #: In any order; they are written oldest first.
    updates: Sequence[PastUpdate]
    #: Components it affected beyond those its updates changed.
    component_ids: Sequence[int] = ()
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None
    #: When it was created at the source (None: its first update).
    created_at: datetime | None = None
    postmortem: str | None = None
    #: When the postmortem was published; None with a postmortem keeps it as a draft.
    postmortem_published_at: datetime | None = None
    #: When a draft postmortem was last written (None: its incident's last update).
    postmortem_updated_at: datetime | None = None
    #: `postmortem` when the source says so without giving the postmortem (a public API);
    #: None: the status the last update gives.
    status: str | None = None


@dataclass(frozen=True)
class CheckedChange:
    component_id: int
    new: ComponentStatus
    old: ComponentStatus | None


@dataclass(frozen=True)
class CheckedUpdate:
    status: IncidentStatus | MaintenanceStatus
    body: str
    body_html: str
    at: datetime
    changes: tuple[CheckedChange, ...]


@dataclass(frozen=True)
class Checked:
    """A past incident checked and rendered: exactly what `record_incident` writes."""

    kind: IncidentKind
    name: str
    impact: Impact
    updates: tuple[CheckedUpdate, ...]
    component_ids: tuple[int, ...]
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    created_at: datetime
    postmortem: str | None
    postmortem_html: str | None
    postmortem_published_at: datetime | None
    postmortem_updated_at: datetime | None
    postmortem_said: bool = False
    statuses: dict[str, datetime] = field(default_factory=dict)

    @property
    def status(self) -> IncidentStatus | MaintenanceStatus:
        """The status its last update left it in (postmortem once one is published)."""
        last = self.updates[-1].status
        if (self.postmortem_published_at is not None or self.postmortem_said) and last.is_closed:
            return IncidentStatus.POSTMORTEM
        return last


def _time(value: datetime, now: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ValidationError("a time without a time zone", field=field)
    if not EARLIEST <= value <= now + CLOCK_SKEW:
        raise ValidationError(f"{value.isoformat()} is not a time in the past", field=field)
    return value.astimezone(UTC)


def _body(text: str, field: str) -> tuple[str, str]:
    """The cleaned body and its HTML; an empty body stays empty (status-only updates)."""
    if not clean_text(text).strip():
        return "", ""
    body = limits.body(text, field=field)
    return body, render_markdown(body)


def _component_status(value: str, field: str) -> ComponentStatus:
    try:
        return ComponentStatus(value)
    except ValueError:
        raise ValidationError(f"unknown component status {value[:50]!r}", field=field) from None


def _status(kind: IncidentKind, value: str, field: str) -> IncidentStatus | MaintenanceStatus:
    try:
        return status_for(kind, value)
    except ValueError:
        raise ValidationError(f"unknown {kind.value} status {value[:50]!r}", field=field) from None


def check(past: PastIncident, *, now: datetime) -> Checked:
    """Check a past incident against every limit and rule, and render it; write nothing."""
    kind = IncidentKind(past.kind)
    name = limits.title(past.name, field="name")
    if kind is IncidentKind.MAINTENANCE:
        impact = Impact.MAINTENANCE
    else:
        try:
            impact = Impact(past.impact)
        except ValueError:
            raise ValidationError(f"unknown impact {past.impact[:50]!r}", field="impact") from None
        if impact is Impact.MAINTENANCE:
            raise ValidationError("an incident cannot have the maintenance impact", field="impact")
    if not past.updates:
        raise ValidationError("it has no updates", field="updates")
    if len(past.updates) > MAX_UPDATES:
        raise ValidationError(f"at most {MAX_UPDATES} updates", field="updates")
    updates = []
    for number, update in enumerate(sorted(past.updates, key=lambda u: u.at), start=1):
        where = f"updates[{number}]"
        if len(update.changes) > limits.MAX_COMPONENTS:
            raise ValidationError(
                f"at most {limits.MAX_COMPONENTS} components in one update", field=where
            )
        body, html = _body(update.body, f"{where}.body")
        changes = tuple(
            CheckedChange(
                change.component_id,
                _component_status(change.new_status, f"{where}.components"),
                None
                if change.old_status is None
                else _component_status(change.old_status, f"{where}.components"),
            )
            for change in update.changes
        )
        updates.append(
            CheckedUpdate(
                _status(kind, update.status, f"{where}.status"),
                body,
                html,
                _time(update.at, now, f"{where}.at"),
                changes,
            )
        )
    scheduled_for = scheduled_until = None
    if kind is IncidentKind.MAINTENANCE:
        if past.scheduled_for is None or past.scheduled_until is None:
            raise ValidationError("a maintenance needs its window", field="scheduled_for")
        scheduled_for = _time(past.scheduled_for, now + timedelta(days=3650), "scheduled_for")
        scheduled_until = _time(past.scheduled_until, now + timedelta(days=3650), "scheduled_until")
        if scheduled_until <= scheduled_for:
            raise ValidationError(
                "the maintenance must end after it starts", field="scheduled_until"
            )
    created_at = updates[0].at
    if past.created_at is not None:
        created_at = min(created_at, _time(past.created_at, now, "created_at"))
    postmortem = postmortem_html = published = written = None
    if past.postmortem is not None and clean_text(past.postmortem).strip():
        if kind is IncidentKind.MAINTENANCE:
            raise ValidationError("maintenances have no postmortem", field="postmortem")
        postmortem = limits.body(past.postmortem, field="postmortem")
        if past.postmortem_published_at is not None:
            published = _time(past.postmortem_published_at, now, "postmortem_published_at")
            postmortem_html = render_markdown(postmortem)
        elif past.postmortem_updated_at is not None:
            written = _time(past.postmortem_updated_at, now, "postmortem_updated_at")
        else:
            written = updates[-1].at
    said = past.status is not None and past.status != updates[-1].status.value
    if said and not (
        past.status == IncidentStatus.POSTMORTEM.value
        and kind is IncidentKind.INCIDENT
        and updates[-1].status.is_closed
    ):
        raise ValidationError(
            "its status must be its last update's (or postmortem, once resolved)", field="status"
        )
    return Checked(
        kind=kind,
        name=name,
        impact=impact,
        updates=tuple(updates),
        component_ids=tuple(dict.fromkeys(past.component_ids)),
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        created_at=created_at,
        postmortem=postmortem,
        postmortem_html=postmortem_html,
        postmortem_published_at=published,
        postmortem_updated_at=written,
        postmortem_said=said,
        statuses=_lifecycle(kind, updates, scheduled_for),
    )


def _lifecycle(
    kind: IncidentKind, updates: Sequence[CheckedUpdate], scheduled_for: datetime | None
) -> dict[str, datetime]:
    """The lifecycle times the timeline gives, as a publish would have set them one by one."""
    times: dict[str, datetime] = {"started_at": scheduled_for or updates[0].at}
    for update in updates:
        if update.status is IncidentStatus.IDENTIFIED:
            times.setdefault("identified_at", update.at)
        if update.status is IncidentStatus.MONITORING:
            times.setdefault("monitoring_at", update.at)
        if update.status is MaintenanceStatus.IN_PROGRESS:
            times["started_at"] = update.at
        if update.status.is_closed:
            times.setdefault("resolved_at", update.at)
        else:
            # Reopened: it ends when it is closed again.
            times.pop("resolved_at", None)
    if kind is IncidentKind.INCIDENT:
        times["started_at"] = updates[0].at
    return times


def _components(ids: Sequence[int]) -> dict[int, Component]:
    found = {c.id: c for c in db.session.scalars(sa.select(Component).where(Component.id.in_(ids)))}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise ValidationError(f"no component with id {missing[0]}", field="components")
    return found


def _status_at(component: Component, at: datetime) -> ComponentStatus:
    """The status a component's history gives it at `at` (operational before it begins)."""
    value = db.session.scalar(
        sa.select(ComponentStatusChange.status)
        .where(
            ComponentStatusChange.component_id == component.id,
            ComponentStatusChange.started_at <= at,
        )
        .order_by(ComponentStatusChange.started_at.desc(), ComponentStatusChange.id.desc())
        .limit(1)
    )
    return ComponentStatus(value) if value else ComponentStatus.OPERATIONAL


def latest_change(component: Component) -> datetime | None:
    """When the component's status history last moved (None: it has none)."""
    found = _latest(component)
    return found.started_at if found is not None else None


def _latest(component: Component) -> ComponentStatusChange | None:
    return db.session.scalar(
        sa.select(ComponentStatusChange)
        .where(ComponentStatusChange.component_id == component.id)
        .order_by(ComponentStatusChange.started_at.desc(), ComponentStatusChange.id.desc())
        .limit(1)
    )


def record_incident(past: PastIncident, *, actor: audit.Actor, now: datetime) -> Incident:
    """Write a past incident or maintenance with its whole timeline, notifying no one.

    Each component change goes into the component's status history at its update's time (the
    uptime figures read it); the components' current statuses stay as they are. When the
    history would then end on another status than the current one, it goes back to the
    current one when the incident ended, so history and the page agree.
    """
    checked = check(past, now=now)
    wanted = {c.component_id for u in checked.updates for c in u.changes}
    components = _components(sorted(wanted | set(checked.component_ids)))
    times = checked.statuses
    last = checked.updates[-1]
    incident = Incident(
        kind=checked.kind.value,
        name=checked.name,
        status=checked.status.value,
        impact=checked.impact.value,
        started_at=times["started_at"],
        identified_at=times.get("identified_at"),
        monitoring_at=times.get("monitoring_at"),
        resolved_at=times.get("resolved_at"),
        scheduled_for=checked.scheduled_for,
        scheduled_until=checked.scheduled_until,
        # A published postmortem is on the page; an unpublished one is kept as the draft.
        postmortem_body=checked.postmortem if checked.postmortem_html else None,
        postmortem_html=checked.postmortem_html,
        postmortem_published_at=checked.postmortem_published_at,
        postmortem_draft=None if checked.postmortem_html else checked.postmortem,
        postmortem_draft_updated_at=checked.postmortem_updated_at,
        created_at=checked.created_at,
        updated_at=max(last.at, checked.postmortem_published_at or last.at),
    )
    # The page's order, as a publish keeps it.
    incident.components = sorted(components.values(), key=lambda c: (c.position, c.id))
    db.session.add(incident)
    touched = _write_updates(incident, checked.updates, components)
    _back_to_current(touched.values(), incident.resolved_at or last.at)
    db.session.flush()
    audit.record(
        actor,
        "incident.recorded",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: {len(checked.updates)} past updates recorded",
        after={
            "kind": incident.kind,
            "status": incident.status,
            "impact": incident.impact,
            "started_at": incident.started_at.isoformat(),
            "updates": len(checked.updates),
            "components": sorted(touched),
        },
    )
    generation.bump_once(now)
    return incident


def _write_updates(
    incident: Incident, updates: Sequence[CheckedUpdate], components: dict[int, Component]
) -> dict[int, Component]:
    """Add the updates as they happened, with their component changes and the components'
    status history at their times; return the components they changed."""
    touched: dict[int, Component] = {}
    for item in updates:
        update = IncidentUpdate(
            incident=incident,
            status=item.status.value,
            body=item.body,
            body_html=item.body_html,
            author=None,
            display_at=item.at,
            deliver_notifications=False,
            created_at=item.at,
            updated_at=item.at,
        )
        db.session.add(update)
        for change in item.changes:
            component = components[change.component_id]
            before = _status_at(component, item.at)
            update.component_changes.append(
                UpdateComponentChange(
                    component_id=component.id,
                    component_name=component.name,
                    old_status=(change.old or before).value,
                    new_status=change.new.value,
                )
            )
            if before is not change.new:
                db.session.add(
                    ComponentStatusChange(
                        component_id=component.id, status=change.new.value, started_at=item.at
                    )
                )
                db.session.flush()
            touched[component.id] = component
    return touched


def _back_to_current(touched: Iterable[Component], end: datetime) -> None:
    """History that ends on another status than a component's current one goes back to the
    current one when the incident ended, so history and the page agree."""
    for component in touched:
        latest = _latest(component)
        if latest is not None and latest.status != component.status:
            db.session.add(
                ComponentStatusChange(
                    component_id=component.id,
                    status=component.status,
                    started_at=max(end, latest.started_at),
                )
            )


def extend_incident(
    incident: Incident, past: PastIncident, *, actor: audit.Actor, now: datetime
) -> int:
    """Bring an incident recorded earlier up to date with its source's timeline: the updates
    posted there since (newer than its newest here) are added as they happened, told to no
    one, and its status, times and postmortem follow. Returns how many updates were added."""
    checked = check(past, now=now)
    newest = max((u.display_at for u in incident.updates), default=None)
    fresh = [u for u in checked.updates if newest is None or u.at > newest]
    published = checked.postmortem_published_at is not None and incident.postmortem_html is None
    if not fresh and not published and incident.status == checked.status.value:
        return 0
    wanted = {c.component_id for u in fresh for c in u.changes}
    components = _components(sorted(wanted))
    touched = _write_updates(incident, fresh, components)
    times = checked.statuses
    incident.status = checked.status.value
    incident.identified_at = times.get("identified_at")
    incident.monitoring_at = times.get("monitoring_at")
    incident.resolved_at = times.get("resolved_at")
    if published:
        incident.postmortem_body = checked.postmortem
        incident.postmortem_html = checked.postmortem_html
        incident.postmortem_published_at = checked.postmortem_published_at
    linked = {c.id for c in incident.components}
    incident.components = sorted(
        [*incident.components, *(c for c in components.values() if c.id not in linked)],
        key=lambda c: (c.position, c.id),
    )
    last = checked.updates[-1]
    incident.updated_at = max(incident.updated_at, last.at)
    _back_to_current(touched.values(), incident.resolved_at or last.at)
    db.session.flush()
    audit.record(
        actor,
        "incident.extended",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: {len(fresh)} later updates recorded",
        after={"status": incident.status, "updates": len(fresh), "components": sorted(touched)},
    )
    generation.bump_once(now)
    return len(fresh)
