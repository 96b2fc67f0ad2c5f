"""The admin side of subscribers: search and counts, removal, CSV import and export, and where
the subscriber messages of each update stand."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.core.times import isoformat
from statuspage.db import audit, notify, queries
from statuspage.db.extensions import db
from statuspage.db.models import (
    Component,
    IncidentUpdate,
    OutboxMessage,
    Subscriber,
    subscriber_components,
)
from statuspage.delivery import outbox
from statuspage.delivery.channels import SUBSCRIBER_PREFIX
from statuspage.delivery.subscriber_common import (
    CONFIRMATION,
    EMAIL,
    KINDS,
    SLACK,
    STATES,
    active_filter,
    check_email,
    confirmation_subject,
    shown_url,
    state_of,
    subscriber_settings,
)
from statuspage.delivery.subscriber_delivery import FAN_OUT_KIND, SKIPPED
from statuspage.errors import NotFound, ValidationError

MAX_IMPORT_ROWS = 50_000
PER_PAGE = 50

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def state_filter(state: str) -> sa.ColumnElement[bool]:
    """Where a subscription is in `state` (active, pending, unsubscribed, disabled)."""
    if state == "active":
        return active_filter()
    if state == "pending":
        return sa.and_(Subscriber.confirmed_at.is_(None), Subscriber.unsubscribed_at.is_(None))
    if state == "unsubscribed":
        return Subscriber.unsubscribed_at.is_not(None)
    if state == "disabled":
        return sa.and_(Subscriber.disabled_at.is_not(None), Subscriber.unsubscribed_at.is_(None))
    raise NotFound(f"no subscriber state {state!r}")


def search(
    text: str = "",
    *,
    state: str | None = None,
    kind: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[list[Subscriber], bool]:
    """Subscribers whose address or URL contains `text`, newest first; and whether more follow.

    A Slack URL is a credential: it is not searched, or the search would reveal it piece by
    piece to anyone who may read the list.
    """
    query = (
        sa.select(Subscriber)
        .order_by(Subscriber.id.desc())
        .options(selectinload(Subscriber.components))
    )
    text = text.strip()
    if text:
        query = query.where(
            sa.or_(
                Subscriber.email.icontains(text, autoescape=True),
                sa.and_(Subscriber.kind != SLACK, Subscriber.url.icontains(text, autoescape=True)),
            )
        )
    if state:
        query = query.where(state_filter(state))
    if kind:
        if kind not in KINDS:
            raise NotFound(f"no subscriber kind {kind!r}")
        query = query.where(Subscriber.kind == kind)
    rows = list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


@dataclass(frozen=True)
class Counts:
    """Subscribers per state and per kind (active ones), following every component, and per
    chosen component."""

    by_state: dict[str, int]
    by_kind: dict[str, int]
    everything: int
    per_component: list[tuple[Component, int]]


def counts() -> Counts:
    """How many subscribers there are in each state, and who follows which component."""
    by_state = {state: 0 for state in STATES}
    for state in STATES:
        by_state[state] = (
            db.session.scalar(sa.select(sa.func.count()).where(state_filter(state))) or 0
        )
    everything = (
        db.session.scalar(
            sa.select(sa.func.count()).where(active_filter(), Subscriber.all_components.is_(True))
        )
        or 0
    )
    chosen: dict[int, int] = dict(
        db.session.execute(
            sa.select(subscriber_components.c.component_id, sa.func.count())
            .join(Subscriber, Subscriber.id == subscriber_components.c.subscriber_id)
            .where(active_filter(), Subscriber.all_components.is_(False))
            .group_by(subscriber_components.c.component_id)
        ).all()
    )
    per_component = [(c, chosen.get(c.id, 0)) for c in queries.component_tree().components]
    by_kind = {kind: 0 for kind in KINDS}
    by_kind.update(
        db.session.execute(
            sa.select(Subscriber.kind, sa.func.count())
            .where(active_filter())
            .group_by(Subscriber.kind)
        ).all()
    )
    return Counts(by_state, by_kind, everything, per_component)


def remove(subscriber_id: int, *, now: datetime, actor: audit.Actor) -> Subscriber:
    """Delete a subscriber (audited); queued messages to it are dropped at send time."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber {subscriber_id}")
    audit.record(
        actor,
        "subscriber.removed",
        now=now,
        target_type="subscriber",
        target_id=subscriber.id,
        summary=f"{subscriber.kind} subscriber {subscriber.email} removed",
        before={"kind": subscriber.kind, "email": subscriber.email, "url": shown_url(subscriber)},
    )
    db.session.delete(subscriber)
    return subscriber


def add_confirmed_email(
    address: str, component_ids: Sequence[int] | None, *, now: datetime, actor: audit.Actor
) -> Subscriber:
    """Add one email subscriber as already confirmed (an admin vouches for the address, as for
    a confirmed import), audited; an address already subscribed is returned as it is."""
    report = import_csv(_one_row(address, component_ids), confirmed=True, now=now, actor=actor)
    if report.errors:
        raise ValidationError(report.errors[0][1], field="email")
    found = db.session.scalar(
        sa.select(Subscriber).where(
            Subscriber.kind == EMAIL,
            Subscriber.email == check_email(address),
            Subscriber.incident_id.is_(None),
        )
    )
    if found is None:
        raise NotFound(f"no subscriber {address}")
    return found


def _one_row(address: str, component_ids: Sequence[int] | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "components"])
    writer.writerow([address, ";".join(str(i) for i in component_ids or ())])
    return out.getvalue()


def end(subscriber: Subscriber, *, now: datetime, actor: audit.Actor) -> bool:
    """Unsubscribe a subscriber in an admin's name (kept, as unsubscribed), audited; False when
    it already was."""
    if subscriber.unsubscribed_at is not None:
        return False
    subscriber.unsubscribed_at = now
    audit.record(
        actor,
        "subscriber.unsubscribed",
        now=now,
        target_type="subscriber",
        target_id=subscriber.id,
        summary=f"{subscriber.kind} subscriber {subscriber.email} unsubscribed by an admin",
    )
    return True


def resend_confirmation(subscriber: Subscriber, *, now: datetime) -> bool:
    """Send a pending subscriber its confirmation again; False when there is none to confirm."""
    if state_of(subscriber) != "pending":
        return False
    _bulk_confirmations([subscriber.id], now)
    return True


@dataclass
class ImportReport:
    """What an import did, with the rows it refused (line number and reason)."""

    added: int = 0
    existing: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_csv(text: str, *, confirmed: bool, now: datetime, actor: audit.Actor) -> ImportReport:
    """Add email subscribers from CSV (`email` column, optional `components`: names or ids
    separated by `;`). `confirmed` imports them as already confirmed (a migration from another
    tool); otherwise each gets a confirmation email and nothing else until they confirm.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        raise ValidationError("the first line must name the columns, with an `email` column")
    reader.fieldnames = header
    every = queries.component_tree().components
    # Two components may share a name (an "API" in each region): ids still name each one.
    by_name = {c.name.lower(): c.id for c in every}
    by_id = {c.id for c in every}
    domains = subscriber_settings()["email_domains"]
    wanted: dict[str, list[int] | None] = {}
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_IMPORT_ROWS:
            raise ValidationError(f"at most {MAX_IMPORT_ROWS} rows per import")
        try:
            address = check_email(row.get("email") or "", domains)
            ids = _import_components(row.get("components") or "", by_name, by_id)
        except ValidationError as exc:
            report.errors.append((number, exc.message))
            continue
        if address in wanted:
            report.errors.append((number, f"{address} appears twice"))
            continue
        wanted[address] = ids
    known: set[str] = set()
    for chunk in _chunks(list(wanted), 500):
        known.update(
            db.session.scalars(
                sa.select(Subscriber.email).where(
                    Subscriber.kind == EMAIL, Subscriber.email.in_(chunk)
                )
            )
        )
    report.existing = len(known)
    fresh = [address for address in wanted if address not in known]
    for chunk in _chunks(fresh, 500):
        rows = [
            {
                "kind": EMAIL,
                "email": address,
                "url": "",
                "secret": "",
                "all_components": wanted[address] is None,
                "token_version": 0,
                "created_at": now,
                "confirmed_at": now if confirmed else None,
                "failure_count": 0,
                "last_error": "",
                "source": "import",
            }
            for address in chunk
        ]
        added = db.session.scalars(
            sa.insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True), rows
        ).all()
        links = [
            {"subscriber_id": sid, "component_id": cid}
            for sid, address in zip(added, chunk, strict=True)
            for cid in wanted[address] or ()
        ]
        if links:
            db.session.execute(sa.insert(subscriber_components), links)
        if not confirmed:
            _bulk_confirmations(added, now)
        report.added += len(added)
    audit.record(
        actor,
        "subscribers.imported",
        now=now,
        target_type="subscriber",
        summary=f"imported {report.added} email subscribers"
        + (" as already confirmed" if confirmed else ", confirmation emails queued"),
        after={
            "added": report.added,
            "existing": report.existing,
            "refused": len(report.errors),
            "confirmed": confirmed,
        },
    )
    return report


def _import_components(text: str, by_name: dict[str, int], by_id: set[int]) -> list[int] | None:
    parts = [p.strip() for p in text.replace("|", ";").split(";") if p.strip()]
    if not parts:
        return None
    ids = []
    for part in parts:
        if part.isascii() and part.isdigit() and int(part) in by_id:
            ids.append(int(part))
        elif part.lower() in by_name:
            ids.append(by_name[part.lower()])
        else:
            raise ValidationError(f"unknown component {part[:100]!r}")
    return sorted(set(ids))


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bulk_confirmations(ids: Sequence[int], now: datetime) -> None:
    subject = confirmation_subject()
    rows = [
        outbox.new_row(
            key=f"sub:{CONFIRMATION}:{sid}:{secrets.token_hex(8)}",
            channel=f"{SUBSCRIBER_PREFIX}{sid}",
            kind="smtp",
            payload={"purpose": CONFIRMATION, "subject": subject},
            now=now,
        )
        for sid in ids
    ]
    if rows:
        db.session.execute(sa.insert(OutboxMessage.__table__), rows)
        notify.outbox_written(db.session)  # idle workers wake when this transaction commits


EXPORT_COLUMNS = (
    "id",
    "kind",
    "email",
    "url",
    "components",
    "state",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
    "disabled_at",
    "source",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell that starts like a formula is shown as text by spreadsheets, not run.
    return "'" + text if text.startswith(_FORMULA) else text


def export_csv(*, now: datetime, actor: audit.Actor) -> str:
    """Every subscriber as CSV (never the webhook secrets, Slack URLs masked); audited."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    names = {c.id: c.name for c in db.session.scalars(sa.select(Component))}
    chosen: dict[int, list[str]] = {}
    for sid, cid in db.session.execute(
        sa.select(subscriber_components.c.subscriber_id, subscriber_components.c.component_id)
    ):
        chosen.setdefault(sid, []).append(names.get(cid, str(cid)))
    count = 0
    for subscriber in db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)):
        writer.writerow(
            [
                _cell(v)
                for v in (
                    subscriber.id,
                    subscriber.kind,
                    subscriber.email,
                    shown_url(subscriber),
                    "all"
                    if subscriber.all_components
                    else ";".join(sorted(chosen.get(subscriber.id, []))),
                    state_of(subscriber),
                    isoformat(subscriber.created_at),
                    isoformat(subscriber.confirmed_at),
                    isoformat(subscriber.unsubscribed_at),
                    isoformat(subscriber.disabled_at),
                    subscriber.source,
                )
            ]
        )
        count += 1
    audit.record(
        actor,
        "subscribers.exported",
        now=now,
        target_type="subscriber",
        summary=f"exported {count} subscribers as CSV",
        after={"count": count},
    )
    return out.getvalue()


@dataclass(frozen=True)
class UpdateDeliveries:
    """Where the subscriber messages of one update stand. `fan_out` is where its one fan-out
    row stands: "expanding" (its messages are not written yet), "failed" or "" (written)."""

    update: IncidentUpdate
    queued: int
    sent: int
    failed: int
    skipped: int
    fan_out: str = ""


def delivery_counts(limit: int = 30) -> list[UpdateDeliveries]:
    """Queued, sent, failed and skipped subscriber messages of the latest notified updates."""
    updates = list(
        db.session.scalars(
            sa.select(IncidentUpdate)
            .where(IncidentUpdate.deliver_notifications.is_(True))
            .order_by(IncidentUpdate.id.desc())
            .limit(limit)
        )
    )
    if not updates:
        return []
    skipped = OutboxMessage.last_error.in_(SKIPPED)
    job = OutboxMessage.kind == FAN_OUT_KIND
    rows = db.session.execute(
        sa.select(OutboxMessage.update_id, OutboxMessage.state, job, skipped, sa.func.count())
        .where(
            OutboxMessage.update_id.in_([u.id for u in updates]),
            OutboxMessage.channel.startswith(SUBSCRIBER_PREFIX),
        )
        .group_by(OutboxMessage.update_id, OutboxMessage.state, job, skipped)
    ).all()
    tally: dict[int, dict[str, int]] = {}
    fan_outs: dict[int, str] = {}
    for update_id, state, is_job, was_skipped, count in rows:
        assert update_id is not None, "the query selects rows of these updates only"
        if is_job:
            fan_outs[update_id] = {"pending": "expanding", "dead": "failed"}.get(state, "")
            continue
        slot = "skipped" if state == "dead" and was_skipped else state
        tally.setdefault(update_id, {}).setdefault(slot, 0)
        tally[update_id][slot] += count
    return [
        UpdateDeliveries(
            update=u,
            queued=tally.get(u.id, {}).get("pending", 0),
            sent=tally.get(u.id, {}).get("sent", 0),
            failed=tally.get(u.id, {}).get("dead", 0),
            skipped=tally.get(u.id, {}).get("skipped", 0),
            fan_out=fan_outs.get(u.id, ""),
        )
        for u in updates
    ]
