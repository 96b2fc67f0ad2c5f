"""Signing in and out of the admin: throttling, session invalidation, safe redirects."""

from __future__ import annotations

import re

import pytest

from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction

PASSWORD = "correct horse battery"


@pytest.fixture
def editor(ctx):
    with write_transaction():
        return user_service.create_user(
            "pm@example.com", password=PASSWORD, now=utcnow(), actor=audit.CLI, role="editor"
        )


def csrf(client, path="/admin/login"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, email="pm@example.com", password=PASSWORD, next_url=""):
    token = csrf(client)
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_url},
    )


def test_admin_redirects_to_login_when_signed_out(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_login_then_dashboard(client, editor):
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_wrong_password_is_refused_without_saying_which_part(client, editor):
    response = login(client, password="wrong password!!")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data
    unknown = login(client, email="nobody@example.com")
    assert unknown.status_code == 401 and b"Wrong email or password" in unknown.data


def test_login_form_without_csrf_token_is_refused(client, editor):
    response = client.post("/admin/login", data={"email": "pm@example.com", "password": PASSWORD})
    assert response.status_code == 400


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, editor):
    for _ in range(5):
        assert login(client, password="wrong password!!").status_code == 401
    locked = login(client)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert b"Too many failed sign-ins" in locked.data


def test_logout_ends_every_session_of_the_user(app, editor):
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    assert second.get("/admin/").status_code == 200
    first.post("/admin/logout", data={"csrf_token": csrf(first, "/admin/")})
    assert second.get("/admin/").status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(app, editor):
    mine, other = app.test_client(), app.test_client()
    login(mine)
    login(other)
    response = mine.post(
        "/admin/password",
        data={
            "csrf_token": csrf(mine, "/admin/password"),
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert mine.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/\\evil"])
def test_next_parameter_cannot_leave_the_admin(client, editor, target):
    assert login(client, next_url=target).headers["Location"] == "/admin/"


def test_next_parameter_inside_the_admin_is_followed(client, editor):
    assert login(client, next_url="/admin/password").headers["Location"] == "/admin/password"


def test_session_cookie_is_httponly_and_lax(client, editor):
    response = login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
