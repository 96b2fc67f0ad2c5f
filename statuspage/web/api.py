"""The public, read-only JSON API under `/api/v2/`, shaped like Atlassian Statuspage's v2."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from statuspage.core import serializers
from statuspage.core.enums import IncidentKind
from statuspage.db import queries
from statuspage.web.cache import cached

bp = Blueprint("api", __name__, url_prefix="/api/v2")

#: How many incidents (or maintenances) the list endpoints return, as in Statuspage.
LIST_LIMIT = 50
#: Request headers a cross-origin client may send; conditional GETs need the last two.
ALLOWED_HEADERS = "Accept, Content-Type, If-None-Match, If-Modified-Since"


def _site() -> serializers.Site:
    site = current_app.config["STATUSPAGE"].site
    return serializers.Site(name=site["name"], url=site["url"], time_zone=site["time_zone"])


@bp.before_app_request
def answer_preflight() -> Response | None:
    """Answer CORS preflight requests for any `/api/v2/` path (security.py adds the rest)."""
    if request.method == "OPTIONS" and request.path.startswith("/api/v2/"):
        response = Response(status=204)
        del response.headers["Content-Type"]
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        return response
    return None


@bp.get("/summary.json")
@cached()
def summary() -> Response:
    """Components, unresolved incidents, active and upcoming maintenances, overall status."""
    tree = queries.component_tree()
    incidents = queries.unresolved_incidents()
    active = queries.active_maintenances()
    document = serializers.summary_document(
        _site(),
        queries.last_change_at(),
        tree=tree,
        incidents=incidents,
        maintenances=active + queries.upcoming_maintenances(),
        overall=queries.overall_status(tree, incidents, active),
    )
    return jsonify(document)


@bp.get("/status.json")
@cached()
def status() -> Response:
    """The overall status indicator and its description."""
    overall = queries.overall_status(
        queries.component_tree(), queries.unresolved_incidents(), queries.active_maintenances()
    )
    return jsonify(serializers.status_document(_site(), queries.last_change_at(), overall))


@bp.get("/components.json")
@cached()
def components() -> Response:
    """Every component and group."""
    tree = queries.component_tree()
    return jsonify(serializers.components_document(_site(), queries.last_change_at(), tree))


@bp.get("/incidents.json")
@cached()
def incidents() -> Response:
    """The newest incidents, open or not."""
    items = queries.latest_incidents(LIST_LIMIT)
    return jsonify(serializers.incidents_document(_site(), queries.last_change_at(), items))


@bp.get("/incidents/unresolved.json")
@cached()
def unresolved_incidents() -> Response:
    """Incidents not yet resolved."""
    items = queries.unresolved_incidents()
    return jsonify(serializers.incidents_document(_site(), queries.last_change_at(), items))


@bp.get("/scheduled-maintenances.json")
@cached()
def maintenances() -> Response:
    """The newest scheduled maintenances, whatever their status."""
    items = queries.latest_incidents(LIST_LIMIT, kind=IncidentKind.MAINTENANCE)
    return jsonify(serializers.maintenances_document(_site(), queries.last_change_at(), items))


@bp.get("/scheduled-maintenances/upcoming.json")
@cached()
def upcoming_maintenances() -> Response:
    """Maintenances still scheduled."""
    items = queries.upcoming_maintenances()
    return jsonify(serializers.maintenances_document(_site(), queries.last_change_at(), items))


@bp.get("/scheduled-maintenances/active.json")
@cached()
def active_maintenances() -> Response:
    """Maintenances in progress or being verified."""
    items = queries.active_maintenances()
    return jsonify(serializers.maintenances_document(_site(), queries.last_change_at(), items))
