"""The transactional outbox: notifications written with their event, delivered at least once.

A row is `pending` until a worker delivers it (`sent`) or gives up (`dead`, with the last
error). Workers take rows with a lease (`claim`); a worker that dies holding a lease loses it
when it runs out, and another worker takes the rows over. Failures are retried with
exponential backoff and full jitter, never sooner than the receiver's Retry-After.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from statuspage.db import notify
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery.channels import Outcome, Result
from statuspage.errors import Conflict, NotFound

PENDING, SENT, DEAD = "pending", "sent", "dead"
#: For the delivery log: pending rows whose last attempt failed.
RETRYING = "retrying"
STATES = (PENDING, RETRYING, SENT, DEAD)
MAX_ERROR_CHARS = 2000
#: Ids per statement of a batched update: well under any database's limit on parameters.
_CHUNK = 500
#: Each database's own INSERT: both have `on_conflict_do_nothing`.
_INSERTS: dict[str, Callable[[sa.Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


@dataclass(frozen=True)
class Policy:
    """When to try again and when to give up."""

    max_attempts: int = 12
    max_age: timedelta = timedelta(hours=24)
    base_seconds: float = 10.0
    cap_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, worker: Mapping[str, Any]) -> Policy:
        """Build the policy from `settings.worker`."""
        return cls(
            max_attempts=worker["max_attempts"],
            max_age=timedelta(hours=worker["max_age_hours"]),
            base_seconds=float(worker.get("retry_base_seconds", cls.base_seconds)),
        )

    def backoff(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `attempts`-th failure: full jitter, doubling, capped."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return (rng or random).uniform(0, ceiling)


def current_policy() -> Policy:
    """The policy from the app's settings."""
    return Policy.from_settings(current_app.config["STATUSPAGE"].worker)


def new_row(
    *,
    key: str,
    channel: str,
    kind: str,
    payload: Mapping[str, Any],
    now: datetime,
    incident_id: int | None = None,
    run_id: int | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """The column values of a new pending message (for `enqueue` and bulk inserts)."""
    return {
        "idempotency_key": key,
        "channel": channel,
        "kind": kind,
        "payload": dict(payload),
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "claimed_by": "",
        "last_error": "",
        "last_status": None,
        "created_at": now,
        "sent_at": None,
        "incident_id": incident_id,
        "run_id": run_id,
        "update_id": update_id,
    }


def enqueue(
    *,
    key: str,
    channel: str,
    kind: str,
    payload: Mapping[str, Any],
    now: datetime,
    incident_id: int | None = None,
    run_id: int | None = None,
    update_id: int | None = None,
) -> bool:
    """Add a message unless one with this key exists; return whether it was added.

    Runs in the caller's transaction, so the message exists exactly when its event does.
    """
    values = new_row(
        key=key,
        channel=channel,
        kind=kind,
        payload=payload,
        now=now,
        incident_id=incident_id,
        run_id=run_id,
        update_id=update_id,
    )
    dialect = db.session.get_bind().dialect.name
    insert = _INSERTS[dialect]
    statement = (
        insert(OutboxMessage.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        # RETURNING rather than rowcount, which psycopg leaves at -1 here.
        .returning(OutboxMessage.__table__.c.id)
    )
    notify.outbox_written(db.session)  # idle workers wake when this transaction commits
    return db.session.execute(statement).scalar() is not None


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        OutboxMessage.state == PENDING,
        OutboxMessage.next_attempt_at <= now,
        sa.or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def due_first(now: datetime, limit: int) -> sa.Select[int]:
    """The ids of the `limit` oldest due messages, locked, skipping those another worker holds:
    read in order from the index on (state, next_attempt_at, id), not sorted."""
    return (
        sa.select(OutboxMessage.id)
        .where(_due(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def claim(worker_id: str, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to `worker_id` in one statement and commit; return them
    detached, oldest due first.

    PostgreSQL skips rows another worker has locked (FOR UPDATE SKIP LOCKED); SQLite
    serialises claims with BEGIN IMMEDIATE. The attempt is counted here, so a message that
    kills every worker that takes it still reaches `max_attempts`.
    """
    with write_transaction():
        statement = (
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(due_first(now, limit).scalar_subquery()))
            .values(
                lease_until=now + lease,
                claimed_by=worker_id,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False)
        )
        messages = list(db.session.scalars(statement))
        for message in messages:
            # Detached with their values loaded: the worker reads them after the commit.
            db.session.expunge(message)
    # RETURNING keeps no order.
    messages.sort(key=lambda m: (m.next_attempt_at, m.id))
    return messages


def mark_sent_many(
    messages: Sequence[OutboxMessage], now: datetime, *, status: int | None = None
) -> set[int]:
    """Record many deliveries with one statement per chunk; return the ids whose claim held
    (the others were taken over by another worker)."""
    kept: set[int] = set()
    by_claimer: dict[str, list[int]] = {}
    for message in messages:
        by_claimer.setdefault(message.claimed_by, []).append(message.id)
    for claimer, ids in by_claimer.items():
        for start in range(0, len(ids), _CHUNK):
            statement = (
                sa.update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids[start : start + _CHUNK]),
                    OutboxMessage.state == PENDING,
                    OutboxMessage.claimed_by == claimer,
                )
                .values(
                    state=SENT, sent_at=now, lease_until=None, last_status=status, last_error=""
                )
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            kept.update(db.session.scalars(statement))
    return kept


def _update_claimed(message: OutboxMessage, **values: Any) -> bool:
    """Update a message only while `message.claimed_by` still holds it."""
    statement = (
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.state == PENDING,
            OutboxMessage.claimed_by == message.claimed_by,
        )
        .values(**values)
    )
    # An UPDATE without RETURNING gives a CursorResult (SQLAlchemy types it as any Result).
    return cast(sa.CursorResult[Any], db.session.execute(statement)).rowcount == 1


def mark_sent(message: OutboxMessage, now: datetime, *, status: int | None = None) -> bool:
    """Record a delivery; False if the claim was lost (another worker took the row over)."""
    return _update_claimed(
        message,
        state=SENT,
        sent_at=now,
        lease_until=None,
        last_status=status,
        last_error="",
    )


def mark_failed(
    message: OutboxMessage,
    result: Result,
    now: datetime,
    *,
    policy: Policy | None = None,
    rng: random.Random | None = None,
) -> bool:
    """Schedule the next attempt, or mark the message dead; False if the claim was lost.

    Dead: a permanent error, `max_attempts` attempts, or older than `max_age`. The last error
    is kept either way, for the delivery log.
    """
    policy = policy or current_policy()
    error = (result.error or result.outcome.value)[:MAX_ERROR_CHARS]
    reason = ""
    if result.outcome is Outcome.PERMANENT:
        reason = "permanent error"
    elif message.attempts >= policy.max_attempts:
        reason = f"gave up after {message.attempts} attempts"
    elif now - message.created_at >= policy.max_age:
        reason = f"gave up after {_hours(policy.max_age)} h"
    if reason:
        return _update_claimed(
            message,
            state=DEAD,
            lease_until=None,
            last_status=result.status,
            last_error=f"{reason}: {error}"[:MAX_ERROR_CHARS],
        )
    delay = policy.backoff(message.attempts, rng)
    if result.retry_after is not None:
        delay = max(delay, result.retry_after)
    return _update_claimed(
        message,
        next_attempt_at=now + timedelta(seconds=delay),
        lease_until=None,
        last_status=result.status,
        last_error=error,
    )


def release(message: OutboxMessage) -> bool:
    """Give back a claimed message that was not attempted (the worker is stopping)."""
    return _update_claimed(
        message, lease_until=None, claimed_by="", attempts=OutboxMessage.attempts - 1
    )


def cancel_unsent(key_prefix: str) -> int:
    """Delete the messages under `key_prefix` nobody has started sending (pending, unclaimed,
    never attempted): news that went stale before it left. Return how many."""
    table = OutboxMessage.__table__
    result = db.session.execute(
        table.delete().where(
            table.c.idempotency_key.startswith(key_prefix, autoescape=True),
            table.c.state == PENDING,
            table.c.attempts == 0,
            table.c.lease_until.is_(None),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _hours(value: timedelta) -> str:
    return f"{value.total_seconds() / 3600:g}"


def retry_dead(message_id: int, now: datetime) -> OutboxMessage:
    """Send a dead message again, now, with a fresh allowance of attempts and age."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no outbox message {message_id}")
    if message.state != DEAD:
        raise Conflict(f"outbox message {message_id} is {message.state}, not dead")
    message.state = PENDING
    message.attempts = 0
    message.next_attempt_at = now
    message.lease_until = None
    message.claimed_by = ""
    # The age limit counts from here: an old message retried by hand gets a full day again.
    message.created_at = now
    return message


@dataclass(frozen=True)
class Stats:
    """How many messages are in each state, and how late the oldest waiting one is."""

    pending: int
    retrying: int
    sent: int
    dead: int
    oldest_pending: datetime | None


def stats() -> Stats:
    """Count the messages by state."""
    rows = db.session.execute(
        sa.select(
            OutboxMessage.state,
            sa.func.count(),
            sa.func.sum(sa.case((OutboxMessage.last_error != "", 1), else_=0)),
        ).group_by(OutboxMessage.state)
    ).all()
    counts = {state: (count, retrying or 0) for state, count, retrying in rows}
    oldest = db.session.scalar(
        sa.select(sa.func.min(OutboxMessage.created_at)).where(OutboxMessage.state == PENDING)
    )
    return Stats(
        pending=counts.get(PENDING, (0, 0))[0],
        retrying=counts.get(PENDING, (0, 0))[1],
        sent=counts.get(SENT, (0, 0))[0],
        dead=counts.get(DEAD, (0, 0))[0],
        oldest_pending=oldest,
    )


def recent(state: str | None = None, limit: int = 50) -> list[OutboxMessage]:
    """The newest messages, optionally in one state (`retrying`: pending after a failure)."""
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state == RETRYING:
        query = query.where(OutboxMessage.state == PENDING, OutboxMessage.last_error != "")
    elif state is not None:
        if state not in STATES:
            raise NotFound(f"no delivery state {state!r} (known: {', '.join(STATES)})")
        query = query.where(OutboxMessage.state == state)
    return list(db.session.scalars(query))
