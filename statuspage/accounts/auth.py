"""Signing in: password check, throttling kept in the database, and session invalidation."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from statuspage.accounts.passwords import hash_password, needs_rehash, verify_password
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import LoginAttempt, User
from statuspage.errors import StatuspageError

WINDOW = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20


class TooManyAttempts(StatuspageError):
    """Sign-in refused for a while after repeated failures."""

    http_status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, int(retry_after.total_seconds() // 60) + 1)
        super().__init__(f"Too many failed sign-ins. Try again in {minutes} minutes.")
        self.retry_after = retry_after


def _keys(email: str, ip: str) -> tuple[str, str]:
    return f"account:{email.strip().lower()}", f"ip:{ip}"


def check_throttle(email: str, ip: str, now: datetime) -> None:
    """Raise TooManyAttempts while the account or the address has too many recent failures."""
    account_key, ip_key = _keys(email, ip)
    since = now - WINDOW
    for key, limit in ((account_key, MAX_PER_ACCOUNT), (ip_key, MAX_PER_ADDRESS)):
        times = db.session.scalars(
            sa.select(LoginAttempt.attempted_at)
            .where(LoginAttempt.key == key, LoginAttempt.attempted_at > since)
            .order_by(LoginAttempt.attempted_at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            # Open again when the oldest failure that counts leaves the window.
            raise TooManyAttempts(times[-1] + WINDOW - now)


def authenticate(email: str, password: str, *, ip: str, now: datetime) -> User | None:
    """Return the active user with these credentials, or None; every outcome is audited.

    A failure is recorded (for throttling and the audit log) in the caller's transaction,
    so the caller commits in both cases. Raises TooManyAttempts while throttled.
    """
    email = email.strip().lower()
    check_throttle(email, ip, now)
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        account_key, ip_key = _keys(email, ip)
        db.session.add_all(
            [
                LoginAttempt(key=account_key, attempted_at=now),
                LoginAttempt(key=ip_key, attempted_at=now),
            ]
        )
        audit.record(
            audit.Actor(label=email[:254] or "(empty)", user=user, ip=ip),
            "login.failed",
            now=now,
            target_type="user",
            target_id=user.id if user else "",
            summary="failed sign-in",
        )
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    account_key, _ = _keys(email, ip)
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key == account_key))
    # Keep the table small: failures older than the window no longer count for anything.
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.attempted_at < now - WINDOW))
    _record(user, ip, now, "login", "signed in")
    return user


def _record(user: User, ip: str, now: datetime, action: str, summary: str) -> None:
    """Audit a user's own session event."""
    audit.record(
        audit.Actor.for_user(user, ip),
        action,
        now=now,
        target_type="user",
        target_id=user.id,
        summary=summary,
    )


def end_all_sessions(user: User) -> None:
    """Invalidate every session of `user` (logout everywhere, password change, disable)."""
    user.session_epoch += 1


def sign_out(user: User, *, ip: str, now: datetime) -> None:
    """Sign `user` out everywhere, in the audit log beside the sign-ins."""
    end_all_sessions(user)
    _record(user, ip, now, "logout", "signed out (every session)")
