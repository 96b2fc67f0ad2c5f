"""Signing in and out, and changing one's own password."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for

from statuspage.accounts import auth as auth_service
from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.errors import ValidationError
from statuspage.web.admin import bp
from statuspage.web.admin.common import actor, client_ip
from statuspage.web.auth import current_user, login_user, logout_user, public, requires

#: C0 and C1 control characters and DEL (CR/LF would split the Location header), backslashes
#: (browsers read `/\host` as `//host`), spaces and anything outside ASCII: never followed.
_UNSAFE_NEXT = re.compile(r"[^\x21-\x7e]|\\")


def _safe_next(target: str | None) -> str:
    """Only follow a `next` that stays inside the admin (no open redirect, no header split)."""
    if target and not _UNSAFE_NEXT.search(target):
        parts = urlsplit(target)
        inside = parts.path == "/admin" or parts.path.startswith("/admin/")
        if not parts.scheme and not parts.netloc and inside:
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Show the sign-in form, or sign in."""
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_safe_next(request.args.get("next")))
        # Only a `next` that would be followed goes back into the form (no control characters).
        wanted = request.args.get("next", "")
        kept = wanted if wanted and _safe_next(wanted) == wanted else ""
        return render_template("admin/login.html", email="", next=kept)
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    next_url = request.form.get("next", "")
    next_url = next_url if _safe_next(next_url) == next_url else ""
    ip, now = client_ip(), utcnow()
    try:
        # Refused before the password is hashed; the hash runs outside the write lock.
        auth_service.check_throttle(email, ip, now)
        checked = auth_service.check_password(email, password)
        with write_transaction():
            user = auth_service.record(checked, ip=ip, now=now)
    except auth_service.TooManyAttempts as exc:
        response = render_template(
            "admin/login.html", email=email, next=next_url, error=exc.message
        )
        return response, 429, {"Retry-After": str(exc.retry_after)}
    if user is None:
        error = "Wrong email or password, or the account is disabled."
        return render_template("admin/login.html", email=email, next=next_url, error=error), 401
    login_user(user)
    return redirect(_safe_next(next_url))


@bp.route("/logout", methods=["POST"])
@requires(None)
def logout():
    """Sign out, ending every session of this user on every device."""
    user = current_user()
    with write_transaction():
        auth_service.sign_out(user, ip=client_ip(), now=utcnow())
    logout_user()
    flash("You are signed out.", "ok")
    return redirect(url_for("admin.login"))


@bp.route("/password", methods=["GET", "POST"])
@requires(None)
def password():
    """Change one's own password; every other session ends."""
    if request.method == "GET":
        return render_template("admin/password.html")
    user = current_user()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    confirm = request.form.get("confirm_password", "")
    try:
        if new != confirm:
            raise ValidationError("the two new passwords differ", field="confirm_password")
        with write_transaction():
            user_service.change_own_password(user, current, new, now=utcnow(), actor=actor())
    except ValidationError as exc:
        return render_template("admin/password.html", error=exc.message, field=exc.field), 422
    login_user(user)  # this browser keeps working with the new epoch
    flash("Password changed. Other sessions are signed out.", "ok")
    return redirect(url_for("admin.dashboard"))
