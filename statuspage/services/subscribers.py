"""Subscribers: double opt-in sign-up, signed links, rate limits, CSV import and export, and the
fan-out of notifications to them through the outbox.

Publishing writes ONE fan-out row in its transaction, whatever the number of subscribers; the
worker expands it into one row per subscriber (a single INSERT ... SELECT) in the transaction
that marks it sent. Rows carry no address, URL or secret: `prepare` resolves each one against
the database when the worker sends it, so a subscriber who left in the meantime gets nothing,
and the delivery log never shows a signing secret.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from .. import notifications, queries
from ..channels import SUBSCRIBER_PREFIX, Delivery, Outcome, Result
from ..enums import IncidentKind, MaintenanceStatus
from ..errors import NotFound, StatuspageError, ValidationError
from ..extensions import db
from ..models import (
    AuditEntry,
    Component,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    LoginAttempt,
    OutboxMessage,
    Subscriber,
    subscriber_components,
)
from ..netguard import Policy, Resolver, check_url
from ..serializers import Site
from ..timeutil import as_utc, isoformat
from . import audit

log = logging.getLogger(__name__)

EMAIL, WEBHOOK = "email", "webhook"
KINDS = (EMAIL, WEBHOOK)
#: Token purposes; each signs with its own salt, so a token of one purpose fails for another.
CONFIRM, MANAGE, UNSUBSCRIBE = "confirm", "manage", "unsubscribe"
PURPOSES = (CONFIRM, MANAGE, UNSUBSCRIBE)
#: What an outbox row of a subscriber is for (`payload["purpose"]`).
UPDATE, MAINTENANCE, REMINDER, COMPONENT = "update", "maintenance", "reminder", "component"
CONFIRMATION, MANAGE_LINK, DISABLED = "confirm", "manage", "disabled"
NOTIFICATIONS = (UPDATE, MAINTENANCE, REMINDER, COMPONENT)
#: The one row a publish writes for all its subscribers; the worker expands it (`FAN_OUT` is
#: its purpose, `FAN_OUT_KIND` its transport, though nothing leaves the process).
FAN_OUT, FAN_OUT_KIND = "fan_out", "fanout"
FAN_OUT_CHANNEL = f"{SUBSCRIBER_PREFIX}fanout"
#: Reasons a row is dropped at send time instead of sent; not failures of the receiver.
SKIPPED = ("unsubscribed", "disabled", "not confirmed", "removed", "already confirmed")
#: A reminder goes this long before a maintenance starts (if it was announced before that).
REMIND_BEFORE = timedelta(minutes=60)
MAX_EMAIL = 254
MAX_IMPORT_ROWS = 50_000
PER_PAGE = 50
SECRET_BYTES = 24
#: Rendered emails and webhook bodies kept per process, so a batch renders each update once.
RENDER_CACHE_SIZE = 64

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class BadLink(StatuspageError):
    """A subscription link that cannot be used: tampered, expired, used or of another kind."""

    http_status = 410
    code = "link_not_usable"


class TooManySignups(StatuspageError):
    """Sign-ups from one client address over the hourly limit."""

    http_status = 429
    code = "too_many_signups"


def _settings() -> Mapping[str, Any]:
    return current_app.config["STATUSPAGE"].subscribers


def _site() -> Site:
    site = current_app.config["STATUSPAGE"].site
    return Site(name=site["name"], url=site["url"], time_zone=site["time_zone"])


# -- addresses -----------------------------------------------------------------------------------


def check_email(text: str, domains: Sequence[str] = ()) -> str:
    """Return a plain, lower-cased mailbox address, or raise ValidationError saying why not."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("enter an email address", field="email")
    if "\r" in text or "\n" in text:
        raise ValidationError("the address must be on one line", field="email")
    address = text.strip()
    if len(address) > MAX_EMAIL:
        raise ValidationError(f"the address is longer than {MAX_EMAIL} characters", field="email")
    if "," in address or ";" in address:
        raise ValidationError("enter one address only", field="email")
    if address.count("@") != 1:
        raise ValidationError(
            "an address has exactly one @" if "@" in address else "the address needs an @",
            field="email",
        )
    local, _, domain = address.partition("@")
    domain = domain.rstrip(".").lower()
    labels = domain.split(".")
    if (
        not _LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
    ):
        raise ValidationError("this is not an email address we can send to", field="email")
    allowed = [d.strip().lower().rstrip(".") for d in domains if d.strip()]
    if allowed and domain not in allowed:
        raise ValidationError(
            "subscriptions are open to addresses at " + ", ".join(allowed) + " only",
            field="email",
        )
    return f"{local.lower()}@{domain}"


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_policy(settings: Mapping[str, Any]) -> Policy:
    """The SSRF policy for subscriber webhooks, from `settings.subscribers`."""
    return Policy.from_settings(settings["webhook_allow_http"], settings["webhook_allow_networks"])


# -- tokens --------------------------------------------------------------------------------------


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    return URLSafeTimedSerializer(secret_key, salt=f"statuspage.subscriber.{purpose}")


def make_token(secret_key: str, purpose: str, subscriber: Subscriber) -> str:
    """A signed token for one purpose, valid while the subscriber's token version stands."""
    return _serializer(secret_key, purpose).dumps([subscriber.id, subscriber.token_version])


def read_token(
    secret_key: str, purpose: str, token: str, *, max_age_seconds: int | None = None
) -> tuple[int, int]:
    """Return (subscriber id, token version) of a token of this purpose, or raise BadLink."""
    try:
        data = _serializer(secret_key, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise BadLink("This link has expired. Sign up again to get a new one.") from None
    except BadSignature:
        raise BadLink("This link is not valid. Check that it was copied whole.") from None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in data)
    ):
        raise BadLink("This link is not valid. Check that it was copied whole.")
    return data[0], data[1]


def _token(purpose: str, subscriber: Subscriber) -> str:
    return make_token(current_app.config["SECRET_KEY"], purpose, subscriber)


def links_for(subscriber: Subscriber, site_url: str) -> notifications.Links:
    """The subscriber's manage and unsubscribe links as of now."""
    return notifications.subscriber_links(
        site_url, _token(MANAGE, subscriber), _token(UNSUBSCRIBE, subscriber)
    )


def from_token(purpose: str, token: str) -> Subscriber:
    """The subscriber a manage or confirm token belongs to, or BadLink."""
    max_age = _settings()["confirm_link_hours"] * 3600 if purpose == CONFIRM else None
    subscriber_id, version = read_token(
        current_app.config["SECRET_KEY"], purpose, token, max_age_seconds=max_age
    )
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise BadLink("This subscription no longer exists.")
    if subscriber.token_version != version:
        if purpose == CONFIRM and subscriber.confirmed_at is not None:
            raise BadLink("This confirmation link was already used.")
        raise BadLink("This link is no longer valid.")
    if purpose != CONFIRM and subscriber.confirmed_at is None:
        raise BadLink("This subscription is not confirmed yet.")
    return subscriber


# -- rate limits ---------------------------------------------------------------------------------

IP_WINDOW = timedelta(hours=1)
EMAIL_WINDOW = timedelta(days=1)


def _count(key: str, since: datetime) -> int:
    query = sa.select(sa.func.count()).where(
        LoginAttempt.key == key, LoginAttempt.attempted_at > since
    )
    return db.session.scalar(query) or 0


def count_signup(ip: str, now: datetime) -> None:
    """Count a sign-up attempt from `ip`; raise TooManySignups over the hourly limit."""
    key = f"subscribe:ip:{ip}"[:300]
    limit = _settings()["signups_per_address_per_hour"]
    if _count(key, now - IP_WINDOW) >= limit:
        raise TooManySignups(
            "Too many sign-ups from your network in the last hour. Try again later."
        )
    db.session.add(LoginAttempt(key=key, attempted_at=now))
    # Keep the table small: attempts older than the longest window count for nothing.
    db.session.execute(
        sa.delete(LoginAttempt).where(
            LoginAttempt.key.startswith("subscribe:"),
            LoginAttempt.attempted_at < now - EMAIL_WINDOW,
        )
    )


def _may_email(address: str, now: datetime) -> bool:
    """Whether another confirmation may go to `address` today; counts it if so."""
    key = f"subscribe:email:{address}"[:300]
    if _count(key, now - EMAIL_WINDOW) >= _settings()["signups_per_email_per_day"]:
        return False
    db.session.add(LoginAttempt(key=key, attempted_at=now))
    return True


# -- signing up ----------------------------------------------------------------------------------


@dataclass
class Choice:
    """Which components a subscriber follows: all (also those added later), or these."""

    all: bool = True
    component_ids: list[int] = field(default_factory=list)


def parse_choice(ids: Iterable[str]) -> Choice:
    """Read the component ids a form ticked; none ticked means every component."""
    wanted = []
    for value in ids:
        if not (value.isascii() and value.isdigit() and len(value) < 10):
            raise ValidationError("unknown component", field="components")
        wanted.append(int(value))
    if not wanted:
        return Choice(all=True)
    found = set(db.session.scalars(sa.select(Component.id).where(Component.id.in_(wanted))))
    if found != set(wanted):
        raise ValidationError("a chosen component no longer exists", field="components")
    return Choice(all=False, component_ids=sorted(found))


def _apply_choice(subscriber: Subscriber, choice: Choice) -> None:
    subscriber.all_components = choice.all
    if choice.all:
        subscriber.components = []
    else:
        subscriber.components = list(
            db.session.scalars(sa.select(Component).where(Component.id.in_(choice.component_ids)))
        )


def _enqueue_own(subscriber: Subscriber, purpose: str, subject: str, now: datetime) -> None:
    """Queue one message to one subscriber (confirmation, manage link, disabled notice)."""
    from .. import outbox

    outbox.enqueue(
        key=f"sub:{purpose}:{subscriber.id}:{secrets.token_hex(8)}",
        channel=f"{SUBSCRIBER_PREFIX}{subscriber.id}",
        kind="smtp",
        payload={"purpose": purpose, "subject": subject},
        now=now,
    )


def _confirmation_subject() -> str:
    return notifications.subject(_site().name, "Confirm your subscription")


def _find(kind: str, email: str, url: str = "") -> Subscriber | None:
    """The subscription of an address (email) or of a URL and contact (webhook), if any."""
    return db.session.scalar(
        sa.select(Subscriber).where(
            Subscriber.kind == kind, Subscriber.email == email, Subscriber.url == url
        )
    )


def _find_or_add(new: Subscriber) -> Subscriber:
    """The existing subscription with `new`'s address, or `new` once inserted.

    Of two sign-ups racing to one address (PostgreSQL, where writers do not queue), the second
    to insert fails on the unique key and takes the row the first wrote, as if it came later:
    the same answer as for any existing address.
    """
    existing = _find(new.kind, new.email, new.url)
    if existing is not None:
        return existing
    try:
        with db.session.begin_nested():
            db.session.add(new)
    except IntegrityError:
        existing = _find(new.kind, new.email, new.url)
        if existing is None:
            raise
        return existing
    return new


def sign_up_email(
    address: str, choice: Choice, *, now: datetime, source: str = "form"
) -> Subscriber:
    """Sign an address up, or renew its pending sign-up, and queue the confirmation email.

    An address already subscribed gets its manage link instead: the answer on the page is the
    same either way, so the form does not tell who is subscribed.
    """
    settings = _settings()
    address = check_email(address, settings["email_domains"])
    subscriber = _find_or_add(
        Subscriber(kind=EMAIL, email=address, url="", created_at=now, source=source)
    )
    if subscriber.active:
        if _may_email(address, now):
            _enqueue_own(
                subscriber,
                MANAGE_LINK,
                notifications.subject(_site().name, "Your subscription"),
                now,
            )
        return subscriber
    if subscriber.confirmed_at is not None or subscriber.unsubscribed_at is not None:
        _restart(subscriber, now, source)
    _apply_choice(subscriber, choice)
    db.session.flush()
    if _may_email(address, now):
        _enqueue_own(subscriber, CONFIRMATION, _confirmation_subject(), now)
    return subscriber


def _restart(subscriber: Subscriber, now: datetime, source: str) -> None:
    """Make a left or disabled subscription pending again (links issued so far die).

    A pending one is left as it is, so its earlier confirmation link keeps working even when
    the daily limit holds back a new one.
    """
    subscriber.confirmed_at = None
    subscriber.unsubscribed_at = None
    subscriber.disabled_at = None
    subscriber.failure_count = 0
    subscriber.last_error = ""
    subscriber.token_version += 1
    subscriber.source = source


def sign_up_webhook(
    url: str,
    contact: str,
    choice: Choice,
    *,
    now: datetime,
    source: str = "form",
    resolve: Resolver | None = None,
) -> Subscriber:
    """Sign a webhook up after the SSRF guard; the confirmation goes to the contact address."""
    settings = _settings()
    address = check_email(contact, settings["email_domains"])
    target = check_url(url, webhook_policy(settings), resolve=resolve)
    subscriber = _find_or_add(
        Subscriber(
            kind=WEBHOOK,
            email=address,
            url=target.url,
            secret=new_secret(),
            created_at=now,
            source=source,
        )
    )
    if subscriber.active:
        if _may_email(address, now):
            _enqueue_own(
                subscriber,
                MANAGE_LINK,
                notifications.subject(_site().name, "Your webhook subscription"),
                now,
            )
        return subscriber
    if subscriber.confirmed_at is not None or subscriber.unsubscribed_at is not None:
        _restart(subscriber, now, source)
        # A fresh secret for a fresh subscription: it is shown when the contact confirms.
        subscriber.secret = new_secret()
    _apply_choice(subscriber, choice)
    db.session.flush()
    if _may_email(address, now):
        _enqueue_own(subscriber, CONFIRMATION, _confirmation_subject(), now)
    return subscriber


def confirm(token: str, *, now: datetime) -> Subscriber:
    """Confirm a subscription with its emailed link; the link dies with it."""
    subscriber = from_token(CONFIRM, token)
    if subscriber.unsubscribed_at is not None:
        raise BadLink("This subscription was cancelled. Sign up again to follow updates.")
    subscriber.confirmed_at = now
    subscriber.token_version += 1
    return subscriber


def set_choice(subscriber: Subscriber, choice: Choice) -> None:
    """Change the components a subscriber follows."""
    _apply_choice(subscriber, choice)


def rotate_secret(subscriber: Subscriber) -> str:
    """Give a webhook subscription a new signing secret and return it (shown once)."""
    if subscriber.kind != WEBHOOK:
        raise ValidationError("only webhook subscriptions have a signing secret")
    subscriber.secret = new_secret()
    return subscriber.secret


def enable(subscriber: Subscriber) -> bool:
    """Turn a subscription disabled after failures back on; False if it was not disabled."""
    if subscriber.disabled_at is None:
        return False
    subscriber.disabled_at = None
    subscriber.failure_count = 0
    subscriber.last_error = ""
    return True


@dataclass(frozen=True)
class Unsubscribed:
    """What an unsubscribe link did."""

    subscriber: Subscriber | None
    changed: bool


def unsubscribe(token: str, *, now: datetime) -> Unsubscribed:
    """Unsubscribe with a link; a second time (or after removal) does nothing and says so."""
    subscriber_id, version = read_token(current_app.config["SECRET_KEY"], UNSUBSCRIBE, token)
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return Unsubscribed(None, False)
    if subscriber.unsubscribed_at is not None and version == subscriber.token_version - 1:
        return Unsubscribed(subscriber, False)
    if subscriber.token_version != version or subscriber.confirmed_at is None:
        # Signed up again since: this old link must not end the new subscription.
        raise BadLink("This link is no longer valid.")
    subscriber.unsubscribed_at = now
    subscriber.token_version += 1
    return Unsubscribed(subscriber, True)


# -- the admin -----------------------------------------------------------------------------------

STATES = ("active", "pending", "unsubscribed", "disabled")


def state_of(subscriber: Subscriber) -> str:
    """One word for where a subscription stands."""
    if subscriber.unsubscribed_at is not None:
        return "unsubscribed"
    if subscriber.disabled_at is not None:
        return "disabled"
    if subscriber.confirmed_at is None:
        return "pending"
    return "active"


def _active() -> sa.ColumnElement[bool]:
    return sa.and_(
        Subscriber.confirmed_at.is_not(None),
        Subscriber.unsubscribed_at.is_(None),
        Subscriber.disabled_at.is_(None),
    )


def _state_filter(state: str) -> sa.ColumnElement[bool]:
    if state == "active":
        return _active()
    if state == "pending":
        return sa.and_(Subscriber.confirmed_at.is_(None), Subscriber.unsubscribed_at.is_(None))
    if state == "unsubscribed":
        return Subscriber.unsubscribed_at.is_not(None)
    if state == "disabled":
        return sa.and_(Subscriber.disabled_at.is_not(None), Subscriber.unsubscribed_at.is_(None))
    raise NotFound(f"no subscriber state {state!r}")


def search(
    text: str = "", *, state: str | None = None, page: int = 1, per_page: int = PER_PAGE
) -> tuple[list[Subscriber], bool]:
    """Subscribers whose address or URL contains `text`, newest first; and whether more follow."""
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
                Subscriber.url.icontains(text, autoescape=True),
            )
        )
    if state:
        query = query.where(_state_filter(state))
    rows = list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


@dataclass(frozen=True)
class Counts:
    """Active subscribers: in all, following every component, and per chosen component."""

    by_state: dict[str, int]
    everything: int
    per_component: list[tuple[Component, int]]


def counts() -> Counts:
    """How many subscribers there are in each state, and who follows which component."""
    by_state = {state: 0 for state in STATES}
    for state in STATES:
        by_state[state] = (
            db.session.scalar(sa.select(sa.func.count()).where(_state_filter(state))) or 0
        )
    everything = (
        db.session.scalar(
            sa.select(sa.func.count()).where(_active(), Subscriber.all_components.is_(True))
        )
        or 0
    )
    chosen = dict(
        db.session.execute(
            sa.select(subscriber_components.c.component_id, sa.func.count())
            .join(Subscriber, Subscriber.id == subscriber_components.c.subscriber_id)
            .where(_active(), Subscriber.all_components.is_(False))
            .group_by(subscriber_components.c.component_id)
        ).all()
    )
    per_component = [(c, chosen.get(c.id, 0)) for c in queries.component_tree().components]
    return Counts(by_state, everything, per_component)


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
        before={"kind": subscriber.kind, "email": subscriber.email, "url": subscriber.url},
    )
    db.session.delete(subscriber)
    return subscriber


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
    by_name = {c.name.lower(): c.id for c in queries.component_tree().components}
    by_id = set(by_name.values())
    domains = _settings()["email_domains"]
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
    known = set()
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
        ids = db.session.scalars(
            sa.insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True), rows
        ).all()
        links = [
            {"subscriber_id": sid, "component_id": cid}
            for sid, address in zip(ids, chunk, strict=True)
            for cid in wanted[address] or ()
        ]
        if links:
            db.session.execute(sa.insert(subscriber_components), links)
        if not confirmed:
            _bulk_confirmations(ids, now)
        report.added += len(ids)
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
    subject = _confirmation_subject()
    rows = [
        _outbox_row(
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


def _outbox_row(
    *, key: str, channel: str, kind: str, payload: dict, now: datetime, **refs: int | None
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "channel": channel,
        "kind": kind,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "claimed_by": "",
        "last_error": "",
        "last_status": None,
        "created_at": now,
        "sent_at": None,
        "incident_id": refs.get("incident_id"),
        "run_id": None,
        "update_id": refs.get("update_id"),
    }


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
    """Every subscriber as CSV (never the webhook secrets); the export is audited."""
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
                    subscriber.url,
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
    subscribers when empty) and confirmed by `confirmed_by` (if given), in ONE statement
    (INSERT ... SELECT) that skips keys already written; return how many rows it added."""
    s = Subscriber.__table__
    o = OutboxMessage.__table__
    ids = sorted(set(component_ids))
    follows: sa.ColumnElement[bool] = sa.true()
    if ids:
        chosen = (
            sa.select(subscriber_components.c.subscriber_id)
            .where(
                subscriber_components.c.subscriber_id == s.c.id,
                subscriber_components.c.component_id.in_(ids),
            )
            .exists()
        )
        follows = sa.or_(s.c.all_components.is_(True), chosen)
    sid = sa.cast(s.c.id, sa.String)
    moment = sa.literal(now, type_=o.c.created_at.type)
    select = sa.select(
        sa.literal(key_prefix) + sid,
        sa.literal(SUBSCRIBER_PREFIX) + sid,
        sa.case((s.c.kind == EMAIL, sa.literal("smtp")), else_=sa.literal("webhook")),
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
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = (
        insert(o)
        .from_select(columns, select)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    result = db.session.execute(statement, execution_options={"preserve_rowcount": True})
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
    from .. import outbox

    # No one to tell: no row (one indexed probe), so the outbox and delivery log stay quiet.
    anyone = sa.select(Subscriber.id).where(_active(), Subscriber.kind.in_(kinds)).limit(1)
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


def fan_out(update: IncidentUpdate, *, now: datetime) -> bool:
    """Queue the update for every active subscriber of an affected component (all of them for
    an incident with no component) as ONE outbox row in the caller's transaction, whatever
    the number of subscribers; return whether it was queued (False: off, or queued already).
    """
    if not update.deliver_notifications or not _settings()["enabled"]:
        return False
    incident = update.incident
    site = _site()
    message = {
        "purpose": MAINTENANCE if incident.is_maintenance else UPDATE,
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
    if not _settings()["enabled"]:
        return False
    db.session.flush()
    change_id = db.session.scalar(
        sa.select(sa.func.max(ComponentStatusChange.id)).where(
            ComponentStatusChange.component_id == component.id
        )
    )
    site = _site()
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
    return _insert_for_subscribers(
        key_prefix=payload["key_prefix"],
        payload=payload["message"],
        now=now,
        component_ids=payload["component_ids"],
        kinds=payload["kinds"],
        incident_id=job.incident_id,
        update_id=job.update_id,
        confirmed_by=datetime.fromisoformat(payload["published_at"]),
    )


def remind_maintenances(now: datetime, *, tz: ZoneInfo) -> int:
    """Queue the reminder of each maintenance starting within REMIND_BEFORE, once per window.

    Only maintenances announced at least that long before their start get one (a reminder right
    after the announcement would be noise), and only if the announcement notified subscribers.
    """
    if not _settings()["enabled"]:
        return 0
    from .maintenance import TICK, format_window_time

    candidates = db.session.scalars(
        sa.select(Incident).where(
            Incident.kind == IncidentKind.MAINTENANCE.value,
            Incident.status == MaintenanceStatus.SCHEDULED.value,
            Incident.scheduled_for > now,
            Incident.scheduled_for <= now + REMIND_BEFORE,
        )
    ).all()
    site = _site()
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
            TICK,
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
    if subscriber.unsubscribed_at is not None:
        return skipped("unsubscribed")
    site = _site()
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
        email = _manage_email(subscriber, site)
        return _email(delivery, subscriber, email)
    if purpose not in NOTIFICATIONS:
        return Result(Outcome.PERMANENT, error=f"unknown subscriber message {purpose!r}")
    if subscriber.kind == WEBHOOK:
        return _webhook(delivery, subscriber, site, now)
    if purpose == COMPONENT:
        return Result(Outcome.PERMANENT, error="component updates go to webhooks only")
    email = _notification_email(payload, site)
    if email is None:
        return skipped("removed")
    links = links_for(subscriber, site.url)
    return _email(delivery, subscriber, notifications.personalise(email, links))


def _email(delivery: Delivery, subscriber: Subscriber, email: notifications.Email) -> Delivery:
    payload = {
        **delivery.payload,
        "subject": email.subject,
        "text": email.text,
        "html": email.html,
        "headers": dict(email.headers),
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


def _source(payload: Mapping[str, Any]) -> tuple | None:
    """What a notification renders from, as (incident id, update id, incident and update change
    times), in one query: the render cache key, so a correction is picked up at once."""
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
    return None if row is None else tuple(row)


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
        incident = db.session.get(Incident, incident_id)
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


def _notification_email(payload: Mapping[str, Any], site: Site) -> notifications.Email | None:
    """The update or reminder email with placeholder links, rendered once per process."""
    purpose = payload.get("purpose")
    source = _source(payload)
    if source is None:
        return None
    incident_id, update_id = source[0], source[1]

    def build() -> notifications.Email:
        incident = db.session.get(Incident, incident_id)
        update = db.session.get(IncidentUpdate, update_id) if update_id is not None else None
        links = notifications.placeholder_links()
        context = notifications.update_context(
            incident, update, site, links=links, reminder=purpose == REMINDER
        )
        template = "maintenance" if incident.is_maintenance else "update"
        return _render_email(
            template, str(payload.get("subject") or ""), starts=payload.get("starts"), **context
        )

    return _cache().get(("email", purpose, *source), build)


def _confirmation_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    url = f"{site.url}/subscriptions/confirm/{_token(CONFIRM, subscriber)}"
    return _render_email(
        "confirm",
        _confirmation_subject(),
        subscriber=subscriber,
        confirm_url=url,
        hours=_settings()["confirm_link_hours"],
        components=notifications.names(subscriber.components),
        site_url=site.url,
        already=False,
        links=None,
    )


def _manage_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    links = links_for(subscriber, site.url)
    email = _render_email(
        "confirm",
        notifications.subject(site.name, "Your subscription"),
        subscriber=subscriber,
        confirm_url=None,
        hours=0,
        components=notifications.names(subscriber.components),
        site_url=site.url,
        already=True,
        links=links,
    )
    return replace(email, placeholders=None, headers=notifications.unsubscribe_headers(links))


def _disabled_email(subscriber: Subscriber, site: Site) -> notifications.Email:
    links = links_for(subscriber, site.url)
    email = _render_email(
        "webhook_disabled",
        notifications.subject(site.name, "Webhook subscription disabled"),
        subscriber=subscriber,
        failures=subscriber.failure_count,
        last_error=subscriber.last_error,
        site_url=site.url,
        links=links,
    )
    return replace(email, placeholders=None, headers=notifications.unsubscribe_headers(links))


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
    limit = _settings()["disable_after_failures"]
    if subscriber.disabled_at is None and subscriber.failure_count >= limit:
        subscriber.disabled_at = now
        if subscriber.kind == WEBHOOK:
            _enqueue_own(
                subscriber,
                DISABLED,
                notifications.subject(_site().name, "Webhook subscription disabled"),
                now,
            )


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


def settle(message: OutboxMessage, result: Result, now: datetime, *, policy: Any) -> bool:
    """Record the outcome of a subscriber row in the worker's transaction: sent, failed (and
    counted against the subscriber), or dropped with the reason; False if the claim was lost."""
    from .. import outbox

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
    from .. import outbox

    try:
        with db.session.begin_nested():
            added = expand(message, now=now)
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
    return db.session.execute(statement).rowcount == 1
