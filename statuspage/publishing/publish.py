"""The acts that change what customers see: every way in (admin, API, CLI, tick) calls these.

Each act checks its input once with the rules of `statuspage.core` (limits, placeholders, text,
status rules), renders Markdown once, and writes everything it causes in the caller's one
transaction: the update and component changes, the audit entry, escalation runs, the subscriber
fan-out and component webhooks, and the public generation. `prepare` is the same checking
without the write, so a preview and a publish can never disagree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from statuspage.core import incident_rules, library, limits
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.markup import plain_text, render_markdown
from statuspage.core.plans import Approval
from statuspage.core.text import clean_line, same_text
from statuspage.db import audit, database, generation
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate, MessageVersion
from statuspage.delivery import escalation, subscriber_delivery
from statuspage.errors import Conflict, NotFound, ValidationError
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service

T = TypeVar("T")


@dataclass
class Draft:
    """What a PM (or an API client, the CLI, a tick) asks to publish."""

    incident_id: int | None = None  # None opens a new incident
    kind: IncidentKind = IncidentKind.INCIDENT
    message: str | None = None  # message slug; None for free text
    message_version: int | None = None  # the version the form was built from
    variables: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None  # the incident title; None takes the message's
    body: str | None = None  # the text as the PM left it; None takes the filled message
    status: str | None = None  # None takes the message's status
    impact: str | None = None  # an explicit choice; None follows the components
    component_statuses: Mapping[int, str] = field(default_factory=dict)
    notify: bool = True
    idempotency_key: str | None = None
    scheduled_for: datetime | None = None  # maintenances
    scheduled_until: datetime | None = None
    next_update_minutes: int | None = None  # None reads the message's `next_update` blank
    #: The newest update the PM had seen when writing this one: a newer one is a conflict.
    seen_update_id: int | None = None


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
    impact_chosen: Impact | None
    changes: list[ComponentChange]
    components: dict[Component, ComponentStatus]
    notify: bool
    version: MessageVersion | None
    variables: dict[str, str]
    filled_body: str | None
    text_edited: bool
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None
    next_update: timedelta | None = None
    #: The communication plan the incident follows once this is out (None: no plan matches).
    plan: plan_service.Followed | None = None

    @property
    def approval(self) -> Approval | None:
        """The plan's approval rule when it covers this update (None: publish at once)."""
        if self.plan is None or self.plan.plan.approval is None:
            return None
        rule = self.plan.plan.approval
        needed = rule.needed(opening=self.incident is None, closing=self.status.is_closed)
        return rule if needed else None

    @property
    def fingerprint(self) -> str:
        """What a preview showed, condensed: a publish or an approval of it goes ahead only if
        it is still the same."""
        data = {
            "title": self.title,
            "text": self.body,
            "status": self.status.value,
            "impact": self.impact.value,
            "components": sorted((c.id, s.value) for c, s in self.components.items()),
            "notify": self.notify,
            "version": self.provenance,
            "window": [_iso(self.scheduled_for), _iso(self.scheduled_until)],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]

    @property
    def provenance(self) -> str:
        """ "from `api-degraded` v3, edited" or "free text"."""
        if self.version is None:
            return "free text"
        text = f"from {self.version.message.slug} v{self.version.number}"
        return text + (", edited" if self.text_edited else "")

    @property
    def feed_title(self) -> str:
        """The feed entry title the update will get: "<incident> — <Status>"."""
        return f"{self.title} — {self.status.label}"

    def email_preview(self, *, site_name: str) -> tuple[str, str]:
        """The subject and plain text of the notification email for this update."""
        return clean_line(f"[{site_name}] {self.feed_title}"), plain_text(self.body_html)


@dataclass
class Published:
    """What a publish did: the update, whether it is new, and the checked draft (if new)."""

    update: IncidentUpdate
    created: bool
    prepared: Prepared | None = None

    def __iter__(self) -> Iterator[Any]:
        """Unpack as `(update, created)`."""
        yield self.update
        yield self.created


class ApprovalRequired(Conflict):
    """The plan says someone must approve this update before customers read it."""

    def __init__(self, prepared: Prepared) -> None:
        assert prepared.plan is not None and prepared.approval is not None
        super().__init__(
            f"the plan '{prepared.plan.slug}' needs approval from "
            f"{prepared.approval.approvers} for this update: request approval "
            "(an admin may publish without it, giving a reason)"
        )
        self.prepared = prepared


class PreviewOutdated(Conflict):
    """What the PM previewed is no longer what would be published; `prepared` is the new one."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__("something changed since the preview: check it, then publish")
        self.prepared = prepared


# -- preview: the checks, without a write --------------------------------------------------


@dataclass(frozen=True)
class FilledMessage:
    """A canned message filled in and checked: the title and text it would publish."""

    version: MessageVersion
    title: str
    body: str
    body_html: str
    variables: dict[str, str]


def fill_message(version: MessageVersion, values: Mapping[str, object]) -> FilledMessage:
    """Fill a message version and check the result against every limit (the API's preview)."""
    filled = library.fill(library_service.as_message(version), dict(values))  # type: ignore[arg-type]
    body = limits.body(filled.body)
    title = limits.title(filled.title) if filled.title else ""
    return FilledMessage(version, title, body, render_markdown(body), dict(filled.variables_used))


def prepare(draft: Draft, *, lock: bool = False) -> Prepared:
    """Check a draft and work out the update it makes; raise ValidationError with the field.

    With `lock` (publishing, in a write transaction) the incident and then the components are
    read afresh and locked, so the checks below hold until the update is written.
    """
    incident = _incident(draft.incident_id, lock=lock) if draft.incident_id else None
    kind = IncidentKind(incident.kind) if incident else IncidentKind(draft.kind)
    components, changes = _components(draft.component_statuses, lock=lock)
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
        values = dict(draft.variables)
        if incident_rules.COMPONENT_VARIABLE in message.variables:
            ordered = sorted(components, key=lambda c: (c.position, c.id))  # the page's order
            values = incident_rules.with_component_names(values, [c.name for c in ordered])
        filled = library.fill(message, values)
        variables = dict(filled.variables_used)
    elif draft.body is None:
        raise ValidationError("pick a message or write the update", field="message")

    status_value = draft.status or (version.status if version else None)
    if not status_value:
        raise ValidationError("choose the status of this update", field="status")
    status = incident_service.parse_status(kind, status_value)
    if incident is not None:
        _check_current(incident, status, draft.seen_update_id)

    source = draft.body if draft.body is not None else filled.body  # type: ignore[union-attr]
    body = limits.body(source)
    filled_body = filled.body if filled else None
    text_edited = filled_body is not None and not same_text(body, filled_body)

    if incident is not None:
        title = incident.name
    elif draft.title:
        title = limits.title(draft.title)
    elif filled is not None and filled.title:
        title = limits.title(filled.title)
    else:
        raise ValidationError("give the incident a title", field="title")

    scheduled_for, scheduled_until = _window(draft, incident, kind)
    impact, chosen = _impact(draft, incident, version, kind, components)
    promise = _promise(draft, variables)
    plan = plan_service.after_update(incident, kind, impact.value, [c.name for c in components])
    return Prepared(
        incident=incident,
        kind=kind,
        title=title,
        body=body,
        body_html=render_markdown(body),
        status=status,
        impact=impact,
        impact_chosen=chosen,
        changes=changes,
        components=components,
        notify=draft.notify,
        version=version,
        variables=variables,
        filled_body=filled_body,
        text_edited=text_edited,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        next_update=promise,
        plan=plan,
    )


def _row(model: type[T], ident: int, *, lock: bool, what: str) -> T:
    """A row by id, locked (and read afresh) when publishing; NotFound names `what`."""
    row = database.lock(model, ident) if lock else db.session.get(model, ident)
    if row is None:
        raise NotFound(f"no {what} with id {ident}")
    return row


def _incident(incident_id: int, *, lock: bool) -> Incident:
    return _row(Incident, incident_id, lock=lock, what="incident")


def _check_current(
    incident: Incident, status: IncidentStatus | MaintenanceStatus, seen: int | None
) -> None:
    """Refuse an update that another one overtook: a second resolve, or a stale form."""
    latest = max(incident.updates, key=lambda u: (u.display_at, u.id), default=None)
    if latest is None:
        return
    if incident.is_closed and status.value == incident.status:
        raise Conflict(f"already {posted(latest)}: nothing was published")
    if seen is not None and latest.id != seen:
        raise Conflict(
            f"{posted(latest)} while you were writing: nothing was published; "
            "read it, then publish again"
        )


def posted(update: IncidentUpdate) -> str:
    """ "resolved by Ana at 2026-12-06 10:02 UTC" (the author's name, else their address)."""
    who = (update.author.name or update.author.email) if update.author is not None else "someone"
    label = status_for(update.incident.kind, update.status).label.lower()
    return f"{label} by {who} at {update.display_at:%Y-%m-%d %H:%M} UTC"


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
    components: Mapping[Component, ComponentStatus],
) -> tuple[Impact, Impact | None]:
    """The incident's impact after this update, and the impact the PM chose (if they did)."""
    if kind is IncidentKind.MAINTENANCE:
        return Impact.MAINTENANCE, None
    chosen = incident_service.parse_impact(draft.impact) if draft.impact else None
    if chosen is None and incident is not None and incident.impact_override:
        chosen = Impact(incident.impact_override)
    if chosen is Impact.MAINTENANCE:
        raise ValidationError("an incident cannot have the maintenance impact", field="impact")
    if incident is not None:
        current = Impact(incident.impact)
        after = {c: ComponentStatus(c.status) for c in incident.components} | dict(components)
    else:
        current = Impact(version.impact) if version is not None and version.impact else Impact.MINOR
        after = dict(components)
    impact = incident_rules.incident_impact(
        chosen=chosen, current=current, components=after.values()
    )
    return impact, chosen


def _promise(draft: Draft, variables: dict[str, str]) -> timedelta | None:
    minutes = incident_rules.promised_minutes(draft.next_update_minutes, variables)
    if minutes is None:
        return None
    if not 0 < minutes <= incident_rules.MAX_PROMISE.total_seconds() // 60:
        raise ValidationError("the next update is due within a week", field="next_update_minutes")
    return timedelta(minutes=minutes)


def _components(
    wanted: Mapping[int, str], *, lock: bool = False
) -> tuple[dict[Component, ComponentStatus], list[ComponentChange]]:
    if len(wanted) > limits.MAX_COMPONENTS:
        raise ValidationError(
            f"at most {limits.MAX_COMPONENTS} components in one update", field="components"
        )
    components: dict[Component, ComponentStatus] = {}
    changes = []
    # In id order, so two acts that lock the same components never wait on each other.
    for component_id, value in sorted(wanted.items(), key=lambda item: int(item[0])):
        component = _component(int(component_id), lock=lock)
        status = component_service.parse_status(value, field=f"component_{component_id}")
        components[component] = status
        if component.status != status.value:
            changes.append(ComponentChange(component, ComponentStatus(component.status), status))
    return components, changes


def _component(component_id: int, *, lock: bool) -> Component:
    return _row(Component, component_id, lock=lock, what="component")


# -- publish: the same checks, then one transaction ------------------------------------------


def publish(
    draft: Draft,
    *,
    now: datetime,
    actor: audit.Actor,
    confirm: Callable[[Prepared], bool] | None = None,
    approved: bool = False,
) -> Published:
    """Publish a draft in the caller's transaction.

    A draft whose idempotency key already published returns that update (created False) and
    checks nothing else. `confirm` sees the checked draft before anything is written; if it says
    no, PreviewOutdated carries the fresh preview back. An update the incident's plan wants
    approved is refused (ApprovalRequired) unless `approved`: only publishing/approvals says so.
    """
    key = idempotency_key(draft.idempotency_key)
    if draft.incident_id:
        # Wait for any act on this incident first: a twin request with the same key that got
        # there before us has then committed, and we find its update below.
        _incident(draft.incident_id, lock=True)
    if key and (existing := _by_key(key)) is not None:
        return Published(existing, created=False)
    prepared = prepare(draft, lock=True)
    if confirm is not None and not confirm(prepared):
        raise PreviewOutdated(prepared)
    if prepared.approval is not None and not approved:
        raise ApprovalRequired(prepared)
    try:
        with db.session.begin_nested():
            update = _write(prepared, now=now, actor=actor, key=key)
    except IntegrityError:
        # Another request with the same key won the race: it published, we do nothing.
        existing = _by_key(key) if key else None
        if existing is None:
            raise
        return Published(existing, created=False)
    _consequences(update, prepared, now=now)
    return Published(update, created=True, prepared=prepared)


def _consequences(update: IncidentUpdate, prepared: Prepared, *, now: datetime) -> None:
    """What a published update sets off, in its transaction: nothing is lost to a crash."""
    escalation.on_incident_changed(update.incident, now=now)
    if prepared.plan is not None:
        escalation.tell_audience(update, prepared.plan.plan.internal, now=now)
    if update.deliver_notifications:
        subscriber_delivery.fan_out(update, now=now)
        # Component webhooks follow every status change, inside an incident too (as Statuspage).
        for change in prepared.changes:
            subscriber_delivery.fan_out_component(change.component, change.old.value, now=now)
    elif subscriber_delivery.closes(update):
        # A resolve that notifies no one still ends the subscriptions to its incident.
        subscriber_delivery.end_incident_subscriptions(update.incident_id, now=now)
    # The public side's cache moves on with this transaction. (The flush listener in
    # db/generation.py would bump it too: it is the safety net for every other writer.)
    generation.bump_once(now)


def idempotency_key(value: str | None) -> str | None:
    """A draft's one-time key, checked; None when there is none."""
    if not value:
        return None
    value = value.strip()
    if len(value) > limits.MAX_FORM_KEY or not value.isprintable():
        raise ValidationError(
            f"the idempotency key must be printable, up to {limits.MAX_FORM_KEY} characters",
            field="idempotency_key",
        )
    return value


def _by_key(key: str) -> IncidentUpdate | None:
    return db.session.scalar(sa.select(IncidentUpdate).where(IncidentUpdate.idempotency_key == key))


def _write(
    prepared: Prepared, *, now: datetime, actor: audit.Actor, key: str | None
) -> IncidentUpdate:
    incident = prepared.incident
    before: dict[str, Any] | None = None
    if incident is None and prepared.kind is IncidentKind.MAINTENANCE:
        assert prepared.scheduled_for is not None and prepared.scheduled_until is not None
        incident = incident_service.schedule_maintenance(
            name=prepared.title,
            body=prepared.body,
            body_html=prepared.body_html,
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
            body_html=prepared.body_html,
            now=now,
            status=prepared.status,  # type: ignore[arg-type]
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
            body_html=prepared.body_html,
            now=now,
            component_statuses=prepared.components,
            author=actor.user,
            notify=prepared.notify,
            impact=prepared.impact,
        )
        action = "incident.updated"
    if not incident.is_maintenance:
        incident.impact_override = prepared.impact_chosen.value if prepared.impact_chosen else None
    plan_service.follow(incident, prepared.plan)
    if prepared.version is not None:
        update.message_version_id = prepared.version.id
        update.message_slug = prepared.version.message.slug
        update.message_version = prepared.version.number
        update.message_hash = prepared.version.content_hash
        update.variables = prepared.variables
    update.text_edited = prepared.text_edited
    update.next_update_at = now + prepared.next_update if prepared.next_update else None
    update.idempotency_key = key
    db.session.flush()
    audit.record(
        actor,
        action,
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: {prepared.status.value} ({prepared.provenance})",
        before=before,
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


# -- the other acts -----------------------------------------------------------------------


def correct_update(
    update: IncidentUpdate, *, body: str, now: datetime, actor: audit.Actor
) -> IncidentUpdate:
    """Correct a published update's text; the original stays in the audit log."""
    _incident(update.incident_id, lock=True)
    body = limits.body(body)
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
    generation.bump_once(now)
    return update


def set_component_status(
    component: Component, status: ComponentStatus, *, now: datetime, actor: audit.Actor
) -> bool:
    """Change one component's status outside an incident, audited; the webhooks follow."""
    component = _component(component.id, lock=True)
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
        generation.bump_once(now)
    return changed


#: The library's blameless postmortem template (the admin's postmortem form starts from it).
POSTMORTEM_TEMPLATE = "postmortem-blameless"


def template_blanks(text: str, slug: str = POSTMORTEM_TEMPLATE) -> list[str]:
    """The blanks of a library message still in `text` as the form showed them ("[Impact]")."""
    version = library_service.versions_for([slug]).get(slug)
    if version is None:
        return []
    marks = [f"[{v.get('label') or v['name']}]" for v in version.variables or []]
    return [mark for mark in marks if mark in text]


def publish_postmortem(
    incident: Incident, *, body: str, now: datetime, actor: audit.Actor
) -> Incident:
    """Publish (or replace) a resolved incident's postmortem, audited; a postmortem still
    holding the template's blanks ("[What happened]") is refused."""
    left = template_blanks(body)
    if left:
        raise ValidationError(
            f"fill in the template's blanks before publishing: {', '.join(left)}", field="body"
        )
    incident = _incident(incident.id, lock=True)
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
    generation.bump_once(now)
    return incident


def acknowledge(incident: Incident, *, by: str, now: datetime, actor: audit.Actor) -> bool:
    """Record who took the incident; steps waiting for an acknowledgement stop at once.

    Returns False (and changes nothing) when it was already acknowledged.
    """
    incident = _incident(incident.id, lock=True)
    if incident.acknowledged_at is not None:
        return False
    incident.acknowledged_at = now
    incident.acknowledged_by = by[:300]
    audit.record(
        actor,
        "incident.acknowledged",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: acknowledged by {by}",
        after={"acknowledged_by": by},
    )
    escalation.on_incident_changed(incident, now=now)
    return True


def save_postmortem_draft(
    incident: Incident, *, body: str, now: datetime, actor: audit.Actor
) -> Incident:
    """Keep a postmortem being written; the public side shows nothing of it until published."""
    incident = _incident(incident.id, lock=True)
    if incident.is_maintenance:
        raise ValidationError("maintenances have no postmortem", field="body_draft")
    incident.postmortem_draft = limits.body(body, field="body_draft")
    incident.postmortem_draft_updated_at = now
    audit.record(
        actor,
        "incident.postmortem_draft",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: postmortem draft saved",
        after={"postmortem_draft": incident.postmortem_draft},
    )
    return incident


def publish_postmortem_draft(incident: Incident, *, now: datetime, actor: audit.Actor) -> Incident:
    """Publish the postmortem draft (the same act as publishing a postmortem's text)."""
    if not incident.postmortem_draft:
        raise ValidationError("there is no postmortem draft to publish", field="body_draft")
    published = publish_postmortem(incident, body=incident.postmortem_draft, now=now, actor=actor)
    published.postmortem_draft = None
    published.postmortem_draft_updated_at = None
    return published


def revert_postmortem(incident: Incident, *, now: datetime, actor: audit.Actor) -> Incident:
    """Take a published postmortem off the public side; its text becomes the draft again."""
    incident = _incident(incident.id, lock=True)
    if incident.postmortem_published_at is None:
        raise Conflict("the postmortem is not published")
    incident.postmortem_draft = incident.postmortem_body
    incident.postmortem_draft_updated_at = now
    incident.postmortem_body = None
    incident.postmortem_html = None
    incident.postmortem_published_at = None
    if incident.status == IncidentStatus.POSTMORTEM.value:
        incident.status = IncidentStatus.RESOLVED.value
    incident.updated_at = now
    audit.record(
        actor,
        "incident.postmortem_reverted",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: postmortem unpublished",
        before={"postmortem": incident.postmortem_draft},
    )
    generation.bump_once(now)
    return incident


def discard_postmortem_draft(incident: Incident, *, now: datetime, actor: audit.Actor) -> Incident:
    """Throw the postmortem draft away (a published postmortem stays)."""
    incident = _incident(incident.id, lock=True)
    if incident.postmortem_draft is None:
        raise NotFound("this incident has no postmortem draft")
    audit.record(
        actor,
        "incident.postmortem_draft_deleted",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: postmortem draft deleted",
        before={"postmortem_draft": incident.postmortem_draft},
    )
    incident.postmortem_draft = None
    incident.postmortem_draft_updated_at = None
    return incident


def rename_incident(
    incident: Incident, *, name: str, now: datetime, actor: audit.Actor
) -> Incident:
    """Change an incident's or maintenance's title (no update, no notification)."""
    incident = _incident(incident.id, lock=True)
    title = limits.title(name, field="name")
    if title == incident.name:
        return incident
    before = {"name": incident.name}
    incident.name = title
    incident.updated_at = now
    audit.record(
        actor,
        "incident.renamed",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{before['name']} -> {title}",
        before=before,
        after={"name": title},
    )
    generation.bump_once(now)
    return incident


def delete_incident(incident: Incident, *, now: datetime, actor: audit.Actor) -> None:
    """Delete an incident or maintenance with its timeline; the audit log keeps its text."""
    incident = _incident(incident.id, lock=True)
    audit.record(
        actor,
        "incident.deleted",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.kind} {incident.name!r} deleted",
        before={
            "name": incident.name,
            "status": incident.status,
            "updates": [
                {"status": u.status, "body": u.body, "at": _iso(u.display_at)}
                for u in incident.updates
            ],
        },
    )
    db.session.delete(incident)
    generation.bump_once(now)
