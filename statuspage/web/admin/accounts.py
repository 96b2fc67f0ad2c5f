"""Admin views for accounts: users and roles (admins), and each user's own API tokens."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from statuspage.accounts import tokens as token_service
from statuspage.accounts import users as user_service
from statuspage.accounts.passwords import generate_password
from statuspage.clock import utcnow
from statuspage.core.roles import Permission, Role, allows
from statuspage.db.database import write_transaction
from statuspage.errors import StatuspageError
from statuspage.web.admin import bp
from statuspage.web.admin.common import actor, signed_in_user
from statuspage.web.auth import current_user, login_user, requires

#: Pages that show a password or token: never kept by a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store"}


def _users_page(status: int = 200, **context):
    return (
        render_template(
            "admin/accounts/users.html",
            users=user_service.list_users(),
            signed_in=user_service.last_sign_ins(),
            roles=list(Role),
            form=context.pop("form", {}),
            **context,
        ),
        status,
        NO_STORE,
    )


@bp.get("/users")
@requires(Permission.USERS)
def users():
    """List users, with the form to add one."""
    return _users_page()


@bp.post("/users")
@requires(Permission.USERS)
def user_create():
    """Add a user and show their generated password once."""
    form = {
        "email": request.form.get("email", ""),
        "name": request.form.get("name", ""),
        "role": request.form.get("role", Role.EDITOR.value),
    }
    password = generate_password()
    try:
        with write_transaction():
            user = user_service.create_user(
                form["email"],
                password=password,
                name=form["name"],
                role=form["role"],
                now=utcnow(),
                actor=actor(),
            )
    except StatuspageError as exc:
        return _users_page(exc.http_status, form=form, error=exc.message, field=exc.field)
    return _users_page(secret_for=user, password=password)


@bp.post("/users/<id:user_id>/role")
@requires(Permission.USERS)
def user_role(user_id: int):
    """Change a user's role; it applies from their next request."""
    try:
        with write_transaction():
            user = user_service.get_user(user_id)
            changed = user_service.set_role(
                user, request.form.get("role", ""), now=utcnow(), actor=actor()
            )
    except StatuspageError as exc:
        return _users_page(exc.http_status, error=exc.message)
    if changed:
        flash(f"{user.email} is now {user.role}.", "ok")
    if not allows(signed_in_user().role, Permission.USERS):
        # An admin who stepped down can no longer see the users page.
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.users"))


def _set_active(user_id: int, active: bool):
    try:
        with write_transaction():
            user = user_service.get_user(user_id)
            changed = user_service.set_active(user, active, now=utcnow(), actor=actor())
    except StatuspageError as exc:
        return _users_page(exc.http_status, error=exc.message)
    if changed and active:
        flash(f"{user.email} is enabled.", "ok")
    elif changed:
        flash(f"{user.email} is disabled and signed out everywhere.", "ok")
    return redirect(url_for("admin.users"))


@bp.post("/users/<id:user_id>/disable")
@requires(Permission.USERS)
def user_disable(user_id: int):
    """Disable a user, ending their sessions; their API tokens stop working."""
    return _set_active(user_id, False)


@bp.post("/users/<id:user_id>/enable")
@requires(Permission.USERS)
def user_enable(user_id: int):
    """Enable a disabled user."""
    return _set_active(user_id, True)


@bp.post("/users/<id:user_id>/password")
@requires(Permission.USERS)
def user_password_reset(user_id: int):
    """Give a user a new generated password, shown once; their sessions end."""
    me = current_user()
    try:
        with write_transaction():
            user = user_service.get_user(user_id)
            password = user_service.reset_password(user, now=utcnow(), actor=actor())
    except StatuspageError as exc:
        return _users_page(exc.http_status, error=exc.message)
    if me is not None and user.id == me.id:
        # Resetting one's own password ended this session too; start it afresh.
        login_user(user)
    return _users_page(secret_for=user, password=password, reset=True)


def _tokens_page(status: int = 200, **context):
    me = signed_in_user()
    everyone = allows(me.role, Permission.USERS)
    mine = token_service.tokens_of(me)
    others = [t for t in token_service.tokens_of() if t.user_id != me.id] if everyone else []
    return (
        render_template(
            "admin/accounts/tokens.html",
            tokens=mine,
            others=others,
            name=context.pop("name", ""),
            **context,
        ),
        status,
        NO_STORE,
    )


@bp.get("/tokens")
@requires(Permission.READ)
def tokens():
    """One's own API tokens (and, for admins, everyone's)."""
    return _tokens_page()


@bp.post("/tokens")
@requires(Permission.READ)
def token_create():
    """Create an API token for oneself and show it once."""
    name = request.form.get("name", "")
    try:
        with write_transaction():
            token, text = token_service.create(signed_in_user(), name, now=utcnow(), actor=actor())
    except StatuspageError as exc:
        return _tokens_page(exc.http_status, name=name, error=exc.message)
    return _tokens_page(created=token, secret=text)


@bp.post("/tokens/<id:token_id>/revoke")
@requires(Permission.READ)
def token_revoke(token_id: int):
    """Revoke one of one's own tokens (admins: anyone's)."""
    me = signed_in_user()
    owner = None if allows(me.role, Permission.USERS) else me
    try:
        with write_transaction():
            token = token_service.revoke(token_id, now=utcnow(), user=owner, actor=actor())
    except StatuspageError as exc:
        return _tokens_page(exc.http_status, error=exc.message)
    flash(f"Token “{token.name}” is revoked.", "ok")
    return redirect(url_for("admin.tokens"))
