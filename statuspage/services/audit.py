"""The audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import AuditEntry, User


@dataclass(frozen=True)
class Actor:
    """Who did something: a signed-in user, a token, or the command line."""

    label: str
    user: User | None = None
    ip: str = ""

    @classmethod
    def for_user(cls, user: User, ip: str = "", via: str = "") -> Actor:
        label = f"{user.email} ({via})" if via else user.email
        return cls(label=label, user=user, ip=ip)


CLI = Actor(label="cli")


def record(
    actor: Actor,
    action: str,
    *,
    now: datetime,
    target_type: str = "",
    target_id: object = "",
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction."""
    entry = AuditEntry(
        at=now,
        actor_id=actor.user.id if actor.user is not None else None,
        actor=actor.label[:300],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=summary,
        before=before,
        after=after,
        ip=actor.ip[:64],
    )
    db.session.add(entry)
    return entry


def entries(
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries matching the filters (keyset-paginated by id)."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor.contains(actor, autoescape=True))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.session.scalars(query))


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain JSON-ready data, for `statuspage audit export`."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "summary": entry.summary,
        "before": entry.before,
        "after": entry.after,
        "ip": entry.ip,
    }
