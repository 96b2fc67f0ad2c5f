"""Roles and what each may do; every admin route and API call names one permission."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Permission(StrEnum):
    """Something a route or API call needs."""

    READ = "read"  # see the admin: incidents, library, deliveries
    PUBLISH = "publish"  # incidents, maintenances, component statuses
    MESSAGES = "messages"  # edit, revert, archive messages of the library
    USERS = "users"  # users, roles, tokens of others
    AUDIT = "audit"  # read the audit log
    PLANS = "plans"  # revert communication plans (they say who approves what customers read)


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.EDITOR: frozenset({Permission.READ, Permission.PUBLISH, Permission.MESSAGES}),
    Role.ADMIN: frozenset(Permission),
}


def parse_role(value: str) -> Role:
    """Parse a role name, or raise ValidationError naming the choices."""
    from statuspage.errors import ValidationError

    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError(
            f"unknown role {value!r} (expected one of: {choices})", field="role"
        ) from None


def allows(role: str, permission: Permission) -> bool:
    """Whether a user with `role` has `permission` (unknown roles have none)."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
