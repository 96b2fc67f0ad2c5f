"""CSRF protection for every form: a per-session token, checked on every unsafe request."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, current_app, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Paths authenticated by bearer tokens, never by cookies, so a forged request carries nothing.
EXEMPT_PREFIXES = ("/api/", "/v1/")
EXEMPT_ATTR = "csrf_exempt"


def exempt(view):
    """Exempt one view that a signed token in its own URL authenticates, never the session:
    a forged request cannot carry the token, so a CSRF token would add nothing."""
    setattr(view, EXEMPT_ATTR, True)
    return view


def init_app(app: Flask) -> None:
    """Check the token before every unsafe request and offer `csrf_token()` to templates."""
    app.before_request(protect)
    app.jinja_env.globals["csrf_token"] = token


def token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    value = session.get(FIELD)
    if not value:
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def protect() -> None:
    """Refuse an unsafe request whose token is missing or does not match the session's."""
    if request.method in SAFE_METHODS or request.path.startswith(EXEMPT_PREFIXES):
        return
    if request.routing_exception is not None:
        return  # a 404 or 405 says more than a CSRF failure would
    if getattr(current_app.view_functions.get(request.endpoint or ""), EXEMPT_ATTR, False):
        return
    expected = session.get(FIELD)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), sent):
        abort(
            400,
            description="The form expired or was sent from another site. "
            "Reload the page and try again.",
        )
