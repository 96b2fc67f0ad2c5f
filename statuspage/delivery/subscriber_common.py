"""What the subscriber modules share: kinds and purposes, the app's settings and site, address
checks, signed links, subscription states, and the messages sent to one subscriber."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from statuspage.core import notifications
from statuspage.core.limits import MAX_EMAIL
from statuspage.core.serializers import Site
from statuspage.db.models import Subscriber
from statuspage.delivery import outbox
from statuspage.delivery.channels import SUBSCRIBER_PREFIX
from statuspage.errors import StatuspageError, ValidationError

EMAIL, WEBHOOK, SLACK = "email", "webhook", "slack"
KINDS = (EMAIL, WEBHOOK, SLACK)
#: Kinds that deliver to a URL the subscriber typed (SSRF-guarded), with a contact address.
URL_KINDS = (WEBHOOK, SLACK)
#: What each kind is called in messages and pages.
KIND_LABELS = {EMAIL: "email", WEBHOOK: "webhook", SLACK: "Slack"}
#: How many characters of a Slack webhook URL's path are shown; the rest is its secret.
SHOWN_TAIL = 4
#: Token purposes; each signs with its own salt, so a token of one purpose fails for another.
CONFIRM, MANAGE, UNSUBSCRIBE = "confirm", "manage", "unsubscribe"
PURPOSES = (CONFIRM, MANAGE, UNSUBSCRIBE)
#: What an outbox row to one subscriber is for (`payload["purpose"]`), besides notifications.
CONFIRMATION, MANAGE_LINK, DISABLED = "confirm", "manage", "disabled"

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class BadLink(StatuspageError):
    """A subscription link that cannot be used: tampered, expired, used or of another kind."""

    http_status = 410
    code = "link_not_usable"


def subscriber_settings() -> Mapping[str, Any]:
    """The `[subscribers]` settings of the current app."""
    return current_app.config["STATUSPAGE"].subscribers


def current_site() -> Site:
    """The current app's site: name, URL and time zone."""
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


def masked_url(url: str) -> str:
    """A Slack incoming-webhook URL as it may be shown: the host and the path's last characters.

    The URL is a credential (whoever has it can post to the channel), so pages, emails, CSV
    exports and the audit log never show it whole.
    """
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if not path:
        return f"{scheme}://{host}/…" if host else "…"
    tail = path[-SHOWN_TAIL:] if len(path) > 2 * SHOWN_TAIL else ""
    return f"{scheme}://{host}/…{tail}"


def shown_url(subscriber: Subscriber) -> str:
    """The subscriber's URL as pages and exports may show it: masked for Slack."""
    return masked_url(subscriber.url) if subscriber.kind == SLACK else subscriber.url


# -- tokens --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    # Kept: a worker signs two links for every subscriber it tells.
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


def token_for(purpose: str, subscriber: Subscriber) -> str:
    """A token for one purpose, signed with the current app's secret key."""
    return make_token(current_app.config["SECRET_KEY"], purpose, subscriber)


def links_for(subscriber: Subscriber, site_url: str) -> notifications.Links:
    """The subscriber's manage and unsubscribe links as of now."""
    return notifications.subscriber_links(
        site_url, token_for(MANAGE, subscriber), token_for(UNSUBSCRIBE, subscriber)
    )


# -- states --------------------------------------------------------------------------------------

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


def active_filter() -> sa.ColumnElement[bool]:
    """Where a subscription is active: confirmed, neither unsubscribed nor disabled."""
    return sa.and_(
        Subscriber.confirmed_at.is_not(None),
        Subscriber.unsubscribed_at.is_(None),
        Subscriber.disabled_at.is_(None),
    )


# -- messages to one subscriber ------------------------------------------------------------------


def enqueue_own(subscriber: Subscriber, purpose: str, subject: str, now: datetime) -> None:
    """Queue one message to one subscriber (confirmation, manage link, disabled notice)."""
    outbox.enqueue(
        key=f"sub:{purpose}:{subscriber.id}:{secrets.token_hex(8)}",
        channel=f"{SUBSCRIBER_PREFIX}{subscriber.id}",
        kind="smtp",
        payload={"purpose": purpose, "subject": subject},
        now=now,
    )


def confirmation_subject() -> str:
    """The subject of the confirmation email."""
    return notifications.subject(current_site().name, "Confirm your subscription")
