"""Compose and publish: fill a canned message, preview it, publish it once.

`prepare` checks a draft and returns what will be published without writing anything (the
preview); `publish` writes it in the caller's transaction, recording which reviewed text it came
from, and is idempotent per draft key so a double-submitted form publishes once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from statuspage.core import library
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
)
from statuspage.core.markup import clean_line, clean_text, plain_text, render_markdown
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate, MessageVersion
from statuspage.delivery import subscriber_delivery
from statuspage.errors import ValidationError
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service

MAX_KEY = 100


@dataclass
class Draft:
    """What a PM (or an API client) asks to publish."""

    incident_id: int | None = None  # None opens a new incident
    kind: IncidentKind = IncidentKind.INCIDENT
    message: str | None = None  # message slug; None for free text
    message_version: int | None = None  # the version the form was built from
    variables: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None  # the incident title; None takes the message's
    body: str | None = None  # the text as the PM left it; None takes the filled message
    status: str | None = None  # None takes the message's status
    impact: str | None = None  # None keeps the incident's, or takes the message's suggestion
    component_statuses: Mapping[int, str] = field(default_factory=dict)
    notify: bool = True
    idempotency_key: str | None = None
    scheduled_for: datetime | None = None  # maintenances
    scheduled_until: datetime | None = None


@dataclass
class ComponentChange:
    """A component status change the update will make."""

    component: Component
    old: ComponentStatus
    new: ComponentStatus


@dataclass
class Prepared:
    """A checked draft: exactly what will be published."""

    incident: Incident | None
    kind: IncidentKind
    title: str
    body: str
    body_html: str
    status: IncidentStatus | MaintenanceStatus
    impact: Impact
    changes: list[ComponentChange]
    components: dict[Component, ComponentStatus]
    notify: bool
    version: MessageVersion | None
    variables: dict[str, str]
    filled_body: str | None
    text_edited: bool
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None

    @property
    def provenance(self) -> str:
        """ "from `api-degraded` v3, edited" or "free text"."""
        if self.version is None:
            return "free text"
        text = f"from {self.version.message.slug} v{self.version.number}"
        return text + (", edited" if self.text_edited else "")


def prepare(draft: Draft) -> Prepared:
    """Check a draft and work out the update it makes; raise ValidationError with the field."""
    incident = None
    if draft.incident_id is not None:
        incident = incident_service.get_incident(draft.incident_id)
    kind = IncidentKind(incident.kind) if incident else IncidentKind(draft.kind)
    version = None
    filled = None
    variables: dict[str, str] = {}
    if draft.message:
        version = _version(draft.message, draft.message_version)
        message = library_service.as_message(version)
        if message.kind is not kind:
            raise ValidationError(
                f"message {draft.message!r} is for {message.kind.value}s, not {kind.value}s",
                field="message",
            )
        filled = library.fill(message, dict(draft.variables))
        variables = dict(filled.variables_used)
    elif draft.body is None:
        raise ValidationError("pick a message or write the update", field="message")

    status_value = draft.status or (version.status if version else None)
    if not status_value:
        raise ValidationError("choose the status of this update", field="status")
    status = incident_service.parse_status(kind, status_value)

    body = clean_text(draft.body if draft.body is not None else filled.body).strip()  # type: ignore[union-attr]
    if not body:
        raise ValidationError("the update needs a message", field="body")
    filled_body = filled.body if filled else None
    text_edited = filled_body is not None and _normal(body) != _normal(filled_body)

    title = clean_line(draft.title) if draft.title else ""
    if incident is not None:
        title = incident.name
    elif not title:
        title = filled.title if filled else ""
    if not title:
        raise ValidationError("give the incident a title", field="title")

    impact = _impact(draft, incident, version, kind)
    scheduled_for, scheduled_until = _window(draft, incident, kind)
    components, changes = _components(draft.component_statuses)
    return Prepared(
        incident=incident,
        kind=kind,
        title=title,
        body=body,
        body_html=render_markdown(body),
        status=status,
        impact=impact,
        changes=changes,
        components=components,
        notify=draft.notify,
        version=version,
        variables=variables,
        filled_body=filled_body,
        text_edited=text_edited,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
    )


def _window(
    draft: Draft, incident: Incident | None, kind: IncidentKind
) -> tuple[datetime | None, datetime | None]:
    """The maintenance window after this update (incidents have none)."""
    if kind is not IncidentKind.MAINTENANCE:
        return None, None
    start = draft.scheduled_for or (incident.scheduled_for if incident else None)
    end = draft.scheduled_until or (incident.scheduled_until if incident else None)
    if start is None:
        raise ValidationError("a maintenance needs a start", field="scheduled_for")
    if end is None:
        raise ValidationError("a maintenance needs an end", field="scheduled_until")
    if end <= start:
        raise ValidationError("the maintenance must end after it starts", field="scheduled_until")
    return start, end


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _version(slug: str, number: int | None) -> MessageVersion:
    message = library_service.get_message(slug)
    if message.archived_at is not None:
        raise ValidationError(f"message {slug!r} is archived", field="message")
    if number is None:
        return library_service.current_version(message)
    # The PM reviewed this version; publishing it keeps the text they saw, even if a
    # newer version landed in between.
    return library_service.get_version(slug, number)


def _impact(
    draft: Draft,
    incident: Incident | None,
    version: MessageVersion | None,
    kind: IncidentKind,
) -> Impact:
    if kind is IncidentKind.MAINTENANCE:
        return Impact.MAINTENANCE
    if draft.impact:
        impact = incident_service.parse_impact(draft.impact)
    elif incident is not None:
        impact = Impact(incident.impact)
    elif version is not None and version.impact:
        impact = Impact(version.impact)
    else:
        impact = Impact.MINOR
    if impact is Impact.MAINTENANCE:
        raise ValidationError("an incident cannot have the maintenance impact", field="impact")
    return impact


def _components(
    wanted: Mapping[int, str],
) -> tuple[dict[Component, ComponentStatus], list[ComponentChange]]:
    components: dict[Component, ComponentStatus] = {}
    changes = []
    for component_id, value in wanted.items():
        component = component_service.get_component(int(component_id))
        status = component_service.parse_status(value, field=f"component_{component_id}")
        components[component] = status
        if component.status != status.value:
            changes.append(ComponentChange(component, ComponentStatus(component.status), status))
    return components, changes


def publish(draft: Draft, *, now: datetime, actor: audit.Actor) -> tuple[IncidentUpdate, bool]:
    """Publish a draft; return the update and whether it is new (False: already published)."""
    key = _key(draft.idempotency_key)
    if key:
        existing = _by_key(key)
        if existing is not None:
            return existing, False
    prepared = prepare(draft)
    try:
        with db.session.begin_nested():
            update = _write(prepared, now=now, actor=actor, key=key)
    except IntegrityError:
        # Another request with the same key won the race: it published, we do nothing.
        existing = _by_key(key) if key else None
        if existing is None:
            raise
        return existing, False
    # Escalation runs start or move in this same transaction: a page is never lost.
    from statuspage.delivery import escalation as runtime

    runtime.on_incident_changed(update.incident, now=now)
    if update.deliver_notifications:
        subscriber_delivery.fan_out(update, now=now)
    return update, True


def _key(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if len(value) > MAX_KEY or not value.isprintable():
        raise ValidationError(
            "the idempotency key must be printable, up to 100 characters", field="idempotency_key"
        )
    return value


def _by_key(key: str) -> IncidentUpdate | None:
    return db.session.scalar(sa.select(IncidentUpdate).where(IncidentUpdate.idempotency_key == key))


def published_with(key: str) -> IncidentUpdate | None:
    """The update a form with this one-time key already published, if any."""
    try:
        key_ = _key(key)
    except ValidationError:
        return None
    return _by_key(key_) if key_ else None


def _write(
    prepared: Prepared, *, now: datetime, actor: audit.Actor, key: str | None
) -> IncidentUpdate:
    incident = prepared.incident
    if incident is None and prepared.kind is IncidentKind.MAINTENANCE:
        assert prepared.scheduled_for is not None and prepared.scheduled_until is not None
        incident = incident_service.schedule_maintenance(
            name=prepared.title,
            body=prepared.body,
            now=now,
            scheduled_for=prepared.scheduled_for,
            scheduled_until=prepared.scheduled_until,
            components=list(prepared.components),
            author=actor.user,
            notify=prepared.notify,
        )
        update = incident.updates[0]
        action = "maintenance.scheduled"
    elif incident is None:
        incident = incident_service.open_incident(
            name=prepared.title,
            impact=prepared.impact,
            body=prepared.body,
            now=now,
            status=prepared.status,
            component_statuses=prepared.components,
            author=actor.user,
            notify=prepared.notify,
        )
        update = incident.updates[0]
        action = "incident.opened"
    else:
        before = {"status": incident.status, "impact": incident.impact}
        if incident.is_maintenance:
            before.update(_window_dict(incident))
            _move_window(incident, prepared)
        update = incident_service.post_update(
            incident,
            status=prepared.status,
            body=prepared.body,
            now=now,
            component_statuses=prepared.components,
            author=actor.user,
            notify=prepared.notify,
            impact=prepared.impact,
        )
        action = "incident.updated"
    if prepared.version is not None:
        update.message_version_id = prepared.version.id
        update.message_slug = prepared.version.message.slug
        update.message_version = prepared.version.number
        update.message_hash = prepared.version.content_hash
        update.variables = prepared.variables
    update.text_edited = prepared.text_edited
    update.idempotency_key = key
    db.session.flush()
    audit.record(
        actor,
        action,
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: {prepared.status.value} ({prepared.provenance})",
        before=before if action == "incident.updated" else None,
        after={
            "status": incident.status,
            "impact": incident.impact,
            "update_id": update.id,
            "message": update.message_slug,
            "version": update.message_version,
            "text_edited": update.text_edited,
            "components": {c.component.name: c.new.value for c in prepared.changes},
            **(_window_dict(incident) if incident.is_maintenance else {}),
        },
    )
    return update


def _window_dict(incident: Incident) -> dict[str, str | None]:
    return {
        "scheduled_for": _iso(incident.scheduled_for),
        "scheduled_until": _iso(incident.scheduled_until),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _move_window(incident: Incident, prepared: Prepared) -> None:
    """Move a maintenance's window (an "extended" update moves its end)."""
    if prepared.scheduled_for is not None and incident.status == MaintenanceStatus.SCHEDULED:
        # Once work has started, the start is history: only a scheduled window moves it.
        incident.scheduled_for = prepared.scheduled_for
        incident.started_at = prepared.scheduled_for
    if prepared.scheduled_until is not None:
        incident.scheduled_until = prepared.scheduled_until


def correct_update(
    update: IncidentUpdate, *, body: str, now: datetime, actor: audit.Actor
) -> IncidentUpdate:
    """Correct a published update's text; the original stays in the audit log."""
    body = clean_text(body).strip()
    if not body:
        raise ValidationError("the update needs a message", field="body")
    if body == update.body:
        raise ValidationError("nothing changed", field="body")
    before = {"body": update.body}
    update.body = body
    update.body_html = render_markdown(body)
    update.edited_at = now
    update.updated_at = now
    update.incident.updated_at = now
    audit.record(
        actor,
        "update.corrected",
        now=now,
        target_type="incident",
        target_id=update.incident_id,
        summary=f"update {update.id} corrected",
        before=before,
        after={"body": body},
    )
    return update


def set_component_status(
    component: Component, status: ComponentStatus, *, now: datetime, actor: audit.Actor
) -> bool:
    """Change one component's status outside an incident, audited."""
    old = component.status
    changed = component_service.set_status(component, status, now=now)
    if changed:
        subscriber_delivery.fan_out_component(component, old, now=now)
        audit.record(
            actor,
            "component.status",
            now=now,
            target_type="component",
            target_id=component.id,
            summary=f"{component.name}: {old} -> {status.value}",
            before={"status": old},
            after={"status": status.value},
        )
    return changed


def publish_postmortem(
    incident: Incident, *, body: str, now: datetime, actor: audit.Actor
) -> Incident:
    """Publish (or replace) a resolved incident's postmortem, audited."""
    before = {"status": incident.status, "postmortem": incident.postmortem_body}
    incident_service.publish_postmortem(incident, body=body, now=now)
    audit.record(
        actor,
        "incident.postmortem",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: postmortem published",
        before=before,
        after={"status": incident.status, "postmortem": incident.postmortem_body},
    )
    return incident


def feed_title(prepared: Prepared) -> str:
    """The feed entry title the update will get: "<incident> — <Status>"."""
    return f"{prepared.title} — {prepared.status.label}"


def email_preview(prepared: Prepared, *, site_name: str) -> tuple[str, str]:
    """The subject and plain text of the notification email for this update."""
    subject = clean_line(f"[{site_name}] {feed_title(prepared)}")
    return subject, plain_text(prepared.body_html)
