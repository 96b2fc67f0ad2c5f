"""Statuspage's management API v1, for the scripts, bots and providers written against it.

`/v1/pages/<page id>/...` with Statuspage's paths, bodies and answers (docs/migrating.md). It
is one more way in: every write calls the same publishing act as the admin and `/api/v1/`
(`approvals.submit` for updates, so a plan's approval applies), with the same limits and the
same errors, sent in Statuspage's shape (`{"error": ..., "message": ...}`). A token acts with
its user's role, given as `Authorization: OAuth <token>` (or Bearer, or `?api_key=`).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from datetime import time as day_time
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from statuspage.clock import utcnow
from statuspage.core import serializers
from statuspage.core.enums import (
    ComponentStatus,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
)
from statuspage.core.library import LibraryError
from statuspage.core.limits import MAX_ID, MAX_SEARCH
from statuspage.core.roles import Permission
from statuspage.core.text import clean_line
from statuspage.core.times import as_utc, isoformat
from statuspage.db import audit
from statuspage.db.database import run_write
from statuspage.db.extensions import db
from statuspage.db.models import (
    Component,
    ComponentGroup,
    Incident,
    IncidentUpdate,
    MessageVersion,
    Subscriber,
)
from statuspage.db.queries import component_tree
from statuspage.delivery import subscriber_admin, subscribers
from statuspage.delivery.subscriber_common import EMAIL, SLACK, WEBHOOK, state_of
from statuspage.errors import NotFound, StatuspageError, ValidationError
from statuspage.imports import idmap
from statuspage.publishing import approvals, history
from statuspage.publishing import components as component_service
from statuspage.publishing import library as library_service
from statuspage.publishing import publish as publish_service
from statuspage.publishing.publish import Draft
from statuspage.web.admin.common import actor
from statuspage.web.api_v1.json_input import MEDIA_TYPE, parse_datetime, parse_object, validate
from statuspage.web.auth import current_token, protect_blueprint, requires
from statuspage.web.statuspage_v1 import schema

PREFIX = "/v1"
bp = Blueprint("statuspage_v1", __name__, url_prefix=PREFIX)
protect_blueprint(bp, api=True, query_key="api_key", scheme="OAuth")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_PER_PAGE = 100
MAX_FORM_DEPTH = 4
MAX_FORM_FIELDS = 1000
#: Statuspage's states of a subscriber, by ours.
SUBSCRIBER_STATES = {
    "active": "active",
    "pending": "unconfirmed",
    "disabled": "quarantined",
    "unsubscribed": "unsubscribed",
}
STATE_FILTERS = {v: k for k, v in SUBSCRIBER_STATES.items()}
#: An incident's body when a request gives none (Statuspage allows an update without text).
DEFAULT_BODIES = {
    IncidentStatus.INVESTIGATING.value: "We are investigating this issue.",
    IncidentStatus.IDENTIFIED.value: "The issue has been identified.",
    IncidentStatus.MONITORING.value: "A fix has been implemented and we are monitoring it.",
    IncidentStatus.RESOLVED.value: "This incident has been resolved.",
    MaintenanceStatus.SCHEDULED.value: "This maintenance is scheduled.",
    MaintenanceStatus.IN_PROGRESS.value: "The maintenance is in progress.",
    MaintenanceStatus.VERIFYING.value: "The maintenance is being verified.",
    MaintenanceStatus.COMPLETED.value: "The maintenance has completed.",
}


# -- the page, access and limits ------------------------------------------------------------


def _site() -> serializers.Site:
    site = current_app.config["STATUSPAGE"].site
    return serializers.Site(name=site["name"], url=site["url"], time_zone=site["time_zone"])


@bp.url_value_preprocessor
def _check_page(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Every path names the page: this site's id, or nothing is there."""
    if values and "page_id" in values:
        asked = values.pop("page_id")
        # The id of a Statuspage page imported here keeps working: scripts need not change it.
        if asked != _site().page_id and not (idmap.CODE.match(asked) and idmap.is_source(asked)):
            raise NotFound("Page not found (this server's page id is in GET /v1/pages)")


class RateLimited(StatuspageError):
    """Too many requests with one token."""

    http_status = 429
    code = "rate_limited"


class _Window:
    """Requests per token in the last minute, in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[int, deque[float]] = {}

    def take(self, key: int, limit: int, now: float) -> float | None:
        """Count a request; return the seconds to wait when over the limit."""
        with self.lock:
            times = self.seen.setdefault(key, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= limit:
                return times[0] + 60 - now
            times.append(now)
            return None


@bp.before_request
def _rate_limit() -> None:
    token = current_token()
    limit = current_app.config["STATUSPAGE"].api["statuspage_requests_per_minute"]
    if token is None or limit <= 0:
        return
    # One window per app: a process serves one, and tests build many.
    window = current_app.extensions.setdefault("statuspage_v1_window", _Window())
    wait = window.take(token.id, limit, time.monotonic())
    if wait is not None:
        exc = RateLimited(f"Rate limit: {limit} requests per minute per token; try again later")
        exc.retry_after = max(1, int(wait + 0.999))
        raise exc


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'OAuth realm="statuspage"'
    return response


# -- request bodies -------------------------------------------------------------------------


def _read(wanted: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The body as JSON or as Statuspage's form fields (`incident[name]=...`), checked against
    `wanted`; the ignored fields it carries are named in the answer's header."""
    raw = request.get_data(cache=True)
    # curl -d '{"incident": ...}' sends JSON labelled as a form: read it as what it is.
    if request.mimetype == MEDIA_TYPE or (
        request.mimetype == FORM_TYPE and raw.lstrip()[:1] == b"{"
    ):
        data = parse_object(raw)
    elif request.mimetype == FORM_TYPE or (not raw and not request.mimetype):
        data = _nested(_form_pairs(raw))
    else:
        raise UnsupportedMediaType(f"Send the body as JSON, with Content-Type: {MEDIA_TYPE}.")
    validate(wanted, data)
    if kind is not None:
        inner = next((v for v in data.values() if isinstance(v, dict)), {})
        ignored = sorted(set(inner) & set(schema.IGNORED[kind]))
        if ignored:
            g.statuspage_ignored = ", ".join(ignored)
    return data


@bp.after_request
def _ignored_header(response: Response) -> Response:
    ignored = g.pop("statuspage_ignored", None)
    if ignored:
        response.headers[schema.IGNORED_HEADER] = ignored
    return response


def _form_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The fields of a form body, at most MAX_FORM_FIELDS of them."""
    try:
        text = raw.decode("utf-8")
        return urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(
            f"The form is not UTF-8 fields (at most {MAX_FORM_FIELDS} of them)."
        ) from None


def _nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`incident[components][12]=major_outage` and `incident[component_ids][]=12` as JSON."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        if len(parts) > MAX_FORM_DEPTH:
            # Statuspage's fields nest three deep (incident[components][id]); deeper is not one.
            raise BadRequest(f"The form field {key[:100]!r} nests too deep.")
        node = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = parts[index + 1] if not last else None
            if last:
                if part in node:
                    raise BadRequest(f"The form field {key[:100]!r} appears twice.")
                node[part] = _form_value(value)
            elif following == "":
                node.setdefault(part, [])
                if not isinstance(node[part], list):
                    raise BadRequest(f"The form field {key!r} mixes a list and a value.")
                node[part].append(value)
                break
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise BadRequest(f"The form field {key!r} mixes an object and a value.")
                node = child
    return result


def _form_value(value: str) -> Any:
    return {"true": True, "false": False}.get(value, value)


def _created(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = 201
    return response


# -- pages ----------------------------------------------------------------------------------


def _page() -> dict[str, Any]:
    site = _site()
    settings = current_app.config["STATUSPAGE"]
    kinds = settings.subscribers.get("kinds", [EMAIL, WEBHOOK, SLACK])
    host = site.url.split("://", 1)[-1].split("/", 1)[0]
    created = db.session.scalar(sa.select(sa.func.min(Component.created_at)))
    updated = db.session.scalar(sa.select(sa.func.max(Incident.updated_at)))
    return {
        "id": site.page_id,
        "created_at": isoformat(created),
        "updated_at": isoformat(updated or created),
        "name": site.name,
        "page_description": None,
        "headline": None,
        "branding": "basic",
        "subdomain": None if host.replace(".", "").split(":")[0].isdigit() else host.split(".")[0],
        "domain": host,
        "url": site.url,
        "support_url": None,
        "hidden_from_search": False,
        "allow_page_subscribers": True,
        "allow_incident_subscribers": True,
        "allow_email_subscribers": EMAIL in kinds,
        "allow_sms_subscribers": False,
        "allow_rss_atom_feeds": True,
        "allow_webhook_subscribers": WEBHOOK in kinds,
        "notifications_from_email": settings.smtp.get("from") or None,
        "notifications_email_footer": None,
        "activity_score": 0,
        "twitter_username": None,
        "viewers_must_be_team_members": False,
        "ip_restrictions": None,
        "city": None,
        "state": None,
        "country": None,
        "time_zone": site.time_zone,
        **{name: None for name in schema.IGNORED["page"] if name.startswith("css_")},
        "favicon_logo": None,
        "transactional_logo": None,
        "hero_cover": None,
        "email_logo": None,
        "twitter_logo": None,
    }


@bp.get("/pages")
@requires(Permission.READ)
def pages() -> Response:
    """The one page this server serves."""
    return jsonify([_page()])


@bp.get("/pages/<page_id>")
@requires(Permission.READ)
def page() -> Response:
    """The page."""
    return jsonify(_page())


@bp.route("/pages/<page_id>", methods=["PATCH", "PUT"])
@requires(Permission.PUBLISH)
def update_page() -> Response:
    """Statuspage's page settings live in the config file here: accepted, named as ignored."""
    _read(schema.PAGE, "page")
    return jsonify(_page())


# -- components and groups ------------------------------------------------------------------


def _component(item: Component) -> dict[str, Any]:
    return {**serializers.component(item, _site()), "automation_email": None}


def _group(item: ComponentGroup) -> dict[str, Any]:
    members = sorted(item.components, key=lambda c: (c.position, c.id))
    return {
        "id": serializers.group_id(item.id),
        "page_id": _site().page_id,
        "name": item.name,
        "description": item.description or None,
        "components": [str(c.id) for c in members],
        "position": item.position,
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
    }


def _number(text: str, what: str, field: str | None = None) -> int:
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    if field is not None:
        raise ValidationError(f"{field}: no {what} with id {text}", field=field)
    raise NotFound(f"{what.capitalize()} not found")


def _find_component(text: str, field: str | None = None) -> Component:
    found = db.session.get(Component, _number(text, "component", field))
    if found is None:
        if field is not None:
            raise ValidationError(f"{field}: no component with id {text}", field=field)
        raise NotFound("Component not found")
    return found


def _find_group(text: str, field: str | None = None) -> ComponentGroup:
    number = text.removeprefix(serializers.GROUP_ID_PREFIX)
    found = db.session.get(ComponentGroup, _number(number, "component group", field))
    if found is None:
        if field is not None:
            raise ValidationError(f"{field}: no component group with id {text!r}", field=field)
        raise NotFound("Component group not found")
    return found


def _paged(items: list[Any], *, zero_based: bool = False) -> list[Any]:
    """Statuspage's `page` and `per_page` (or `limit`) over a list, at most 100 a page."""
    size = _query_int("per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    size = _query_int("limit", size, 1, MAX_PER_PAGE)
    first = 0 if zero_based else 1
    number = _query_int("page", first, first, MAX_ID)
    start = (number - first) * size
    return items[start : start + size]


def _query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValidationError(f"{name}: a number from {low} to {high}", field=name)
    return int(raw)


@bp.get("/pages/<page_id>/components")
@requires(Permission.READ)
def components() -> Response:
    """Every group (as a component with `group: true`) and component, in the page's order."""
    tree = component_tree()
    site = _site()
    items: list[dict[str, Any]] = []
    for item in tree.groups:
        members = tree.members.get(item.id, [])
        items.append(serializers.group(item, members, site) | {"automation_email": None})
        items.extend(_component(m) for m in members)
    items.extend(_component(c) for c in tree.ungrouped)
    return jsonify(_paged(items))


@bp.get("/pages/<page_id>/components/<component_id>")
@requires(Permission.READ)
def component(component_id: str) -> Response:
    """One component."""
    return jsonify(_component(_find_component(component_id)))


@bp.post("/pages/<page_id>/components")
@requires(Permission.PUBLISH)
def create_component() -> Response:
    """Add a component (into a group with `group_id`)."""
    data = _read(schema.NEW_COMPONENT, "component")["component"]

    def act() -> int:
        now = utcnow()
        group = _find_group(data["group_id"], "group_id") if data.get("group_id") else None
        status = data.get("status") or ComponentStatus.OPERATIONAL.value
        created = component_service.create_component(
            data["name"],
            now=now,
            actor=actor(),
            group=group,
            description=data.get("description") or "",
            status=component_service.parse_status(status),
            showcase=data.get("showcase") if data.get("showcase") is not None else True,
            start_date=_date(data["start_date"], "start_date") if data.get("start_date") else None,
        )
        return created.id

    return _created(_component(_find_component(str(run_write(act)))))


@bp.route("/pages/<page_id>/components/<component_id>", methods=["PATCH", "PUT"])
@requires(Permission.PUBLISH)
def update_component(component_id: str) -> Response:
    """Change a component: its status through the publishing core, the rest as an edit."""
    data = _read(schema.COMPONENT, "component")["component"]

    def act() -> None:
        now = utcnow()
        item = _find_component(component_id)
        group_set = "group_id" in data
        group = _find_group(data["group_id"], "group_id") if data.get("group_id") else None
        component_service.edit_component(
            item,
            component_service.ComponentEdit(
                name=data.get("name"),
                description=data.get("description"),
                showcase=data.get("showcase"),
                start_date=_date(data["start_date"], "start_date")
                if data.get("start_date")
                else None,
                group=group,
                group_set=group_set,
            ),
            now=now,
            actor=actor(),
        )
        if data.get("status"):
            publish_service.set_component_status(
                item, component_service.parse_status(data["status"]), now=now, actor=actor()
            )

    run_write(act)
    return jsonify(_component(_find_component(component_id)))


@bp.delete("/pages/<page_id>/components/<component_id>")
@requires(Permission.PUBLISH)
def delete_component(component_id: str) -> Response:
    """Delete a component (204)."""
    run_write(
        lambda: component_service.delete_component(
            _find_component(component_id), now=utcnow(), actor=actor()
        )
    )
    return Response(status=204)


@bp.get("/pages/<page_id>/component-groups")
@requires(Permission.READ)
def groups() -> Response:
    """Every component group with its members' ids."""
    rows = db.session.scalars(
        sa.select(ComponentGroup)
        .order_by(ComponentGroup.position, ComponentGroup.id)
        .options(selectinload(ComponentGroup.components))
    )
    return jsonify(_paged([_group(g) for g in rows]))


@bp.get("/pages/<page_id>/component-groups/<group_id>")
@requires(Permission.READ)
def group(group_id: str) -> Response:
    """One component group."""
    return jsonify(_group(_find_group(group_id)))


def _members(ids: list[str]) -> list[Component]:
    return [_find_component(i, f"component_group.components.{n}") for n, i in enumerate(ids)]


@bp.post("/pages/<page_id>/component-groups")
@requires(Permission.PUBLISH)
def create_group() -> Response:
    """Create a group of the components it names."""
    data = _read(schema.NEW_GROUP)
    inner = data["component_group"]

    def act() -> int:
        created = component_service.create_group(
            inner["name"],
            now=utcnow(),
            actor=actor(),
            description=inner.get("description") or data.get("description") or "",
            position=inner.get("position"),
            members=_members(inner.get("components") or []),
        )
        return created.id

    return _created(_group(_find_group(str(run_write(act)))))


@bp.route("/pages/<page_id>/component-groups/<group_id>", methods=["PATCH", "PUT"])
@requires(Permission.PUBLISH)
def update_group(group_id: str) -> Response:
    """Rename a group or set its members."""
    data = _read(schema.GROUP)
    inner = data["component_group"]

    def act() -> None:
        item = _find_group(group_id)
        component_service.edit_group(
            item,
            now=utcnow(),
            actor=actor(),
            name=inner.get("name"),
            description=inner.get("description", data.get("description")),
            position=inner.get("position"),
            members=_members(inner["components"]) if "components" in inner else None,
        )

    run_write(act)
    return jsonify(_group(_find_group(group_id)))


@bp.delete("/pages/<page_id>/component-groups/<group_id>")
@requires(Permission.PUBLISH)
def delete_group(group_id: str) -> Response:
    """Delete a group; its components stay (the deleted group is the answer, as Statuspage's)."""
    shown = _group(_find_group(group_id))
    run_write(
        lambda: component_service.delete_group(_find_group(group_id), now=utcnow(), actor=actor())
    )
    return jsonify(shown)


# -- incidents ------------------------------------------------------------------------------


def _postmortem_fields(item: Incident) -> dict[str, Any]:
    return {
        "postmortem_body": item.postmortem_body,
        "postmortem_body_last_updated_at": isoformat(
            item.postmortem_published_at or item.postmortem_draft_updated_at
        ),
        "postmortem_ignored": False,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "postmortem_published_at": isoformat(item.postmortem_published_at),
    }


def _incident(item: Incident) -> dict[str, Any]:
    result = serializers.incident(item, _site())
    result["components"] = [_component(c) for c in item.components]
    maintenance = item.is_maintenance
    return {
        **result,
        "impact_override": item.impact_override,
        "metadata": {},
        **_postmortem_fields(item),
        "scheduled_for": isoformat(item.scheduled_for) if maintenance else None,
        "scheduled_until": isoformat(item.scheduled_until) if maintenance else None,
        "scheduled_remind_prior": False,
        "scheduled_reminded_at": None,
        "scheduled_auto_in_progress": maintenance,
        "scheduled_auto_completed": maintenance,
        "auto_transition_deliver_notifications_at_end": maintenance,
        "auto_transition_deliver_notifications_at_start": maintenance,
        "auto_transition_to_maintenance_state": False,
        "auto_transition_to_operational_state": False,
    }


def _timeline() -> tuple[Any, ...]:
    return (
        selectinload(Incident.updates).selectinload(IncidentUpdate.component_changes),
        selectinload(Incident.components),
    )


def _find_incident(text: str) -> Incident:
    number = _number(text, "incident")
    found = db.session.scalar(
        sa.select(Incident).where(Incident.id == number).options(*_timeline())
    )
    if found is None:
        raise NotFound("Incident not found")
    return found


def _incidents(where: Any, *, upcoming_first: bool = False) -> list[Incident]:
    order = (
        (Incident.scheduled_for.asc(), Incident.id.asc())
        if upcoming_first
        else (Incident.started_at.desc(), Incident.id.desc())
    )
    size = _query_int("per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    size = _query_int("limit", size, 1, MAX_PER_PAGE)
    number = _query_int("page", 1, 1, MAX_ID)
    query = sa.select(Incident).where(where).order_by(*order).options(*_timeline())
    text = _search_text()
    if text:
        query = query.where(Incident.name.icontains(text, autoescape=True))
    return list(db.session.scalars(query.offset((number - 1) * size).limit(size)))


def _search_text() -> str:
    """`q`, cleaned as every text is (a NUL cannot reach the database) and bounded."""
    return clean_line(request.args.get("q") or "")[:MAX_SEARCH]


def _kind_is(kind: IncidentKind) -> Any:
    return Incident.kind == kind.value


def _open_statuses(kind: IncidentKind) -> list[str]:
    enum = IncidentStatus if kind is IncidentKind.INCIDENT else MaintenanceStatus
    return [s.value for s in enum if not s.is_closed]


@bp.get("/pages/<page_id>/incidents")
@requires(Permission.READ)
def incidents() -> Response:
    """Incidents and maintenances, newest first (`q`, `limit`, `page`)."""
    return jsonify([_incident(i) for i in _incidents(sa.true())])


@bp.get("/pages/<page_id>/incidents/unresolved")
@requires(Permission.READ)
def unresolved() -> Response:
    """Incidents not resolved yet."""
    where = sa.and_(
        _kind_is(IncidentKind.INCIDENT),
        Incident.status.in_(_open_statuses(IncidentKind.INCIDENT)),
    )
    return jsonify([_incident(i) for i in _incidents(where)])


@bp.get("/pages/<page_id>/incidents/upcoming")
@requires(Permission.READ)
def upcoming() -> Response:
    """Maintenances that have not started."""
    where = sa.and_(
        _kind_is(IncidentKind.MAINTENANCE),
        Incident.status == MaintenanceStatus.SCHEDULED.value,
    )
    return jsonify([_incident(i) for i in _incidents(where, upcoming_first=True)])


@bp.get("/pages/<page_id>/incidents/active_maintenance")
@requires(Permission.READ)
def active_maintenance() -> Response:
    """Maintenances under way."""
    where = sa.and_(
        _kind_is(IncidentKind.MAINTENANCE),
        Incident.status.in_(
            [MaintenanceStatus.IN_PROGRESS.value, MaintenanceStatus.VERIFYING.value]
        ),
    )
    return jsonify([_incident(i) for i in _incidents(where, upcoming_first=True)])


@bp.get("/pages/<page_id>/incidents/scheduled")
@requires(Permission.READ)
def scheduled() -> Response:
    """Every maintenance, by its start."""
    return jsonify(
        [_incident(i) for i in _incidents(_kind_is(IncidentKind.MAINTENANCE), upcoming_first=True)]
    )


@bp.get("/pages/<page_id>/incidents/<incident_id>")
@requires(Permission.READ)
def incident(incident_id: str) -> Response:
    """One incident or maintenance with its updates."""
    return jsonify(_incident(_find_incident(incident_id)))


def _date(text: str, field: str) -> date:
    """A date as Statuspage takes it: YYYY-MM-DD (or MM/DD/YYYY), or the date of a time."""
    try:
        if "/" in text and len(text) <= 10:
            month, day, year = text.split("/")
            return date(int(year), int(month), int(day))
        if len(text) <= 10:
            return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field}: {text!r} is not a date (YYYY-MM-DD)", field=field
        ) from None
    return parse_datetime(text, field).date()


def _when(text: str, field: str) -> datetime:
    """A time with its offset, or a date (its midnight in UTC)."""
    if len(text) <= 10:
        return datetime.combine(_date(text, field), day_time(0), tzinfo=as_utc(utcnow()).tzinfo)
    return parse_datetime(text, field)


def _statuses(data: Mapping[str, Any]) -> dict[int, str]:
    """`components` ({id: status}) and `component_ids` (affected, status unchanged)."""
    wanted: dict[int, str] = {}
    for index, text in enumerate(data.get("component_ids") or []):
        found = _find_component(text, f"incident.component_ids.{index}")
        wanted[found.id] = found.status
    for key, status in (data.get("components") or {}).items():
        found = _find_component(key, f"incident.components.{key}")
        wanted[found.id] = status or found.status
    return wanted


def _kind_of(data: Mapping[str, Any]) -> IncidentKind:
    status = data.get("status")
    if status in schema.MAINTENANCE_STATUSES or data.get("scheduled_for"):
        return IncidentKind.MAINTENANCE
    return IncidentKind.INCIDENT


def _window(data: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    start = data.get("scheduled_for")
    end = data.get("scheduled_until")
    return (
        parse_datetime(start, "incident.scheduled_for") if start else None,
        parse_datetime(end, "incident.scheduled_until") if end else None,
    )


class _Held(StatuspageError):
    """The update waits for a plan's approval: 202 with where to find it."""

    http_status = 202
    code = "approval_required"


def _submit(draft: Draft) -> int:
    """Publish through the same act as every way in; the incident's id."""
    outcome = approvals.submit(
        draft,
        now=utcnow(),
        actor=actor(),
        notices=approvals.Notices.from_settings(current_app.config["STATUSPAGE"]),
    )
    if outcome.published is None:
        assert outcome.draft is not None
        raise _Held(
            f"This update waits for approval under the incident's communication plan: draft "
            f"{outcome.draft.id} (/admin/drafts/{outcome.draft.id})"
        )
    return outcome.published.update.incident_id


#: Field names of the publishing core and the subscriber services as Statuspage names them.
_RENAMED = {"title": "name", "url": "endpoint", "contact": "email"}


def _as_field(prefix: str, call: Callable[[], int]) -> Callable[[], int]:
    """Report a refused field under Statuspage's name for it (`incident.components.12`)."""

    def wrapped() -> int:
        try:
            return call()
        except ValidationError as exc:
            name = exc.field
            if name is not None and not name.startswith(prefix + "."):
                if name.startswith("component_"):
                    name = "components." + name.removeprefix("component_")
                exc.field = f"{prefix}.{_RENAMED.get(name, name)}"
            raise

    return wrapped


@bp.post("/pages/<page_id>/incidents")
@requires(Permission.PUBLISH)
def create_incident() -> Response:
    """Open an incident, schedule a maintenance, or backfill a past incident."""
    data = _read(schema.NEW_INCIDENT, "incident")["incident"]
    kind = _kind_of(data)

    def act() -> int:
        if data.get("backfilled"):
            return _backfill(data)
        default = (
            MaintenanceStatus.SCHEDULED
            if kind is IncidentKind.MAINTENANCE
            else IncidentStatus.INVESTIGATING
        )
        status = data.get("status") or default.value
        start, end = _window(data)
        return _submit(
            Draft(
                kind=kind,
                title=data["name"],
                body=data.get("body") or DEFAULT_BODIES[status],
                status=status,
                impact=data.get("impact_override"),
                component_statuses=_statuses(data),
                notify=data.get("deliver_notifications") is not False,
                scheduled_for=start,
                scheduled_until=end,
            )
        )

    return _created(_incident(_find_incident(str(run_write(_as_field("incident", act))))))


def _backfill(data: Mapping[str, Any]) -> int:
    """A past incident: resolved, at `backfill_date`, told to nobody."""
    when = (
        _when(data["backfill_date"], "incident.backfill_date")
        if data.get("backfill_date")
        else utcnow()
    )
    if data.get("components"):
        # It is over: the statuses it had are not known, the components it touched are.
        g.statuspage_ignored = ", ".join(
            filter(None, [g.get("statuspage_ignored"), "components (statuses of a backfill)"])
        )
    past = history.PastIncident(
        kind=IncidentKind.INCIDENT,
        name=data["name"],
        impact=data.get("impact_override") or "none",
        component_ids=sorted(_statuses(data)),
        updates=[
            history.PastUpdate(
                status=IncidentStatus.RESOLVED.value,
                body=data.get("body") or DEFAULT_BODIES[IncidentStatus.RESOLVED.value],
                at=when,
            )
        ],
    )
    try:
        return history.record_incident(past, actor=actor(), now=utcnow()).id
    except ValidationError as exc:
        if exc.field and exc.field.startswith("updates"):
            exc.field = "incident.backfill_date" if exc.field.endswith(".at") else "incident.body"
        raise


@bp.route("/pages/<page_id>/incidents/<incident_id>", methods=["PATCH", "PUT"])
@requires(Permission.PUBLISH)
def update_incident(incident_id: str) -> Response:
    """Post an update (status, body, components, impact) and rename, through the same acts as
    the admin."""
    data = _read(schema.INCIDENT, "incident")["incident"]

    def act() -> int:
        item = _find_incident(incident_id)
        if data.get("name") is not None:
            publish_service.rename_incident(item, name=data["name"], now=utcnow(), actor=actor())
        wanted = _statuses(data)
        changes = {k: v for k, v in wanted.items() if _find_component(str(k)).status != v}
        start, end = _window(data)
        posts = (
            data.get("status") is not None
            or data.get("body")
            or changes
            or data.get("impact_override") is not None
            or start is not None
            or end is not None
        )
        if not posts:
            return item.id
        status = data.get("status") or item.status
        if status == IncidentStatus.POSTMORTEM.value:
            status = IncidentStatus.RESOLVED.value
        return _submit(
            Draft(
                incident_id=item.id,
                body=data.get("body") or DEFAULT_BODIES.get(status, "Updated."),
                status=status,
                impact=data.get("impact_override"),
                component_statuses=wanted,
                notify=data.get("deliver_notifications") is not False,
                scheduled_for=start,
                scheduled_until=end,
            )
        )

    run_write(_as_field("incident", act))
    return jsonify(_incident(_find_incident(incident_id)))


@bp.delete("/pages/<page_id>/incidents/<incident_id>")
@requires(Permission.PUBLISH)
def delete_incident(incident_id: str) -> Response:
    """Delete an incident; the answer is the incident as it was."""
    shown = _incident(_find_incident(incident_id))
    run_write(
        lambda: publish_service.delete_incident(
            _find_incident(incident_id), now=utcnow(), actor=actor()
        )
    )
    return jsonify(shown)


@bp.route(
    "/pages/<page_id>/incidents/<incident_id>/incident_updates/<update_id>",
    methods=["PATCH", "PUT"],
)
@requires(Permission.PUBLISH)
def update_incident_update(incident_id: str, update_id: str) -> Response:
    """Correct an update's text (the original stays in the audit log)."""
    data = _read(schema.INCIDENT_UPDATE, "incident_update")["incident_update"]

    def act() -> int:
        item = _find_incident(incident_id)
        number = _number(update_id, "incident update")
        update = next((u for u in item.updates if u.id == number), None)
        if update is None:
            raise NotFound("Incident update not found")
        if "body" in data:
            publish_service.correct_update(update, body=data["body"], now=utcnow(), actor=actor())
        return update.id

    try:
        done = run_write(_as_field("incident_update", act))
    except ValidationError as exc:
        if exc.message != "nothing changed":
            raise
        done = _number(update_id, "incident update")
    item = _find_incident(incident_id)
    update = next(u for u in item.updates if u.id == done)
    return jsonify(serializers.incident_update(update))


# -- postmortems ----------------------------------------------------------------------------


def _postmortem(item: Incident) -> dict[str, Any]:
    return {
        "preview_key": None,
        "body": item.postmortem_body,
        "body_updated_at": isoformat(item.postmortem_published_at),
        "body_draft": item.postmortem_draft,
        "body_draft_updated_at": isoformat(item.postmortem_draft_updated_at),
        "published_at": isoformat(item.postmortem_published_at),
        "notify_subscribers": False,
        "notify_twitter": False,
        "custom_tweet": None,
        "created_at": isoformat(item.postmortem_draft_updated_at or item.postmortem_published_at),
        "updated_at": isoformat(item.postmortem_draft_updated_at or item.postmortem_published_at),
    }


def _postmortem_act(incident_id: str, act: Callable[[Incident], object]) -> Response:
    run_write(lambda: act(_find_incident(incident_id)))
    return jsonify(_postmortem(_find_incident(incident_id)))


@bp.get("/pages/<page_id>/incidents/<incident_id>/postmortem")
@requires(Permission.READ)
def postmortem(incident_id: str) -> Response:
    """The postmortem: published text and draft."""
    return jsonify(_postmortem(_find_incident(incident_id)))


@bp.put("/pages/<page_id>/incidents/<incident_id>/postmortem")
@requires(Permission.PUBLISH)
def save_postmortem(incident_id: str) -> Response:
    """Save the postmortem's draft."""
    data = _read(schema.POSTMORTEM, "postmortem")["postmortem"]
    return _postmortem_act(
        incident_id,
        lambda item: publish_service.save_postmortem_draft(
            item, body=data.get("body_draft") or "", now=utcnow(), actor=actor()
        ),
    )


@bp.put("/pages/<page_id>/incidents/<incident_id>/postmortem/publish")
@requires(Permission.PUBLISH)
def publish_postmortem(incident_id: str) -> Response:
    """Publish the draft (the admin's postmortem act)."""
    _read(schema.POSTMORTEM_PUBLISH, "postmortem")
    return _postmortem_act(
        incident_id,
        lambda item: publish_service.publish_postmortem_draft(item, now=utcnow(), actor=actor()),
    )


@bp.put("/pages/<page_id>/incidents/<incident_id>/postmortem/revert")
@requires(Permission.PUBLISH)
def revert_postmortem(incident_id: str) -> Response:
    """Unpublish the postmortem; its text becomes the draft."""
    return _postmortem_act(
        incident_id,
        lambda item: publish_service.revert_postmortem(item, now=utcnow(), actor=actor()),
    )


@bp.delete("/pages/<page_id>/incidents/<incident_id>/postmortem")
@requires(Permission.PUBLISH)
def delete_postmortem(incident_id: str) -> Response:
    """Throw the draft away (204)."""
    run_write(
        lambda: publish_service.discard_postmortem_draft(
            _find_incident(incident_id), now=utcnow(), actor=actor()
        )
    )
    return Response(status=204)


# -- incident templates: the message library ------------------------------------------------


def _template(version: MessageVersion) -> dict[str, Any]:
    return {
        "id": version.message.slug,
        "components": [],
        "name": version.message.slug,
        "title": version.title,
        "body": version.body,
        "group_id": None,
        "update_status": version.status,
        "should_tweet": False,
        "should_send_notifications": True,
    }


@bp.get("/pages/<page_id>/incident_templates")
@requires(Permission.READ)
def templates() -> Response:
    """The library's current messages as templates (archived ones left out)."""
    rows = library_service.list_messages()
    return jsonify(_paged([_template(version) for _message, version in rows]))


@bp.post("/pages/<page_id>/incident_templates")
@requires(Permission.MESSAGES)
def create_template() -> Response:
    """Add a message to the library (version 1); its id is made from the template's name."""
    data = _read(schema.TEMPLATE, "template")["template"]
    status = data.get("update_status") or IncidentStatus.INVESTIGATING.value

    def act() -> int:
        try:
            version = library_service.create_message(
                library_service.free_slug(data["name"]),
                title=data["title"],
                body=data["body"],
                status=status,
                impact=None,
                now=utcnow(),
                actor=actor(),
                reason=f"created through the Statuspage-compatible API as {data['name']!r}",
            )
        except LibraryError as exc:
            # The problems of a message file, told without the file: an API caller has none.
            said = "; ".join(p.message for p in exc.problems[:3]) or exc.message
            raise ValidationError(f"template.body: {said}", field="template.body") from None
        except ValidationError as exc:
            exc.field = f"template.{exc.field or 'body'}"
            raise
        return version.id

    return _created(_template(db.session.get_one(MessageVersion, run_write(act))))


# -- subscribers ----------------------------------------------------------------------------


def _subscriber(row: Subscriber) -> dict[str, Any]:
    slack = row.kind == SLACK
    return {
        "id": str(row.id),
        "skip_confirmation_notification": False,
        "mode": row.kind,
        "email": row.email or None,
        "endpoint": row.url if row.kind == WEBHOOK else None,
        "phone_number": None,
        "phone_country": None,
        "display_phone_number": None,
        "obfuscated_channel_name": "slack" if slack else None,
        "workspace_name": None,
        "quarantined_at": isoformat(row.disabled_at),
        "purge_at": None,
        "components": [str(c.id) for c in row.components],
        "page_access_user_id": None,
        "created_at": isoformat(row.created_at),
        "state": SUBSCRIBER_STATES[state_of(row)],
    }


def _find_subscriber(text: str) -> Subscriber:
    found = db.session.get(Subscriber, _number(text, "subscriber"))
    if found is None:
        raise NotFound("Subscriber not found")
    return found


def _kind_arg(name: str = "type") -> str | None:
    kind = request.args.get(name)
    if kind in (None, ""):
        return None
    if kind not in (EMAIL, WEBHOOK, SLACK):
        raise ValidationError(f"{name}: one of email, webhook, slack", field=name)
    return kind


def _state_arg(default: str | None) -> str | None:
    state = request.args.get("state", default)
    if state in (None, "", "all"):
        return None
    if state not in STATE_FILTERS:
        raise ValidationError(f"state: one of {', '.join([*STATE_FILTERS, 'all'])}", field="state")
    return STATE_FILTERS[state]


@bp.get("/pages/<page_id>/subscribers")
@requires(Permission.READ)
def list_subscribers() -> Response:
    """Subscribers, newest first (`q`, `type`, `state`, `limit`, `page` from 0)."""
    size = _query_int("limit", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    number = _query_int("page", 0, 0, MAX_ID // MAX_PER_PAGE)
    rows, _more = subscriber_admin.search(
        _search_text(),
        state=_state_arg("active"),
        kind=_kind_arg(),
        page=number + 1,
        per_page=size,
    )
    return jsonify([_subscriber(r) for r in rows])


@bp.get("/pages/<page_id>/subscribers/count")
@requires(Permission.READ)
def count_subscribers() -> Response:
    """How many subscribers of each type (`type`, `state`)."""
    state = _state_arg("active")
    kind = _kind_arg()
    counts = {"email": 0, "sms": 0, "webhook": 0, "integration_partner": 0, "slack": 0}
    query = sa.select(Subscriber.kind, sa.func.count()).group_by(Subscriber.kind)
    if state is not None:
        query = query.where(subscriber_admin.state_filter(state))
    if kind is not None:
        query = query.where(Subscriber.kind == kind)
    for name, number in db.session.execute(query):
        counts[name] = number
    return jsonify({**counts, "count": sum(counts.values())})


@bp.get("/pages/<page_id>/subscribers/unsubscribed")
@requires(Permission.READ)
def unsubscribed_subscribers() -> Response:
    """Subscribers who unsubscribed, newest first (`page` from 1, `per_page`)."""
    size = _query_int("per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    number = _query_int("page", 1, 1, MAX_ID // MAX_PER_PAGE)
    rows, _more = subscriber_admin.search("", state="unsubscribed", page=number, per_page=size)
    return jsonify([_subscriber(r) for r in rows])


@bp.get("/pages/<page_id>/subscribers/histogram_by_state")
@requires(Permission.READ)
def subscribers_by_state() -> Response:
    """How many subscribers of each type are active, unconfirmed and quarantined."""
    kinds = ("email", "sms", "webhook", "integration_partner", "slack")
    states = {"active": "active", "unconfirmed": "pending", "quarantined": "disabled"}
    result = {k: {**dict.fromkeys(states, 0), "total": 0} for k in kinds}
    for name, ours in states.items():
        query = (
            sa.select(Subscriber.kind, sa.func.count())
            .where(subscriber_admin.state_filter(ours))
            .group_by(Subscriber.kind)
        )
        for kind, number in db.session.execute(query):
            result[kind][name] = number
            result[kind]["total"] += number
    return jsonify(result)


@bp.post("/pages/<page_id>/subscribers/reactivate")
@requires(Permission.USERS)
def reactivate_subscribers() -> Response:
    """Turn quarantined subscribers (disabled after failed deliveries) back on (202)."""
    data = _read(schema.REACTIVATE)
    kind = data.get("type") or None
    if kind is not None and kind not in (EMAIL, WEBHOOK, SLACK):
        raise ValidationError("type: one of email, webhook, slack", field="type")

    def act() -> None:
        now = utcnow()
        for row in _named(data["subscribers"], kind, "disabled"):
            if subscribers.enable(row):
                audit.record(
                    actor(),
                    "subscriber.enabled",
                    now=now,
                    target_type="subscriber",
                    target_id=row.id,
                    summary=f"{row.kind} subscriber {row.email} turned back on",
                )

    run_write(act)
    return Response(status=202)


@bp.patch("/pages/<page_id>/subscribers/<subscriber_id>")
@requires(Permission.USERS)
def update_subscriber(subscriber_id: str) -> Response:
    """Change the components a subscriber follows (none: every component)."""
    data = _read(schema.SUBSCRIBER_COMPONENTS)
    ids = [
        _find_component(text, f"component_ids.{n}").id
        for n, text in enumerate(data["component_ids"])
    ]

    def act() -> None:
        row = _find_subscriber(subscriber_id)
        subscribers.set_choice(row, subscribers.Choice(all=not ids, component_ids=ids))
        audit.record(
            actor(),
            "subscriber.components",
            now=utcnow(),
            target_type="subscriber",
            target_id=row.id,
            summary=f"{row.kind} subscriber {row.email} follows {ids or 'every component'}",
        )

    run_write(act)
    return jsonify(_subscriber(_find_subscriber(subscriber_id)))


@bp.get("/pages/<page_id>/subscribers/<subscriber_id>")
@requires(Permission.READ)
def get_subscriber(subscriber_id: str) -> Response:
    """One subscriber."""
    return jsonify(_subscriber(_find_subscriber(subscriber_id)))


@bp.post("/pages/<page_id>/subscribers")
@requires(Permission.USERS)
def create_subscriber() -> Response:
    """Add an email subscriber (confirmed at once with `skip_confirmation_notification`, else
    sent the confirmation), or a webhook (through the SSRF guard; `email` is its contact)."""
    data = _read(schema.SUBSCRIBER, "subscriber")["subscriber"]
    if data.get("phone_number"):
        raise ValidationError(
            "subscriber.phone_number: SMS subscribers are not supported",
            field="subscriber.phone_number",
        )
    ids = [
        _find_component(text, f"subscriber.component_ids.{n}").id
        for n, text in enumerate(data.get("component_ids") or [])
    ]
    choice = subscribers.Choice(all=not ids, component_ids=ids)

    def act() -> int:
        now = utcnow()
        if data.get("endpoint"):
            if not data.get("email"):
                raise ValidationError(
                    "subscriber.email: a webhook subscriber needs a contact email",
                    field="subscriber.email",
                )
            row = subscribers.sign_up_webhook(
                data["endpoint"], data["email"], choice, now=now, source="api"
            )
            _audit_added(row, now)
        elif data.get("email"):
            if data.get("skip_confirmation_notification"):
                row = subscriber_admin.add_confirmed_email(
                    data["email"], ids or None, now=now, actor=actor()
                )
            else:
                row = subscribers.sign_up_email(data["email"], choice, now=now, source="api")
                _audit_added(row, now)
        else:
            raise ValidationError(
                "subscriber.email: give an email (or an endpoint and a contact email)",
                field="subscriber.email",
            )
        return row.id

    return _created(_subscriber(_find_subscriber(str(run_write(_as_field("subscriber", act))))))


def _audit_added(row: Subscriber, now: datetime) -> None:
    audit.record(
        actor(),
        "subscriber.added",
        now=now,
        target_type="subscriber",
        target_id=row.id,
        summary=f"{row.kind} subscriber {row.email} added; confirmation sent",
    )


def _named(text: str, kind: str | None, state: str | None) -> list[Subscriber]:
    """`subscribers`: "all" (of `type`/`state`) or comma-separated ids."""
    if text.strip() == "all":
        query = sa.select(Subscriber)
        if kind is not None:
            query = query.where(Subscriber.kind == kind)
        if state is not None:
            query = query.where(subscriber_admin.state_filter(state))
        return list(db.session.scalars(query))
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if len(ids) > 10_000:
        raise ValidationError("subscribers: at most 10,000 ids at a time", field="subscribers")
    return [_find_subscriber(i) for i in ids]


@bp.post("/pages/<page_id>/subscribers/unsubscribe")
@requires(Permission.USERS)
def unsubscribe() -> Response:
    """Unsubscribe the subscribers named (202)."""
    data = _read(schema.UNSUBSCRIBE)
    kind = data.get("type") or None
    if kind is not None and kind not in (EMAIL, WEBHOOK, SLACK):
        raise ValidationError("type: one of email, webhook, slack", field="type")
    state = STATE_FILTERS.get(data.get("state") or "")

    def act() -> None:
        now = utcnow()
        for row in _named(data["subscribers"], kind, state):
            subscriber_admin.end(row, now=now, actor=actor())

    run_write(act)
    return Response(status=202)


@bp.delete("/pages/<page_id>/subscribers/<subscriber_id>")
@requires(Permission.USERS)
def delete_subscriber(subscriber_id: str) -> Response:
    """Unsubscribe one subscriber; the answer is the subscriber."""

    def act() -> None:
        subscriber_admin.end(_find_subscriber(subscriber_id), now=utcnow(), actor=actor())

    run_write(act)
    return jsonify(_subscriber(_find_subscriber(subscriber_id)))


@bp.post("/pages/<page_id>/subscribers/resend_confirmation")
@requires(Permission.USERS)
def resend_confirmations() -> Response:
    """Send the named unconfirmed subscribers their confirmation again (202)."""
    data = _read(schema.RESEND)

    def act() -> None:
        now = utcnow()
        for row in _named(data["subscribers"], None, "pending"):
            subscriber_admin.resend_confirmation(row, now=now)

    run_write(act)
    return Response(status=202)


@bp.post("/pages/<page_id>/subscribers/<subscriber_id>/resend_confirmation")
@requires(Permission.USERS)
def resend_confirmation(subscriber_id: str) -> Response:
    """Send one unconfirmed subscriber its confirmation again (201)."""
    run_write(
        lambda: subscriber_admin.resend_confirmation(_find_subscriber(subscriber_id), now=utcnow())
    )
    return Response(status=201)
