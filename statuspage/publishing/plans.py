"""Communication plans in the database: immutable versions synced from files, revert, matching.

An incident follows the plan that matches it (by kind, impact and components), pinned to the
version current when it first matched: editing a plan does not change the rules of an incident
in flight. A different plan matching later (the impact rose) takes over at its current version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.core import library, limits
from statuspage.core import plans as plan_format
from statuspage.core.enums import IncidentKind
from statuspage.core.escalation.config import EscalationConfig
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Incident, IncidentUpdate, Plan, PlanVersion, User
from statuspage.errors import Conflict, NotFound, ValidationError
from statuspage.publishing import library as library_service
from statuspage.publishing.library import SyncReport

#: The folder of the message library that holds the plans.
PLANS_FOLDER = "plans"


@lru_cache(maxsize=256)
def _parse(source: str, slug: str) -> plan_format.Plan:
    return plan_format.parse_plan(source, f"{slug}.md")


def as_plan(version: PlanVersion) -> plan_format.Plan:
    """The plan of a stored version (parsed once per distinct text)."""
    return _parse(version.source, version.plan.slug)


@dataclass(frozen=True)
class Followed:
    """A plan as an incident follows it: the stored version and what it says."""

    slug: str
    number: int
    plan: plan_format.Plan


# -- reading ------------------------------------------------------------------------------------


def get_plan(slug: str) -> Plan:
    """A plan by id (slug) with its versions, or NotFound."""
    plan = db.session.scalar(
        sa.select(Plan).where(Plan.slug == slug).options(selectinload(Plan.versions))
    )
    if plan is None:
        raise NotFound(f"no plan with id {slug!r}")
    return plan


def get_version(slug: str, number: int) -> PlanVersion:
    """One version of a plan, or NotFound."""
    for version in get_plan(slug).versions:
        if version.number == number:
            return version
    raise NotFound(f"plan {slug!r} has no version {number}")


def current_version(plan: Plan) -> PlanVersion:
    """The version incidents start following from now."""
    for version in plan.versions:
        if version.number == plan.current_version:
            return version
    raise NotFound(f"plan {plan.slug} has no version {plan.current_version}")


def list_plans(*, archived: bool = False) -> list[tuple[Plan, PlanVersion]]:
    """Plans with their current version, by id."""
    query = (
        sa.select(Plan, PlanVersion)
        .join(
            PlanVersion,
            sa.and_(PlanVersion.plan_id == Plan.id, PlanVersion.number == Plan.current_version),
        )
        .where(Plan.archived_at.is_not(None) if archived else Plan.archived_at.is_(None))
        .order_by(Plan.slug)
    )
    return [(p, v) for p, v in db.session.execute(query).all()]


def current_plans() -> list[Followed]:
    """Every active plan at its current version."""
    return [Followed(p.slug, v.number, as_plan(v)) for p, v in list_plans()]


def matching(kind: IncidentKind | str, impact: str, components: Iterable[str]) -> Followed | None:
    """The plan an incident of this kind, impact and components would follow now."""
    active = current_plans()
    found = plan_format.matching_plan([f.plan for f in active], kind, impact, components)
    return next((f for f in active if f.plan is found), None) if found else None


def followed_by(incident: Incident) -> Followed | None:
    """The plan (version) an incident follows, or None."""
    if not incident.plan_slug or incident.plan_version is None:
        return None
    try:
        version = get_version(incident.plan_slug, incident.plan_version)
    except NotFound:
        return None
    return Followed(incident.plan_slug, version.number, as_plan(version))


def after_update(
    incident: Incident | None, kind: IncidentKind | str, impact: str, components: Iterable[str]
) -> Followed | None:
    """The plan the incident follows once an update with this impact and components is out.

    The pinned version stays while the same plan matches; another match takes over; an
    incident that no plan matches any more keeps the one it had (its promises stand).
    """
    names = list(components)
    if incident is not None:
        names = list(dict.fromkeys([c.name for c in incident.components] + names))
    found = matching(kind, impact, names)
    pinned = followed_by(incident) if incident is not None else None
    if found is None or (pinned is not None and pinned.slug == found.slug):
        return pinned
    return found


def follow(incident: Incident, followed: Followed | None) -> None:
    """Record the plan an incident follows."""
    if followed is None:
        return
    incident.plan_slug = followed.slug
    incident.plan_version = followed.number


def open_with_plan(*, limit: int) -> list[Incident]:
    """Open incidents and maintenances that follow a plan, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.resolved_at.is_(None), Incident.plan_slug.is_not(None))
            .order_by(Incident.started_at, Incident.id)
            .limit(limit)
        )
    )


def message_statuses() -> dict[str, str]:
    """The status each active message is for (what orders a plan's sequence)."""
    return {m.slug: v.status for m, v in library_service.list_messages()}


def standing(
    incident: Incident, statuses: Mapping[str, str] | None = None
) -> tuple[Followed, plan_format.Progress, IncidentUpdate | None] | None:
    """Where an incident stands against its plan, with its latest update; None without a plan.

    `statuses` (from `message_statuses`) spares a query per incident when there are many.
    """
    followed = followed_by(incident)
    if followed is None:
        return None
    latest = max(incident.updates, key=lambda u: (u.display_at, u.id), default=None)
    if statuses is None:
        statuses = message_statuses()
    progress = plan_format.progress(
        followed.plan,
        status=incident.status,
        last_update_at=latest.display_at if latest is not None else None,
        promised_at=latest.next_update_at if latest is not None else None,
        resolved_at=incident.resolved_at,
        postmortem_published=incident.postmortem_published_at is not None,
        used_messages=[u.message_slug for u in incident.updates if u.message_slug],
        message_statuses=statuses,
    )
    return followed, progress, latest


def message_facts() -> dict[str, plan_format.MessageFacts]:
    """What a plan check needs to know of every active message."""
    return {
        m.slug: plan_format.MessageFacts(kind=library_service.as_message(v).kind, status=v.status)
        for m, v in library_service.list_messages()
    }


def user_roles() -> dict[str, str]:
    """Every active user's email (casefolded) and role, for checking a plan's named approvers."""
    rows = db.session.execute(sa.select(User.email, User.role).where(User.active.is_(True)))
    return {email.casefold(): role for email, role in rows}


# -- writing ------------------------------------------------------------------------------------


def check(
    path: str | os.PathLike[str], *, paths: Iterable[str], with_database: bool
) -> tuple[list[plan_format.Plan], list[plan_format.Problem]]:
    """Read a directory of plans and check what they name: messages, escalation paths, users."""
    parsed, problems = plan_format.check_directory(path)
    if with_database:
        messages = message_facts()
        users: Mapping[str, str] | None = user_roles()
    else:
        messages = _file_messages(Path(path))
        users = None
    problems += plan_format.check_references(
        [(str(Path(path) / f"{p.id}.md"), p) for p in parsed],
        messages=messages,
        paths=paths,
        users=users,
    )
    return parsed, sorted(problems, key=lambda p: (p.path, p.line))


def _file_messages(plans_dir: Path) -> dict[str, plan_format.MessageFacts]:
    """Without a database: the messages in the library folder the plans folder sits in."""
    found, _ = library.check_directory(plans_dir.parent)
    return {m.id: plan_format.MessageFacts(kind=m.kind, status=m.status.value) for m in found}


def sync_directory(
    path: str | os.PathLike[str],
    *,
    now: datetime,
    paths: Iterable[str],
    actor: audit.Actor = audit.CLI,
) -> SyncReport:
    """Load a directory of plans: a new version where the content hash changed.

    Nothing is loaded when any plan has a problem, including a message, escalation path or user
    it names that does not exist (plan_format.PlanError with all of them). Plans whose file is
    gone are archived; a file that comes back restores them.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ValidationError(f"{directory}: not a directory")
    parsed, problems = check(directory, paths=paths, with_database=True)
    if problems:
        raise plan_format.PlanError(problems)
    existing = {
        p.slug: p for p in db.session.scalars(sa.select(Plan).options(selectinload(Plan.versions)))
    }
    report = SyncReport()
    for item in parsed:
        plan = existing.get(item.id)
        if plan is None:
            plan = Plan(slug=item.id, current_version=0, created_at=now, updated_at=now)
            db.session.add(plan)
            db.session.flush()
            number = _add_version(plan, item, now=now, actor=actor, reason="sync").number
            report.created.append((item.id, number))
            continue
        if plan.archived_at is not None:
            plan.archived_at = None
            report.restored.append(item.id)
            _audit(actor, "plan.restored", plan.slug, now, "file is back")
        if current_version(plan).content_hash == item.content_hash:
            report.unchanged.append(item.id)
            continue
        number = _add_version(plan, item, now=now, actor=actor, reason="sync").number
        report.updated.append((item.id, number))
    seen = {p.id for p in parsed}
    for slug, plan in sorted(existing.items()):
        if slug not in seen and plan.archived_at is None:
            plan.archived_at = now
            report.archived.append(slug)
            _audit(actor, "plan.archived", slug, now, "file removed")
    return report


def known_paths(escalation: object) -> list[str]:
    """The escalation paths a plan may name: those of the config (none when escalation is off
    or was set aside)."""
    return sorted(escalation.paths) if isinstance(escalation, EscalationConfig) else []


def revert(
    slug: str,
    number: int,
    *,
    now: datetime,
    actor: audit.Actor,
    reason: str,
    paths: Iterable[str],
) -> PlanVersion:
    """Make a new version whose text is that of version `number`, with the reverter's reason.

    The old text is checked again against today's messages, users and escalation paths (as a
    sync would): a plan naming an approver who can no longer approve is refused (PlanError).
    """
    why = limits.note(reason, field="reason")
    if not why:
        raise ValidationError(
            "say why you revert the plan (the audit log keeps it)", field="reason"
        )
    plan = db.session.scalar(
        sa.select(Plan)
        .where(Plan.slug == slug)
        .with_for_update(of=Plan)
        .options(selectinload(Plan.versions))
        .execution_options(populate_existing=True)
    )
    if plan is None:
        raise NotFound(f"no plan with id {slug!r}")
    old = get_version(slug, number)
    if old.content_hash == current_version(plan).content_hash:
        raise Conflict(f"version {number} is already the current text")
    problems = plan_format.check_references(
        [(f"{slug}.md (v{number})", as_plan(old))],
        messages=message_facts(),
        paths=paths,
        users=user_roles(),
    )
    if problems:
        raise plan_format.PlanError(problems)
    return _add_version(
        plan, as_plan(old), now=now, actor=actor, reason=f"revert to v{number}: {why}"
    )


def _add_version(
    plan: Plan, parsed: plan_format.Plan, *, now: datetime, actor: audit.Actor, reason: str
) -> PlanVersion:
    latest = db.session.scalar(
        sa.select(sa.func.max(PlanVersion.number)).where(PlanVersion.plan_id == plan.id)
    )
    number = (latest or 0) + 1
    version = PlanVersion(
        plan=plan,
        number=number,
        source=parsed.source,
        content_hash=parsed.content_hash,
        author=actor.user,
        reason=reason,
        created_at=now,
    )
    db.session.add(version)
    plan.current_version = number
    plan.updated_at = now
    db.session.flush()
    _audit(actor, "plan.version", plan.slug, now, f"v{number}: {reason}")
    return version


def _audit(actor: audit.Actor, action: str, slug: str, now: datetime, summary: str) -> None:
    audit.record(
        actor, action, now=now, target_type="plan", target_id=slug, summary=f"{slug} {summary}"
    )


def awaiting_postmortem(*, since: datetime, limit: int) -> list[Incident]:
    """Incidents resolved since `since` under a plan, with no postmortem yet, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(
                Incident.resolved_at >= since,
                Incident.plan_slug.is_not(None),
                Incident.postmortem_published_at.is_(None),
                Incident.kind == IncidentKind.INCIDENT.value,
            )
            .order_by(Incident.resolved_at, Incident.id)
            .limit(limit)
        )
    )
