"""The public status page: home, incident permalinks, history, components, badges and health."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from statuspage.clock import utcnow
from statuspage.core import badges
from statuspage.core.enums import ComponentStatus, IncidentKind
from statuspage.core.limits import MAX_ID
from statuspage.db import generation, health, queries
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, Incident
from statuspage.errors import NotFound
from statuspage.imports import idmap
from statuspage.publishing import components as component_service
from statuspage.web import uptime_report
from statuspage.web.cache import cached
from statuspage.web.templating import DayCount, tone, worst_status

bp = Blueprint("public", __name__)

PAST_DAYS = 7
MONTHS_PER_PAGE = 3
#: The most incidents a history page lists; a busier period says how many more it had.
HISTORY_PAGE_CAP = 150
MAX_HISTORY_PAGE = 1200  # a century of history; beyond that a page number is nonsense
MAX_HISTORY_PARTS = 9999  # 1.5 million incidents in three months
BADGE_CACHE_SECONDS = 60


def _site_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["STATUSPAGE"].site["time_zone"])


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day starts."""
    return datetime.combine(day, time(0), tzinfo=tz)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after (or before) `month`."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def has_happened(
    incident: Incident | queries.IncidentRow | queries.IncidentSpan, now: datetime
) -> bool:
    """Whether an incident belongs in the history (a maintenance still to come does not)."""
    return not incident.is_upcoming_maintenance and incident.started_at <= now


@dataclass
class GroupView:
    """A component group as the page shows it: its members and their worst status."""

    group: ComponentGroup | queries.GroupRow
    members: list[Component] | list[queries.ComponentRow]
    worst: ComponentStatus


def group_views(tree: queries.ComponentTree[Any, Any]) -> list[GroupView]:
    """The groups that have members, each with the worst status among them."""
    views = []
    for group in tree.groups:
        members = tree.members.get(group.id, [])
        if members:
            views.append(GroupView(group, members, worst_status(c.status for c in members)))
    return views


def incidents_by_day(
    incidents: list[queries.IncidentRow], *, now: datetime, tz: ZoneInfo, days: int
) -> list[tuple[date, list[queries.IncidentRow]]]:
    """Spread incidents over the last `days` local days, newest day first.

    An incident sits on the day it started, or on the day it ended when it started earlier.
    """
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    by_day: dict[date, list[queries.IncidentRow]] = defaultdict(list)
    for incident in incidents:
        if not has_happened(incident, now):
            continue
        day = incident.started_at.astimezone(tz).date()
        if day < first and incident.resolved_at is not None:
            day = incident.resolved_at.astimezone(tz).date()
        if first <= day <= today:
            by_day[day].append(incident)
    return [
        (today - timedelta(days=n), by_day.get(today - timedelta(days=n), [])) for n in range(days)
    ]


def day_counts(
    spans: Iterable[queries.IncidentSpan], *, now: datetime, tz: ZoneInfo, first_day: date
) -> dict[int, dict[date, DayCount]]:
    """Count each component's incidents and maintenances by local day, from `first_day` to
    today: on every day each was going on, as the history's day pages list them."""
    today = now.astimezone(tz).date()
    counts: dict[int, dict[date, list[int]]] = defaultdict(dict)
    for span in spans:
        if not has_happened(span, now):
            continue
        day = max(first_day, span.started_at.astimezone(tz).date())
        last = min(today, (span.resolved_at or now).astimezone(tz).date())
        while day <= last:
            # The same rule as queries.incidents_going_on, day by day.
            if (
                span.resolved_at is None
                or span.started_at >= local_midnight(day, tz) - queries.LONGEST_INCIDENT
            ):
                by_kind = counts[span.component_id].setdefault(day, [0, 0])
                by_kind[1 if span.kind == IncidentKind.MAINTENANCE.value else 0] += 1
            day += timedelta(days=1)
    return {
        cid: {day: (pair[0], pair[1]) for day, pair in days.items()} for cid, days in counts.items()
    }


def bar_counts(components: list, *, now: datetime, tz: ZoneInfo) -> dict[int, dict[date, DayCount]]:
    """The incidents and maintenances by day of the components' uptime bars."""
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=queries.UPTIME_DAYS - 1)
    ids = [c.id for c in components]
    end = local_midnight(today + timedelta(days=1), tz)
    spans = queries.incident_spans(ids, local_midnight(first_day, tz), end)
    return day_counts(spans, now=now, tz=tz, first_day=first_day)


def home_context(now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """Everything the front page shows."""
    first_day = now.astimezone(tz).date() - timedelta(days=PAST_DAYS - 1)
    page = queries.front_page(since=local_midnight(first_day, tz))
    tree = page.tree
    showcased = [c for c in tree.components if c.showcase]
    return {
        "now": now,
        "overall": queries.overall_status(tree, page.open_incidents, page.active_maintenances),
        "incidents": page.open_incidents,
        "active_maintenances": page.active_maintenances,
        "upcoming_maintenances": page.upcoming_maintenances,
        "groups": group_views(tree),
        "ungrouped": tree.ungrouped,
        "uptimes": queries.uptimes(showcased, now=now, tz=tz),
        "day_counts": bar_counts(showcased, now=now, tz=tz),
        "past_days": incidents_by_day(page.recent, now=now, tz=tz, days=PAST_DAYS),
    }


def incident_context(incident_id: int, now: datetime) -> dict[str, Any]:
    """One incident or maintenance with its whole timeline."""
    incident = queries.incident_with_timeline(incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    started = incident.started_at <= now
    end = incident.resolved_at or now
    return {
        "now": now,
        "incident": incident,
        "duration": end - incident.started_at if started else None,
        "ongoing": started and incident.resolved_at is None,
    }


def parse_page(value: str | None, maximum: int = MAX_HISTORY_PAGE) -> int:
    """Parse a `?page=` (or `?part=`) number: ASCII digits, 1 to `maximum`; else NotFound."""
    if value is None:
        return 1
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(maximum))):
        raise NotFound("no such history page")
    page = int(value)
    if not 1 <= page <= maximum:
        raise NotFound("no such history page")
    return page


def history_href(page: int = 1, part: int = 1, *, component_id: int | None = None) -> str:
    """The URL of a history page, or of a later part of a busy one (of one component)."""
    args = []
    if page > 1 or part > 1:
        args.append(f"page={page}")
    if part > 1:
        args.append(f"part={part}")
    if component_id is not None:
        args.append(f"component={component_id}")
    return "/history" + ("?" + "&".join(args) if args else "")


def day_href(day: date, *, component_id: int | None = None) -> str:
    """The URL of one day of the history (of one component)."""
    href = f"/history?day={day.isoformat()}"
    return href + (f"&component={component_id}" if component_id is not None else "")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(value: str | None, today: date) -> date | None:
    """Parse a `?day=` (YYYY-MM-DD, today at the latest); else NotFound. One spelling per day,
    so each day has one cache entry."""
    if value is None:
        return None
    if not _DAY.fullmatch(value):
        raise NotFound("no such day")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise NotFound("no such day") from None
    if day > today or day.year < 1970:
        raise NotFound("no such day")
    return day


def parse_component(value: str | None) -> Component | None:
    """Parse a `?component=` id (digits, no leading zero) of an existing component; else
    NotFound. Empty is every component (the filter form's first choice)."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= 10):
        raise NotFound("no such component")
    if int(value) > MAX_ID:
        raise NotFound("no such component")
    return component_service.get_component(int(value))


def history_filters(component: Component | None) -> dict[str, Any]:
    """What the history's component filter shows: every component, grouped, and the chosen one."""
    tree = queries.component_tree()
    return {
        "component": component,
        "filter_groups": [(g, m) for g in tree.groups if (m := tree.members.get(g.id))],
        "filter_ungrouped": tree.ungrouped,
    }


def history_context(
    page: int,
    now: datetime,
    tz: ZoneInfo,
    part: int = 1,
    *,
    component: Component | None = None,
) -> dict[str, Any]:
    """Three months of incidents and maintenances per page, newest month first; a busy page
    comes in parts of HISTORY_PAGE_CAP incidents (`part` 1 is the newest). With `component`,
    only the incidents that affected it."""
    cid = component.id if component is not None else None
    this_month = now.astimezone(tz).date().replace(day=1)
    newest = add_months(this_month, -(page - 1) * MONTHS_PER_PAGE)
    months = [add_months(newest, -n) for n in range(MONTHS_PER_PAGE)]
    start = local_midnight(months[-1], tz)
    end = local_midnight(add_months(newest, 1), tz)
    oldest = queries.first_incident_start(component_id=cid)
    if page > 1 and (oldest is None or oldest >= end):
        raise NotFound("no such history page")
    by_month: dict[date, list[Incident]] = defaultdict(list)
    offset = (part - 1) * HISTORY_PAGE_CAP
    shown = queries.incidents_between(
        start, end, limit=HISTORY_PAGE_CAP, offset=offset, component_id=cid
    )
    if part > 1 and not shown:
        raise NotFound("no such history page")
    for incident in shown:
        if has_happened(incident, now):
            by_month[incident.started_at.astimezone(tz).date().replace(day=1)].append(incident)
    more = 0
    if len(shown) == HISTORY_PAGE_CAP:
        more = (
            queries.count_incidents_between(start, end, component_id=cid)
            - offset
            - HISTORY_PAGE_CAP
        )
    return {
        "now": now,
        "page": page,
        "part": part,
        # A later part lists only the months it has incidents of (the rest are in part 1).
        "months": [
            (month, by_month.get(month, [])) for month in months if part == 1 or by_month.get(month)
        ],
        # Older incidents of the period beyond this part, one link away, so a page stays bounded.
        "more": more,
        "cut_at": shown[-1].started_at if more else None,
        "next_part": history_href(page, part + 1, component_id=cid) if more else None,
        "first_part": history_href(page, component_id=cid) if part > 1 else None,
        "cap": HISTORY_PAGE_CAP,
        "newer_href": history_href(page - 1, component_id=cid) if page > 1 else None,
        "older_href": (
            history_href(page + 1, component_id=cid)
            if oldest is not None and oldest < start
            else None
        ),
        "all_href": history_href() if component is not None else None,
        **history_filters(component),
    }


def month_href(month: date, now: datetime, tz: ZoneInfo, *, component_id: int | None) -> str:
    """The history page that lists a month, at that month's heading."""
    this_month = now.astimezone(tz).date().replace(day=1)
    behind = (this_month.year - month.year) * 12 + this_month.month - month.month
    page = behind // MONTHS_PER_PAGE + 1
    return f"{history_href(page, component_id=component_id)}#m-{month.isoformat()}"


def day_context(
    day: date, now: datetime, tz: ZoneInfo, *, component: Component | None = None
) -> dict[str, Any]:
    """The incidents and maintenances going on during one local day (that affected
    `component`, if given): where a day of an uptime bar leads."""
    cid = component.id if component is not None else None
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    found = queries.incidents_going_on(start, end, limit=HISTORY_PAGE_CAP, component_id=cid)
    today = now.astimezone(tz).date()
    return {
        "now": now,
        "day": day,
        "incidents": [i for i in found if has_happened(i, now)],
        "capped": len(found) == HISTORY_PAGE_CAP,
        "previous_href": day_href(day - timedelta(days=1), component_id=cid),
        "next_href": day_href(day + timedelta(days=1), component_id=cid) if day < today else None,
        "month_href": month_href(day.replace(day=1), now, tz, component_id=cid),
        "all_href": day_href(day) if component is not None else None,
        **history_filters(component),
    }


def component_context(component_id: int, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """One component: its status, uptime and the incidents that touched it."""
    component = component_service.get_component(component_id)
    uptime = None
    counts: dict[date, DayCount] = {}
    if component.showcase:
        uptime = queries.uptimes([component], now=now, tz=tz)[component.id]
        counts = bar_counts([component], now=now, tz=tz).get(component.id, {})
    return {
        "now": now,
        "component": component,
        "uptime": uptime,
        "day_counts": counts,
        "incidents": queries.incidents_for_component(component_id),
    }


@bp.get("/")
@cached()
def index() -> str:
    """The status page."""
    return render_template("public/index.html", **home_context(utcnow(), _site_tz()))


@bp.get("/incidents/<id:incident_id>")
@cached()
def incident(incident_id: int) -> str:
    """An incident's or maintenance's permalink."""
    return render_template("public/incident.html", **incident_context(incident_id, utcnow()))


@bp.get("/incidents/<string(length=12):code>")
def imported_incident(code: str) -> ResponseReturnValue:
    """An incident's permalink on the Statuspage page it was imported from: moved here."""
    incident_id = idmap.incident_for_code(code)
    if incident_id is None:
        raise NotFound("no incident here has that code")
    return redirect(url_for("public.incident", incident_id=incident_id), code=301)


@bp.get("/history")
@cached(query_args=("page", "part", "day", "component"))
def history() -> str:
    """Past incidents and maintenances, three months per page, or those of one day; all of
    them or those of one component."""
    now, tz = utcnow(), _site_tz()
    page = parse_page(request.args.get("page"))
    part = parse_page(request.args.get("part"), MAX_HISTORY_PARTS)
    day = parse_day(request.args.get("day"), now.astimezone(tz).date())
    component = parse_component(request.args.get("component"))
    if day is not None:
        if "page" in request.args or "part" in request.args:
            raise NotFound("a day of the history has no pages")
        context = day_context(day, now, tz, component=component)
    else:
        context = history_context(page, now, tz, part=part, component=component)
    return render_template("public/history.html", **context)


@bp.get("/components/<id:component_id>")
@cached()
def component(component_id: int) -> str:
    """A component's status, uptime and incidents."""
    context = component_context(component_id, utcnow(), _site_tz())
    return render_template("public/component.html", **context)


def _uptime_settings():
    """The settings, when the public uptime report is on; else NotFound."""
    settings = current_app.config["STATUSPAGE"]
    if not uptime_report.enabled(settings):
        raise NotFound("no uptime report here")
    return settings


@bp.get("/uptime")
@cached()
def uptime_months() -> str:
    """The months the public uptime report covers, newest first (`reports.public`)."""
    _uptime_settings()
    context = uptime_report.index_context(utcnow(), _site_tz())
    return render_template("public/uptime.html", **context)


@bp.get("/uptime/<month>")
@cached()
def uptime_month(month: str) -> str:
    """Each component's uptime over one month (`reports.public`); the current month so far."""
    settings = _uptime_settings()
    now, tz = utcnow(), _site_tz()
    chosen = uptime_report.parse_month(month, now, tz)
    # The page is kept per generation and local day: every process must render the same bytes
    # for them, so the current month counts up to the last change or the day's start, not `now`.
    _, changed_at = generation.read()
    today = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz).astimezone(UTC)
    as_of = min(now, max(changed_at or today, today))
    context = uptime_report.month_context(chosen, settings, as_of, tz)
    return render_template("public/uptime_month.html", **context)


def _svg(svg: str) -> Response:
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = f"public, max-age={BADGE_CACHE_SECONDS}"
    return response


@bp.get("/badge.svg")
@cached()
def badge() -> Response:
    """The page-wide status as a badge."""
    tree = queries.component_tree()
    overall = queries.overall_status(
        tree, queries.unresolved_incidents(), queries.active_maintenances()
    )
    label = current_app.config["STATUSPAGE"].site["name"]
    colour = badges.COLOURS[tone(overall.indicator)]
    return _svg(badges.badge_svg(label, overall.description, colour))


@bp.get("/components/<id:component_id>/badge.svg")
@cached()
def component_badge(component_id: int) -> Response:
    """One component's status as a badge."""
    component = component_service.get_component(component_id)
    status = component.status_enum
    return _svg(badges.badge_svg(component.name, status.label, badges.COLOURS[tone(status)]))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: 200 while this process answers requests (the database is /readyz's question)."""
    # No database here: restarting web processes cannot mend a database, only empty caches.
    return _no_store({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when the database is reachable, current, undamaged and writable, else 503."""
    readiness = current_app.extensions.get("statuspage_readiness")
    if readiness is None:
        readiness = current_app.extensions["statuspage_readiness"] = health.Readiness(db.engine)
    verdict = readiness.verdict()
    if verdict.ready:
        return _no_store({"status": "ok"}, 200)
    return _no_store({"status": "unavailable", "reason": verdict.reason}, 503)


def _no_store(body: dict, code: int) -> tuple[Response, int]:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code
