"""The management API under `/api/v1/` for deploy pipelines and scripts.

Bearer tokens only (a browser session does not count here, so CSRF cannot apply); a token acts
with its user's current role. Publishing goes through publishing/approvals.submit, like the
admin, so provenance, audit, idempotency and a communication plan's approval are the same
whichever way an update was published: an update the plan wants approved is stored as a draft
(202) until its approvers approve it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy.orm import selectinload

from statuspage.clock import utcnow
from statuspage.core import plans as plan_format
from statuspage.core import reliability
from statuspage.core.enums import ComponentStatus, IncidentKind, IncidentStatus, MaintenanceStatus
from statuspage.core.intake.payloads import FIRING, RESOLVED
from statuspage.core.limits import MAX_ID
from statuspage.core.reliability import incident_figures
from statuspage.core.roles import Permission
from statuspage.core.text import clean_line, same_text
from statuspage.core.times import as_utc, isoformat
from statuspage.db.database import run_write
from statuspage.db.extensions import db
from statuspage.db.models import (
    Alert,
    Component,
    Incident,
    IncidentUpdate,
    Message,
    MessageVersion,
    Plan,
    PlanVersion,
)
from statuspage.db.models import Draft as StoredDraft
from statuspage.db.queries import component_tree
from statuspage.errors import Conflict, NotFound, StatuspageError, ValidationError
from statuspage.intake import queries as intake_queries
from statuspage.publishing import approvals, drafts
from statuspage.publishing import components as component_service
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.publishing.publish import (
    Draft,
    Prepared,
    Published,
    fill_message,
    set_component_status,
)
from statuspage.reports import facts as report_facts
from statuspage.reports import report as reports
from statuspage.web.admin.common import actor
from statuspage.web.api_v1 import openapi
from statuspage.web.api_v1.json_input import parse_datetime, read_object
from statuspage.web.auth import current_user, protect_blueprint, public, requires

bp = Blueprint("api_v1", __name__, url_prefix=openapi.PREFIX)
protect_blueprint(bp, api=True)

REQUESTS = openapi.REQUESTS
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
RESOLVED_BODY = "This incident has been resolved."
IDEMPOTENCY_HEADER = "Idempotency-Key"
LIST_STATUSES = ("open", "closed", "all")
DRAFT_STATES = (*drafts.STATES, "all")
ALERT_STATUSES = (FIRING, RESOLVED, "all")
REPORT_FORMATS = ("json", "csv")
#: The alerts a draft's answer lists (alert_count says how many it has).
DRAFT_ALERTS = 50


@bp.after_request
def api_headers(response: Response) -> Response:
    """Keep answers out of caches and tell a 401 client how to authenticate."""
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        challenge = 'Bearer realm="statuspage"'
        if request.headers.get("Authorization"):
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


# -- documents ------------------------------------------------------------------------------


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    site_url = current_app.config["STATUSPAGE"].site["url"]
    response = jsonify(openapi.document(site_url))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- incidents ------------------------------------------------------------------------------


@bp.get("/incidents")
@requires(Permission.READ)
def incidents() -> Response:
    """Incidents, newest first, a page at a time."""
    items, cursor = _listing(IncidentKind.INCIDENT)
    return jsonify({"incidents": [_incident(i) for i in items], "next_cursor": cursor})


@bp.get("/incidents/<id:incident_id>")
@requires(Permission.READ)
def incident(incident_id: int) -> Response:
    """One incident with its updates and its figures (docs/reports.md)."""
    item = _load(IncidentKind.INCIDENT, incident_id)
    figures = incident_figures(report_facts.incident_facts(item), now=utcnow())
    return jsonify({**_incident(item), "figures": reports.figures_json(figures)})


@bp.post("/incidents")
@requires(Permission.PUBLISH)
def create_incident() -> Response:
    """Open an incident from a canned message or from free text."""
    data = read_object(REQUESTS["CreateIncident"])
    _check_form(data, free_text_needs=("title", "body", "impact"))
    return _publish(
        Draft(
            kind=IncidentKind.INCIDENT,
            message=data.get("message"),
            variables=data.get("variables", {}),
            title=data.get("title"),
            body=data.get("body"),
            status=data.get("status") or _default_status(data, IncidentStatus.INVESTIGATING),
            impact=data.get("impact"),
            component_statuses=_component_statuses(data.get("components", {})),
            notify=data.get("notify", True),
            idempotency_key=_idempotency_key(),
        ),
        without_approval=data.get("without_approval"),
    )


@bp.post("/incidents/<id:incident_id>/updates")
@requires(Permission.PUBLISH)
def post_incident_update(incident_id: int) -> Response:
    """Post an update to an incident."""
    _load(IncidentKind.INCIDENT, incident_id)
    data = read_object(REQUESTS["IncidentUpdate"])
    _check_form(data, free_text_needs=("body", "status"))
    return _publish(
        Draft(
            incident_id=incident_id,
            message=data.get("message"),
            variables=data.get("variables", {}),
            body=data.get("body"),
            status=data.get("status"),
            impact=data.get("impact"),
            component_statuses=_component_statuses(data.get("components", {})),
            notify=data.get("notify", True),
            idempotency_key=_idempotency_key(),
        ),
        without_approval=data.get("without_approval"),
    )


@bp.post("/incidents/<id:incident_id>/resolve")
@requires(Permission.PUBLISH)
def resolve_incident(incident_id: int) -> Response:
    """Resolve an incident, by default returning its components to operational."""
    item = _load(IncidentKind.INCIDENT, incident_id)
    data = read_object(REQUESTS["ResolveIncident"])
    _check_form(data, free_text_needs=(), body_needed=False)
    _check_message_status(data.get("message"), IncidentStatus.RESOLVED)
    components = {}
    if data.get("components_operational", True):
        components = {c.id: ComponentStatus.OPERATIONAL.value for c in item.components}
    body = data.get("body")
    if body is None and not data.get("message"):
        body = RESOLVED_BODY
    return _publish(
        Draft(
            incident_id=incident_id,
            message=data.get("message"),
            variables=data.get("variables", {}),
            body=body,
            status=IncidentStatus.RESOLVED.value,
            component_statuses=components,
            notify=data.get("notify", True),
            idempotency_key=_idempotency_key(),
        ),
        without_approval=data.get("without_approval"),
    )


# -- maintenances ---------------------------------------------------------------------------


@bp.get("/maintenances")
@requires(Permission.READ)
def maintenances() -> Response:
    """Maintenances, latest window first, a page at a time."""
    items, cursor = _listing(IncidentKind.MAINTENANCE)
    return jsonify({"maintenances": [_incident(i) for i in items], "next_cursor": cursor})


@bp.get("/maintenances/<id:maintenance_id>")
@requires(Permission.READ)
def maintenance(maintenance_id: int) -> Response:
    """One maintenance with its updates."""
    return jsonify(_incident(_load(IncidentKind.MAINTENANCE, maintenance_id)))


@bp.post("/maintenances")
@requires(Permission.PUBLISH)
def create_maintenance() -> Response:
    """Schedule a maintenance window from a canned message or from free text."""
    data = read_object(REQUESTS["CreateMaintenance"])
    _check_form(data, free_text_needs=("title", "body"))
    _check_message_status(data.get("message"), MaintenanceStatus.SCHEDULED)
    starts = parse_datetime(data["scheduled_for"], "scheduled_for")
    ends = parse_datetime(data["scheduled_until"], "scheduled_until")
    components = {}
    for index, component_id in enumerate(data.get("components", [])):
        component = _component(component_id, f"components.{index}")
        # Scheduling attaches components without changing them: keep their status.
        components[component.id] = component.status
    return _publish(
        Draft(
            kind=IncidentKind.MAINTENANCE,
            message=data.get("message"),
            variables=data.get("variables", {}),
            title=data.get("title"),
            body=data.get("body"),
            status=MaintenanceStatus.SCHEDULED.value,
            component_statuses=components,
            notify=data.get("notify", True),
            idempotency_key=_idempotency_key(),
            scheduled_for=starts,
            scheduled_until=ends,
        ),
        without_approval=data.get("without_approval"),
    )


@bp.post("/maintenances/<id:maintenance_id>/updates")
@requires(Permission.PUBLISH)
def post_maintenance_update(maintenance_id: int) -> Response:
    """Post an update to a maintenance (started, verifying, completed...)."""
    _load(IncidentKind.MAINTENANCE, maintenance_id)
    data = read_object(REQUESTS["MaintenanceUpdate"])
    _check_form(data, free_text_needs=("body", "status"))
    return _publish(
        Draft(
            incident_id=maintenance_id,
            kind=IncidentKind.MAINTENANCE,
            message=data.get("message"),
            variables=data.get("variables", {}),
            body=data.get("body"),
            status=data.get("status"),
            component_statuses=_component_statuses(data.get("components", {})),
            notify=data.get("notify", True),
            idempotency_key=_idempotency_key(),
            scheduled_for=_optional_time(data, "scheduled_for"),
            scheduled_until=_optional_time(data, "scheduled_until"),
        ),
        without_approval=data.get("without_approval"),
    )


# -- components -----------------------------------------------------------------------------


@bp.get("/components")
@requires(Permission.READ)
def components() -> Response:
    """Every component in display order."""
    tree = component_tree()
    groups = {g.id: g.name for g in tree.groups}
    items = [
        _component_json(c, groups[c.group_id] if c.group_id else None) for c in tree.components
    ]
    return jsonify({"components": items})


@bp.patch("/components/<id:component_id>")
@requires(Permission.PUBLISH)
def set_component(component_id: int) -> Response:
    """Set one component's status outside an incident (audited)."""
    component_service.get_component(component_id)
    data = read_object(REQUESTS["SetComponentStatus"])

    def act() -> None:
        set_component_status(
            component_service.get_component(component_id),
            ComponentStatus(data["status"]),
            now=utcnow(),
            actor=actor(),
        )

    run_write(act)
    component = component_service.get_component(component_id)
    group = component.group.name if component.group is not None else None
    return jsonify(_component_json(component, group))


# -- reports --------------------------------------------------------------------------------


@bp.get("/reports")
@requires(Permission.READ)
def report() -> Response:
    """A period's reliability report as JSON, or as CSV with `format=csv`."""
    text = request.args.get("period")
    if not text:
        raise ValidationError(f"period: required ({reliability.PERIOD_FORMS})", field="period")
    output = request.args.get("format", "json")
    if output not in REPORT_FORMATS:
        raise ValidationError(
            f"format: {output!r} is not one of: {', '.join(REPORT_FORMATS)}", field="format"
        )
    settings = current_app.config["STATUSPAGE"]
    built = reports.build(reports.period_of(text, settings), settings, utcnow())
    if output == "json":
        return jsonify(reports.as_json(built))
    response = Response(reports.as_csv(built), mimetype="text/csv")
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in built.period.label)
    response.headers["Content-Disposition"] = f'attachment; filename="report-{name}.csv"'
    return response


# -- message library ------------------------------------------------------------------------


@bp.get("/messages")
@requires(Permission.READ)
def messages() -> Response:
    """The library's messages, each with its current version."""
    items = [_message_summary(m, v) for m, v in library_service.list_messages()]
    return jsonify({"messages": items})


@bp.get("/messages/<slug>")
@requires(Permission.READ)
def message(slug: str) -> Response:
    """One message with every version, its text and its author."""
    item = db.session.scalar(
        sa.select(Message)
        .where(Message.slug == slug)
        .options(selectinload(Message.versions).selectinload(MessageVersion.author))
    )
    if item is None:
        raise NotFound(f"no message with id {slug!r}")
    return jsonify(
        {
            "id": item.slug,
            "current_version": item.current_version,
            "archived": item.archived_at is not None,
            "versions": [_version_json(v) for v in item.versions],
        }
    )


@bp.post("/messages/<slug>/preview")
# Publish, not read: a preview renders Markdown, the costliest thing a request can ask for.
@requires(Permission.PUBLISH)
def preview_message(slug: str) -> Response:
    """Fill a message's variables and show the text it would publish, publishing nothing."""
    item = library_service.get_message(slug)
    data = read_object(REQUESTS["PreviewRequest"])
    if "version" in data:
        with _body_errors(not_found_field="version"):
            version = library_service.get_version(slug, data["version"])
    else:
        version = library_service.current_version(item)
    with _body_errors():
        filled = fill_message(version, data.get("variables", {}))
    return jsonify(
        {
            "message": slug,
            "version": version.number,
            "title": filled.title,
            "body": filled.body,
            "body_html": filled.body_html,
            "status": version.status,
            "variables": filled.variables,
        }
    )


# -- drafts and alerts (from monitoring) ----------------------------------------------------


@bp.get("/drafts")
@requires(Permission.READ)
def list_drafts() -> Response:
    """Drafts, newest first: the waiting ones unless `?state=` says (pending: for approval)."""
    state = request.args.get("state", drafts.WAITING)
    if state not in DRAFT_STATES:
        raise ValidationError(
            f"state: {state!r} is not one of: {', '.join(DRAFT_STATES)}", field="state"
        )
    rows = intake_queries.drafts_in(None if state == "all" else state, limit=_limit())
    return jsonify({"drafts": [_draft(row) for row in rows]})


@bp.get("/drafts/<id:draft_id>")
@requires(Permission.READ)
def draft(draft_id: int) -> Response:
    """One draft with its alerts and, while it waits, its preview (or why it cannot publish)."""
    return jsonify(_draft(drafts.get(draft_id), detail=True))


@bp.post("/drafts/<id:draft_id>/publish")
@requires(Permission.PUBLISH)
def publish_draft(draft_id: int) -> Response:
    """Publish a draft exactly as prepared, or send it for approval when the incident's plan
    asks (202); again, the same update with 200."""
    row = drafts.get(draft_id)
    read_object(REQUESTS["PublishDraft"])
    if row.state == drafts.PENDING:
        raise Conflict(
            f"draft {draft_id} waits for approval: approve it, return it, or (an admin) "
            "publish it without approval"
        )

    def act() -> _Result:
        with _body_errors():
            outcome = approvals.request(draft_id, now=utcnow(), actor=actor(), notices=_notices())
        return _result(outcome)

    return _outcome_response(run_write(act))


@bp.post("/drafts/<id:draft_id>/approve")
@requires(Permission.PUBLISH)
def approve_draft(draft_id: int) -> Response:
    """Approve the pending draft whose fingerprint the approver read: 201 with the update when
    that was the last approval needed, 200 with the draft while more are needed."""
    drafts.get(draft_id)
    data = read_object(REQUESTS["ApproveDraft"])

    def act() -> _Result:
        with _body_errors():
            outcome = approvals.approve(
                draft_id,
                seen=data["fingerprint"],
                now=utcnow(),
                actor=actor(),
                notices=_notices(),
            )
        return _result(outcome)

    result = run_write(act)
    if result.update_id is None:
        return jsonify(_draft(drafts.get(draft_id), detail=True))
    return _outcome_response(result)


@bp.post("/drafts/<id:draft_id>/return")
@requires(Permission.PUBLISH)
def return_draft(draft_id: int) -> Response:
    """Return a pending draft to its author with a comment; nothing is published."""
    drafts.get(draft_id)
    data = read_object(REQUESTS["ReturnDraft"])

    def act() -> None:
        with _body_errors():
            approvals.send_back(draft_id, comment=data["comment"], now=utcnow(), actor=actor())

    run_write(act)
    return jsonify(_draft(drafts.get(draft_id), detail=True))


@bp.post("/drafts/<id:draft_id>/publish-without-approval")
@requires(Permission.PUBLISH)
def publish_draft_without_approval(draft_id: int) -> Response:
    """An admin publishes an open draft without the approval its plan asks for, saying why."""
    drafts.get(draft_id)
    data = read_object(REQUESTS["PublishWithoutApproval"])

    def act() -> _Result:
        with _body_errors():
            published = approvals.publish_without_approval(
                draft_id,
                reason=data["reason"],
                now=utcnow(),
                actor=actor(),
                seen=data.get("fingerprint"),
            )
        return _result(approvals.Outcome(published=published))

    return _outcome_response(run_write(act))


@bp.post("/drafts/<id:draft_id>/dismiss")
@requires(Permission.PUBLISH)
def dismiss_draft(draft_id: int) -> Response:
    """Set a waiting draft aside without publishing it."""
    drafts.get(draft_id)
    data = read_object(REQUESTS["DismissDraft"])
    note = data.get("note", "").strip()
    run_write(lambda: approvals.withdraw(draft_id, now=utcnow(), actor=actor(), note=note))
    return jsonify(_draft(drafts.get(draft_id), detail=True))


# -- communication plans --------------------------------------------------------------------


@bp.get("/plans")
@requires(Permission.READ)
def plans() -> Response:
    """The active communication plans, each at its current version."""
    items = [_plan_summary(p, v) for p, v in plan_service.list_plans()]
    return jsonify({"plans": items})


@bp.get("/plans/<slug>")
@requires(Permission.READ)
def plan(slug: str) -> Response:
    """One plan's current version: what it says, parsed, and its file as synced."""
    item = plan_service.get_plan(slug)
    return jsonify(_plan_json(item, plan_service.current_version(item)))


@bp.get("/alerts")
@requires(Permission.READ)
def list_alerts() -> Response:
    """Alerts received, the most recently received first, by status and integration."""
    status = request.args.get("status", "all")
    if status not in ALERT_STATUSES:
        raise ValidationError(
            f"status: {status!r} is not one of: {', '.join(ALERT_STATUSES)}", field="status"
        )
    name = request.args.get("integration")
    source = None
    if name is not None:
        source = intake_queries.integration_by_name(name)
        if source is None:
            raise ValidationError(
                f"integration: no integration called {name!r}", field="integration"
            )
    rows = intake_queries.alerts(
        status=None if status == "all" else status,
        integration_id=source.id if source is not None else None,
        limit=_limit(),
    )
    return jsonify({"alerts": [_alert(row) for row in rows]})


# -- helpers: input -------------------------------------------------------------------------


def _check_form(
    data: Mapping[str, Any], *, free_text_needs: tuple[str, ...], body_needed: bool = True
) -> None:
    """Check that a body uses one of the two forms: a canned message, or free text."""
    if data.get("message"):
        return
    if "variables" in data:
        raise ValidationError(
            "variables belong to a message: give 'message' too", field="variables"
        )
    if body_needed and "body" not in data:
        raise ValidationError(
            "give a canned message ('message') or the text of the update ('body')",
            field="message",
        )
    for name in free_text_needs:
        if name not in data:
            raise ValidationError(f"{name} is required when no message is given", field=name)


def _default_status(data: Mapping[str, Any], status: IncidentStatus) -> str | None:
    """Free text starts at `status`; a message brings its own."""
    return None if data.get("message") else status.value


def _check_message_status(slug: str | None, wanted: IncidentStatus | MaintenanceStatus) -> None:
    """Refuse a message written for another stage than the one this call publishes."""
    if not slug:
        return
    with _body_errors():
        version = library_service.current_version(library_service.get_message(slug))
    if version.status != wanted.value:
        raise ValidationError(
            f"message {slug!r} is for the {version.status} status; pick a {wanted.value} message",
            field="message",
        )


def _optional_time(data: Mapping[str, Any], name: str) -> datetime | None:
    return parse_datetime(data[name], name) if name in data else None


def _component(component_id: int, field: str) -> Component:
    """A component named in a body (an unknown one is a refused field, not a 404)."""
    found = db.session.get(Component, component_id) if component_id <= MAX_ID else None
    if found is None:
        raise ValidationError(f"{field}: no component with id {component_id}", field=field)
    return found


def _component_statuses(wanted: Mapping[str, str]) -> dict[int, str]:
    """Component ids (JSON keys) checked to exist, with their new statuses."""
    result = {}
    for key, status in wanted.items():
        result[_component(int(key), f"components.{key}").id] = status
    return result


def _idempotency_key() -> str | None:
    """The request's Idempotency-Key, kept apart per user so keys of two users never meet."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # the structured-field string form
        key = key[1:-1]
    if (
        not key
        or len(key) > openapi.MAX_IDEMPOTENCY_KEY
        or not all(33 <= ord(c) < 127 for c in key)
    ):
        raise ValidationError(
            f"{IDEMPOTENCY_HEADER}: 1 to {openapi.MAX_IDEMPOTENCY_KEY} visible ASCII characters",
            field=IDEMPOTENCY_HEADER,
        )
    user = current_user()
    if user is None:  # enforce() lets only token holders through
        raise RuntimeError("no API user")
    return f"api:{user.id}:{key}"


#: Field names of the services (shared with the admin's forms) as this API names them.
_FIELDS = {"name": "title", "idempotency_key": IDEMPOTENCY_HEADER}


def _api_field(field: str | None) -> str | None:
    if field is None:
        return None
    if field.startswith("var_"):
        return "variables." + field.removeprefix("var_")
    if field.startswith("component_"):
        return "components." + field.removeprefix("component_")
    return _FIELDS.get(field, field)


@contextmanager
def _body_errors(
    not_found_field: str = "message", renamed: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Report service errors with this API's field names; a thing named in a body is a 422."""
    try:
        yield
    except NotFound as exc:
        raise ValidationError(exc.message, field=not_found_field) from None
    except ValidationError as exc:
        field = _api_field(exc.field)
        exc.field = (renamed or {}).get(field, field) if field is not None else None
        raise


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
        raise ValidationError(f"limit: a number from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def _encode_cursor(at: datetime, item_id: int) -> str:
    text = f"{as_utc(at).isoformat()}|{item_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        at_text, _, id_text = text.partition("|")
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not (id_text.isascii() and id_text.isdigit()):
            raise ValueError("malformed")
        return as_utc(at), int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor: not a cursor this API gave out (use next_cursor as it is)", field="cursor"
        ) from None


# -- helpers: reading and publishing --------------------------------------------------------


def _timeline():
    return (
        selectinload(Incident.updates).selectinload(IncidentUpdate.component_changes),
        selectinload(Incident.updates).selectinload(IncidentUpdate.author),
        selectinload(Incident.components),
    )


def _load(kind: IncidentKind, item_id: int) -> Incident:
    """An incident (or maintenance) with its timeline; the other kind is a 404 here."""
    item = db.session.scalar(
        sa.select(Incident).where(Incident.id == item_id).options(*_timeline())
    )
    if item is None or item.kind != kind.value:
        raise NotFound(f"no {kind.value} with id {item_id}")
    return item


def _listing(kind: IncidentKind) -> tuple[list[Incident], str | None]:
    """One page of incidents or maintenances (keyset on the start time and id)."""
    status = request.args.get("status", "all")
    if status not in LIST_STATUSES:
        raise ValidationError(
            f"status: {status!r} is not one of: {', '.join(LIST_STATUSES)}", field="status"
        )
    limit = _limit()
    order = Incident.started_at if kind is IncidentKind.INCIDENT else Incident.scheduled_for
    enum = IncidentStatus if kind is IncidentKind.INCIDENT else MaintenanceStatus
    closed = [s.value for s in enum if s.is_closed]
    query = (
        sa.select(Incident)
        .where(Incident.kind == kind.value)
        .order_by(order.desc(), Incident.id.desc())
        .limit(limit + 1)
        .options(*_timeline())
    )
    if status == "open":
        query = query.where(Incident.status.not_in(closed))
    elif status == "closed":
        query = query.where(Incident.status.in_(closed))
    cursor = request.args.get("cursor")
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(sa.or_(order < at, sa.and_(order == at, Incident.id < last_id)))
    items = list(db.session.scalars(query))
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    start = last.started_at if kind is IncidentKind.INCIDENT else last.scheduled_for
    return items[:limit], _encode_cursor(start, last.id)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Result:
    """What a publishing act did, as plain values that outlive its transaction."""

    update_id: int | None = None
    incident_id: int | None = None
    kind: IncidentKind = IncidentKind.INCIDENT
    created: bool = False
    #: The draft that waits for approval (when nothing was published).
    draft_id: int | None = None


def _result(outcome: approvals.Outcome) -> _Result:
    if outcome.published is not None:
        return _published_result(outcome.published)
    assert outcome.draft is not None
    return _Result(draft_id=outcome.draft.id)


def _published_result(published: Published) -> _Result:
    update = published.update
    return _Result(
        update_id=update.id,
        incident_id=update.incident_id,
        kind=IncidentKind(update.incident.kind),
        created=published.created,
    )


def _notices() -> approvals.Notices:
    return approvals.Notices.from_settings(current_app.config["STATUSPAGE"])


def _publish(draft: Draft, *, without_approval: str | None = None) -> Response:
    """Publish a draft: 201 with the new update, or 200 with the one a repeated key made; 202
    with the stored draft when the incident's plan wants the update approved first."""

    def act() -> _Result:
        with _body_errors(renamed={"reason": "without_approval"}):
            outcome = approvals.submit(
                draft,
                now=utcnow(),
                actor=actor(),
                notices=_notices(),
                without_approval=without_approval,
            )
        if outcome.published is not None:
            if not outcome.published.created:
                _check_replay(outcome.published.update, draft)
            return _published_result(outcome.published)
        assert outcome.draft is not None
        _check_draft_replay(outcome.draft, draft)
        return _Result(draft_id=outcome.draft.id)

    return _outcome_response(run_write(act))


def _outcome_response(result: _Result) -> Response:
    """The published update (201 or 200), or 202 with the draft that waits for approval."""
    if result.update_id is not None:
        assert result.incident_id is not None
        return _published_response(
            result.update_id, result.incident_id, result.kind, result.created
        )
    assert result.draft_id is not None
    response = jsonify(_draft(drafts.get(result.draft_id), detail=True))
    response.status_code = 202
    response.headers["Location"] = url_for("api_v1.draft", draft_id=result.draft_id)
    return response


def _published_response(
    update_id: int, incident_id: int, kind: IncidentKind, created: bool
) -> Response:
    """201 with a new update and its incident, or 200 with the one published before."""
    item = _load(kind, incident_id)
    published = next(u for u in item.updates if u.id == update_id)
    response = jsonify({"incident": _incident(item), "update": _update(published)})
    response.status_code = 201 if created else 200
    if item.is_maintenance:
        response.headers["Location"] = url_for("api_v1.maintenance", maintenance_id=item.id)
    else:
        response.headers["Location"] = url_for("api_v1.incident", incident_id=item.id)
    return response


def _check_draft_replay(row: StoredDraft, draft: Draft) -> None:
    """As `_check_replay`, for a key whose first request is still waiting for approval."""
    same = row.incident_id == draft.incident_id and row.kind == draft.kind.value
    # A revision is its author's change since: only the first one is what the key was sent with.
    if row.revision == 1:
        if (draft.message or "") != row.message_slug:
            same = False
        if draft.status is not None and row.status != draft.status:
            same = False
        if draft.title is not None and clean_line(draft.title) != clean_line(row.title or ""):
            same = False
        if draft.body is not None and not same_text(draft.body, row.body or ""):
            same = False
    if not same:
        raise Conflict(
            f"this {IDEMPOTENCY_HEADER} was already used for another request",
            field=IDEMPOTENCY_HEADER,
        )


def _check_replay(update: IncidentUpdate, draft: Draft) -> None:
    """Refuse a key that was used for a different request (another incident, stage or text):
    answering 200 with what the first request published would hide that this one was not."""
    if draft.incident_id is not None:
        same = update.incident_id == draft.incident_id
    else:
        first = min(update.incident.updates, key=lambda u: (u.display_at, u.id))
        same = update.incident.kind == draft.kind.value and first.id == update.id
        if draft.title is not None and clean_line(draft.title) != update.incident.name:
            same = False
    if draft.status is not None and update.status != draft.status:
        same = False
    if (draft.message or None) != update.message_slug:
        same = False
    if draft.body is not None and not same_text(draft.body, update.body):
        same = False
    if not same:
        raise Conflict(
            f"this {IDEMPOTENCY_HEADER} was already used for another request",
            field=IDEMPOTENCY_HEADER,
        )


# -- helpers: output ------------------------------------------------------------------------


def _incident(item: Incident) -> dict[str, Any]:
    site_url = current_app.config["STATUSPAGE"].site["url"]
    postmortem = None
    if item.postmortem_published_at is not None and item.postmortem_body is not None:
        postmortem = {
            "body": item.postmortem_body,
            "body_html": item.postmortem_html or "",
            "published_at": isoformat(item.postmortem_published_at),
        }
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.name,
        "status": item.status,
        "impact": item.impact,
        "started_at": isoformat(item.started_at),
        "identified_at": isoformat(item.identified_at),
        "monitoring_at": isoformat(item.monitoring_at),
        "resolved_at": isoformat(item.resolved_at),
        "scheduled_for": isoformat(item.scheduled_for),
        "scheduled_until": isoformat(item.scheduled_until),
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "url": f"{site_url}/incidents/{item.id}",
        "components": [{"id": c.id, "name": c.name, "status": c.status} for c in item.components],
        "updates": [_update(u) for u in item.updates],
        "postmortem": postmortem,
        "plan": _incident_plan(item),
    }


def _incident_plan(item: Incident) -> dict[str, Any] | None:
    """Where an incident stands against the plan it follows (None: it follows none)."""
    standing = plan_service.standing(item)
    if standing is None:
        return None
    followed, progress, _ = standing
    return {
        "slug": followed.slug,
        "version": followed.number,
        "next_update_due": isoformat(progress.next_update_due),
        "next_message": progress.next_message,
        "postmortem_due": isoformat(progress.postmortem_due),
    }


def _update(update: IncidentUpdate) -> dict[str, Any]:
    provenance = None
    if update.message_slug is not None and update.message_version is not None:
        provenance = {
            "id": update.message_slug,
            "version": update.message_version,
            "content_hash": update.message_hash or "",
        }
    return {
        "id": update.id,
        "incident_id": update.incident_id,
        "status": update.status,
        "body": update.body,
        "body_html": update.body_html,
        "display_at": isoformat(update.display_at),
        "created_at": isoformat(update.created_at),
        "edited_at": isoformat(update.edited_at),
        "notify": update.deliver_notifications,
        "author": update.author.email if update.author is not None else None,
        "message": provenance,
        "variables": update.variables,
        "text_edited": update.text_edited,
        "component_changes": [
            {
                "component_id": change.component_id,
                "name": change.component_name,
                "old_status": change.old_status,
                "new_status": change.new_status,
            }
            for change in update.component_changes
        ],
    }


def _draft(row: StoredDraft, *, detail: bool = False) -> dict[str, Any]:
    site_url = current_app.config["STATUSPAGE"].site["url"].rstrip("/")
    data: dict[str, Any] = {
        "id": row.id,
        "state": row.state,
        "source": row.source,
        "rule": row.rule or None,
        "incident_id": row.incident_id,
        "update_id": row.update_id,
        "message": row.message_slug or None,
        "message_version": row.message_version,
        "variables": dict(row.variables or {}),
        "components": dict(row.component_statuses or {}),
        "impact": row.impact,
        "next_update_minutes": row.next_update_minutes,
        "detected_at": isoformat(row.detected_at),
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
        "decided_at": isoformat(row.decided_at),
        "decided_by": row.decided_by or None,
        "note": row.note or "",
        "url": f"{site_url}/admin/drafts/{row.id}",
        "author": row.author.email if row.author is not None else None,
        "revision": row.revision,
        "plan": (
            {"slug": row.plan_slug, "version": row.plan_version}
            if row.plan_slug and row.plan_version is not None
            else None
        ),
        "approvals_needed": row.approvals_needed,
        "approvals": [
            {"user": a.user.email, "at": isoformat(a.created_at)}
            for a in row.approvals
            if a.revision == row.revision
        ],
        "comment": row.comment or "",
        "requested_at": isoformat(row.requested_at),
    }
    if not detail:
        return data
    alerts, total = intake_queries.alerts_of_draft(row.id, limit=DRAFT_ALERTS)
    data["alerts"] = [_alert(a) for a in alerts]
    data["alert_count"] = total
    data["preview"], data["preview_error"], data["fingerprint"] = None, None, None
    if row.state in drafts.OPEN_STATES:
        try:
            with _body_errors():
                prepared = drafts.preview(row)
                data["preview"] = _preview(prepared)
        except StatuspageError as exc:
            data["preview_error"] = {"code": exc.code, "message": exc.message, "field": exc.field}
        else:
            if row.state == drafts.PENDING:
                data["fingerprint"] = approvals.fingerprint(row, prepared)
    return data


def _preview(prepared: Prepared) -> dict[str, Any]:
    site_name = current_app.config["STATUSPAGE"].site["name"]
    subject, _ = prepared.email_preview(site_name=site_name)
    return {
        "title": prepared.title,
        "body": prepared.body,
        "body_html": prepared.body_html,
        "status": prepared.status.value,
        "impact": prepared.impact.value,
        "components": [
            {
                "id": component.id,
                "name": component.name,
                "old_status": component.status,
                "new_status": status.value,
            }
            for component, status in prepared.components.items()
        ],
        "provenance": prepared.provenance,
        "email_subject": subject if prepared.notify else None,
    }


def _plan_summary(item: Plan, version: PlanVersion) -> dict[str, Any]:
    parsed = plan_service.as_plan(version)
    return {
        "id": item.slug,
        "version": version.number,
        "title": parsed.title,
        "kind": parsed.kind.value,
        "priority": parsed.priority,
        "content_hash": version.content_hash,
    }


def _plan_json(item: Plan, version: PlanVersion) -> dict[str, Any]:
    parsed = plan_service.as_plan(version)
    rule = parsed.approval
    approval = None
    if rule is not None:
        approval = {
            "updates": [u for u in plan_format.APPROVAL_UPDATES if u in rule.updates],
            "role": rule.role.value if rule.role is not None else None,
            "users": list(rule.users),
            "count": rule.count,
            "approvers": rule.approvers,
            "notify": rule.notify,
            "wait_minutes": rule.wait_minutes,
            "escalate_to": rule.escalate_to,
        }
    return {
        "id": item.slug,
        "version": version.number,
        "archived": item.archived_at is not None,
        "title": parsed.title,
        "kind": parsed.kind.value,
        "priority": parsed.priority,
        "match": {
            "impacts": [i.value for i in sorted(parsed.match.impacts, key=lambda i: i.rank)],
            "components": list(parsed.match.components),
        },
        "cadence": dict(parsed.cadence),
        "sequence": list(parsed.sequence),
        "postmortem_within_days": parsed.postmortem_within_days,
        "approval": approval,
        "reminders": parsed.reminders,
        "audiences": {"subscribers": parsed.notify_subscribers, "internal": parsed.internal},
        "playbook": parsed.body,
        "source": version.source,
        "content_hash": version.content_hash,
        "author": version.author.email if version.author is not None else None,
        "reason": version.reason,
        "created_at": isoformat(version.created_at),
    }


def _alert(row: Alert) -> dict[str, Any]:
    return {
        "id": row.id,
        "integration": row.integration.name,
        "fingerprint": row.fingerprint,
        "status": row.status,
        "title": row.title,
        "severity": row.severity,
        "labels": dict(row.labels or {}),
        "annotations": dict(row.annotations or {}),
        "url": row.url or None,
        "started_at": isoformat(row.started_at),
        "resolved_at": isoformat(row.resolved_at),
        "first_received_at": isoformat(row.first_received_at),
        "last_received_at": isoformat(row.last_received_at),
        "received_count": row.received_count,
        "duplicate_count": row.duplicate_count,
        "rule": row.rule or None,
        "outcome": row.outcome,
        "draft_id": row.draft_id,
        "incident_id": row.incident_id,
    }


def _component_json(component: Component, group: str | None) -> dict[str, Any]:
    return {
        "id": component.id,
        "name": component.name,
        "status": component.status,
        "description": component.description or "",
        "group": group,
        "position": component.position,
        "updated_at": isoformat(component.updated_at),
    }


def _variables_json(variables: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "name": v["name"],
            "label": v["label"],
            "required": bool(v.get("required", True)),
            "default": v.get("default"),
            "choices": list(v.get("choices") or []),
            "help": v.get("help") or "",
        }
        for v in variables or []
    ]


def _message_summary(item: Message, version: MessageVersion) -> dict[str, Any]:
    return {
        "id": item.slug,
        "version": version.number,
        "title": version.title,
        "status": version.status,
        "impact": version.impact or None,
        "tags": list(version.tags or []),
        "variables": _variables_json(version.variables),
    }


def _version_json(version: MessageVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "title": version.title,
        "body": version.body,
        "status": version.status,
        "impact": version.impact or None,
        "tags": list(version.tags or []),
        "variables": _variables_json(version.variables),
        "author": version.author.email if version.author is not None else None,
        "reason": version.reason,
        "content_hash": version.content_hash,
        "created_at": isoformat(version.created_at),
    }
