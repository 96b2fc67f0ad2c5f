"""Integrations: who may send alerts, each with its own secret, shown once and stored as a hash.

A `bearer` integration's secret is random; the sender gives it as `Authorization: Bearer <secret>`
(or as the password of Basic authentication: Alertmanager and Uptime Kuma offer both). An `hmac`
integration signs each body instead (`X-Statuspage-Signature: sha256=<hex>`, or Grafana's
`X-Grafana-Alerting-Signature`); to check a signature we need the secret itself, so it is derived
from the site's secret key and a random salt and never stored (rotating the secret key voids it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.intake.payloads import FORMATS
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Integration
from statuspage.errors import Conflict, NotAuthenticated, NotFound, ValidationError

#: Caught by the log redaction of API tokens (`sp_...`) as well.
PREFIX = "sp_in_"
AUTHS = ("bearer", "hmac")
#: The formats whose senders can sign a body (Alertmanager has a bearer token or Basic only).
SIGNERS = ("grafana", "generic")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
SIGNATURE_HEADERS = ("X-Statuspage-Signature", "X-Grafana-Alerting-Signature")
TIMESTAMP_HEADERS = ("X-Statuspage-Timestamp", "X-Grafana-Alerting-Signature-Timestamp")
#: A signed request with a timestamp further off than this is refused (replays).
MAX_SKEW = timedelta(minutes=5)
#: last_used_at is written at most this often, so a burst of alerts is not a burst of writes.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _derived(secret_key: str, salt: str) -> str:
    mac = hmac.new(secret_key.encode(), f"intake:{salt}".encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def check_name(name: str) -> str:
    """An integration's name, as it appears in its URL; ValidationError otherwise."""
    name = name.strip()
    if not NAME_RE.fullmatch(name) or len(name) > limits.MAX_INTEGRATION_NAME:
        raise ValidationError(
            "a name is lower-case letters, digits, '-' and '_', starting with a letter or digit, "
            f"at most {limits.MAX_INTEGRATION_NAME} characters",
            field="name",
        )
    return name


def create(
    name: str, fmt: str, *, auth: str = "bearer", secret_key: str, now: datetime, actor: audit.Actor
) -> tuple[Integration, str]:
    """Create an integration; return it and its secret (shown once)."""
    name = check_name(name)
    if fmt not in FORMATS:
        raise ValidationError(f"the format is one of {', '.join(FORMATS)}", field="format")
    if auth not in AUTHS:
        raise ValidationError(f"authentication is one of {', '.join(AUTHS)}", field="auth")
    if auth == "hmac" and fmt not in SIGNERS:
        raise ValidationError(
            f"{fmt} cannot sign what it sends: give it a bearer secret", field="auth"
        )
    if db.session.scalar(sa.select(Integration.id).where(Integration.name == name)) is not None:
        raise Conflict(f"an integration called {name!r} exists (revoke it first)", field="name")
    salt = secrets.token_urlsafe(24) if auth == "hmac" else ""
    secret = _derived(secret_key, salt) if auth == "hmac" else PREFIX + secrets.token_urlsafe(32)
    row = Integration(
        name=name,
        format=fmt,
        auth=auth,
        salt=salt,
        secret_hash=_digest(secret),
        prefix=secret[:10],
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        "integration.created",
        now=now,
        target_type="integration",
        target_id=row.id,
        summary=f"created alert integration {name!r} ({fmt}, {auth})",
        after={"name": name, "format": fmt, "auth": auth, "prefix": row.prefix},
    )
    return row, secret


def revoke(name: str, *, now: datetime, actor: audit.Actor) -> Integration:
    """Revoke an integration: its secret stops working at once; its alerts stay."""
    row = get(name)
    if row.revoked_at is not None:
        raise Conflict(f"integration {name!r} is already revoked")
    row.revoked_at = now
    # A revoked name may be created again: free it (the row keeps its alerts).
    row.name = f"{row.name[:40]}~{row.id}"
    audit.record(
        actor,
        "integration.revoked",
        now=now,
        target_type="integration",
        target_id=row.id,
        summary=f"revoked alert integration {name!r}",
        before={"name": name},
    )
    return row


def get(name: str) -> Integration:
    """The live integration called `name`, or NotFound."""
    row = db.session.scalar(
        sa.select(Integration).where(Integration.name == name, Integration.revoked_at.is_(None))
    )
    if row is None:
        raise NotFound(f"no integration called {name!r}")
    return row


def listed() -> list[Integration]:
    """Every integration, live ones first."""
    return list(
        db.session.scalars(
            sa.select(Integration).order_by(Integration.revoked_at.is_not(None), Integration.name)
        )
    )


def authenticate(
    name: str,
    *,
    headers: dict[str, str],
    body: bytes,
    secret_key: str,
    now: datetime,
) -> Integration:
    """The integration this request comes from, or NotAuthenticated (the same for every cause).

    Only reads: a stranger's request must not cost a write (`touch` records a good one's use).
    """
    refused = NotAuthenticated(
        "wrong or missing credentials for this integration: send its secret as a bearer token "
        "(or sign the body, for an hmac integration)"
    )
    if not NAME_RE.fullmatch(name) or len(name) > limits.MAX_INTEGRATION_NAME:
        raise refused
    row = db.session.scalar(
        sa.select(Integration).where(Integration.name == name, Integration.revoked_at.is_(None))
    )
    if row is None:
        raise refused
    if row.auth == "hmac":
        secret = _derived(secret_key, row.salt)
        if not hmac.compare_digest(_digest(secret), row.secret_hash):
            raise refused  # the site's secret key changed since the integration was made
        if not _signed(secret, headers, body, now):
            raise refused
    else:
        given = _credential(headers.get("Authorization", ""))
        if given is None or not hmac.compare_digest(_digest(given), row.secret_hash):
            raise refused
    return row


def touch(row: Integration, now: datetime) -> None:
    """Record that the integration was used (at most every TOUCH_EVERY)."""
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now


def _credential(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _signed(secret: str, headers: dict[str, str], body: bytes, now: datetime) -> bool:
    given = next((headers[h] for h in SIGNATURE_HEADERS if headers.get(h)), "")
    given = given.strip().removeprefix("sha256=")
    stamp = next((headers[h] for h in TIMESTAMP_HEADERS if headers.get(h)), "")
    message = body
    if stamp:
        if not stamp.isdigit() or len(stamp) > 12:
            return False
        if abs(now.timestamp() - int(stamp)) > MAX_SKEW.total_seconds():
            return False
        message = stamp.encode() + b":" + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return bool(given) and hmac.compare_digest(expected, given.lower())


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds to sign `body` (for scripts, tests and docs)."""
    message = body if timestamp is None else str(timestamp).encode() + b":" + body
    headers = {
        SIGNATURE_HEADERS[0]: "sha256=" + hmac.new(secret.encode(), message, "sha256").hexdigest()
    }
    if timestamp is not None:
        headers[TIMESTAMP_HEADERS[0]] = str(timestamp)
    return headers
