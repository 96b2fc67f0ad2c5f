"""Subscribers: double opt-in sign-up (email, webhook, Slack; to the whole page or to one
incident), its rate limits, and what a subscriber's signed links do (confirm, choose components,
rotate a webhook secret, re-enable, unsubscribe)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from statuspage.core import notifications
from statuspage.core.addresses import rate_key
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, LoginAttempt, Subscriber
from statuspage.delivery.netguard import Policy, Resolver, check_url
from statuspage.delivery.subscriber_common import (
    CONFIRM,
    CONFIRMATION,
    EMAIL,
    KIND_LABELS,
    MANAGE_LINK,
    SLACK,
    UNSUBSCRIBE,
    WEBHOOK,
    BadLink,
    check_email,
    confirmation_subject,
    current_site,
    enqueue_own,
    read_token,
    subscriber_settings,
)
from statuspage.errors import StatuspageError, ValidationError

SECRET_BYTES = 24


class TooManySignups(StatuspageError):
    """Sign-ups from one client address over the hourly limit."""

    http_status = 429
    code = "too_many_signups"


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_policy(settings: Mapping[str, Any]) -> Policy:
    """The SSRF policy for subscriber webhooks, from `settings.subscribers`."""
    return Policy.from_settings(
        settings["webhook_allow_http"],
        settings["webhook_allow_networks"],
        settings["webhook_allow_ports"],
    )


# -- links --------------------------------------------------------------------------------------


def from_token(purpose: str, token: str) -> Subscriber:
    """The subscriber a manage or confirm token belongs to, or BadLink."""
    max_age = subscriber_settings()["confirm_link_hours"] * 3600 if purpose == CONFIRM else None
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
    """Count a sign-up attempt from `ip` (its IPv6 /64); raise TooManySignups over the limit."""
    key = f"subscribe:ip:{rate_key(ip)}"[:300]
    limit = subscriber_settings()["signups_per_address_per_hour"]
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
    if _count(key, now - EMAIL_WINDOW) >= subscriber_settings()["signups_per_email_per_day"]:
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
    if subscriber.incident_id is not None:
        # One incident's updates, whatever their components: no choice to make.
        subscriber.all_components = False
        subscriber.components = []
        return
    subscriber.all_components = choice.all
    if choice.all:
        subscriber.components = []
    else:
        subscriber.components = list(
            db.session.scalars(sa.select(Component).where(Component.id.in_(choice.component_ids)))
        )


def _find(
    kind: str, email: str, url: str = "", incident_id: int | None = None
) -> Subscriber | None:
    """The subscription of an address (email) or of a URL and contact (webhook), if any: to the
    page, or to one incident."""
    same_incident = (
        Subscriber.incident_id.is_(None)
        if incident_id is None
        else Subscriber.incident_id == incident_id
    )
    return db.session.scalar(
        sa.select(Subscriber).where(
            Subscriber.kind == kind,
            Subscriber.email == email,
            Subscriber.url == url,
            same_incident,
        )
    )


def _find_or_add(new: Subscriber) -> Subscriber:
    """The existing subscription with `new`'s address, or `new` once inserted.

    Of two sign-ups racing to one address (PostgreSQL, where writers do not queue), the second
    to insert fails on the unique key and takes the row the first wrote, as if it came later:
    the same answer as for any existing address.
    """
    existing = _find(new.kind, new.email, new.url, new.incident_id)
    if existing is not None:
        return existing
    try:
        with db.session.begin_nested():
            db.session.add(new)
    except IntegrityError:
        existing = _find(new.kind, new.email, new.url, new.incident_id)
        if existing is None:
            raise
        return existing
    return new


def _incident_id(incident: Incident | None) -> int | None:
    """The id of the incident a sign-up follows (None: the page); one that is over cannot be
    followed any more."""
    if incident is None:
        return None
    if incident.is_closed:
        words = "complete" if incident.is_maintenance else "resolved"
        raise ValidationError(f"this is {words}: no more updates will be posted about it")
    return incident.id


def sign_up_email(
    address: str,
    choice: Choice,
    *,
    now: datetime,
    source: str = "form",
    incident: Incident | None = None,
) -> Subscriber:
    """Sign an address up (to the page, or to the updates of one open `incident`), or renew its
    pending sign-up, and queue the confirmation email.

    An address already subscribed gets its manage link instead: the answer on the page is the
    same either way, so the form does not tell who is subscribed.
    """
    settings = subscriber_settings()
    address = check_email(address, settings["email_domains"])
    incident_id = _incident_id(incident)
    subscriber = _find_or_add(
        Subscriber(
            kind=EMAIL,
            email=address,
            url="",
            created_at=now,
            source=source,
            incident_id=incident_id,
        )
    )
    if subscriber.active:
        if _may_email(address, now):
            enqueue_own(
                subscriber,
                MANAGE_LINK,
                notifications.subject(current_site().name, "Your subscription"),
                now,
            )
        return subscriber
    if subscriber.confirmed_at is not None or subscriber.unsubscribed_at is not None:
        _restart(subscriber, now, source)
    _apply_choice(subscriber, choice)
    db.session.flush()
    if _may_email(address, now):
        enqueue_own(subscriber, CONFIRMATION, confirmation_subject(), now)
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
    incident: Incident | None = None,
) -> Subscriber:
    """Sign a webhook up (to the page, or to one open `incident`) after the SSRF guard; the
    confirmation goes to the contact address."""
    return _sign_up_url(
        WEBHOOK,
        url,
        contact,
        choice,
        now=now,
        source=source,
        resolve=resolve,
        incident=incident,
    )


def sign_up_slack(
    url: str,
    contact: str,
    choice: Choice,
    *,
    now: datetime,
    source: str = "form",
    resolve: Resolver | None = None,
) -> Subscriber:
    """Sign a Slack incoming webhook up after the SSRF guard; confirmed like a webhook.

    Nothing is posted to the channel before the contact confirms by email: a sign-up form that
    posts at once would let anyone who holds a Slack URL use this page to write into it.
    """
    return _sign_up_url(SLACK, url, contact, choice, now=now, source=source, resolve=resolve)


def _sign_up_url(
    kind: str,
    url: str,
    contact: str,
    choice: Choice,
    *,
    now: datetime,
    source: str,
    resolve: Resolver | None,
    incident: Incident | None = None,
) -> Subscriber:
    """Sign up a URL of `kind` with a contact address, which gets the confirmation link."""
    settings = subscriber_settings()
    address = check_email(contact, settings["email_domains"])
    incident_id = _incident_id(incident)
    target = check_url(url, webhook_policy(settings), resolve=resolve)
    # Only webhooks sign their requests; a Slack URL carries its own secret.
    secret = new_secret() if kind == WEBHOOK else ""
    subscriber = _find_or_add(
        Subscriber(
            kind=kind,
            email=address,
            url=target.url,
            secret=secret,
            created_at=now,
            source=source,
            incident_id=incident_id,
        )
    )
    if subscriber.active:
        if _may_email(address, now):
            words = f"Your {KIND_LABELS[kind]} subscription"
            enqueue_own(
                subscriber, MANAGE_LINK, notifications.subject(current_site().name, words), now
            )
        return subscriber
    if subscriber.confirmed_at is not None or subscriber.unsubscribed_at is not None:
        _restart(subscriber, now, source)
        # A fresh secret for a fresh subscription: it is shown when the contact confirms.
        subscriber.secret = secret
    _apply_choice(subscriber, choice)
    db.session.flush()
    if _may_email(address, now):
        enqueue_own(subscriber, CONFIRMATION, confirmation_subject(), now)
    return subscriber


def confirm(token: str, *, now: datetime) -> Subscriber:
    """Confirm a subscription with its emailed link; the link dies with it."""
    subscriber = from_token(CONFIRM, token)
    if subscriber.unsubscribed_at is not None:
        raise BadLink("This subscription was cancelled. Sign up again to follow updates.")
    if subscriber.incident is not None and subscriber.incident.is_closed:
        words = "completed" if subscriber.incident.is_maintenance else "resolved"
        raise BadLink(f"This was {words} meanwhile: no more updates will be posted about it.")
    subscriber.confirmed_at = now
    subscriber.token_version += 1
    return subscriber


def set_choice(subscriber: Subscriber, choice: Choice) -> None:
    """Change the components a subscriber follows."""
    if subscriber.incident_id is not None:
        raise ValidationError("this subscription follows one incident, not components")
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
    # The link of the last update of a per-incident subscription (it ended by itself, with
    # its token version unchanged), or a link used once already.
    if subscriber.unsubscribed_at is not None and version in (
        subscriber.token_version - 1,
        subscriber.token_version,
    ):
        return Unsubscribed(subscriber, False)
    if subscriber.token_version != version or subscriber.confirmed_at is None:
        # Signed up again since: this old link must not end the new subscription.
        raise BadLink("This link is no longer valid.")
    subscriber.unsubscribed_at = now
    subscriber.token_version += 1
    return Unsubscribed(subscriber, True)
