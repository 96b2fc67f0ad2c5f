"""API tokens: created per user, shown once, stored as a SHA-256, revocable, audited.

A token acts with its user's role as it is when the token is used, so it never outranks them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from statuspage.core.text import clean_line
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import ApiToken, User
from statuspage.errors import Conflict, NotFound, ValidationError

PREFIX = "sp_"
#: last_used_at is written at most this often, so API reads do not turn into writes.
TOUCH_EVERY = timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    user: User, name: str, *, now: datetime, actor: audit.Actor | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token text (shown once).

    `actor` defaults to the user, creating a token of their own.
    """
    name = clean_line(name)
    if not name:
        raise ValidationError("a token needs a name", field="name")
    if len(name) > 100:
        raise ValidationError("a token name has at most 100 characters", field="name")
    if not user.active:
        raise Conflict(f"{user.email} is disabled: enable the account first", field="user")
    text = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name, token_hash=_digest(text), prefix=text[:10], created_at=now
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        actor or audit.Actor.for_user(user),
        "token.created",
        now=now,
        target_type="token",
        target_id=token.id,
        summary=f"created API token {name!r} ({token.prefix}...) for {user.email}",
        after={"user": user.email, "name": name, "prefix": token.prefix},
    )
    return token, text


def user_for(text: str, *, now: datetime) -> tuple[User, ApiToken] | None:
    """Return the active user and token for a bearer token, or None."""
    if not text.startswith(PREFIX) or len(text) > 200:
        return None
    digest = _digest(text)
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by digest; compare again in constant time for good measure.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None or not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return token.user, token


def touch(token_id: int, used_at: datetime | None) -> None:
    """Record when a token was last used (in the caller's write transaction)."""
    token = db.session.get(ApiToken, token_id)
    if token is not None and used_at is not None:
        token.last_used_at = used_at


def get_token(token_id: int, *, user: User | None = None) -> ApiToken:
    """Return a token (only one of `user`'s unless `user` is None, meaning any), or NotFound."""
    token = db.session.get(ApiToken, token_id)
    # Someone else's token is "not found", so ids do not reveal which tokens exist.
    if token is None or (user is not None and token.user_id != user.id):
        raise NotFound(f"no token with id {token_id}")
    return token


def revoke(
    token_id: int,
    *,
    now: datetime,
    user: User | None = None,
    actor: audit.Actor | None = None,
) -> ApiToken:
    """Revoke a token (only the user's own unless `user` is None, meaning any); audited once.

    `actor` defaults to the token's owner.
    """
    token = get_token(token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(
            actor or audit.Actor.for_user(token.user),
            "token.revoked",
            now=now,
            target_type="token",
            target_id=token.id,
            summary=f"revoked API token {token.name!r} ({token.prefix}...) of {token.user.email}",
            before={"revoked": False},
            after={"revoked": True},
        )
    return token


def tokens_of(user: User | None = None) -> list[ApiToken]:
    """Tokens, newest first, of one user or of everyone."""
    query = (
        sa.select(ApiToken).options(sa.orm.selectinload(ApiToken.user)).order_by(ApiToken.id.desc())
    )
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))
