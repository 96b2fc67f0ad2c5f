"""Users and signing in, the way a browser does it: the one sign-in helper and the one CSRF
scraper of the suite."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.models import User
from tests.support import PASSWORD

ROLES = ("admin", "editor", "viewer")

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def email_for(role: str) -> str:
    """The address of the `people` fixture's user with this role."""
    return f"{role}@example.com"


def make_user(
    email: str, role: str = "editor", *, password: str = PASSWORD, name: str = ""
) -> User:
    """Create a user (audited as the CLI) in a transaction of its own."""
    with write_transaction():
        return user_service.create_user(
            email, password=password, role=role, name=name, now=utcnow(), actor=audit.CLI
        )


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    """GET `path` and return the CSRF token of its form, as a browser would send it."""
    response = client.get(path)
    match = _CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, f"no csrf_token field on {path} (HTTP {response.status_code})"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, *, next_url: str = ""):
    """Fill in and send the admin's sign-in form with `client`; return the answer."""
    return client.post(
        "/admin/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_token(client, "/admin/login"),
            "next": next_url,
        },
    )


def signed_in(app: Flask, who: str) -> FlaskClient:
    """A new client of `app`, signed in as `who`: a role (its `people` user) or an address."""
    email = who if "@" in who else email_for(who)
    client = app.test_client()
    response = sign_in(client, email)
    assert response.status_code == 302, f"signing in as {email}: HTTP {response.status_code}"
    return client
