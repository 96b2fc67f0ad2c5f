"""The admin dashboard: what needs attention now."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template, url_for

from statuspage.clock import utcnow
from statuspage.core import incident_rules
from statuspage.core.intake.payloads import FIRING
from statuspage.core.roles import Permission
from statuspage.db import audit, queries
from statuspage.db.models import AuditEntry, Incident, User
from statuspage.intake import queries as intake_queries
from statuspage.publishing import action_items, approvals, drafts
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.web.admin import bp
from statuspage.web.admin.incidents import view_url, with_labels
from statuspage.web.admin.intake import DraftView, draft_view
from statuspage.web.admin.plans import RequestView, request_view
from statuspage.web.auth import current_user, requires

#: Activity shown on the dashboard: the work, not the security log (that is the audit page's).
ACTIVITY_TYPES = ("incident", "component", "message")
ACTIVITY_LIMIT = 10
#: Alerts in: the drafts waiting (each previewed), the newest firing alerts, and how long the
#: recent incidents from alerts took from the first alert to their first public update.
DRAFTS_SHOWN = 10
FIRING_SHOWN = 5
DETECTED_SHOWN = 5
DETECTED_WINDOW = timedelta(days=7)
#: Approval requests: the pending ones looked at, and those returned to the signed-in user.
PENDING_SHOWN = 50
RETURNED_SHOWN = 20
#: Resolved incidents whose plan asks for a postmortem: how far back, and how many.
POSTMORTEM_WINDOW = timedelta(days=90)
POSTMORTEMS_SHOWN = 20
#: Postmortem action items past their due date, the longest overdue first.
ACTION_ITEMS_SHOWN = 20


@dataclass(frozen=True)
class OpenIncident:
    """An open incident and how long customers have waited for news."""

    incident: Incident
    last_update_at: datetime
    since: timedelta
    cadence: timedelta
    due_at: datetime  # the promise of the last update, else the cadence after it
    promised: bool
    now: datetime
    #: The plan the incident follows: its cadence replaces the config's [cadence].
    plan: plan_service.Followed | None = None

    @property
    def overdue(self) -> bool:
        return self.now > self.due_at

    @property
    def left(self) -> timedelta:
        return max(self.due_at - self.now, timedelta(0))


def cadence_for(impact: str) -> timedelta:
    """The longest gap between public updates for an incident of this impact."""
    # How long customers may wait for the next public update: [cadence] in the config.
    cadence = current_app.config["STATUSPAGE"].cadence
    key = impact if impact in ("critical", "major", "minor") else "none"
    return timedelta(minutes=cadence[f"{key}_minutes"])


def open_incidents(incidents: list[Incident], now: datetime) -> list[OpenIncident]:
    """Open incidents with the time since their last public update, by when the next one is due
    (overdue ones first, the longest overdue on top).

    An incident that follows a plan is due when the plan says (the last update's promise, else
    the plan's cadence for its status); any other, or one whose plan sets no cadence for its
    status, as the config's [cadence] for its impact says.
    """
    rows = []
    statuses = plan_service.message_statuses() if any(i.plan_slug for i in incidents) else {}
    for incident in incidents:
        latest = max(incident.updates, key=lambda u: (u.display_at, u.id), default=None)
        last = latest.display_at if latest is not None else incident.started_at
        promised = latest.next_update_at if latest is not None else None
        cadence = cadence_for(incident.impact)
        due = incident_rules.next_update_due(last, promised, cadence)
        followed = None
        standing = plan_service.standing(incident, statuses) if incident.plan_slug else None
        if standing is not None:
            followed, progress, _ = standing
            if progress.next_update_due is not None:
                due = progress.next_update_due
                cadence = followed.plan.cadence_for(incident.status) or cadence
        since = max(now - last, timedelta(0))
        rows.append(
            OpenIncident(incident, last, since, cadence, due, promised is not None, now, followed)
        )
    return sorted(rows, key=lambda r: (r.due_at, -r.since.total_seconds()))


@dataclass(frozen=True)
class ApprovalQueue:
    """Approval requests as the signed-in user sees them."""

    #: Pending requests this user may approve.
    mine: list[RequestView]
    #: Requests returned to this user, their author, with the approver's comment.
    returned: list[RequestView]
    #: Pending requests waiting for someone else (this user wrote them, or may not approve).
    others: list[RequestView]


def approval_queue(user: User | None, now: datetime) -> ApprovalQueue:
    """The pending requests split by who may approve them, and those returned to `user`."""
    mine: list[RequestView] = []
    others: list[RequestView] = []
    for row in approvals.pending(limit=PENDING_SHOWN):
        (mine if approvals.may_approve(row, user) else others).append(request_view(row, now))
    returned = [request_view(row, now) for row in approvals.returned_to(user, RETURNED_SHOWN)]
    return ApprovalQueue(mine, returned, others)


@dataclass(frozen=True)
class PostmortemDue:
    """A resolved incident whose plan asks for a postmortem not published yet."""

    incident: Incident
    plan: plan_service.Followed
    due_at: datetime
    now: datetime

    @property
    def overdue(self) -> bool:
        return self.now > self.due_at


def postmortems_due(now: datetime) -> list[PostmortemDue]:
    """Incidents resolved in the last POSTMORTEM_WINDOW whose plan's postmortem is due, soonest
    (or most overdue) first."""
    found = []
    incidents = plan_service.awaiting_postmortem(
        since=now - POSTMORTEM_WINDOW, limit=POSTMORTEMS_SHOWN
    )
    statuses = plan_service.message_statuses() if incidents else {}
    for incident in incidents:
        standing = plan_service.standing(incident, statuses)
        if standing is None:
            continue
        followed, progress, _ = standing
        if progress.postmortem_due is not None:
            found.append(PostmortemDue(incident, followed, progress.postmortem_due, now))
    return sorted(found, key=lambda p: p.due_at)


@dataclass(frozen=True)
class Activity:
    """One line of the dashboard's recent activity."""

    at: datetime
    actor: str
    summary: str


#: What an incident entry's summary ends with: where the text came from, by message id.
_PROVENANCE = re.compile(r" \((?:from \S+ v\d+(?:, edited)?|free text)\)$")
#: Versions a library sync made from the message files: one line for the lot.
SYNC_ACTIONS = ("message.created", "message.version")


def recent_activity(limit: int = ACTIVITY_LIMIT) -> list[Activity]:
    """The newest changes to incidents, components and messages, as a PM reads them: message
    titles rather than ids, and a library sync as one line rather than a line per message."""
    entries = [e for kind in ACTIVITY_TYPES for e in audit.entries(target_type=kind, limit=limit)]
    entries.sort(key=lambda e: e.id, reverse=True)
    titles = _message_titles({e.target_id for e in entries if e.target_type == "message"})
    out: list[Activity] = []
    syncing = False
    for entry in entries:
        synced = entry.action in SYNC_ACTIONS and entry.summary.endswith(": sync")
        if synced and not syncing:
            out.append(Activity(entry.at, entry.actor, "Message library loaded from its files"))
        elif not synced:
            out.append(Activity(entry.at, entry.actor, _readable(entry, titles)))
        syncing = synced
    return out[:limit]


def _message_titles(slugs: set[str]) -> dict[str, str]:
    if not slugs:
        return {}
    return {
        slug: with_labels(version.title, version)
        for slug, version in library_service.versions_for(slugs).items()
    }


def _readable(entry: AuditEntry, titles: dict[str, str]) -> str:
    summary = entry.summary or entry.action
    if entry.target_type == "incident":
        return _PROVENANCE.sub("", summary)
    title = titles.get(entry.target_id or "")
    if entry.target_type == "message" and title and summary.startswith(entry.target_id or ""):
        return f"Message “{title}”" + summary[len(entry.target_id or "") :]
    return summary


def waiting_drafts(now: datetime) -> tuple[list[DraftView], int]:
    """The newest waiting drafts, each with its preview (or why it fails), and how many wait."""
    rows = intake_queries.drafts_in(drafts.WAITING, limit=DRAFTS_SHOWN)
    firsts = intake_queries.first_alerts([row.id for row in rows])
    views = [draft_view(row, firsts.get(row.id), now) for row in rows]
    total = intake_queries.count_waiting() if len(rows) == DRAFTS_SHOWN else len(rows)
    return views, total


def _today(now: datetime) -> date:
    """Today in the site's time zone: an item due today is overdue tomorrow."""
    return now.astimezone(ZoneInfo(current_app.config["STATUSPAGE"].site["time_zone"])).date()


@bp.route("/")
@requires(Permission.READ)
def dashboard():
    """Approval requests and drafts from alerts first; then firing alerts, open incidents,
    postmortems due, maintenances, activity."""
    now = utcnow()
    waiting, waiting_total = waiting_drafts(now)
    return render_template(
        "admin/dashboard.html",
        now=now,
        queue=approval_queue(current_user(), now),
        postmortems=postmortems_due(now),
        overdue_items=action_items.overdue(_today(now), limit=ACTION_ITEMS_SHOWN),
        overdue_items_shown=ACTION_ITEMS_SHOWN,
        drafts=waiting,
        drafts_total=waiting_total,
        firing=intake_queries.alerts(status=FIRING, limit=FIRING_SHOWN),
        firing_total=intake_queries.count_firing(),
        detected=intake_queries.detected_incidents(
            since=now - DETECTED_WINDOW, limit=DETECTED_SHOWN
        ),
        incidents=open_incidents(queries.unresolved_incidents(), now),
        active=queries.active_maintenances(),
        upcoming=queries.upcoming_maintenances(),
        activity=recent_activity(),
        view_url=view_url,
        audit_url=url_for("admin.audit") if "admin.audit" in current_app.view_functions else None,
    )
