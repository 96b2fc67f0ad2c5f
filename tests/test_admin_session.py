"""Signing in and out of the admin: throttling, session invalidation, safe redirects."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD
from tests.support.auth import csrf_token, sign_in

EMAIL = "editor@example.com"  # the editor of the `people` fixture


def test_admin_redirects_to_login_when_signed_out(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_login_then_dashboard(client, people):
    response = sign_in(client, EMAIL)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_wrong_password_is_refused_without_saying_which_part(client, people):
    response = sign_in(client, EMAIL, "wrong password!!")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data
    unknown = sign_in(client, "nobody@example.com")
    assert unknown.status_code == 401 and b"Wrong email or password" in unknown.data


def test_login_form_without_csrf_token_is_refused(client, people):
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, people):
    for _ in range(5):
        assert sign_in(client, EMAIL, "wrong password!!").status_code == 401
    locked = sign_in(client, EMAIL)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert b"Too many failed sign-ins" in locked.data


def test_logout_ends_every_session_of_the_user(app, people):
    first, second = app.test_client(), app.test_client()
    sign_in(first, EMAIL)
    sign_in(second, EMAIL)
    assert second.get("/admin/").status_code == 200
    first.post("/admin/logout", data={"csrf_token": csrf_token(first, "/admin/")})
    assert second.get("/admin/").status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(app, people):
    mine, other = app.test_client(), app.test_client()
    sign_in(mine, EMAIL)
    sign_in(other, EMAIL)
    response = mine.post(
        "/admin/password",
        data={
            "csrf_token": csrf_token(mine, "/admin/password"),
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert mine.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/\\evil"])
def test_next_parameter_cannot_leave_the_admin(client, people, target):
    assert sign_in(client, EMAIL, next_url=target).headers["Location"] == "/admin/"


def test_next_parameter_inside_the_admin_is_followed(client, people):
    assert (
        sign_in(client, EMAIL, next_url="/admin/password").headers["Location"] == "/admin/password"
    )


def test_session_cookie_is_httponly_and_lax(client, people):
    response = sign_in(client, EMAIL)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
