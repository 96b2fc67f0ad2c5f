"""Who is asking, and may they: sessions for the admin, bearer tokens for `/api/v1/`.

Every admin route and API call declares its rule with `@requires(permission)` or `@public`;
`enforce` refuses any such route that declares none, and a test keeps an inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    current_app,
    redirect,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import Forbidden, Unauthorized

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.core.roles import Permission, allows
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ApiToken, User

ACCESS_ATTR = "statuspage_access"
PUBLIC = "public"
SIGNED_IN = "signed_in"


def requires(permission: Permission | None) -> Callable:
    """Mark a view as needing `permission` (None: any signed-in user)."""

    def mark(view: Callable) -> Callable:
        setattr(view, ACCESS_ATTR, permission or SIGNED_IN)
        return view

    return mark


def public(view: Callable) -> Callable:
    """Mark a view of a protected blueprint as open to everyone (the login form)."""
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def access_rule(view: Callable) -> Any:
    """The rule a view declared, or None."""
    return getattr(view, ACCESS_ATTR, None)


# Kept in the WSGI environ, not in `g`: `g` belongs to the app context, which tests (and
# CLI code) may hold open across several requests.
USER_KEY = "statuspage.user"
TOKEN_KEY = "statuspage.token"  # noqa: S105 (an environ key, not a secret)


def current_user() -> User | None:
    """The signed-in user of this request (session or bearer token), or None."""
    if USER_KEY not in request.environ:
        request.environ[USER_KEY] = _session_user()
    return request.environ[USER_KEY]


def current_token() -> ApiToken | None:
    """The API token that authenticated this request, if any."""
    return request.environ.get(TOKEN_KEY)


def _session_user() -> User | None:
    uid, epoch = session.get("uid"), session.get("epoch")
    if not isinstance(uid, int) or not isinstance(epoch, int):
        return None
    user = db.session.get(User, uid)
    # A bumped epoch (logout, password change, disable) kills every older session.
    if user is None or not user.active or user.session_epoch != epoch:
        return None
    return user


def login_user(user: User) -> None:
    """Start a fresh session for `user`."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["epoch"] = user.session_epoch


def logout_user() -> None:
    """Forget the session in this browser."""
    session.clear()
    request.environ[USER_KEY] = None


def protect_blueprint(
    bp: Blueprint, *, api: bool = False, query_key: str | None = None, scheme: str = "Bearer"
) -> None:
    """Check every request to `bp` against its view's declared rule; an API takes a token in
    Authorization (and in the query argument `query_key` if given)."""

    def enforce() -> Any:
        view = current_app.view_functions.get(request.endpoint or "")
        rule = access_rule(view) if view else None
        if rule is None:
            # A route that forgot to declare its rule is closed, not open.
            raise Forbidden("This route declares no access rule.")
        if api:
            _load_token_user(query_key)
        if rule == PUBLIC:
            return None
        user = current_user()
        if user is None:
            if api and _token_text(query_key):
                raise Unauthorized("This API token is not valid: mistyped, revoked or unknown.")
            if api:
                raise Unauthorized(f"Send an API token: Authorization: {scheme} <token>.")
            if request.method == "GET":
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            raise Unauthorized("Sign in first.")
        if rule != SIGNED_IN and not allows(user.role, rule):
            raise Forbidden(f"Your role ({user.role}) may not do this.")
        return None

    bp.before_request(enforce)


#: Schemes a token may come with: ours, and Statuspage's (its API takes `OAuth <key>`).
TOKEN_SCHEMES = ("bearer", "oauth")


def _token_text(query_key: str | None) -> str:
    """The token of this request: from Authorization, else (where allowed) the query string."""
    scheme, _, text = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in TOKEN_SCHEMES and text.strip():
        return text.strip()
    if query_key is not None:
        return request.args.get(query_key, "").strip()
    return ""


def _load_token_user(query_key: str | None = None) -> None:
    text = _token_text(query_key)
    request.environ[USER_KEY], request.environ[TOKEN_KEY] = None, None
    if text:
        found = tokens.user_for(text, now=utcnow())
        if found is not None:
            request.environ[USER_KEY], request.environ[TOKEN_KEY] = found
            if db.session.dirty:  # last_used_at moved
                # A write of its own: committing the read transaction would fail on SQLite
                # if another process wrote since it began (a stale snapshot cannot write).
                token_id, used_at = found[1].id, found[1].last_used_at
                db.session.rollback()
                with write_transaction():
                    tokens.touch(token_id, used_at)
