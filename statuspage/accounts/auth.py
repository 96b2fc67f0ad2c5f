"""Signing in: password check, throttling kept in the database, and session invalidation.

Failed sign-ins are counted in `login_attempts` over WINDOW under three keys, addresses taken
as `core.addresses.rate_key` counts them (an IPv4 address, an IPv6 /64), called a network here:

- `pair:<network>|<email>`: one account from one network. After MAX_PER_PAIR that network
  waits for that account; the account's owner elsewhere does not.
- `ip:<network>`: one network, whatever the accounts (spraying). After MAX_PER_ADDRESS the
  network waits for every account.
- `account:<email>`: one account, from anywhere. Past MAX_PER_ACCOUNT the account is under
  attack: a network that already failed for it in the window waits, unless the account signed
  in from it within KNOWN_FOR (`known:<network>|<email>`, written at each sign-in), which keeps
  the pair limit. A network that has not failed for it is still heard, so a right password from
  the owner's usual network, or from a fresh one, still signs in.

A throttled attempt is refused before the password is looked at: no hash is computed and the
answer is the same whether the password was right, so guessing while throttled teaches nothing.
The throttle is read before the (slow) Argon2 check and read again in the write transaction
that records the outcome, so requests racing each other cannot add guesses (SQLite serialises
that transaction; on PostgreSQL at most one per concurrent request). docs/security.md,
"Signing in", gives the numbers an attacker and the owner get.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from statuspage.accounts.passwords import hash_password, needs_rehash, verify_password
from statuspage.core.addresses import rate_key
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import LoginAttempt, User
from statuspage.errors import StatuspageError

WINDOW = timedelta(minutes=15)
MAX_PER_PAIR = 5
MAX_PER_ADDRESS = 20
MAX_PER_ACCOUNT = 10
KNOWN_FOR = timedelta(days=30)
#: The key prefixes whose rows stop counting after WINDOW (`known:` ones last KNOWN_FOR).
FAILURE_PREFIXES = ("pair:", "ip:", "account:")
MAX_KEY = 300  # LoginAttempt.key


#: What the person refused reads, by the limit that refused them.
BUSY_NETWORK = "Too many failed sign-ins from your network. Try again in {minutes} minutes."
BUSY_PAIR = (
    "Too many failed sign-ins for this account from your network. "
    "Try again in {minutes} minutes, or from another network."
)
BUSY_ACCOUNT = (
    "Too many failed sign-ins for this account, from many networks, one of them yours. "
    "Try again in {minutes} minutes, or from another network."
)


class TooManyAttempts(StatuspageError):
    """Sign-in refused for a while after repeated failures."""

    http_status = 429
    code = "too_many_attempts"

    def __init__(self, wait: timedelta, text: str = BUSY_PAIR) -> None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        super().__init__(text.format(minutes=math.ceil(seconds / 60)))
        self.retry_after = seconds


@dataclass(frozen=True)
class Keys:
    """The login_attempts keys of one sign-in: an account from one network."""

    email: str
    pair: str
    address: str
    account: str
    known: str

    @classmethod
    def of(cls, email: str, ip: str) -> Keys:
        email, network = email.strip().lower(), rate_key(ip)
        return cls(
            email=email,
            pair=f"pair:{network}|{email}"[:MAX_KEY],
            address=f"ip:{network}"[:MAX_KEY],
            account=f"account:{email}"[:MAX_KEY],
            known=f"known:{network}|{email}"[:MAX_KEY],
        )


def _recent(key: str, since: datetime, limit: int) -> list[datetime]:
    """The newest `limit` times recorded under `key` after `since`, newest first."""
    return list(
        db.session.scalars(
            sa.select(LoginAttempt.attempted_at)
            .where(LoginAttempt.key == key, LoginAttempt.attempted_at > since)
            .order_by(LoginAttempt.attempted_at.desc())
            .limit(limit)
        )
    )


def check_throttle(email: str, ip: str, now: datetime) -> None:
    """Raise TooManyAttempts while this account may not be tried from this network."""
    keys = Keys.of(email, ip)
    since = now - WINDOW
    waits: list[tuple[timedelta, str]] = []
    by_address = _recent(keys.address, since, MAX_PER_ADDRESS)
    if len(by_address) >= MAX_PER_ADDRESS:
        # Open again when the oldest failure that counts leaves the window.
        waits.append((by_address[-1] + WINDOW - now, BUSY_NETWORK))
    by_pair = _recent(keys.pair, since, MAX_PER_PAIR)
    if len(by_pair) >= MAX_PER_PAIR:
        waits.append((by_pair[-1] + WINDOW - now, BUSY_PAIR))
    elif by_pair and _under_attack(keys, since) and not _known(keys, now):
        waits.append((by_pair[0] + WINDOW - now, BUSY_ACCOUNT))
    if waits:
        raise TooManyAttempts(*max(waits))


def _under_attack(keys: Keys, since: datetime) -> bool:
    return len(_recent(keys.account, since, MAX_PER_ACCOUNT)) >= MAX_PER_ACCOUNT


def _known(keys: Keys, now: datetime) -> bool:
    return bool(_recent(keys.known, now - KNOWN_FOR, 1))


@dataclass
class Checked:
    """A password checked against an account, before the outcome is recorded."""

    email: str
    user: User | None
    ok: bool
    #: The stored hash the password was checked against.
    checked_hash: str | None = None
    #: The password hashed afresh when the stored hash has weaker parameters (on success).
    new_hash: str | None = None


def check_password(email: str, password: str) -> Checked:
    """Check `password` for the account `email` (Argon2; writes nothing, locks nothing).

    Call it after `check_throttle` and outside any write transaction: the hash is slow.
    """
    email = email.strip().lower()
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
    ok = verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    new_hash = None
    if ok and user is not None and needs_rehash(user.password_hash):
        new_hash = hash_password(password)
    stored = user.password_hash if user else None
    return Checked(email=email, user=user, ok=ok, checked_hash=stored, new_hash=new_hash)


def record(checked: Checked, *, ip: str, now: datetime) -> User | None:
    """Record the outcome in the caller's (write) transaction: the user when signed in, or None.

    Raises TooManyAttempts, recording nothing, if the throttle closed meanwhile; so the caller
    commits in both other cases.
    """
    check_throttle(checked.email, ip, now)
    keys = Keys.of(checked.email, ip)
    _forget_expired(now)
    user = checked.user
    ok = checked.ok
    if user is not None:
        # Disabled, or given a new password, while the hash was computed: the check is void.
        db.session.refresh(user)
        ok = ok and user.active and user.password_hash == checked.checked_hash
    if not ok or user is None:
        db.session.add_all(
            LoginAttempt(key=key, attempted_at=now)
            for key in (keys.pair, keys.address, keys.account)
        )
        audit.record(
            audit.Actor(label=keys.email[:254] or "(empty)", user=user, ip=ip),
            "login.failed",
            now=now,
            target_type="user",
            target_id=user.id if user else "",
            summary="failed sign-in",
        )
        return None
    if checked.new_hash is not None:
        user.password_hash = checked.new_hash
    # The owner got in from here: forget their typos, and remember the network as theirs.
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key.in_((keys.pair, keys.known))))
    db.session.add(LoginAttempt(key=keys.known, attempted_at=now))
    _record(user, ip, now, "login", "signed in")
    return user


def _forget_expired(now: datetime) -> None:
    """Keep the table small: delete sign-in rows that no longer count for anything."""
    expired = sa.or_(
        sa.and_(
            sa.or_(*(LoginAttempt.key.startswith(p) for p in FAILURE_PREFIXES)),
            LoginAttempt.attempted_at <= now - WINDOW,
        ),
        sa.and_(
            LoginAttempt.key.startswith("known:"), LoginAttempt.attempted_at <= now - KNOWN_FOR
        ),
    )
    db.session.execute(sa.delete(LoginAttempt).where(expired))


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
