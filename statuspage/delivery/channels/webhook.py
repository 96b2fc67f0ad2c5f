"""Signed JSON webhooks, per the Standard Webhooks specification (standardwebhooks.com).

Headers: `webhook-id` (the outbox key: the same on every retry, so receivers can drop
duplicates), `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from statuspage.clock import utcnow
from statuspage.core.escalation.config import WEBHOOK_SECRET_PREFIX, webhook_secret_key
from statuspage.delivery import netguard
from statuspage.delivery.channels import (
    ChannelError,
    ChannelSpec,
    Delivery,
    Outcome,
    Result,
    Session,
    http,
)

SECRET_PREFIX = WEBHOOK_SECRET_PREFIX
DEFAULT_EVENT = "incident.notification"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (the base64 after the prefix).

    Any other secret is refused: the Standard Webhooks libraries base64-decode the secret they
    are given, so a receiver could not verify what it signs. Retried, like a missing secret: the
    operator can fix the variable and nothing is lost.
    """
    try:
        return webhook_secret_key(secret)
    except ValueError as exc:
        raise ChannelError(
            f"the webhook secret is not a Standard Webhooks secret ({exc}); "
            "`statuspage escalation check` says how to make one",
            Outcome.RETRY,
        ) from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one request."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body(delivery: Delivery) -> dict[str, Any]:
    """The JSON body: the payload's ready-made `envelope` (subscriber webhooks), else the event
    type, when it happened, and the notification as data."""
    payload = delivery.payload
    if isinstance(payload.get("envelope"), Mapping):
        return dict(payload["envelope"])
    data = {
        key: payload[key]
        for key in ("subject", "text", "action", "incident", "links")
        if key in payload
    }
    return {
        "type": payload.get("event") or DEFAULT_EVENT,
        "timestamp": payload.get("occurred_at"),
        "data": data,
    }


def headers(message_id: str, timestamp: int, content: bytes, secret: str) -> Mapping[str, str]:
    """The Standard Webhooks headers; unsigned when the channel has no secret."""
    result = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        result["webhook-signature"] = sign(secret, message_id, timestamp, content)
    return result


def guard_policy(session: Session) -> netguard.Policy:
    """What the operator lets user-supplied webhook URLs reach ([subscribers] settings)."""
    subscribers = session.settings.values.get("subscribers") or {}
    return netguard.Policy.from_settings(
        bool(subscribers.get("webhook_allow_http", False)),
        subscribers.get("webhook_allow_networks") or (),
        subscribers.get("webhook_allow_ports") or (),
    )


def send(delivery: Delivery, spec: ChannelSpec, session: Session) -> Result:
    """POST the signed body to the channel's URL.

    A `guarded` row (a URL a subscriber typed) is checked again now and sent to the address
    that was checked, so a DNS answer changed since sign-up cannot point it inside.
    """
    url = spec.url
    extra: dict[str, str] = {}
    extensions: dict[str, str] = {}
    if delivery.payload.get("guarded"):
        try:
            target = netguard.check_url(spec.url, guard_policy(session))
        except netguard.UnsafeURL as exc:
            return Result(Outcome.PERMANENT, error=exc.message)
        url, extra, extensions = target.pinned()
    content = http.encode(body(delivery))
    timestamp = int(utcnow().timestamp())
    signed = headers(delivery.key, timestamp, content, spec.secret)
    return http.post(
        session.http,
        url,
        content,
        headers={**extra, **signed},
        extensions=extensions,
        secrets=(spec.url, spec.secret),
    )
