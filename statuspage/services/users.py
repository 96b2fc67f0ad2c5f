"""Admin users: create them, find them by email, set their passwords."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..errors import Conflict, ValidationError
from ..extensions import db
from ..markup import clean_line
from ..models import User
from ..passwords import check_new_password, hash_password, verify_password
from ..roles import Role, parse_role
from . import audit

MAX_EMAIL = 254


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


def set_password(user: User, password: str, *, now: datetime, actor: audit.Actor) -> None:
    """Replace the user's password and end every session they have open."""
    user.password_hash = hash_password(check_new_password(password))
    user.session_epoch += 1
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
