"""Admin users: create, find, list; roles, passwords, disabling; never without an active admin."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from statuspage.accounts import auth
from statuspage.accounts.passwords import (
    check_new_password,
    generate_password,
    hash_password,
    verify_password,
)
from statuspage.core.limits import MAX_EMAIL
from statuspage.core.roles import Role, parse_role
from statuspage.core.text import clean_line
from statuspage.core.times import as_utc
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, User
from statuspage.errors import Conflict, NotFound, ValidationError


def normalize_email(email: str) -> str:
    """Return the stored form of an email address (trimmed, lower-case), or raise."""
    # Line breaks would let an address smuggle extra headers into notification mail.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in email):
        raise ValidationError("an email address cannot contain line breaks", field="email")
    email = email.strip()
    if not email:
        raise ValidationError("an email address is required", field="email")
    if len(email) > MAX_EMAIL:
        raise ValidationError(f"an email address has at most {MAX_EMAIL} characters", field="email")
    if any(ch.isspace() for ch in email):
        raise ValidationError("an email address cannot contain spaces", field="email")
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise ValidationError(f"{email!r} is not an email address", field="email")
    return email.lower()


def get_user_by_email(email: str) -> User | None:
    """Return the user with this email address (compared case-insensitively), or None."""
    try:
        email = normalize_email(email)
    except ValidationError:
        return None
    return db.session.scalar(sa.select(User).where(User.email == email))


def create_user(
    email: str,
    *,
    password: str,
    now: datetime,
    actor: audit.Actor,
    name: str = "",
    role: Role | str = Role.EDITOR,
) -> User:
    """Create a user with a hashed password, or raise Conflict if the email is taken."""
    email = normalize_email(email)
    role = parse_role(str(role))
    if get_user_by_email(email) is not None:
        raise Conflict(f"a user with the email {email} already exists", field="email")
    user = User(
        email=email,
        name=clean_line(name)[:200],
        password_hash=hash_password(check_new_password(password)),
        role=role.value,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor,
        "user.created",
        now=now,
        target_type="user",
        target_id=user.id,
        summary=f"created {role.value} {email}",
        after={"email": email, "role": role.value},
    )
    return user


def _store_password(user: User, password: str) -> None:
    user.password_hash = hash_password(check_new_password(password))
    # A new password ends every session opened with the old one.
    user.session_epoch += 1


def set_password(user: User, password: str, *, now: datetime, actor: audit.Actor) -> None:
    """Replace the user's password and end every session they have open."""
    _store_password(user, password)
    audit.record(
        actor,
        "user.password_set",
        now=now,
        target_type="user",
        target_id=user.id,
        summary=f"set the password of {user.email}",
    )


def change_own_password(
    user: User, current: str, new: str, *, now: datetime, actor: audit.Actor
) -> None:
    """Change one's own password after checking the current one."""
    if not verify_password(user.password_hash, current):
        raise ValidationError("the current password is wrong", field="current_password")
    if current == new:
        raise ValidationError(
            "choose a password different from the current one", field="new_password"
        )
    set_password(user, new, now=now, actor=actor)


def get_user(user_id: int) -> User:
    """Return the user with this id, or raise NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def find_user(email: str) -> User:
    """Return the user with this email address, or raise NotFound."""
    user = get_user_by_email(email)
    if user is None:
        raise NotFound(f"no user with the email {email.strip()!r}")
    return user


def list_users() -> list[User]:
    """Every user, by email."""
    return list(db.session.scalars(sa.select(User).order_by(User.email)))


def last_sign_ins() -> dict[int, datetime]:
    """The time of each user's most recent successful sign-in, from the audit log."""
    rows = db.session.execute(
        sa.select(AuditEntry.actor_id, sa.func.max(AuditEntry.at))
        .where(AuditEntry.action == "login", AuditEntry.actor_id.is_not(None))
        .group_by(AuditEntry.actor_id)
    )
    # The query leaves out entries without a user; the test tells the type checker so.
    return {user_id: as_utc(at) for user_id, at in rows if user_id is not None}


def _keep_an_admin(user: User) -> None:
    """Refuse a change that would leave no active admin (nobody could manage users)."""
    if user.role != Role.ADMIN.value or not user.active:
        return
    # FOR UPDATE: two admins demoting each other at once on PostgreSQL cannot both pass.
    admins = db.session.scalars(
        sa.select(User.id)
        .where(User.role == Role.ADMIN.value, User.active.is_(True))
        .with_for_update()
    ).all()
    if admins == [user.id]:
        raise Conflict(
            f"{user.email} is the last active admin: make another user admin first", field="role"
        )


def set_role(user: User, role: Role | str, *, now: datetime, actor: audit.Actor) -> bool:
    """Change a user's role (it applies from their next request); return whether it changed."""
    role = parse_role(str(role))
    old = user.role
    if old == role.value:
        return False
    if role is not Role.ADMIN:
        _keep_an_admin(user)
    user.role = role.value
    audit.record(
        actor,
        "user.role_changed",
        now=now,
        target_type="user",
        target_id=user.id,
        summary=f"{user.email}: {old} -> {role.value}",
        before={"role": old},
        after={"role": role.value},
    )
    return True


def set_active(user: User, active: bool, *, now: datetime, actor: audit.Actor) -> bool:
    """Disable (ending every session) or enable a user; return whether it changed."""
    if user.active == active:
        return False
    if not active:
        _keep_an_admin(user)
        auth.end_all_sessions(user)
    user.active = active
    audit.record(
        actor,
        "user.enabled" if active else "user.disabled",
        now=now,
        target_type="user",
        target_id=user.id,
        summary=f"{'enabled' if active else 'disabled'} {user.email}",
        before={"active": not active},
        after={"active": active},
    )
    return True


def reset_password(user: User, *, now: datetime, actor: audit.Actor) -> str:
    """Give the user a generated password, end their sessions, and return it (shown once)."""
    password = generate_password()
    _store_password(user, password)
    audit.record(
        actor,
        "user.password_reset",
        now=now,
        target_type="user",
        target_id=user.id,
        summary=f"reset the password of {user.email}",
    )
    return password
