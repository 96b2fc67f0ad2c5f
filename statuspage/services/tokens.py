"""API tokens: created per user, shown once, stored as a SHA-256, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..errors import NotFound, ValidationError
from ..extensions import db
from ..markup import clean_line
from ..models import ApiToken, User

PREFIX = "sp_"
#: last_used_at is written at most this often, so API reads do not turn into writes.
TOUCH_EVERY = timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user: User, name: str, *, now: datetime) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token text (shown once)."""
    name = clean_line(name)
    if not name:
        raise ValidationError("a token needs a name", field="name")
    if len(name) > 100:
        raise ValidationError("a token name has at most 100 characters", field="name")
    text = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name, token_hash=_digest(text), prefix=text[:10], created_at=now
    )
    db.session.add(token)
    db.session.flush()
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


def revoke(token_id: int, *, now: datetime, user: User | None = None) -> ApiToken:
    """Revoke a token (only the user's own unless `user` is None, meaning any)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (user is not None and token.user_id != user.id):
        raise NotFound(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def tokens_of(user: User | None = None) -> list[ApiToken]:
    """Tokens, newest first, of one user or of everyone."""
    query = sa.select(ApiToken).order_by(ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))
