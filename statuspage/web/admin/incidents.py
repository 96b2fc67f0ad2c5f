"""Admin views: incidents and maintenances (lists, compose and publish, timelines), components."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from statuspage.clock import utcnow
from statuspage.core import incident_rules, placeholders
from statuspage.core import plans as plan_format
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.roles import Permission
from statuspage.db import queries
from statuspage.db.database import run_write, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate, MessageVersion
from statuspage.db.models import Draft as StoredDraft
from statuspage.delivery import escalation as runtime
from statuspage.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    StatuspageError,
    ValidationError,
)
from statuspage.intake import queries as intake_queries
from statuspage.publishing import approvals, drafts
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.publishing import publish as publish_service
from statuspage.web.admin import bp, compose
from statuspage.web.admin.common import actor
from statuspage.web.auth import requires

PER_PAGE = 25
MAX_PAGE = 10_000

#: The words of the buttons that move an incident or maintenance on.
ACTION_LABELS = {
    IncidentStatus.INVESTIGATING: "Reopen",
    IncidentStatus.IDENTIFIED: "Identified",
    IncidentStatus.MONITORING: "Monitoring",
    IncidentStatus.RESOLVED: "Resolve",
    MaintenanceStatus.IN_PROGRESS: "Start",
    MaintenanceStatus.VERIFYING: "Verifying",
    MaintenanceStatus.COMPLETED: "Complete",
}


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["STATUSPAGE"].site["time_zone"])


def _page() -> int:
    value = request.args.get("page", "1")
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_PAGE):
        raise NotFound("no such page")
    return int(value)


def view_url(incident: Incident, **anchor) -> str:
    """The admin page of an incident or a maintenance."""
    endpoint = "admin.maintenance" if incident.is_maintenance else "admin.incident"
    return url_for(endpoint, incident_id=incident.id, **anchor)


def provenance_label(version: MessageVersion | None, *, edited: bool) -> str:
    """Where an update's text comes from, by the message's title: "the message “API down”
    (v3), edited", or "free text"."""
    if version is None:
        return "free text"
    title = with_labels(version.title, version)
    return f"the message “{title}” (v{version.number})" + (", edited" if edited else "")


def _versions_of(updates: Iterable[IncidentUpdate]) -> dict[int | None, MessageVersion]:
    """The message versions some updates came from, by id (one query)."""
    ids = {u.message_version_id for u in updates if u.message_version_id is not None}
    if not ids:
        return {}
    rows = db.session.scalars(sa.select(MessageVersion).where(MessageVersion.id.in_(ids)))
    return {v.id: v for v in rows}


def _labels(version: MessageVersion | None) -> dict[str, str]:
    """A message version's blanks by name, with the labels the PM filled them in under."""
    if version is None:
        return {}
    return {v["name"]: v.get("label") or v["name"] for v in version.variables or []}


def with_labels(text: str, version: MessageVersion) -> str:
    """A message title or text with each blank shown by its label: "[Affected service]"."""
    labels = {v["name"]: v.get("label") or v["name"] for v in version.variables or []}
    return placeholders.with_labels(text, labels)


# -- lists ------------------------------------------------------------------------------------


@bp.get("/incidents")
@requires(Permission.READ)
def incidents() -> str:
    """Open incidents, then the closed ones, newest first."""
    return _list(IncidentKind.INCIDENT)


@bp.get("/maintenances")
@requires(Permission.READ)
def maintenances() -> str:
    """Maintenances under way or scheduled, then the completed ones."""
    return _list(IncidentKind.MAINTENANCE)


def _list(kind: IncidentKind) -> str:
    page = _page()
    opened: list[Incident] = []
    if page == 1:
        if kind is IncidentKind.INCIDENT:
            opened = queries.unresolved_incidents()
        else:
            opened = queries.active_maintenances() + queries.upcoming_maintenances()
    closed = queries.closed_incidents(kind, offset=(page - 1) * PER_PAGE, limit=PER_PAGE + 1)
    if page > 1 and not closed:
        raise NotFound("no such page")
    return render_template(
        "admin/incidents/list.html",
        kind=kind,
        opened=opened,
        closed=closed[:PER_PAGE],
        page=page,
        older=page + 1 if len(closed) > PER_PAGE else None,
        view_url=view_url,
    )


@bp.get("/components")
@requires(Permission.READ)
def components() -> str:
    """Every component with its status, and a form to change it."""
    return render_template(
        "admin/incidents/components.html",
        tree=queries.component_tree(),
        statuses=list(ComponentStatus),
    )


@bp.post("/components/<id:component_id>/status")
@requires(Permission.PUBLISH)
def component_status(component_id: int) -> Response:
    """Change one component's status outside an incident (audited)."""
    try:
        status = component_service.parse_status(request.form.get("status", ""))
        with write_transaction():
            component = component_service.get_component(component_id)
            name = component.name
            changed = publish_service.set_component_status(
                component, status, now=utcnow(), actor=actor()
            )
    except ValidationError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.components"))
    if changed:
        flash(f"{name} is now {status.label}.", "ok")
    else:
        flash(f"{name} was already {status.label}.", "ok")
    return redirect(url_for("admin.components", _anchor=f"component-{component_id}"))


# -- compose and publish ------------------------------------------------------------------------


@bp.route("/incidents/new", methods=["GET", "POST"])
@requires(Permission.PUBLISH)
def incident_new():
    """Open an incident: pick a message, fill it in, preview, publish."""
    return _compose(IncidentKind.INCIDENT, None)


@bp.route("/maintenances/new", methods=["GET", "POST"])
@requires(Permission.PUBLISH)
def maintenance_new():
    """Schedule a maintenance: its window, components and announcement."""
    return _compose(IncidentKind.MAINTENANCE, None)


@bp.route("/incidents/<id:incident_id>/update", methods=["GET", "POST"])
@requires(Permission.PUBLISH)
def incident_update(incident_id: int):
    """Post an update to an incident."""
    incident = incident_service.get_incident(incident_id)
    return _compose(IncidentKind(incident.kind), incident)


@bp.route("/maintenances/<id:incident_id>/update", methods=["GET", "POST"])
@requires(Permission.PUBLISH)
def maintenance_update(incident_id: int):
    """Post an update to a maintenance (started, extended, verifying, completed)."""
    incident = incident_service.get_incident(incident_id)
    return _compose(IncidentKind(incident.kind), incident)


def _compose_url(kind: IncidentKind, incident: Incident | None, **args) -> str:
    if incident is None:
        endpoint = (
            "admin.maintenance_new" if kind is IncidentKind.MAINTENANCE else "admin.incident_new"
        )
        return url_for(endpoint, **args)
    endpoint = "admin.maintenance_update" if incident.is_maintenance else "admin.incident_update"
    return url_for(endpoint, incident_id=incident.id, **args)


def _compose(kind: IncidentKind, incident: Incident | None):
    """Three screens: the message picker, the form, and the preview with Publish. Every screen a
    browser can go Back to or reload is a GET; only Publish changes anything."""
    if request.method == "POST":
        return _compose_post(kind, incident)
    if "preview" in request.args:
        return _preview_screen(kind, incident, request.args["preview"])
    if "edit" in request.args:
        return _render_compose(_from_link(kind, incident, request.args["edit"]))
    stored = _stored_draft(request.args.get("draft", ""))
    if stored is not None and stored.state in REQUESTED:
        return _render_compose(_revising(kind, incident, stored))
    slug = request.args.get("message", "")
    if not slug and request.args.get("free") != "1":
        return _picker(kind, incident)
    version = _version(kind, slug) if slug else None
    plausible = compose.next_statuses(incident, kind)
    status = request.args.get("status", "")
    if status not in compose.statuses_of(kind):
        status = plausible[0] if plausible else compose.statuses_of(kind)[0]
    components = queries.component_tree().components
    form = compose.initial(
        kind=kind,
        incident=incident,
        version=version,
        status=status,
        components=components,
        tz=_tz(),
        now=utcnow(),
    )
    given: set[str] = set()
    if stored is not None:
        if stored.state != drafts.WAITING:
            flash(f"Draft {stored.id} is {stored.state}: there is nothing to edit.", "warn")
            return redirect(url_for("admin.draft", draft_id=stored.id))
        first = intake_queries.first_alerts([stored.id]).get(stored.id)
        compose.apply_draft(form, stored, title=first.title if first else "")
        given = set(stored.variables or {})
    # The plan's cadence is the promise offered, unless the draft's rule gave one.
    compose.apply_plan(
        form, _plan_of(form, components), promise=compose.PROMISE_VARIABLE not in given
    )
    return _render_compose(form)


#: The states of a stored draft that is a request for approval its author may still revise.
REQUESTED = (drafts.PENDING, drafts.RETURNED)


def request_url(row: StoredDraft) -> str:
    """The compose form filled with a request for approval, for its author to revise."""
    kind = IncidentKind(row.kind or IncidentKind.INCIDENT.value)
    args: dict[str, Any] = {"draft": row.id}
    if row.message_slug:
        args["message"] = row.message_slug
    else:
        args["free"] = "1"
    maintenance = kind is IncidentKind.MAINTENANCE
    if row.incident_id is None:
        return url_for("admin.maintenance_new" if maintenance else "admin.incident_new", **args)
    endpoint = "admin.maintenance_update" if maintenance else "admin.incident_update"
    return url_for(endpoint, incident_id=row.incident_id, **args)


def _revising(kind: IncidentKind, incident: Incident | None, row: StoredDraft) -> compose.Compose:
    """The form holding exactly what a request for approval holds (its author or an admin)."""
    approvals.check_reviser(row, actor())
    if row.kind != kind.value or row.incident_id != (incident.id if incident else None):
        raise NotFound(f"draft {row.id} is not an update of this form: open it from its page")
    number = str(row.message_version) if row.message_version is not None else None
    version = _version(kind, row.message_slug, number) if row.message_slug else None
    form = compose.initial(
        kind=kind,
        incident=incident,
        version=version,
        status=row.status or compose.statuses_of(kind)[0],
        components=queries.component_tree().components,
        tz=_tz(),
        now=utcnow(),
    )
    filled = ""
    if version is not None and row.body is not None:
        # The message as filled, to tell the author's own edit of the text from it.
        try:
            unseen = dataclasses.replace(drafts.to_draft(row), seen_update_id=None)
            filled = publish_service.prepare(unseen).filled_body or ""
        except StatuspageError:
            filled = ""
    compose.apply_request(form, row, _tz(), filled=filled)
    return form


def _plan_of(form: compose.Compose, components: Iterable[Component]) -> plan_format.Plan | None:
    """The plan the update on this form would follow: a guess before the preview, which says
    for sure (the impact follows the components it names, as publishing works it out)."""
    checked = [c for c in components if c.id in form.checked]
    if form.is_maintenance:
        impact = Impact.MAINTENANCE
    else:
        chosen = Impact(form.impact) if form.impact and form.impact != form.impact_shown else None
        statuses: dict[int, str] = {}
        if form.incident is not None:
            if chosen is None and form.incident.impact_override:
                chosen = Impact(form.incident.impact_override)
            current = Impact(form.incident.impact)
            statuses = {c.id: c.status for c in form.incident.components}
        else:
            current = Impact(form.impact or Impact.MINOR.value)
        statuses |= {c.id: form.statuses.get(c.id, c.status) for c in checked}
        impact = incident_rules.incident_impact(
            chosen=chosen, current=current, components=statuses.values()
        )
    names = [c.name for c in checked]
    followed = plan_service.after_update(form.incident, form.kind, impact.value, names)
    return followed.plan if followed is not None else None


def _stored_draft(value: str) -> StoredDraft | None:
    """The stored draft a compose URL (`?draft=`) names, or None."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) < 10):
        raise NotFound(f"no draft with id {value!r}")
    return drafts.get(int(value))


def _version(kind: IncidentKind, slug: str, number: str | None = None) -> MessageVersion:
    """The message version the PM picked, refusing archived ones and the wrong kind."""
    message = library_service.get_message(slug)
    if message.archived_at is not None and number is None:
        # A form sent back keeps its values: publishing then refuses with the reason.
        raise NotFound(f"message {slug!r} is archived")
    if number:
        if not (number.isascii() and number.isdigit() and len(number) < 10):
            raise NotFound(f"message {slug!r} has no version {number!r}")
        version = library_service.get_version(slug, int(number))
    else:
        version = library_service.current_version(message)
    if compose.message_kind(version) is not kind:
        raise ValidationError(f"message {slug!r} is for {compose.message_kind(version).value}s")
    return version


def _read(
    kind: IncidentKind, incident: Incident | None, form: MultiDict[str, str]
) -> compose.Compose:
    """The compose form from posted fields (or those a preview link carries)."""
    slug = form.get("message", "")
    version = _version(kind, slug, form.get("message_version", "")) if slug else None
    return compose.from_form(
        form,
        form.getlist("component"),
        kind=kind,
        incident=incident,
        version=version,
        components=queries.component_tree().components,
    )


# -- the preview's address: the form's fields, signed -------------------------------------------

#: The longest preview address. Past it (a long text of the PM's own) the preview is the answer
#: to the POST, as before; proxies refuse request lines much over 8 KB.
MAX_PREVIEW_URL = 6000


def _links() -> URLSafeSerializer:
    # Signed so that an address cannot be made up; compressed (itsdangerous does) to stay short.
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="admin-compose")


def _link(form: compose.Compose, screen: str) -> str | None:
    """The address of a screen (`preview` or `edit`) showing this form, or None if too long."""
    url = _compose_url(form.kind, form.incident, **{screen: _links().dumps(compose.fields(form))})
    return url if len(url) <= MAX_PREVIEW_URL else None


def _from_link(kind: IncidentKind, incident: Incident | None, token: str) -> compose.Compose:
    try:
        data = _links().loads(token)
    except BadSignature:
        data = None
    if not isinstance(data, dict):
        raise NotFound("This preview link is not valid: fill in the form again.")
    fields: MultiDict[str, str] = MultiDict()
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            fields.add(name, str(item))
    return _read(kind, incident, fields)


def _published_with(key: str) -> IncidentUpdate | None:
    """The update a form's one-time key already published, if any."""
    return db.session.scalar(sa.select(IncidentUpdate).where(IncidentUpdate.idempotency_key == key))


# -- the screens ----------------------------------------------------------------------------------


#: The preview's second button: an admin publishes what the plan wants approved, saying why.
WITHOUT_APPROVAL = "publish_without_approval"


def approval_notices() -> approvals.Notices:
    """What the approvers' notices need from the app's settings."""
    return approvals.Notices.from_settings(current_app.config["STATUSPAGE"])


def approvers_of(row: StoredDraft) -> str:
    """Who the plan asks to approve a request, in words ("an admin")."""
    rule = approvals.rule_of(row)
    return rule.approvers if rule is not None else "the plan's approvers"


@dataclasses.dataclass(frozen=True)
class _Sent:
    """What Publish (or Request approval) did: published this update, or stored this request."""

    published: publish_service.Published | None
    request_id: int | None = None
    approvers: str = ""


def _compose_post(kind: IncidentKind, incident: Incident | None):
    form = _read(kind, incident, request.form)
    components = queries.component_tree().components
    action = request.form.get("action", "preview")
    if action == "edit":
        link = _link(form, "edit")
        return redirect(link, 303) if link else _render_compose(form)
    if action == "reset":
        form.body, form.filled = None, ""
    reason = request.form.get("reason", "") if action == WITHOUT_APPROVAL else None
    try:
        draft = compose.to_draft(form, components, _tz())
        if action not in ("publish", WITHOUT_APPROVAL):
            prepared = publish_service.prepare(draft)
            link = _link(form, "preview")
            return redirect(link, 303) if link else _render_preview(form, prepared)
        sent = run_write(lambda: _send(form, draft, reason))
    except publish_service.PreviewOutdated as exc:
        link = _link(form, "preview")
        if link is None:
            return _render_preview(form, exc.prepared, notice=OUTDATED)
        flash(OUTDATED, "warn")
        return redirect(link, 303)
    except (ValidationError, Conflict, PermissionDenied) as exc:
        if reason is not None and (isinstance(exc, PermissionDenied) or exc.field == "reason"):
            # The reason (or who gave it) was refused: the preview again, with what was typed.
            try:
                prepared = publish_service.prepare(draft)
            except StatuspageError:
                pass
            else:
                page = _render_preview(form, prepared, error=exc, reason=reason)
                return page, exc.http_status
        if isinstance(exc, Conflict) and form.incident is not None:
            # The PM's text stays in the form; the next Publish is against what they now see.
            form.seen = compose.latest_update_id(incident_service.get_incident(form.incident.id))
        return _render_compose(form, error=exc), exc.http_status
    if sent.published is None:
        assert sent.request_id is not None
        flash(f"Sent for approval to {sent.approvers}. Nothing is public yet.", "ok")
        return redirect(url_for("admin.draft", draft_id=sent.request_id), 303)
    result = sent.published
    target = view_url(result.update.incident, _anchor=f"update-{result.update.id}")
    if result.prepared is not None:
        how = " without approval" if reason is not None and result.prepared.approval else ""
        flash(f"Published{how}: {result.prepared.feed_title}. It is on the public page now.", "ok")
    else:
        flash("This was already published (the form was sent twice): nothing changed.", "warn")
    return redirect(target)


def _send(form: compose.Compose, draft: publish_service.Draft, reason: str | None) -> _Sent:
    """Publish the form, or send it for approval when the plan asks (in one transaction).

    `reason` is an admin's, to publish without the approval the plan asks for. A form that
    revises a request for approval revises it; one that edits a draft from alerts publishes
    that draft (or sends it for approval) with the PM's edit.
    """
    now, who, notices = utcnow(), actor(), approval_notices()

    def confirm(prepared: publish_service.Prepared) -> bool:
        # Publish goes ahead only if what it would publish is what the preview showed.
        return compose.fingerprint(prepared, form) == form.fingerprint

    # A stored draft edited here: locked first, as drafts.publish does.
    stored = drafts.get(form.draft, lock=True) if form.draft else None
    if stored is not None and draft.next_update_minutes is None:
        draft.next_update_minutes = stored.next_update_minutes
    if stored is not None and (form.revision is not None or stored.source == approvals.SOURCE):
        approvals.check_reviser(stored, who)
        outcome = approvals.revise(
            stored.id, draft, now=now, actor=who, notices=notices, confirm=confirm
        )
        if reason is not None and outcome.pending:
            published = approvals.publish_without_approval(
                stored.id, reason=reason, now=now, actor=who
            )
            outcome = approvals.Outcome(published=published, draft=stored)
    elif stored is not None:
        asks = stored.state != drafts.WAITING or (
            reason is None and publish_service.prepare(draft, lock=True).approval is not None
        )
        if asks:
            # The plan asks for approval: the draft itself (with its alerts) becomes the request.
            outcome = approvals.request(
                stored.id, now=now, actor=who, notices=notices, confirm=confirm, edited=draft
            )
        else:
            outcome = approvals.submit(
                draft,
                now=now,
                actor=who,
                notices=notices,
                confirm=confirm,
                without_approval=reason,
            )
            if outcome.published is not None and outcome.published.created:
                drafts.published_as(stored, outcome.published, now=now, actor=who)
    else:
        outcome = approvals.submit(
            draft, now=now, actor=who, notices=notices, confirm=confirm, without_approval=reason
        )
    if outcome.published is not None or outcome.draft is None:
        return _Sent(outcome.published)
    return _Sent(None, outcome.draft.id, approvers_of(outcome.draft))


OUTDATED = (
    "Something changed since the preview (a field, or a component's status): "
    "check the preview below, then publish."
)


def _requested_with(key: str) -> StoredDraft | None:
    """The request for approval a form's one-time key stored, if any."""
    return db.session.scalar(sa.select(StoredDraft).where(StoredDraft.idempotency_key == key))


def _preview_screen(kind: IncidentKind, incident: Incident | None, token: str):
    """The preview of a form (a GET, so Back and reload are safe); once its one-time key has
    published, what was published instead (or the request for approval it stored)."""
    form = _from_link(kind, incident, token)
    published = _published_with(form.key)
    requested = _requested_with(form.key) if form.revision is None else None
    if published is None and requested is not None and requested.update_id is not None:
        published = db.session.get(IncidentUpdate, requested.update_id)
    if published is not None:
        return _render_preview(form, None, published=published)
    if requested is not None:
        return _render_preview(form, None, requested=requested)
    try:
        prepared = publish_service.prepare(
            compose.to_draft(form, queries.component_tree().components, _tz())
        )
    except (ValidationError, Conflict) as exc:
        return _render_compose(form, error=exc), exc.http_status
    return _render_preview(form, prepared)


def _field_id(field: str | None) -> str | None:
    """The form element an error belongs to."""
    if not field:
        return None
    if field == "name":
        return "title"
    if field.startswith("component_"):
        return "status_" + field.removeprefix("component_")
    return field


def _render_compose(form: compose.Compose, *, error: StatuspageError | None = None) -> str:
    """Step 2: the form."""
    errors: dict[str, str] = {}
    field_id = _field_id(error.field) if error else None
    if error is not None and field_id:
        errors[field_id] = error.message
    components = queries.component_tree().components
    message = form.message
    revised = drafts.get(form.draft) if form.draft and form.revision is not None else None
    return render_template(
        "admin/incidents/compose.html",
        form=form,
        revised=revised,
        author_of=approvals.author_name,
        message=message,
        variables=list(message.variables.values()) if message else [],
        rows=form.component_rows(components),
        errors=errors,
        error=f"Not published: {error.message}" if error is not None else None,
        focus=compose.focus(form, errors),
        action=_compose_url(form.kind, form.incident),
        picker=_compose_url(form.kind, form.incident),
        statuses=compose.statuses_of(form.kind),
        status_for_kind=_status_enum(form.kind),
        impacts=[i for i in Impact if i is not Impact.MAINTENANCE],
        component_statuses=list(ComponentStatus),
        window_variables=compose.WINDOW_VARIABLES,
        component_variable=compose.COMPONENT_VARIABLE,
        view_url=view_url,
        with_labels=with_labels,
    )


def _render_preview(
    form: compose.Compose,
    prepared: publish_service.Prepared | None,
    *,
    notice: str | None = None,
    published: IncidentUpdate | None = None,
    requested: StoredDraft | None = None,
    error: StatuspageError | None = None,
    reason: str = "",
) -> str:
    """Step 3: what customers will read, and Publish or Request approval (or what the form
    published, or the request it stored)."""
    plan_note = plan_warning = None
    if prepared is not None:
        prepared, plan_note, plan_warning = _follow_plan(form, prepared)
        form.body = prepared.body
        form.filled = prepared.filled_body or ""
        form.fingerprint = compose.fingerprint(prepared, form)
    hidden = compose.fields(form)
    if form.version is not None:
        hidden.pop("body", None)  # in the text area below the preview
        hidden.pop("filled", None)
    return render_template(
        "admin/incidents/preview.html",
        form=form,
        hidden=hidden,
        preview=preview_view(prepared) if prepared is not None else None,
        published=published,
        requested=requested,
        approval=prepared.approval if prepared is not None else None,
        plan=prepared.plan if prepared is not None else None,
        is_admin=approvals.is_admin(actor()),
        error=f"Not published: {error.message}" if error is not None else None,
        refused=error is not None and (error.field == "reason" or error.http_status == 403),
        reason=reason,
        notice=notice,
        plan_note=plan_note,
        plan_warning=plan_warning,
        action=_compose_url(form.kind, form.incident),
        picker=_compose_url(form.kind, form.incident),
        view_url=view_url,
        with_labels=with_labels,
    )


def _follow_plan(
    form: compose.Compose, prepared: publish_service.Prepared
) -> tuple[publish_service.Prepared, str | None, str | None]:
    """The promise of a preview against the plan the prepared update follows (the form only
    guessed it): a promise still as the form offered it takes the plan's cadence for the
    status, and the update is prepared again (with a line saying so); a promise of the PM's
    own that is longer than the cadence stays, with a warning."""
    followed = prepared.plan
    cadence = followed.plan.cadence_for(prepared.status.value) if followed is not None else None
    if followed is None or cadence is None:
        return prepared, None, None
    every = compose.cadence_words(cadence)
    before = dict(form.values), form.promise_offered
    text = compose.follow_cadence(form, cadence)
    if text:
        try:
            components = queries.component_tree().components
            prepared = publish_service.prepare(compose.to_draft(form, components, _tz()))
        except StatuspageError:
            form.values, form.promise_offered = before  # as the PM left it, checked already
        else:
            note = (
                f"The {followed.slug} plan asks for an update {every}: the promise now says {text}."
            )
            return prepared, note, None
    if prepared.next_update is None or prepared.next_update <= cadence:
        return prepared, None, None
    promised = form.values.get(compose.PROMISE_VARIABLE) or compose.promise_text(
        prepared.next_update
    )
    warning = (
        f"The {followed.slug} plan asks for an update {every}, but this one promises the next"
        f" within {promised}: the dashboard will count from the promise, so the incident is"
        " not overdue before then."
    )
    return prepared, None, warning


def preview_view(prepared: publish_service.Prepared) -> SimpleNamespace:
    """What templates/admin/_preview.html shows of a checked draft: the public page's entry,
    the feed entry and the subscriber email, exactly as publishing would write them."""
    site_name = current_app.config["STATUSPAGE"].site["name"]
    subject, text = prepared.email_preview(site_name=site_name)
    return SimpleNamespace(
        prepared=prepared,
        provenance=provenance_label(prepared.version, edited=prepared.text_edited),
        feed_title=prepared.feed_title,
        email_subject=subject,
        email_text=text,
        update=SimpleNamespace(
            id="preview",
            status=prepared.status.value,
            body_html=prepared.body_html,
            display_at=utcnow(),
            edited_at=None,
            component_changes=[
                SimpleNamespace(
                    component_name=c.component.name,
                    old_status=c.old.value,
                    new_status=c.new.value,
                )
                for c in prepared.changes
            ],
        ),
        incident=SimpleNamespace(kind=prepared.kind.value),
    )


def _status_enum(kind: IncidentKind):
    return MaintenanceStatus if kind is IncidentKind.MAINTENANCE else IncidentStatus


def _picker(kind: IncidentKind, incident: Incident | None) -> str:
    """Step one: the messages that fit the next status, as links (one click each)."""
    plausible = compose.next_statuses(incident, kind)
    chosen = request.args.get("status", "")
    every = compose.statuses_of(kind)
    if chosen == "all":
        shown = every
    elif chosen in every:
        shown = [chosen]
    else:
        chosen, shown = "", plausible or every
    groups = compose.message_choices(kind, shown, prefer_tags=_related_tags(incident))
    suggested, plan = _suggested(kind, incident)
    return render_template(
        "admin/incidents/pick.html",
        kind=kind,
        incident=incident,
        groups=groups,
        suggested=suggested,
        plan=plan,
        chosen=chosen,
        plausible=plausible,
        every=every,
        status_enum=_status_enum(kind),
        compose_url=lambda **args: _compose_url(kind, incident, **args),
        with_labels=with_labels,
        view_url=view_url,
    )


def _suggested(
    kind: IncidentKind, incident: Incident | None
) -> tuple[MessageVersion | None, plan_format.Plan | None]:
    """The message the incident's plan suggests next (current, live, of this kind), and the
    plan; (None, None) when the incident follows no plan or its sequence is done."""
    standing = plan_service.standing(incident) if incident is not None else None
    if standing is None:
        return None, None
    followed, progress, _ = standing
    if progress.next_message is None:
        return None, followed.plan
    try:
        message = library_service.get_message(progress.next_message)
        version = library_service.current_version(message)
    except NotFound:
        return None, followed.plan
    if message.archived_at is not None or compose.message_kind(version) is not kind:
        return None, followed.plan
    return version, followed.plan


def _related_tags(incident: Incident | None) -> list[str]:
    """The tags of the message an incident's newest canned update came from."""
    for update in incident.updates if incident is not None else []:
        if update.message_version_id is not None:
            try:
                version = library_service.get_version(
                    update.message_slug or "", update.message_version or 0
                )
            except NotFound:
                continue
            return list(version.tags or [])
    return []


def _next_url(kind: IncidentKind, incident: Incident, status: str, tags: list[str]) -> str:
    """Where a next-status button leads: straight to the form of the one message of that status
    that follows the incident's own (`degraded-resolved` after `degraded-investigating`), else
    to the picker for that status."""
    [(_, versions)] = compose.message_choices(kind, [status], prefer_tags=tags)
    related = [v for v in versions if set(tags).intersection(v.tags or [])]
    if len(related) == 1:
        return _compose_url(kind, incident, message=related[0].message.slug)
    return _compose_url(kind, incident, status=status)


# -- one incident -------------------------------------------------------------------------------


@bp.get("/incidents/<id:incident_id>")
@requires(Permission.READ)
def incident(incident_id: int) -> str:
    """An incident's timeline with where each update's text came from."""
    return _view(incident_id)


@bp.get("/maintenances/<id:incident_id>")
@requires(Permission.READ)
def maintenance(incident_id: int) -> str:
    """A maintenance's window and timeline."""
    return _view(incident_id)


def _view(
    incident_id: int,
    *,
    error: StatuspageError | None = None,
    correcting: tuple[int, str] | None = None,
    postmortem: str | None = None,
) -> str:
    incident = queries.incident_with_timeline(incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    kind = IncidentKind(incident.kind)
    nexts = [s for s in compose.next_statuses(incident, kind) if s != incident.status]
    tags = _related_tags(incident)
    versions = _versions_of(incident.updates)
    return render_template(
        "admin/incidents/view.html",
        incident=incident,
        actions=[
            (ACTION_LABELS.get(status_for(kind.value, s), s), _next_url(kind, incident, s, tags))
            for s in nexts
        ],
        update_url=lambda **args: _compose_url(kind, incident, **args),
        versions=versions,
        labels=_labels,
        with_labels=with_labels,
        error=error.message if error else None,
        correcting=correcting,
        postmortem=postmortem if postmortem is not None else _postmortem_text(incident),
        postmortem_template=POSTMORTEM_TEMPLATE,
        runs=runtime.runs_for(incident.id),
    )


#: The library's blameless postmortem: the postmortem form offers to start from its text.
POSTMORTEM_TEMPLATE = publish_service.POSTMORTEM_TEMPLATE


def _postmortem_text(incident: Incident) -> str:
    """The postmortem form's text: the published one, else (`?start=template`) the blameless
    template's text with each blank shown by its label, else nothing."""
    if incident.postmortem_body or request.args.get("start") != "template":
        return incident.postmortem_body or ""
    version = library_service.versions_for([POSTMORTEM_TEMPLATE]).get(POSTMORTEM_TEMPLATE)
    return with_labels(version.body, version) if version is not None else ""


@bp.post("/incidents/<id:incident_id>/updates/<id:update_id>/correct")
@requires(Permission.PUBLISH)
def update_correct(incident_id: int, update_id: int):
    """Correct a published update's text; the original stays in the audit log."""
    body = request.form.get("body", "")
    try:
        with write_transaction():
            update = _update_of(incident_id, update_id)
            publish_service.correct_update(update, body=body, now=utcnow(), actor=actor())
            target = view_url(update.incident, _anchor=f"update-{update.id}")
    except ValidationError as exc:
        return _view(incident_id, error=exc, correcting=(update_id, body)), exc.http_status
    flash("Update corrected. The public page marks it as edited.", "ok")
    return redirect(target)


def _update_of(incident_id: int, update_id: int) -> IncidentUpdate:
    incident = incident_service.get_incident(incident_id)
    for update in incident.updates:
        if update.id == update_id:
            return update
    raise NotFound(f"incident {incident_id} has no update {update_id}")


@bp.post("/incidents/<id:incident_id>/postmortem")
@requires(Permission.PUBLISH)
def incident_postmortem(incident_id: int):
    """Publish the postmortem of a resolved incident (Markdown)."""
    body = request.form.get("body", "")
    try:
        with write_transaction():
            incident = incident_service.get_incident(incident_id)
            publish_service.publish_postmortem(incident, body=body, now=utcnow(), actor=actor())
            target = view_url(incident, _anchor="postmortem")
    except (ValidationError, Conflict) as exc:
        return _view(incident_id, error=exc, postmortem=body), exc.http_status
    flash("Postmortem published on the incident page.", "ok")
    return redirect(target)
