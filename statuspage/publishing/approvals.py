"""Updates a communication plan wants approved: requested, approved, returned, or published
without approval by an admin who says why.

`submit` is every way in's Publish: it publishes at once, or (when the incident's plan asks for
approval of this update) stores the exact update as a draft in state "pending" and tells the
approvers. `approve` publishes exactly the text the approver saw, once enough approvers said yes;
the author never counts. Every act locks the draft first, so two approvers at once publish once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from statuspage.core import limits
from statuspage.core.escalation import render
from statuspage.core.escalation.config import EscalationConfig
from statuspage.core.plans import Approval
from statuspage.core.roles import Role
from statuspage.core.text import clean_line, clean_text
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import Draft as StoredDraft
from statuspage.db.models import DraftApproval, Incident, IncidentUpdate
from statuspage.delivery import escalation
from statuspage.errors import Conflict, NotFound, PermissionDenied, ValidationError
from statuspage.publishing import drafts
from statuspage.publishing import plans as plan_service
from statuspage.publishing import publish as core

PENDING = drafts.PENDING
RETURNED = drafts.RETURNED
#: A draft a PM wrote (as opposed to one prepared from alerts).
SOURCE = "pm"
#: Waiting requests and overdue incidents the worker's tick looks at per run.
TICK_BATCH = 200


@dataclass(frozen=True)
class Notices:
    """What the notices need from the app: the escalation paths, the site's name and address."""

    escalation: EscalationConfig | None
    site_name: str
    site_url: str

    @classmethod
    def from_settings(cls, settings: Any) -> Notices:
        """From the app's settings (statuspage.config.Settings)."""
        config = settings.escalation
        return cls(
            escalation=config if isinstance(config, EscalationConfig) else None,
            site_name=settings.site["name"],
            site_url=settings.site["url"].rstrip("/"),
        )


@dataclass
class Outcome:
    """What a submit or an approval did: published an update, or left a draft waiting."""

    published: core.Published | None = None
    draft: StoredDraft | None = None

    @property
    def pending(self) -> bool:
        """Whether the update waits for (more) approval."""
        return self.published is None


class StaleApproval(Conflict):
    """The approver approved something other than what would now be published."""


def fingerprint(row: StoredDraft, prepared: core.Prepared) -> str:
    """What an approver saw: this revision of this draft, publishing exactly this."""
    text = f"{row.id}:{row.revision}:{prepared.fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rule_of(row: StoredDraft) -> Approval | None:
    """The approval rule of the plan version a request was made under."""
    if not row.plan_slug or row.plan_version is None:
        return None
    try:
        version = plan_service.get_version(row.plan_slug, row.plan_version)
    except NotFound:
        return None
    return plan_service.as_plan(version).approval


def may_approve(row: StoredDraft, user: Any) -> bool:
    """Whether this user may approve this request (never its author)."""
    rule = rule_of(row)
    if user is None or rule is None or row.author_id == user.id or not user.active:
        return False
    return rule.may_approve(user.role, user.email)


def author_name(row: StoredDraft) -> str:
    """Who wrote a request, as people are shown: their name, else their address."""
    if row.author is None:
        return (
            "someone no longer here"
            if row.author_id is None and row.source == SOURCE
            else "someone"
        )
    return row.author.name or row.author.email


def may_revise(row: StoredDraft, who: audit.Actor) -> bool:
    """Whether someone may revise or withdraw a request for approval: its author, or an admin."""
    if who.user is not None and row.author_id == who.user.id:
        return True
    return is_admin(who)


def check_reviser(row: StoredDraft, who: audit.Actor) -> None:
    """PermissionDenied unless `who` may revise or withdraw this request."""
    if row.state in (PENDING, RETURNED) and not may_revise(row, who):
        raise PermissionDenied(
            f"draft {row.id} is the request of {author_name(row)}: only its author or an admin "
            "revises or withdraws it (approvers return it with a comment)"
        )


def is_admin(actor: audit.Actor) -> bool:
    """Admins (and the operator at the command line) may publish without approval."""
    if actor.user is None:
        return actor == audit.CLI
    return actor.user.role == Role.ADMIN.value


# -- asking -----------------------------------------------------------------------------------


def submit(
    draft: core.Draft,
    *,
    now: datetime,
    actor: audit.Actor,
    notices: Notices,
    confirm: Callable[[core.Prepared], bool] | None = None,
    without_approval: str | None = None,
) -> Outcome:
    """Publish a draft, or send it for approval when the plan asks (in the caller's transaction).

    `without_approval` is an admin's reason to publish what the plan wants approved; it is kept
    on the record (the audit log and the incident's page). A request sent twice with the same
    idempotency key stores one draft.
    """
    key = core.idempotency_key(draft.idempotency_key)
    if draft.incident_id:
        # A twin request waits here for the first to commit, then finds what it stored.
        database.lock(Incident, draft.incident_id)
    if key:
        earlier = _by_key(key)
        if earlier is not None:
            return _earlier(earlier)
    try:
        return Outcome(published=core.publish(draft, now=now, actor=actor, confirm=confirm))
    except core.ApprovalRequired as needed:
        # Nothing was written: the checked draft comes back with the refusal.
        prepared = needed.prepared
    if without_approval is not None:
        row = _store(draft, prepared, key=key, now=now, actor=actor)
        return Outcome(published=_bypass(row, without_approval, now=now, actor=actor), draft=row)
    if actor.user is None:
        raise PermissionDenied(
            "approval is requested by a user: sign in to the admin or use an API token "
            "(at the command line, publish without approval giving the reason)"
        )
    try:
        with db.session.begin_nested():
            row = _store(draft, prepared, key=key, now=now, actor=actor)
    except IntegrityError:
        # The same request (its one-time key) won the race for a new incident: that one stands.
        earlier = _by_key(key) if key else None
        if earlier is None:
            raise
        return _earlier(earlier)
    _requested(row, prepared, now=now, actor=actor, notices=notices, action="draft.requested")
    return Outcome(draft=row)


def request(
    draft_id: int,
    *,
    now: datetime,
    actor: audit.Actor,
    notices: Notices,
    confirm: Callable[[core.Prepared], bool] | None = None,
    edited: core.Draft | None = None,
) -> Outcome:
    """Publish a stored draft (from alerts), or send it for approval when the plan asks.

    `edited` is a PM's edit of the waiting draft (the compose form): it replaces what the draft
    held, so that exactly the edit is published or sent for approval.
    """
    row = drafts.get(draft_id, lock=True)
    if row.state != drafts.WAITING:
        return Outcome(published=drafts.publish(draft_id, now=now, actor=actor))
    if edited is not None:
        _copy(row, edited)
    prepared = drafts.preview(row)
    if confirm is not None and not confirm(prepared):
        raise core.PreviewOutdated(prepared)
    if prepared.approval is None:
        published = drafts.publish(draft_id, now=now, actor=actor, confirm=confirm)
        return Outcome(published=published, draft=row)
    if actor.user is None:
        raise PermissionDenied("approval is requested by a user: sign in or use an API token")
    row.author = actor.user
    _plan_fields(row, prepared)
    _requested(row, prepared, now=now, actor=actor, notices=notices, action="draft.requested")
    return Outcome(draft=row)


def revise(
    draft_id: int,
    draft: core.Draft,
    *,
    now: datetime,
    actor: audit.Actor,
    notices: Notices,
    confirm: Callable[[core.Prepared], bool] | None = None,
) -> Outcome:
    """Replace a pending or returned request's update with `draft` (a new revision: approvals
    given so far no longer count) and ask again; publish at once if no approval is needed now."""
    row = _open(draft_id)
    if row.source != SOURCE and row.state == drafts.WAITING:
        raise Conflict(f"draft {row.id} waits for a PM, not for approval")
    check_reviser(row, actor)
    prepared = core.prepare(draft, lock=True)
    if confirm is not None and not confirm(prepared):
        raise core.PreviewOutdated(prepared)
    _copy(row, draft)
    row.revision += 1
    row.comment = ""
    if prepared.approval is None:
        published = core.publish(drafts.to_draft(row), now=now, actor=actor)
        drafts.mark_published(row, published, now=now, actor=actor)
        return Outcome(published=published, draft=row)
    row.author = actor.user if actor.user is not None else row.author
    _plan_fields(row, prepared)
    _requested(row, prepared, now=now, actor=actor, notices=notices, action="draft.revised")
    return Outcome(draft=row)


# -- deciding ---------------------------------------------------------------------------------


def approve(
    draft_id: int, *, seen: str, now: datetime, actor: audit.Actor, notices: Notices
) -> Outcome:
    """Approve the revision the approver saw (`seen`: its fingerprint); publish it exactly once
    the plan's count of approvals is reached."""
    row = drafts.get(draft_id, lock=True)
    if row.state == drafts.PUBLISHED:
        raise Conflict(f"draft {row.id} was already approved and published{drafts.by(row)}")
    if row.state != PENDING:
        raise Conflict(
            f"draft {row.id} is {row.state}{drafts.by(row)}: there is nothing to approve"
        )
    user = actor.user
    if user is None:
        raise PermissionDenied("approving takes a user: sign in to the admin or use an API token")
    if row.author_id == user.id:
        raise PermissionDenied("you wrote this update: someone else must approve it")
    rule = rule_of(row)
    if rule is None:
        raise Conflict(
            f"the plan {row.plan_slug!r} v{row.plan_version} is gone: an admin can publish "
            "this without approval, giving the reason"
        )
    if not rule.may_approve(user.role, user.email):
        raise PermissionDenied(f"the plan '{row.plan_slug}' asks {rule.approvers} to approve")
    prepared = _prepared(row)
    now_rule = prepared.approval
    if now_rule is not None and not now_rule.may_approve(user.role, user.email):
        # The plan was tightened since the request: what goes out now answers to today's rule.
        assert prepared.plan is not None
        raise PermissionDenied(
            f"the plan '{prepared.plan.slug}' (v{prepared.plan.number}, changed since this was "
            f"asked) asks {now_rule.approvers} to approve"
        )
    if now_rule is not None and now_rule.count > row.approvals_needed:
        row.approvals_needed = now_rule.count
    if fingerprint(row, prepared) != seen:
        raise StaleApproval(
            f"draft {row.id} changed since you read it (it is revision {row.revision} now, or "
            "what it would publish moved on): read it again, then approve"
        )
    if any(a.user_id == user.id and a.revision == row.revision for a in row.approvals):
        raise Conflict(f"you already approved revision {row.revision} of draft {row.id}")
    row.approvals.append(
        DraftApproval(user=user, revision=row.revision, fingerprint=seen, created_at=now)
    )
    row.updated_at = now
    given = [a for a in row.approvals if a.revision == row.revision]
    audit.record(
        actor,
        "draft.approved",
        now=now,
        target_type="draft",
        target_id=row.id,
        summary=(
            f"approved draft {row.id} r{row.revision} by {author_name(row)} "
            f"({len(given)} of {row.approvals_needed})"
        ),
        after={"revision": row.revision, "approvals": len(given)},
    )
    if len(given) < row.approvals_needed:
        return Outcome(draft=row)
    approvers = ", ".join(a.user.email for a in given)
    writer = audit.Actor(
        label=f"{author_name(row)}, approved by {approvers}", user=row.author, ip=actor.ip
    )
    published = core.publish(
        drafts.to_draft(row),
        now=now,
        actor=writer,
        confirm=lambda p: fingerprint(row, p) == seen,
        approved=True,
    )
    drafts.mark_published(row, published, now=now, actor=actor)
    return Outcome(published=published, draft=row)


def send_back(draft_id: int, *, comment: str, now: datetime, actor: audit.Actor) -> StoredDraft:
    """Return a request to its author with a comment; nothing is published."""
    row = drafts.get(draft_id, lock=True)
    if row.state != PENDING:
        raise Conflict(f"draft {row.id} is {row.state}{drafts.by(row)}: nothing to return")
    if not (may_approve(row, actor.user) or is_admin(actor)):
        rule = rule_of(row)
        who = rule.approvers if rule is not None else "an admin"
        raise PermissionDenied(f"only the approvers ({who}) return a draft to its author")
    text = limits.note(comment, field="comment")
    if not text:
        raise ValidationError("say what should change", field="comment")
    row.state = RETURNED
    row.comment = text
    drafts.decided(row, now, actor)
    audit.record(
        actor,
        "draft.returned",
        now=now,
        target_type="draft",
        target_id=row.id,
        summary=f"returned draft {row.id} r{row.revision} to {author_name(row)}",
        after={"comment": text},
    )
    return row


def withdraw(draft_id: int, *, now: datetime, actor: audit.Actor, note: str = "") -> StoredDraft:
    """Set a draft aside: a request for approval by its author or an admin, a draft from alerts
    by anyone who publishes."""
    row = drafts.get(draft_id, lock=True)
    check_reviser(row, actor)
    return drafts.dismiss(draft_id, now=now, actor=actor, note=note)


def publish_without_approval(
    draft_id: int, *, reason: str, now: datetime, actor: audit.Actor, seen: str | None = None
) -> core.Published:
    """An admin publishes a request without (all of) its approvals, saying why; with `seen`
    (the fingerprint of what they read), only if that is still what would be published."""
    row = _open(draft_id)
    if row.state == RETURNED:
        raise Conflict(
            f"draft {row.id} was returned to its author for changes{drafts.by(row)}: it is "
            "revised (by its author or an admin) before it goes out, with or without approval"
        )
    if seen is not None and is_admin(actor) and fingerprint(row, _prepared(row)) != seen:
        raise StaleApproval(
            f"draft {row.id} changed since you read it (it is revision {row.revision} now, or "
            "what it would publish moved on): read it again"
        )
    return _bypass(row, reason, now=now, actor=actor)


# -- the worker's tick ------------------------------------------------------------------------


def tick(now: datetime, notices: Notices) -> int:
    """Escalate requests that waited longer than their plan allows, and tell each plan's
    reminder path of incidents whose next update is overdue; return the notices added."""
    return _escalate_waiting(now, notices) + _remind_overdue(now, notices)


def _escalate_waiting(now: datetime, notices: Notices) -> int:
    rows = db.session.scalars(
        sa.select(StoredDraft)
        .where(StoredDraft.state == PENDING, StoredDraft.escalated_at.is_(None))
        .order_by(StoredDraft.requested_at)
        .limit(TICK_BATCH)
    ).all()
    added = 0
    for row in rows:
        rule = rule_of(row)
        if rule is None or rule.wait_minutes is None or row.requested_at is None:
            continue
        waited = now - row.requested_at
        if waited < timedelta(minutes=rule.wait_minutes):
            continue
        row.escalated_at = now
        values = {
            "site_name": notices.site_name,
            "draft_title": title_of(row),
            "author": author_name(row),
            "plan": row.plan_slug or "",
            "minutes_waiting": str(int(waited.total_seconds() // 60)),
            "draft_url": _url(notices, row),
        }
        notification = render.render_notice(
            "approval_waiting",
            escalation.templates(),
            values,
            fields={"Draft": values["draft_title"], "Waiting": f"{values['minutes_waiting']} min"},
            url=values["draft_url"],
            key=f"draft:{row.id}:r{row.revision}:waiting",
            now=now,
            severity="warning",
        )
        added += escalation.notify_path(
            rule.escalate_to,
            notification,
            key=f"draft:{row.id}:r{row.revision}:waiting",
            now=now,
            incident_id=row.incident_id,
            config=notices.escalation,
        )
    return added


def _remind_overdue(now: datetime, notices: Notices) -> int:
    added = 0
    incidents = plan_service.open_with_plan(limit=TICK_BATCH)
    statuses = plan_service.message_statuses() if incidents else {}
    for incident in incidents:
        standing = plan_service.standing(incident, statuses)
        if standing is None:
            continue
        followed, progress, last = standing
        if not followed.plan.reminders or not progress.overdue(now) or last is None:
            continue
        assert progress.next_update_due is not None
        cadence = followed.plan.cadence_for(incident.status)
        late = now - progress.next_update_due
        # One reminder when the update falls due, then one per cadence while it is still owed.
        number = 1 + (int(late / cadence) if cadence else 0)
        key = f"plan:{incident.id}:{last.id}:{number}"
        values = {
            "site_name": notices.site_name,
            "incident_title": incident.name,
            "status": incident.status_enum.label,
            "plan": followed.plan.title,
            "minutes_since_update": str(int((now - last.display_at).total_seconds() // 60)),
            "minutes_overdue": str(int(late.total_seconds() // 60)),
            "next_message": progress.next_message or "",
            "incident_url": f"{notices.site_url}/admin/incidents/{incident.id}",
        }
        notification = render.render_notice(
            "overdue",
            escalation.templates(),
            values,
            fields={"Incident": incident.name, "Overdue": f"{values['minutes_overdue']} min"},
            url=values["incident_url"],
            key=key,
            now=now,
            severity="warning",
        )
        added += escalation.notify_path(
            followed.plan.reminders,
            notification,
            key=key,
            now=now,
            incident_id=incident.id,
            config=notices.escalation,
        )
    return added


# -- helpers ------------------------------------------------------------------------------------


def _by_key(key: str) -> StoredDraft | None:
    return db.session.scalar(sa.select(StoredDraft).where(StoredDraft.idempotency_key == key))


def _earlier(row: StoredDraft) -> Outcome:
    """A request sent again: the draft it stored, or the update it became."""
    if row.update_id is not None:
        update = db.session.get(IncidentUpdate, row.update_id)
        if update is not None:
            return Outcome(published=core.Published(update, created=False), draft=row)
    if row.state not in (PENDING, drafts.WAITING):
        raise Conflict(
            f"this request was {row.state}{drafts.by(row)}: send a new one with a new key"
        )
    return Outcome(draft=row)


def _open(draft_id: int) -> StoredDraft:
    row = drafts.get(draft_id, lock=True)
    if row.state not in (PENDING, RETURNED, drafts.WAITING):
        raise Conflict(f"draft {row.id} was {row.state}{drafts.by(row)}")
    return row


def _prepared(row: StoredDraft) -> core.Prepared:
    """What the request would publish now; a conflict (the incident moved on) says who acts."""
    try:
        return core.prepare(drafts.to_draft(row), lock=True)
    except Conflict as exc:
        newest = _newest_update(row.incident_id) if row.incident_id is not None else None
        if newest is not None and newest != row.seen_update_id:
            update = db.session.get(IncidentUpdate, newest)
            assert update is not None
            raise Conflict(
                f"draft {row.id} was written before the incident's latest update (it was "
                f"{core.posted(update)}): nothing was published; its author can revise it"
            ) from exc
        raise Conflict(
            f"draft {row.id} cannot be published as it is: {exc.message}; its author can revise it"
        ) from exc


def _store(
    draft: core.Draft,
    prepared: core.Prepared,
    *,
    key: str | None,
    now: datetime,
    actor: audit.Actor,
) -> StoredDraft:
    row = StoredDraft(
        source=SOURCE,
        state=PENDING,
        rule="",
        idempotency_key=key,
        author=actor.user,
        detected_at=now,
        created_at=now,
        updated_at=now,
        revision=1,
    )
    _copy(row, draft)
    _plan_fields(row, prepared)
    db.session.add(row)
    db.session.flush()
    return row


def _copy(row: StoredDraft, draft: core.Draft) -> None:
    """Keep exactly what the author sent: message, values, text, components, window.

    Text is kept as the core reads it (control characters a database cannot store are gone).
    An update of an incident records the newest update the author saw (the form's, else the
    newest now): approving it after another update went out is refused, as the author wrote
    against an incident that has moved on.
    """
    row.incident_id = draft.incident_id
    row.kind = draft.kind.value
    row.purpose = "open" if draft.incident_id is None else "update"
    row.message_slug = draft.message or ""
    row.message_version = draft.message_version
    row.variables = {clean_line(str(k)): clean_text(str(v)) for k, v in draft.variables.items()}
    row.title = clean_line(draft.title) if draft.title is not None else None
    row.body = clean_text(draft.body) if draft.body is not None else None
    row.status = draft.status
    row.impact = draft.impact
    row.component_statuses = {str(k): v for k, v in draft.component_statuses.items()}
    row.notify = draft.notify
    row.scheduled_for = draft.scheduled_for
    row.scheduled_until = draft.scheduled_until
    row.next_update_minutes = draft.next_update_minutes
    row.seen_update_id = draft.seen_update_id
    if row.seen_update_id is None and draft.incident_id is not None:
        row.seen_update_id = _newest_update(draft.incident_id)


def _newest_update(incident_id: int) -> int | None:
    return db.session.scalar(
        sa.select(IncidentUpdate.id)
        .where(IncidentUpdate.incident_id == incident_id)
        .order_by(IncidentUpdate.display_at.desc(), IncidentUpdate.id.desc())
        .limit(1)
    )


def _plan_fields(row: StoredDraft, prepared: core.Prepared) -> None:
    assert prepared.plan is not None and prepared.approval is not None
    row.status = prepared.status.value
    row.message_version = prepared.version.number if prepared.version else row.message_version
    row.plan_slug = prepared.plan.slug
    row.plan_version = prepared.plan.number
    row.approvals_needed = prepared.approval.count
    if prepared.status.is_closed:
        row.purpose = "resolve"


def _requested(
    row: StoredDraft,
    prepared: core.Prepared,
    *,
    now: datetime,
    actor: audit.Actor,
    notices: Notices,
    action: str,
) -> None:
    """The request is out: state, times, audit, and the notice to the plan's approvers."""
    assert prepared.approval is not None and prepared.plan is not None
    row.state = PENDING
    row.requested_at = now
    row.escalated_at = None
    row.updated_at = now
    row.decided_at = None
    row.decided_by = ""
    audit.record(
        actor,
        action,
        now=now,
        target_type="draft",
        target_id=row.id,
        summary=(
            f"{prepared.feed_title}: approval requested from {prepared.approval.approvers} "
            f"(plan {prepared.plan.slug}, r{row.revision})"
        ),
        after={"revision": row.revision, "fingerprint": fingerprint(row, prepared)},
    )
    values = {
        "site_name": notices.site_name,
        "draft_title": prepared.feed_title,
        "author": author_name(row),
        "plan": prepared.plan.plan.title,
        "approvers": prepared.approval.approvers,
        "draft_url": _url(notices, row),
    }
    notification = render.render_notice(
        "approval",
        escalation.templates(),
        values,
        fields={"Update": prepared.feed_title, "Author": values["author"]},
        url=values["draft_url"],
        key=f"draft:{row.id}:r{row.revision}",
        now=now,
        severity="warning",
    )
    escalation.notify_path(
        prepared.approval.notify,
        notification,
        key=f"draft:{row.id}:r{row.revision}",
        now=now,
        incident_id=row.incident_id,
        config=notices.escalation,
    )


def _bypass(row: StoredDraft, reason: str, *, now: datetime, actor: audit.Actor) -> core.Published:
    if not is_admin(actor):
        raise PermissionDenied("only an admin publishes without the approval the plan asks for")
    text = limits.note(reason, field="reason")
    if not text:
        raise ValidationError(
            "say why this goes out without approval (the audit log keeps it)", field="reason"
        )
    published = core.publish(drafts.to_draft(row), now=now, actor=actor, approved=True)
    row.comment = text
    drafts.mark_published(row, published, now=now, actor=actor)
    audit.record(
        actor,
        "draft.published_without_approval",
        now=now,
        target_type="incident",
        target_id=published.update.incident_id,
        summary=f"published draft {row.id} without approval: {text}",
        after={"draft": row.id, "update_id": published.update.id, "reason": text},
    )
    return published


def title_of(row: StoredDraft) -> str:
    """What a request would publish as its title, or "Draft N" when it cannot be previewed."""
    try:
        return drafts.preview(row).feed_title
    except (Conflict, ValidationError, NotFound):
        return f"Draft {row.id}"


def _url(notices: Notices, row: StoredDraft) -> str:
    return f"{notices.site_url}/admin/drafts/{row.id}"


def pending(limit: int = 100) -> list[StoredDraft]:
    """Requests waiting for approval, oldest first."""
    return list(
        db.session.scalars(
            sa.select(StoredDraft)
            .where(StoredDraft.state == PENDING)
            .order_by(StoredDraft.requested_at, StoredDraft.id)
            .limit(limit)
        )
    )


def of_incident(incident: Incident) -> list[StoredDraft]:
    """The requests made on an incident (and the one that opened it), newest first."""
    return list(
        db.session.scalars(
            sa.select(StoredDraft)
            .where(StoredDraft.incident_id == incident.id, StoredDraft.author_id.is_not(None))
            .order_by(StoredDraft.id.desc())
            .limit(50)
        )
    )


def returned_to(user: Any, limit: int = 50) -> list[StoredDraft]:
    """Requests returned to their author, this user, newest first (the admin's dashboard)."""
    if user is None:
        return []
    return list(
        db.session.scalars(
            sa.select(StoredDraft)
            .where(StoredDraft.state == RETURNED, StoredDraft.author_id == user.id)
            .order_by(StoredDraft.decided_at.desc(), StoredDraft.id.desc())
            .limit(limit)
        )
    )
