"""Security headers on every kind of response, and the session cookie's flags."""

from __future__ import annotations

import pytest

from tests.support.auth import make_user, sign_in


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_secure_headers(response) -> None:
    directives = csp_directives(response)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, "no script policy"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "'unsafe-inline'" not in directives.get("style-src", directives["default-src"])
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )


PUBLIC_PATHS = [
    "/",
    "/history",
    "/incidents/{incident}",
    "/components/{component}",
    "/badge.svg",
    "/healthz",
]
FEED_PATHS = ["/history.rss", "/history.atom", "/components/{component}/history.atom"]
API_PATHS = ["/api/v2/summary.json", "/api/v2/incidents.json"]
ERROR_PATHS = ["/no-such-page", "/incidents/99999", "/api/v2/no-such.json", "/api/v1/incidents"]


@pytest.mark.parametrize("path", PUBLIC_PATHS + FEED_PATHS + API_PATHS + ERROR_PATHS)
def test_public_responses_carry_the_security_headers(client, sample, path):
    url = path.format(incident=sample["open"].id, component=sample["api"].id)
    assert_secure_headers(client.get(url))


@pytest.mark.parametrize("path", ["/admin/", "/admin/users", "/admin/audit", "/admin/tokens"])
def test_admin_pages_carry_the_security_headers(admin, path):
    response = admin.get(path)
    assert response.status_code == 200
    assert_secure_headers(response)


def test_the_sign_in_page_and_its_redirect_carry_the_security_headers(client):
    assert_secure_headers(client.get("/admin/login"))
    redirect = client.get("/admin/")
    assert redirect.status_code == 302
    assert_secure_headers(redirect)


def test_refusals_carry_the_security_headers(client):
    assert_secure_headers(client.post("/admin/login", data={}))  # 400: no CSRF token
    assert_secure_headers(client.put("/"))  # 405
    assert_secure_headers(client.post("/api/v1/incidents", json={}))  # 401 without a token


def test_a_server_error_page_carries_the_security_headers(app):
    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/boom", "boom", boom)
    app.logger.disabled = True
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert_secure_headers(response)


def test_session_cookie_is_httponly_lax_and_secure_on_an_https_site(app, people):
    response = sign_in(app.test_client(), "admin@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_session_cookie_is_not_secure_on_an_http_site(make_app, fast_hashing):
    app = make_app(site={"url": "http://status.example.test"})
    with app.app_context():
        make_user("admin@example.com", "admin")
    response = sign_in(app.test_client(), "admin@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
