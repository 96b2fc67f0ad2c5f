"""Delivery to subscribers: the fan-out of notifications through the outbox, maintenance
reminders, and the worker's side (`handles`, `send`, `settle`) with email, webhook and Slack
rendering.

Publishing writes ONE fan-out row in its transaction, whatever the number of subscribers; the
worker expands it into one row per subscriber (a single INSERT ... SELECT) in the transaction
that marks it sent. Rows carry no address, URL or secret: `prepare` resolves each one against
the database when the worker sends it, so a subscriber who left in the meantime gets nothing,
and the delivery log never shows a signing secret or a Slack URL (itself a credential).
"""

from __future__ import annotations

import html as html_lib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, render_template
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from statuspage.core import notifications
from statuspage.core.enums import Impact, IncidentKind, MaintenanceStatus, status_for
from statuspage.core.serializers import Site
from statuspage.core.times import as_utc, format_window_time, isoformat
from statuspage.db import audit, notify, queries
from statuspage.db.database import refresh_statistics
from statuspage.db.extensions import db
from statuspage.db.models import (
    AuditEntry,
    Component,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    OutboxMessage,
    Subscriber,
    subscriber_components,
)
from statuspage.delivery import outbox
from statuspage.delivery.channels import SUBSCRIBER_PREFIX, Delivery, Outcome, Result
from statuspage.delivery.subscriber_common import (
    CONFIRM,
    CONFIRMATION,
    DISABLED,
    EMAIL,
    KIND_LABELS,
    KINDS,
    MANAGE_LINK,
    SLACK,
    URL_KINDS,
    WEBHOOK,
    active_filter,
    confirmation_subject,
    current_site,
    enqueue_own,
    links_for,
    shown_url,
    subscriber_settings,
    token_for,
)
from statuspage.errors import StatuspageError

log = logging.getLogger(__name__)

#: What a notification row of a subscriber is for (`payload["purpose"]`).
UPDATE, MAINTENANCE, REMINDER, COMPONENT = "update", "maintenance", "reminder", "component"
NOTIFICATIONS = (UPDATE, MAINTENANCE, REMINDER, COMPONENT)
#: The one row a publish writes for all its subscribers; the worker expands it (`FAN_OUT` is
#: its purpose, `FAN_OUT_KIND` its transport, though nothing leaves the process).
FAN_OUT, FAN_OUT_KIND = "fan_out", "fanout"
FAN_OUT_CHANNEL = f"{SUBSCRIBER_PREFIX}fanout"
#: Reasons a row is dropped at send time instead of sent; not failures of the receiver.
SKIPPED = ("unsubscribed", "disabled", "not confirmed", "removed", "already confirmed")
#: A reminder goes this long before a maintenance starts (if it was announced before that).
REMIND_BEFORE = timedelta(minutes=60)
#: A fan-out adding this many rows renews the outbox's planner statistics (PostgreSQL): with
#: figures from when few rows were pending, each claim sorted all of them.
REFRESH_STATISTICS_AFTER = 1000
#: Rendered emails and webhook bodies kept per process, so a batch renders each update once.
RENDER_CACHE_SIZE = 64
#: The render keys `_source` found during one `resolve_many` (None outside one).
_SOURCES: ContextVar[dict[tuple, tuple | None] | None] = ContextVar("sources", default=None)
#: Each database's own INSERT: both have `on_conflict_do_nothing`.
_INSERTS: dict[str, Callable[[sa.Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


# -- fan-out -------------------------------------------------------------------------------------


def _page_now(site: Site) -> dict[str, str]:
    tree = queries.component_tree()
    overall = queries.overall_status(
        tree, queries.unresolved_incidents(), queries.active_maintenances()
    )
    return notifications.page_status(site, overall.indicator.value, overall.description)


def _insert_for_subscribers(
    *,
    key_prefix: str,
    payload: dict[str, Any],
    now: datetime,
    component_ids: Iterable[int] = (),
    kinds: Sequence[str] = KINDS,
    incident_id: int | None = None,
    update_id: int | None = None,
    confirmed_by: datetime | None = None,
) -> int:
    """Write one outbox row per active subscriber that follows any of `component_ids` (all
    page subscribers when empty) or follows the incident `incident_id` itself, and confirmed
    by `confirmed_by` (if given), in ONE statement (INSERT ... SELECT) that skips keys already
    written; return how many rows it added."""
    s = Subscriber.__table__
    o = OutboxMessage.__table__
    ids = sorted(set(component_ids))
    follows: sa.ColumnElement[bool] = s.c.incident_id.is_(None)
    if ids:
        chosen = (
            sa.select(subscriber_components.c.subscriber_id)
            .where(
                subscriber_components.c.subscriber_id == s.c.id,
                subscriber_components.c.component_id.in_(ids),
            )
            .exists()
        )
        follows = sa.and_(follows, sa.or_(s.c.all_components.is_(True), chosen))
    if incident_id is not None:
        follows = sa.or_(follows, s.c.incident_id == incident_id)
    sid = sa.cast(s.c.id, sa.String)
    moment = sa.literal(now, type_=o.c.created_at.type)
    select = sa.select(
        sa.literal(key_prefix) + sid,
        sa.literal(SUBSCRIBER_PREFIX) + sid,
        sa.case(
            (s.c.kind == EMAIL, sa.literal("smtp")),
            (s.c.kind == SLACK, sa.literal("slack")),
            else_=sa.literal("webhook"),
        ),
        sa.literal(payload, type_=o.c.payload.type),
        sa.literal("pending"),
        sa.literal(0),
        moment,
        sa.literal("", type_=o.c.claimed_by.type),
        sa.literal("", type_=o.c.last_error.type),
        moment,
        sa.literal(incident_id, type_=o.c.incident_id.type),
        sa.literal(update_id, type_=o.c.update_id.type),
    ).where(
        s.c.kind.in_(list(kinds)),
        s.c.confirmed_at.is_not(None),
        s.c.unsubscribed_at.is_(None),
        s.c.disabled_at.is_(None),
        follows,
    )
    if confirmed_by is not None:
        select = select.where(
            s.c.confirmed_at <= sa.literal(confirmed_by, type_=s.c.confirmed_at.type)
        )
    columns = [
        "idempotency_key",
        "channel",
        "kind",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_by",
        "last_error",
        "created_at",
        "incident_id",
        "update_id",
    ]
    dialect = db.session.get_bind().dialect.name
    insert = _INSERTS[dialect]
    statement = (
        insert(o)
        .from_select(columns, select)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    notify.outbox_written(db.session)  # idle workers wake when this transaction commits
    # An INSERT without RETURNING gives a CursorResult (SQLAlchemy types it as any Result).
    result = cast(
        sa.CursorResult[Any],
        db.session.execute(statement, execution_options={"preserve_rowcount": True}),
    )
    return max(result.rowcount or 0, 0)


def _component_ids(incident: Incident, update: IncidentUpdate) -> set[int]:
    ids = {c.id for c in incident.components}
    ids.update(c.component_id for c in update.component_changes if c.component_id is not None)
    return ids


def _enqueue_fan_out(
    *,
    key_prefix: str,
    message: dict[str, Any],
    now: datetime,
    component_ids: Iterable[int],
    kinds: Sequence[str] = KINDS,
    incident_id: int | None = None,
    update_id: int | None = None,
) -> bool:
    """Write the one outbox row that stands for a whole fan-out (the worker expands it with
    `expand`); return whether it was added (False: this event was queued already)."""
    # No one to tell: no row (one indexed probe), so the outbox and delivery log stay quiet.
    anyone = sa.select(Subscriber.id).where(active_filter(), Subscriber.kind.in_(kinds)).limit(1)
    if db.session.scalar(anyone) is None:
        return False
    job = {
        "purpose": FAN_OUT,
        "key_prefix": key_prefix,
        "message": message,
        "component_ids": sorted(set(component_ids)),
        "kinds": list(kinds),
        # Full precision, not `isoformat`'s milliseconds: who had confirmed by the publish.
        "published_at": as_utc(now).isoformat(),
    }
    return outbox.enqueue(
        key="sub:fanout:" + key_prefix.removeprefix("sub:").rstrip(":"),
        channel=FAN_OUT_CHANNEL,
        kind=FAN_OUT_KIND,
        payload=job,
        now=now,
        incident_id=incident_id,
        update_id=update_id,
    )


def closes(update: IncidentUpdate) -> bool:
    """Whether an update resolves its incident (or completes its maintenance)."""
    return status_for(update.incident.kind, update.status).is_closed


def end_incident_subscriptions(incident_id: int, *, now: datetime) -> int:
    """End the subscriptions to one incident, now that it is over; return how many ended.

    They end as an unsubscribe does (the rows written before stay deliverable: `prepare` lets
    the one that tells of the end through), with their token version kept, so the links of
    that last message say "already unsubscribed".
    """
    result = db.session.execute(
        sa.update(Subscriber)
        .where(
            Subscriber.incident_id == incident_id,
            Subscriber.confirmed_at.is_not(None),
            Subscriber.unsubscribed_at.is_(None),
        )
        .values(unsubscribed_at=now)
    )
    return max(cast(sa.CursorResult[Any], result).rowcount or 0, 0)


def fan_out(update: IncidentUpdate, *, now: datetime) -> bool:
    """Queue the update for every active subscriber of an affected component (all page
    subscribers for an incident with no component) and of the incident itself, as ONE outbox
    row in the caller's transaction, whatever the number of subscribers; return whether it was
    queued (False: off, or queued already).

    An update that resolves the incident ends the subscriptions to it: once their rows are
    written (`expand`), or at once when it notifies no one.
    """
    incident = update.incident
    last = closes(update)
    if not update.deliver_notifications or not subscriber_settings()["enabled"]:
        if last:
            end_incident_subscriptions(incident.id, now=now)
        return False
    site = current_site()
    message = {
        "purpose": MAINTENANCE if incident.is_maintenance else UPDATE,
        "incident_id": incident.id,
        "closes": last,
        "update_id": update.id,
        "subject": notifications.update_subject(site.name, incident, update),
        "page": _page_now(site),
        "generated_at": isoformat(now),
    }
    return _enqueue_fan_out(
        key_prefix=f"sub:{update.id}:",
        message=message,
        now=now,
        component_ids=_component_ids(incident, update),
        incident_id=incident.id,
        update_id=update.id,
    )


def fan_out_component(component: Component, old: str, *, now: datetime) -> bool:
    """Queue a `component_update` webhook for the webhook subscribers of a component whose
    status changed outside an incident (Statuspage sends these to webhooks only), as one row.
    """
    if not subscriber_settings()["enabled"]:
        return False
    db.session.flush()
    change_id = db.session.scalar(
        sa.select(sa.func.max(ComponentStatusChange.id)).where(
            ComponentStatusChange.component_id == component.id
        )
    )
    site = current_site()
    message = {
        "purpose": COMPONENT,
        "component_id": component.id,
        "subject": notifications.subject(site.name, f"{component.name}: {component.status}"),
        "component_update": notifications.component_update(
            change_id=change_id or 0,
            component_id=component.id,
            old=old,
            new=component.status,
            created_at=now,
        ),
        "page": _page_now(site),
        "generated_at": isoformat(now),
    }
    return _enqueue_fan_out(
        key_prefix=f"sub:component:{change_id}:",
        message=message,
        now=now,
        component_ids=[component.id],
        kinds=(WEBHOOK,),
    )


def expand(job: OutboxMessage, *, now: datetime) -> int:
    """Write the per-subscriber rows of a fan-out row, in the caller's transaction; return how
    many were added.

    Who gets it: those active now who had confirmed by the publish (Statuspage's rule:
    subscribers at the time of the event; someone who confirms a minute later does not get
    an update written before they joined). Someone who left in between is not written at all.
    The keys are those of one row per subscriber, so an expansion repeated after a crash
    adds nothing twice.
    """
    payload = job.payload
    added = _insert_for_subscribers(
        key_prefix=payload["key_prefix"],
        payload=payload["message"],
        now=now,
        component_ids=payload["component_ids"],
        kinds=payload["kinds"],
        incident_id=job.incident_id,
        update_id=job.update_id,
        confirmed_by=datetime.fromisoformat(payload["published_at"]),
    )
    if payload["message"].get("closes") and job.incident_id is not None:
        # Told of the end (their rows are written above), the incident's subscribers are done.
        end_incident_subscriptions(job.incident_id, now=now)
    return added


def remind_maintenances(now: datetime, *, tz: ZoneInfo) -> int:
    """Queue the reminder of each maintenance starting within REMIND_BEFORE, once per window.

    Only maintenances announced at least that long before their start get one (a reminder right
    after the announcement would be noise), and only if the announcement notified subscribers.
    """
    if not subscriber_settings()["enabled"]:
        return 0

    candidates = db.session.scalars(
        sa.select(Incident).where(
            Incident.kind == IncidentKind.MAINTENANCE.value,
            Incident.status == MaintenanceStatus.SCHEDULED.value,
            Incident.scheduled_for > now,
            Incident.scheduled_for <= now + REMIND_BEFORE,
        )
    ).all()
    site = current_site()
    queued = 0
    for incident in candidates:
        assert incident.scheduled_for is not None
        if incident.created_at > incident.scheduled_for - REMIND_BEFORE:
            continue
        if not any(u.deliver_notifications for u in incident.updates):
            continue
        window = isoformat(incident.scheduled_for)
        if _reminded(incident.id, window):
            continue
        starts = format_window_time(incident.scheduled_for, tz)
        payload = {
            "purpose": REMINDER,
            "incident_id": incident.id,
            "subject": notifications.reminder_subject(site.name, incident, starts),
            "starts": starts,
            "page": _page_now(site),
            "generated_at": isoformat(now),
        }
        added = _insert_for_subscribers(
            key_prefix=f"sub:reminder:{incident.id}:{int(incident.scheduled_for.timestamp())}:",
            payload=payload,
            now=now,
            component_ids=[c.id for c in incident.components],
            incident_id=incident.id,
        )
        audit.record(
            audit.TICK,
            "maintenance.reminded",
            now=now,
            target_type="incident",
            target_id=incident.id,
            summary=f"{incident.name}: {added} subscribers reminded of the start at {starts}",
            after={"scheduled_for": window, "subscribers": added},
        )
        queued += added
    return queued


def _reminded(incident_id: int, window: str | None) -> bool:
    entries = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "maintenance.reminded",
            AuditEntry.target_type == "incident",
            AuditEntry.target_id == str(incident_id),
        )
    )
    return any((entry.after or {}).get("scheduled_for") == window for entry in entries)


# -- at send time --------------------------------------------------------------------------------


def handles(channel: str, payload: Mapping[str, Any]) -> bool:
    """Whether an outbox row is a subscriber row of ours (resolved by `prepare`, or a fan-out
    row that `settle` expands)."""
    return (
        channel.startswith(SUBSCRIBER_PREFIX) and "purpose" in payload and ("target" not in payload)
    )


def skipped(reason: str) -> Result:
    """A row dropped at send time: not sent, not a failure of the receiver."""
    return Result(Outcome.PERMANENT, error=reason)


def is_skip(result: Result) -> bool:
    return (
        result.outcome is Outcome.PERMANENT and result.status is None and (result.error in SKIPPED)
    )


class _RenderCache:
    """A small LRU of rendered emails and webhook bodies, per app."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple, build) -> Any:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = self.entries[key] = build()
        while len(self.entries) > RENDER_CACHE_SIZE:
            self.entries.popitem(last=False)
        return value


def _cache() -> _RenderCache:
    return current_app.extensions.setdefault("statuspage_subscriber_renders", _RenderCache())


def prepare(delivery: Delivery, *, now: datetime) -> Delivery | Result:
    """Resolve a subscriber row against the database now: the delivery to send, with its target
    and this subscriber's links, or a skip Result when the subscriber may no longer get it."""
    payload = delivery.payload
    purpose = payload.get("purpose")
    try:
        subscriber_id = int(delivery.channel.removeprefix(SUBSCRIBER_PREFIX))
    except ValueError:
        return Result(Outcome.PERMANENT, error=f"not a subscriber channel: {delivery.channel}")
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return skipped("removed")
    if subscriber.unsubscribed_at is not None and not _tells_the_end(subscriber, payload):
        return skipped("unsubscribed")
    site = current_site()
    if purpose == CONFIRMATION:
        if subscriber.confirmed_at is not None:
            return skipped("already confirmed")
        return _email(delivery, subscriber, _confirmation_email(subscriber, site))
    if subscriber.confirmed_at is None:
        # Nothing but the confirmation ever goes to an address that has not confirmed.
        return skipped("not confirmed")
    if purpose == DISABLED:
        return _email(delivery, subscriber, _disabled_email(subscriber, site))
    if subscriber.disabled_at is not None:
        return skipped("disabled")
    if purpose == MANAGE_LINK:
        return _email(delivery, subscriber, _manage_email(subscriber, site))
    if purpose not in NOTIFICATIONS:
        return Result(Outcome.PERMANENT, error=f"unknown subscriber message {purpose!r}")
    if subscriber.kind == WEBHOOK:
        return _webhook(delivery, subscriber, site, now)
    if purpose == COMPONENT:
        return Result(Outcome.PERMANENT, error="component updates go to webhooks only")
    if subscriber.kind == SLACK:
        return _slack(delivery, subscriber, site)
    email = _notification_email(payload, site, follows_incident=subscriber.incident_id is not None)
    if email is None:
        return skipped("removed")
    # The same email for every subscriber of the update, and their own links beside it: the
    # SMTP channel flattens it once and puts the links in each copy's bytes.
    fill = notifications.fills(email, links_for(subscriber, site.url))
    return _email(delivery, subscriber, email, fill=fill)


def _tells_the_end(subscriber: Subscriber, payload: Mapping[str, Any]) -> bool:
    """Whether a row is the update that resolved the incident a subscription followed, which
    ended the subscription when its rows were written: that one is still sent."""
    return (
        subscriber.incident_id is not None
        and bool(payload.get("closes"))
        and payload.get("incident_id") == subscriber.incident_id
    )


def _email(
    delivery: Delivery,
    subscriber: Subscriber,
    email: notifications.Email,
    *,
    fill: Iterable[tuple[str, str]] = (),
) -> Delivery:
    payload = {
        **delivery.payload,
        "subject": email.subject,
        "text": email.text,
        "html": email.html,
        "headers": email.headers,
        "fill": [list(pair) for pair in fill],
        "target": {"type": "smtp", "to": [subscriber.email]},
    }
    return replace(delivery, kind="smtp", payload=payload)


def _webhook(
    delivery: Delivery, subscriber: Subscriber, site: Site, now: datetime
) -> Delivery | Result:
    payload = delivery.payload
    body = _webhook_body(payload, site)
    if body is None:
        return skipped("removed")
    links = links_for(subscriber, site.url)
    envelope = notifications.envelope(
        site=site,
        unsubscribe_url=links.unsubscribe,
        generated_at=payload.get("generated_at") or isoformat(now) or "",
        page=payload.get("page") or {},
        body=body,
    )
    sent = {
        "purpose": payload.get("purpose"),
        "subject": payload.get("subject", ""),
        "envelope": envelope,
        # Checked again by the webhook channel, which connects to the checked address only.
        "guarded": True,
        "target": {"type": "webhook", "url": subscriber.url, "secret": subscriber.secret},
    }
    return replace(delivery, kind="webhook", payload=sent)


def _slack(delivery: Delivery, subscriber: Subscriber, site: Site) -> Delivery | Result:
    """An incident or maintenance notification as a Slack message: the subject, the update's
    sanitised HTML and its facts (made into escaped mrkdwn by the Slack channel, so no text can
    mention, and the only links are the update's own), and buttons to the incident and to this
    subscriber's manage and unsubscribe pages."""
    payload = delivery.payload
    content = _slack_content(payload, site)
    if content is None:
        return skipped("removed")
    links = links_for(subscriber, site.url)
    sent = {
        "purpose": payload.get("purpose"),
        "subject": payload.get("subject", ""),
        "html": content["html"],
        "fields": content["fields"],
        "links": [
            {"label": content["link_label"], "url": content["incident_url"]},
            {"label": "Manage subscription", "url": links.manage},
            {"label": "Unsubscribe", "url": links.unsubscribe},
        ],
        # Checked again by the Slack channel, which connects to the checked address only.
        "guarded": True,
        "target": {"type": "slack", "url": subscriber.url},
    }
    return replace(delivery, kind="slack", payload=sent)


def _slack_content(payload: Mapping[str, Any], site: Site) -> dict[str, Any] | None:
    """The text and facts of a Slack notification, rendered once per process per update."""
    purpose = payload.get("purpose")
    source = _source(payload)
    if source is None:
        return None
    incident_id, update_id = source[0], source[1]
    starts = str(payload.get("starts") or "")

    def build() -> dict[str, Any]:

        # `_source` has just found it in this transaction.
        incident = db.session.get_one(Incident, incident_id)
        update = db.session.get(IncidentUpdate, update_id) if update_id is not None else None
        shown = update or (incident.updates[0] if incident.updates else None)
        status = status_for(incident.kind, update.status if update is not None else incident.status)
        fields = {"Status": status.label}
        if incident.is_maintenance:
            if incident.scheduled_for and incident.scheduled_until:
                tz = ZoneInfo(site.time_zone)
                fields["Window"] = (
                    f"{format_window_time(incident.scheduled_for, tz)} to "
                    f"{format_window_time(incident.scheduled_until, tz)}"
                )
        else:
            fields["Impact"] = Impact(incident.impact).label
        lines = notifications.affected_components(incident, update)
        fields["Components"] = ", ".join(_component_fact(line) for line in lines)
        # The HTML stored with the update: the Markdown as the public page renders it.
        body = shown.body_html if shown is not None else ""
        if purpose == REMINDER:
            body = f"<p>Starts {html_lib.escape(starts)}.</p>\n{body}"
        return {
            "html": body,
            "fields": fields,
            "incident_url": site.incident_url(incident.id),
            "link_label": "View maintenance" if incident.is_maintenance else "View incident",
        }

    return _cache().get(("slack", purpose, *source, starts), build)


def _component_fact(line: notifications.ComponentLine) -> str:
    if line.old is not None and line.old != line.status:
        return f"{line.name}: {line.status.label} (was {line.old.label})"
    return f"{line.name}: {line.status.label}"


def _source(payload: Mapping[str, Any]) -> tuple | None:
    """What a notification renders from, as (incident id, update id, incident and update change
    times), in one query: the render cache key, so a correction is picked up at once."""
    memo = _SOURCES.get()
    memo_key = (
        payload.get("purpose") == REMINDER,
        payload.get("incident_id"),
        payload.get("update_id"),
    )
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    query: sa.Select[int, int | None, datetime, datetime | None]
    if payload.get("purpose") == REMINDER:
        query = sa.select(Incident.id, sa.null(), Incident.updated_at, sa.null()).where(
            Incident.id == payload.get("incident_id")
        )
    else:
        query = (
            sa.select(
                Incident.id, IncidentUpdate.id, Incident.updated_at, IncidentUpdate.updated_at
            )
            .join(Incident, Incident.id == IncidentUpdate.incident_id)
            .where(IncidentUpdate.id == payload.get("update_id"))
        )
    row = db.session.execute(query).first()
    found = None if row is None else tuple(row)
    if memo is not None:
        memo[memo_key] = found
    return found


def _webhook_body(payload: Mapping[str, Any], site: Site) -> dict | None:
    if payload.get("purpose") == COMPONENT:
        component = db.session.get(Component, payload.get("component_id"))
        if component is None:
            return None
        return {
            "component_update": payload.get("component_update") or {},
            "component": notifications.webhook_component(component, site),
        }
    source = _source(payload)
    if source is None:
        return None
    incident_id, _update_id, incident_stamp, _update_stamp = source
    reminded = payload.get("generated_at") if payload.get("purpose") == REMINDER else None

    def build() -> dict:
        # `_source` has just found it in this transaction.
        incident = db.session.get_one(Incident, incident_id)
        reminded_at = datetime.fromisoformat(reminded.replace("Z", "+00:00")) if reminded else None
        return notifications.webhook_incident(incident, site, reminded_at=reminded_at)

    return {"incident": _cache().get(("webhook", incident_id, incident_stamp, reminded), build)}


def _render_email(template: str, subject: str, **context: Any) -> notifications.Email:
    return notifications.Email(
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        placeholders=context.get("links"),
    )


def _notification_email(
    payload: Mapping[str, Any], site: Site, *, follows_incident: bool = False
) -> notifications.Email | None:
    """The update or reminder email with placeholder links, rendered once per process (and
    once more for those who follow the one incident: its footer says so, and the last says
    that the subscription ended)."""
    purpose = payload.get("purpose")
    source = _source(payload)
    if source is None:
        return None
    incident_id, update_id = source[0], source[1]
    last_one = follows_incident and bool(payload.get("closes"))

    def build() -> notifications.Email:
        # `_source` has just found it in this transaction.
        incident = db.session.get_one(Incident, incident_id)
        update = db.session.get(IncidentUpdate, update_id) if update_id is not None else None
        links = notifications.placeholder_links()
        context = notifications.update_context(
            incident, update, site, links=links, reminder=purpose == REMINDER
        )
        template = "maintenance" if incident.is_maintenance else "update"
        rendered = _render_email(
            template,
            str(payload.get("subject") or ""),
            starts=payload.get("starts"),
            follows_incident=follows_incident,
            last_one=last_one,
            **context,
        )
        return notifications.with_unsubscribe_headers(rendered)

    return _cache().get(("email", purpose, *source, follows_incident, last_one), build)


def _confirmation_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    url = f"{site.url}/subscriptions/confirm/{token_for(CONFIRM, subscriber)}"
    return _render_email(
        "confirm",
        confirmation_subject(),
        subscriber=subscriber,
        confirm_url=url,
        hours=subscriber_settings()["confirm_link_hours"],
        components=notifications.names(subscriber.components),
        site_url=site.url,
        already=False,
        links=None,
        target=shown_url(subscriber),
    )


def _manage_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    links = links_for(subscriber, site.url)
    email = _render_email(
        "confirm",
        notifications.subject(site.name, "Your subscription"),
        subscriber=subscriber,
        follows_incident=subscriber.incident is not None,
        incident=subscriber.incident,
        confirm_url=None,
        hours=0,
        components=notifications.names(subscriber.components),
        site_url=site.url,
        already=True,
        links=links,
        target=shown_url(subscriber),
    )
    return replace(email, placeholders=None, headers=notifications.unsubscribe_headers(links))


def _disabled_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    links = links_for(subscriber, site.url)
    email = _render_email(
        "webhook_disabled",
        _disabled_subject(subscriber, site),
        subscriber=subscriber,
        follows_incident=subscriber.incident is not None,
        incident=subscriber.incident,
        kind_label=KIND_LABELS.get(subscriber.kind, subscriber.kind),
        target=shown_url(subscriber),
        failures=subscriber.failure_count,
        last_error=subscriber.last_error,
        site_url=site.url,
        links=links,
    )
    return replace(email, placeholders=None, headers=notifications.unsubscribe_headers(links))


def _disabled_subject(subscriber: Subscriber, site: Site) -> str:
    label = KIND_LABELS.get(subscriber.kind, subscriber.kind)
    return notifications.subject(site.name, f"{label[:1].upper()}{label[1:]} subscription disabled")


def record(message: OutboxMessage, result: Result, *, now: datetime, dead: bool) -> None:
    """Count a subscriber's delivery outcome in the worker's transaction: a success clears the
    count; each message that ends dead counts one failure, and after `disable_after_failures` in
    a row the subscription is disabled and its contact told once."""
    if is_skip(result) or message.payload.get("purpose") in (CONFIRMATION, DISABLED):
        return
    try:
        subscriber_id = int(message.channel.removeprefix(SUBSCRIBER_PREFIX))
    except ValueError:
        return
    if result.sent:
        # The common case, in one statement that changes nothing unless failures were counted.
        db.session.execute(
            sa.update(Subscriber)
            .where(Subscriber.id == subscriber_id, Subscriber.failure_count != 0)
            .values(failure_count=0, last_error="")
        )
        return
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or not dead:
        return
    subscriber.failure_count += 1
    subscriber.last_error = (result.error or result.outcome.value)[:1000]
    limit = subscriber_settings()["disable_after_failures"]
    if subscriber.disabled_at is None and subscriber.failure_count >= limit:
        subscriber.disabled_at = now
        if subscriber.kind in URL_KINDS:
            enqueue_own(subscriber, DISABLED, _disabled_subject(subscriber, current_site()), now)


def send(session: Any, delivery: Delivery, *, now: datetime) -> Result:
    """Resolve a subscriber row now and send it through the worker's channel session.

    A fan-out row sends nothing: its rows are written when it is settled, in the worker's
    transaction that marks it sent.
    """
    if delivery.payload.get("purpose") == FAN_OUT:
        return Result(Outcome.SENT)
    try:
        prepared = prepare(delivery, now=now)
    except StatuspageError as exc:
        return Result(Outcome.PERMANENT, error=exc.message)
    if isinstance(prepared, Result):
        return prepared
    return session.deliver(prepared)


def resolve(delivery: Delivery, *, now: datetime) -> Delivery | Result:
    """What `send` would send for a subscriber row (the worker sends it, maybe on another
    thread), or its Result already: a fan-out row, or a row dropped at send time."""
    if delivery.payload.get("purpose") == FAN_OUT:
        return Result(Outcome.SENT)
    try:
        return prepare(delivery, now=now)
    except StatuspageError as exc:
        return Result(Outcome.PERMANENT, error=exc.message)


def resolve_many(deliveries: Sequence[Delivery], *, now: datetime) -> list[Delivery | Result]:
    """`resolve` for a batch of subscriber rows, reading each subscriber and each update's
    render key once for the batch rather than once per row."""
    ids = set()
    for delivery in deliveries:
        with suppress(ValueError):
            ids.add(int(delivery.channel.removeprefix(SUBSCRIBER_PREFIX)))
    ordered = sorted(ids)
    # Held here: the session's identity map keeps objects only while someone refers to them,
    # and `prepare` finds them there (session.get) instead of asking the database again.
    loaded = [
        subscriber
        for start in range(0, len(ordered), 500)
        for subscriber in db.session.scalars(
            sa.select(Subscriber).where(Subscriber.id.in_(ordered[start : start + 500]))
        )
    ]
    token = _SOURCES.set({})
    try:
        return [resolve(delivery, now=now) for delivery in deliveries]
    finally:
        _SOURCES.reset(token)
        del loaded


def settle_sent_many(
    messages: Sequence[OutboxMessage], now: datetime, *, status: int | None = None
) -> set[int]:
    """Record many subscriber rows sent, and clear their subscribers' failure counts, with a
    statement or two per chunk; return the ids whose claim held."""
    kept = outbox.mark_sent_many(messages, now, status=status)
    ids = sorted(
        {
            int(message.channel.removeprefix(SUBSCRIBER_PREFIX))
            for message in messages
            if message.id in kept and message.payload.get("purpose") not in (CONFIRMATION, DISABLED)
        }
    )
    for start in range(0, len(ids), 500):
        # Changes nothing unless failures were counted: the common case costs one probe.
        db.session.execute(
            sa.update(Subscriber)
            .where(Subscriber.id.in_(ids[start : start + 500]), Subscriber.failure_count != 0)
            .values(failure_count=0, last_error="")
        )
    return kept


def settle(message: OutboxMessage, result: Result, now: datetime, *, policy: Any) -> bool:
    """Record the outcome of a subscriber row in the worker's transaction: sent, failed (and
    counted against the subscriber), or dropped with the reason; False if the claim was lost."""
    if message.payload.get("purpose") == FAN_OUT:
        return _settle_fan_out(message, now, policy=policy)
    if is_skip(result):
        return _mark_skipped(message, result.error, now)
    if result.sent:
        kept = outbox.mark_sent(message, now, status=result.status)
    else:
        kept = outbox.mark_failed(message, result, now, policy=policy)
    if kept:
        dead = (
            not result.sent
            and db.session.scalar(
                sa.select(OutboxMessage.state).where(OutboxMessage.id == message.id)
            )
            == "dead"
        )
        record(message, result, now=now, dead=dead)
    return kept


def _settle_fan_out(message: OutboxMessage, now: datetime, *, policy: Any) -> bool:
    """Expand a fan-out row and mark it sent, both in the worker's transaction; a database
    error leaves it to be retried with backoff (and dead in the log if it keeps failing)."""
    try:
        with db.session.begin_nested():
            added = expand(message, now=now)
            if added >= REFRESH_STATISTICS_AFTER:
                refresh_statistics(OutboxMessage.__tablename__)
    except DBAPIError as exc:
        error = f"fan-out failed: {exc.orig or exc}"
        return outbox.mark_failed(message, Result(Outcome.RETRY, error=error), now, policy=policy)
    # If another worker took the row over meanwhile, what it writes conflicts with these
    # keys and adds nothing: one row per subscriber either way.
    kept = outbox.mark_sent(message, now)
    log.info("%s: %d subscriber messages queued", message.idempotency_key, added)
    return kept


def _mark_skipped(message: OutboxMessage, reason: str, now: datetime) -> bool:
    """Drop a row the subscriber may no longer get: dead, with the reason as its last error."""
    statement = (
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.state == "pending",
            OutboxMessage.claimed_by == message.claimed_by,
        )
        .values(state="dead", lease_until=None, last_status=None, last_error=reason)
    )
    # An UPDATE without RETURNING gives a CursorResult (SQLAlchemy types it as any Result).
    return cast(sa.CursorResult[Any], db.session.execute(statement)).rowcount == 1
