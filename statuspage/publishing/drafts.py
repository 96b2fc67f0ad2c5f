"""Stored drafts (prepared from alerts): previewed, published or dismissed through the one core.

A stored draft is a `publish.Draft` kept in the database. Publishing it calls `publish.publish`
with the key `draft:<id>`, so a second click (or a second way in) returns the first update; the
admin's one-click Publish, `/api/v1/drafts/<id>/publish` and intake's `publish` rules all come here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from statuspage.core import limits
from statuspage.core.enums import IncidentKind
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import Draft as StoredDraft
from statuspage.db.models import IncidentUpdate
from statuspage.delivery import outbox
from statuspage.errors import Conflict, NotFound
from statuspage.publishing import publish as core

WAITING = "waiting"
PUBLISHED = "published"
DISMISSED = "dismissed"
#: The alerts resolved (or fired again) before anyone published it.
OBSOLETE = "obsolete"
#: Sent for approval (publishing/approvals): waits for the plan's approvers.
PENDING = "pending"
#: An approver sent it back to its author with a comment.
RETURNED = "returned"
STATES = (WAITING, PENDING, RETURNED, PUBLISHED, DISMISSED, OBSOLETE)
#: States in which a draft can still be published, approved or set aside.
OPEN_STATES = (WAITING, PENDING, RETURNED)
#: Who sets a draft aside when its alerts make it moot.
INTAKE = audit.Actor(label="intake")
_NOTICE = "draft:"


def to_draft(row: StoredDraft) -> core.Draft:
    """The publishing core's draft for a stored one."""
    return core.Draft(
        incident_id=row.incident_id,
        kind=IncidentKind(row.kind or IncidentKind.INCIDENT.value),
        message=row.message_slug or None,
        message_version=row.message_version,
        variables=dict(row.variables or {}),
        title=row.title,
        body=row.body,
        status=row.status,
        impact=row.impact,
        component_statuses={int(k): v for k, v in (row.component_statuses or {}).items()},
        notify=row.notify,
        idempotency_key=f"draft:{row.id}",
        scheduled_for=row.scheduled_for,
        scheduled_until=row.scheduled_until,
        next_update_minutes=row.next_update_minutes,
        seen_update_id=row.seen_update_id,
    )


def get(draft_id: int, *, lock: bool = False) -> StoredDraft:
    """A stored draft by id (locked and read afresh with `lock`), or NotFound."""
    row = database.lock(StoredDraft, draft_id) if lock else db.session.get(StoredDraft, draft_id)
    if row is None:
        raise NotFound(f"no draft with id {draft_id}")
    return row


def preview(row: StoredDraft) -> core.Prepared:
    """What publishing the draft would publish (the same checks, no write)."""
    return core.prepare(to_draft(row))


def publish(
    draft_id: int,
    *,
    now: datetime,
    actor: audit.Actor,
    confirm: Callable[[core.Prepared], bool] | None = None,
) -> core.Published:
    """Publish a waiting draft in the caller's transaction; a published one returns its update."""
    row = get(draft_id, lock=True)
    if row.state == PUBLISHED and row.update_id is not None:
        update = db.session.get(IncidentUpdate, row.update_id)
        if update is not None:
            return core.Published(update, created=False)
    if row.state != WAITING:
        raise Conflict(f"draft {row.id} was {row.state}{by(row)}: nothing was published")
    published = core.publish(to_draft(row), now=now, actor=actor, confirm=confirm)
    mark_published(row, published, now=now, actor=actor)
    return published


def published_as(
    row: StoredDraft, published: core.Published, *, now: datetime, actor: audit.Actor
) -> None:
    """Record that a waiting draft (locked with `get(..., lock=True)` before publishing) went out
    as `published` another way: the compose form, after the PM edited it."""
    if row.state not in OPEN_STATES:
        raise Conflict(f"draft {row.id} was {row.state}{by(row)}: nothing was published")
    mark_published(row, published, now=now, actor=actor)


def mark_published(
    row: StoredDraft, published: core.Published, *, now: datetime, actor: audit.Actor
) -> None:
    """Record that a draft went out as `published` (in its transaction)."""
    incident = published.update.incident
    if row.incident_id is None and row.source == "alert":
        # The incident starts where monitoring saw it first: time to first update counts from it.
        incident.detected_at = row.detected_at
        for alert in row.alerts:
            alert.incident_id = incident.id
    row.state = PUBLISHED
    row.update_id = published.update.id
    row.incident_id = incident.id
    decided(row, now, actor)


def dismiss(draft_id: int, *, now: datetime, actor: audit.Actor, note: str = "") -> StoredDraft:
    """Set a draft aside without publishing (a PM's request: withdraw it); alerts stay recorded."""
    row = get(draft_id, lock=True)
    if row.state not in OPEN_STATES:
        raise Conflict(f"draft {row.id} was {row.state}{by(row)}")
    before = row.state
    row.state = DISMISSED
    row.note = limits.note(note)
    decided(row, now, actor)
    audit.record(
        actor,
        "draft.dismissed",
        now=now,
        target_type="draft",
        target_id=row.id,
        summary=f"dismissed draft {row.id} ({row.rule or row.source})",
        before={"state": before},
        after={"note": row.note},
    )
    return row


def make_obsolete(row: StoredDraft, *, now: datetime, why: str) -> None:
    """A waiting draft nobody needs any more (its alerts resolved, or fired again)."""
    if row.state == WAITING:
        row.state = OBSOLETE
        row.note = why
        decided(row, now, INTAKE)


def decided(row: StoredDraft, now: datetime, actor: audit.Actor) -> None:
    """Stamp who decided a draft and when; its notices not yet sent are withdrawn."""
    row.decided_at = now
    row.decided_by = actor.label[:300]
    row.updated_at = now
    _recall_notices(row)


def notice_key(row: StoredDraft) -> str:
    """The outbox key (before `:<channel>`) of the notices telling that this draft waits."""
    return f"{_NOTICE}{row.id}"


def _recall_notices(row: StoredDraft) -> None:
    """Once a draft is decided, its "draft ready" notices not yet sent would be stale news."""
    outbox.cancel_unsent(f"{_NOTICE}{row.id}:")


def by(row: StoredDraft) -> str:
    """ " by ana@example.com at 2026-12-06 10:02 UTC" for a decided draft, else ""."""
    if row.decided_at is None:
        return ""
    return f" by {row.decided_by} at {row.decided_at:%Y-%m-%d %H:%M} UTC"
