"""The audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, User
from statuspage.errors import ValidationError


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
#: The actor of every automatic transition (maintenance start and end, reminders).
TICK = Actor(label="tick")


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
        query = query.where(AuditEntry.actor.icontains(actor, autoescape=True))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.session.scalars(query))


def export(
    *, since: datetime | None = None, action: str | None = None, batch: int = 500
) -> Iterator[AuditEntry]:
    """Every entry matching the filters, oldest first, read in batches (the log can be long)."""
    after_id = 0
    while True:
        query = (
            sa.select(AuditEntry)
            .where(AuditEntry.id > after_id)
            .order_by(AuditEntry.id)
            .limit(batch)
        )
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if action:
            query = query.where(AuditEntry.action == action)
        rows = list(db.session.scalars(query))
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1].id


def actions() -> list[str]:
    """The actions that occur in the log, for filter choices."""
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by("action")))


def target_types() -> list[str]:
    """The target types that occur in the log, for filter choices."""
    query = (
        sa.select(AuditEntry.target_type)
        .where(AuditEntry.target_type != "")
        .distinct()
        .order_by("target_type")
    )
    return list(db.session.scalars(query))


_AGO = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """Parse a `since` filter: a date (midnight in `tz`), an ISO time, or an age like 7d or 24h."""
    text = text.strip()
    try:
        if match := _AGO.fullmatch(text):
            return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=tz)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"cannot read {text!r} as a time: use a date (2026-01-01), "
            "a time (2026-01-01T09:30) or an age (30m, 24h, 7d, 2w)",
            field="since",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


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
