"""Small helpers shared by the admin views: who is acting, from where, and form handling."""

from __future__ import annotations

from flask import request

from statuspage.db.audit import Actor
from statuspage.db.models import User
from statuspage.web.auth import current_token, current_user


def client_ip() -> str:
    """The address of the client, as the WSGI server saw it."""
    return request.remote_addr or ""


def signed_in_user() -> User:
    """The signed-in user, whom enforce() guarantees on protected routes."""
    user = current_user()
    if user is None:
        raise RuntimeError("no signed-in user")
    return user


def actor() -> Actor:
    """The signed-in user as the actor of a change, with their address."""
    user = signed_in_user()
    token = current_token()
    via = f"api token {token.name}" if token is not None else ""
    return Actor.for_user(user, client_ip(), via=via)
