"""Admin views of the communication plans: browse, read, compare, revert; the plan panel of an
incident's page (`plan_panel`, a template global).

Plans are edited as files (`statuspage plans sync`): the admin shows them and reverts to an
earlier version, as the message library does, but has no edit form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from statuspage.clock import utcnow
from statuspage.core import markup
from statuspage.core import plans as plan_format
from statuspage.core.enums import (
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.frontmatter import valid_id
from statuspage.core.roles import Permission
from statuspage.db.models import Draft as StoredDraft
from statuspage.db.models import Incident, MessageVersion, PlanVersion
from statuspage.errors import StatuspageError, ValidationError
from statuspage.publishing import approvals, drafts
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.web.admin import bp
from statuspage.web.admin.common import Section, actor, revert_version, version_diff
from statuspage.web.auth import requires

#: The impacts an incident plan matches, mildest first.
INCIDENT_IMPACTS = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)
#: Which updates need approval, in words.
UPDATE_WORDS = {"first": "the first update", "every": "every update", "resolve": "the resolve"}
#: The plan pages, for the diff page plans share with the library.
SECTION = Section(
    "Plans", "admin/plans/_macros.html", "admin.plans", "admin.plan", "admin.plan_version"
)


def _checked(slug: str) -> str:
    """A plan id from the URL, or 404: ids are short lower-case words joined by hyphens."""
    if not valid_id(slug):
        abort(404)
    return slug


# -- a plan in words ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CadenceRow:
    """One status of the plan's kind and how long customers may wait in it (None: no rule)."""

    status: str
    label: str
    minutes: int | None


@dataclass(frozen=True)
class SequenceStep:
    """A canned message of the plan's sequence, with its current version when it exists."""

    slug: str
    version: MessageVersion | None


@dataclass(frozen=True)
class PlanView:
    """One stored version of a plan, parsed, with what the pages show of it."""

    version: PlanVersion
    plan: plan_format.Plan | None
    #: Why the stored text no longer parses (None when it does).
    problem: str | None = None

    @property
    def title(self) -> str:
        return self.plan.title if self.plan is not None else self.version.plan.slug

    @property
    def kind_label(self) -> str:
        if self.plan is None:
            return ""
        return "Maintenance" if self.plan.kind is IncidentKind.MAINTENANCE else "Incident"

    @property
    def matches(self) -> str:
        """ "Incidents of critical impact, any component", in words."""
        return match_words(self.plan) if self.plan is not None else ""

    @property
    def cadence(self) -> list[CadenceRow]:
        return cadence_rows(self.plan) if self.plan is not None else []

    @property
    def cadence_summary(self) -> str:
        """ "investigating 30 min · identified 30 min · monitoring 1 h", or "" without one."""
        return " · ".join(
            f"{row.label.lower()} {_minutes(row.minutes)}"
            for row in self.cadence
            if row.minutes is not None
        )

    @property
    def approval_updates(self) -> str:
        """ "the first update and the resolve", in words ("" without approval)."""
        return approval_updates(self.plan.approval) if self.plan is not None else ""

    @property
    def approval_summary(self) -> str:
        """ "the first update and the resolve, by an admin", or "none"."""
        if self.plan is None or self.plan.approval is None:
            return "none"
        return f"{self.approval_updates}, by {self.plan.approval.approvers}"

    @property
    def playbook(self) -> Markup:
        """The playbook as sanitised HTML (core.markup: no raw HTML survives)."""
        if self.plan is None or not self.plan.body.strip():
            return Markup("")
        return Markup(markup.render_markdown(self.plan.body))  # noqa: S704 (sanitised)

    def sequence(self) -> list[SequenceStep]:
        if self.plan is None:
            return []
        versions = library_service.versions_for(self.plan.sequence)
        return [SequenceStep(slug, versions.get(slug)) for slug in self.plan.sequence]


def plan_view(version: PlanVersion) -> PlanView:
    """A stored version, parsed (a text a later release no longer reads says why)."""
    try:
        return PlanView(version, plan_service.as_plan(version))
    except StatuspageError as exc:
        return PlanView(version, None, exc.message)


def approval_updates(approval: plan_format.Approval | None) -> str:
    """Which updates an approval rule covers, in words: "the first update and the resolve"."""
    if approval is None:
        return ""
    return _and([UPDATE_WORDS[u] for u in UPDATE_WORDS if u in approval.updates])


def match_words(plan: plan_format.Plan) -> str:
    """Which incidents a plan is for, in words."""
    components = (
        "components " + ", ".join(plan.match.components)
        if plan.match.components
        else "any component"
    )
    if plan.kind is IncidentKind.MAINTENANCE:
        return f"Maintenances, {components}"
    impacts = sorted((i for i in plan.match.impacts if i in INCIDENT_IMPACTS), key=lambda i: i.rank)
    if len(impacts) == len(INCIDENT_IMPACTS):
        return f"Incidents of any impact, {components}"
    worse = [i for i in INCIDENT_IMPACTS if impacts and i.rank >= impacts[0].rank]
    if len(impacts) > 1 and impacts == worse:
        return f"Incidents of {impacts[0].label.lower()} impact or worse, {components}"
    return f"Incidents of {_or([i.label.lower() for i in impacts])} impact, {components}"


def cadence_rows(plan: plan_format.Plan) -> list[CadenceRow]:
    """Every open status of the plan's kind with the plan's wait in it."""
    enum = MaintenanceStatus if plan.kind is IncidentKind.MAINTENANCE else IncidentStatus
    return [
        CadenceRow(s.value, s.label, plan.cadence.get(s.value)) for s in enum if not s.is_closed
    ]


def _minutes(minutes: int | None) -> str:
    if minutes is None:
        return "—"
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def _and(words: list[str]) -> str:
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _or(words: list[str]) -> str:
    if not words:
        return "any"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# -- browsing -----------------------------------------------------------------------------------


@bp.route("/plans")
@requires(Permission.READ)
def plans():
    """The plans (active, or archived with `?archived=1`), each at its current version."""
    archived = request.args.get("archived", "") == "1"
    rows = [(p, plan_view(v)) for p, v in plan_service.list_plans(archived=archived)]
    return render_template("admin/plans/list.html", rows=rows, archived=archived)


@bp.route("/plans/<slug>")
@requires(Permission.READ)
def plan(slug: str):
    """One plan: its current version in full and its version history."""
    row = plan_service.get_plan(_checked(slug))
    current = plan_service.current_version(row)
    return render_template(
        "admin/plans/plan.html",
        plan=row,
        view=plan_view(current),
        current=current,
        history=list(reversed(row.versions)),
    )


@bp.route("/plans/<slug>/v/<int:number>")
@requires(Permission.READ)
def plan_version(slug: str, number: int):
    """One version of a plan, current or old, with its source."""
    row = plan_service.get_plan(_checked(slug))
    version = plan_service.get_version(slug, number)
    return render_template(
        "admin/plans/version.html",
        plan=row,
        view=plan_view(version),
        version=version,
        current=plan_service.current_version(row),
    )


@bp.route("/plans/<slug>/diff")
@requires(Permission.READ)
def plan_diff(slug: str):
    """Two versions of a plan side by side (`?a=1&b=3`; default: the last change)."""
    return version_diff(SECTION, plan_service.get_plan(_checked(slug)), plan_service.get_version)


@bp.route("/plans/<slug>/v/<int:number>/revert", methods=["POST"])
@requires(Permission.PLANS)
def plan_revert(slug: str, number: int):
    """Make a new version with the text of version `number` (incidents in flight keep theirs);
    admins only, with a reason: a plan says who approves what customers read."""
    _checked(slug)
    paths = plan_service.known_paths(current_app.config["STATUSPAGE"].escalation)

    def revert() -> PlanVersion:
        return plan_service.revert(
            slug,
            number,
            now=utcnow(),
            actor=actor(),
            reason=request.form.get("reason", ""),
            paths=paths,
        )

    try:
        revert_version(revert, number)
    except ValidationError as exc:
        flash(f"Not reverted: {exc.message}", "error")
        return redirect(url_for("admin.plan_version", slug=slug, number=number), 303)
    return redirect(url_for("admin.plan", slug=slug))


# -- the plan on an incident's page -------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """An approval request as the incident's page and the dashboard tell it."""

    row: StoredDraft
    title: str
    now: datetime

    @property
    def author(self) -> str:
        author = self.row.author
        return (author.name or author.email) if author is not None else "someone"

    @property
    def approvals(self) -> list:
        """The approvals of the current revision (earlier ones no longer count)."""
        return [a for a in self.row.approvals if a.revision == self.row.revision]

    @property
    def waiting(self) -> timedelta:
        since = self.row.requested_at or self.row.created_at
        return max(self.now - since, timedelta(0))

    @property
    def without_approval(self) -> bool:
        """Published by an admin without (all of) the approvals, who gave the reason."""
        return self.row.state == drafts.PUBLISHED and bool(self.row.comment)


def request_view(row: StoredDraft, now: datetime) -> RequestView:
    """A request with its title: what it would publish while it is open, else the incident's
    name and the status it gave (a decided request no longer previews)."""
    if row.state in (drafts.PENDING, drafts.RETURNED) or row.incident is None or not row.status:
        return RequestView(row, approvals.title_of(row), now)
    try:
        label = status_for(row.kind, row.status).label
    except ValueError:
        label = row.status
    return RequestView(row, f"{row.incident.name} — {label}", now)


@dataclass(frozen=True)
class PlanPanel:
    """The plan an incident follows and where the incident stands against it."""

    incident: Incident
    now: datetime
    followed: plan_service.Followed | None = None
    progress: plan_format.Progress | None = None
    #: The current version of the message the plan suggests next.
    next_version: MessageVersion | None = None
    requests: list[RequestView] = field(default_factory=list)
    #: Whether the last update promised when the next one comes (the promise wins).
    promised: bool = False

    @property
    def pending(self) -> list[RequestView]:
        return [r for r in self.requests if r.row.state == drafts.PENDING]

    @property
    def due(self) -> datetime | None:
        return self.progress.next_update_due if self.progress is not None else None

    @property
    def overdue(self) -> bool:
        return self.progress is not None and self.progress.overdue(self.now)

    @property
    def due_delta(self) -> timedelta:
        """How long until the next update is due, or how long it is overdue (never negative)."""
        if self.due is None:
            return timedelta(0)
        return abs(self.due - self.now)

    @property
    def cadence(self) -> timedelta | None:
        if self.followed is None:
            return None
        return self.followed.plan.cadence_for(self.incident.status)

    @property
    def approval_updates(self) -> str:
        return approval_updates(self.followed.plan.approval) if self.followed is not None else ""

    @property
    def playbook(self) -> Markup:
        if self.followed is None or not self.followed.plan.body.strip():
            return Markup("")
        return Markup(markup.render_markdown(self.followed.plan.body))  # noqa: S704 (sanitised)


@bp.app_template_global()
def plan_panel(incident: Incident) -> PlanPanel:
    """What the incident's admin page shows of its communication plan."""
    now = utcnow()
    standing = plan_service.standing(incident)
    requests = [request_view(row, now) for row in approvals.of_incident(incident)]
    if standing is None:
        return PlanPanel(incident, now, requests=requests)
    followed, progress, latest = standing
    next_version = None
    if progress.next_message:
        next_version = library_service.versions_for([progress.next_message]).get(
            progress.next_message
        )
    promised = latest is not None and latest.next_update_at is not None
    return PlanPanel(incident, now, followed, progress, next_version, requests, promised)
