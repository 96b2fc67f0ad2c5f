"""Behind a reverse proxy: the client's real address, and only from trusted proxies.

The middleware alone (a WSGI app that shows what it got), the app through the Flask test
client (sign-ins, sign-ups, the audit log, the fast path), and a real `statuspage serve`.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import urllib.parse
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from statuspage.config import load_settings
from statuspage.core.addresses import rate_key
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry
from statuspage.errors import ConfigError
from statuspage.web.proxy import ProxyHeaders
from tests.support import PASSWORD
from tests.support.auth import csrf_token, email_for, sign_in
from tests.support.cli import write_config
from tests.support.receivers import serving

EDITOR = email_for("editor")
PROXY = "127.0.0.1/32"


def through(trusted: list[str], peer: str, **headers: str) -> dict:
    """The environ the app below the middleware gets for a request from `peer`."""
    seen: dict = {}

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    networks = [ipaddress.ip_network(n) for n in trusted]
    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_HOST": "app:8080"}
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    ProxyHeaders(app, networks)(environ, lambda *args: None)
    return seen


# -- the middleware


def test_the_address_is_read_from_the_right_skipping_trusted_proxies():
    seen = through(
        [PROXY, "10.0.0.0/8"], "127.0.0.1", x_forwarded_for="6.6.6.6, 203.0.113.9, 10.1.2.3"
    )
    # 10.1.2.3 is a trusted load balancer; 6.6.6.6 was written by the client and is not believed.
    assert seen["REMOTE_ADDR"] == "203.0.113.9"


def test_a_peer_outside_the_trusted_networks_is_not_believed():
    seen = through(
        ["10.0.0.0/8"],
        "203.0.113.5",
        x_forwarded_for="10.9.9.9",
        x_forwarded_proto="https",
        x_forwarded_host="evil.example",
    )
    assert seen["REMOTE_ADDR"] == "203.0.113.5"
    assert seen["wsgi.url_scheme"] == "http" and seen["HTTP_HOST"] == "app:8080"


def test_nobody_is_trusted_by_default():
    seen = through([], "127.0.0.1", x_forwarded_for="203.0.113.9", x_forwarded_proto="https")
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["wsgi.url_scheme"] == "http"


def test_scheme_and_host_come_from_a_trusted_proxy():
    seen = through(
        [PROXY],
        "127.0.0.1",
        x_forwarded_for="203.0.113.9",
        x_forwarded_proto="http, https",
        x_forwarded_host="status.example.com",
    )
    assert seen["wsgi.url_scheme"] == "https" and seen["HTTP_HOST"] == "status.example.com"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("[2001:db8::7]:4431", "2001:db8::7"),
        ("192.0.2.1:80", "192.0.2.1"),
        # Garbage where an address should be: the last address that could be checked stays.
        ("203.0.113.9, unknown", "127.0.0.1"),
        ("", "127.0.0.1"),
    ],
)
def test_forwarded_entries_are_parsed_strictly(forwarded, client):
    assert through([PROXY], "127.0.0.1", x_forwarded_for=forwarded)["REMOTE_ADDR"] == client


@pytest.mark.parametrize("host", ["evil.example\r\nX-A: b", "a b", "x" * 300])
def test_a_malformed_forwarded_host_is_ignored(host):
    assert through([PROXY], "127.0.0.1", x_forwarded_host=host)["HTTP_HOST"] == "app:8080"


def test_the_setting_is_checked():
    settings = load_settings(overrides={"server": {"trusted_proxies": ["10.0.0.0/8"]}}, environ={})
    assert settings.server["trusted_proxies"] == ["10.0.0.0/8"]
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: not a network"):
        load_settings(overrides={"server": {"trusted_proxies": ["10.0.0.0/33"]}}, environ={})
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: expected an array of strings"):
        load_settings(overrides={"server": {"trusted_proxies": [10]}}, environ={})


# -- the app, through the Flask test client


@pytest.fixture
def proxied(make_app):
    """The app behind nginx on the same host."""
    return make_app(server={"trusted_proxies": [PROXY]})


def forwarded_client(app, address: str):
    """A client of `app` whose requests nginx (127.0.0.1) forwards for `address`."""
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


def test_the_proxy_layer_is_outermost(proxied):
    assert isinstance(proxied.wsgi_app, ProxyHeaders)


def test_failures_from_many_clients_behind_the_proxy_do_not_lock_the_owner_out(proxied, people):
    for n in range(30):
        attacker = forwarded_client(proxied, f"198.51.100.{n + 1}")
        assert sign_in(attacker, EDITOR, "wrong password!!").status_code == 401
    owner = forwarded_client(proxied, "203.0.113.77")
    assert sign_in(owner, EDITOR).status_code == 302
    # The audit log holds the real addresses, not the proxy's.
    ips = set(db.session.scalars(sa.select(AuditEntry.ip)))
    assert "203.0.113.77" in ips and "198.51.100.30" in ips and "127.0.0.1" not in ips


def test_forwarded_addresses_from_an_untrusted_peer_are_one_client(make_app, people):
    app = make_app()  # trusts nobody: the forwarded addresses below are made up by the client
    for n in range(5):
        spoofer = forwarded_client(app, f"198.51.100.{n + 1}")
        assert sign_in(spoofer, EDITOR, "wrong password!!").status_code == 401
    assert sign_in(forwarded_client(app, "203.0.113.77"), EDITOR).status_code == 429


def test_sign_ups_behind_the_proxy_are_limited_per_real_client(proxied):
    with proxied.app_context():
        for n in range(12):
            client = forwarded_client(proxied, f"198.51.100.{n + 1}")
            data = {
                "email": f"reader{n}@example.com",
                "csrf_token": csrf_token(client, "/subscribe"),
            }
            assert client.post("/subscribe", data=data).status_code == 303
        # The limit still holds for one real client: it has 10 an hour.
        client = forwarded_client(proxied, "198.51.100.99")
        statuses = []
        for n in range(11):
            data = {
                "email": f"again{n}@example.com",
                "csrf_token": csrf_token(client, "/subscribe"),
            }
            statuses.append(client.post("/subscribe", data=data).status_code)
        assert statuses == [303] * 10 + [429]


def test_sign_ups_from_one_ipv6_64_count_as_one_client(make_app):
    app = make_app(subscribers={"signups_per_address_per_hour": 2})
    with app.app_context():
        statuses = []
        for n in range(3):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"2001:db8:5:6::{n + 1}"
            data = {"email": f"six{n}@example.com", "csrf_token": csrf_token(client, "/subscribe")}
            statuses.append(client.post("/subscribe", data=data).status_code)
        assert statuses == [303, 303, 429]


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:5:6:7:8:9:a", "2001:db8:5:6::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_64(address, key):
    assert rate_key(address) == key


def test_flask_and_the_fast_path_both_see_the_real_address(proxied, monkeypatch):
    fastpath = proxied.extensions["statuspage_fastpath"]
    seen: list[tuple[str, str]] = []
    answer, flask_app = fastpath._answer, fastpath.wsgi_app

    def spy_answer(environ, *args):
        seen.append(("fast path", environ["REMOTE_ADDR"]))
        return answer(environ, *args)

    def spy_flask(environ, start_response):
        seen.append(("flask", environ["REMOTE_ADDR"]))
        return flask_app(environ, start_response)

    monkeypatch.setattr(fastpath, "_answer", spy_answer)
    monkeypatch.setattr(fastpath, "wsgi_app", spy_flask)
    client = forwarded_client(proxied, "203.0.113.8")
    assert client.get("/").status_code == 200  # Flask renders and teaches the fast path
    assert client.get("/").status_code == 200  # the fast path answers
    assert seen == [("flask", "203.0.113.8"), ("fast path", "203.0.113.8")]


# -- a real `statuspage serve` behind a (simulated) nginx on 127.0.0.1


class Browser:
    """One cookie session against a served app, over its own connections from `source`."""

    def __init__(self, base: str, source: str = "127.0.0.1") -> None:
        parsed = urllib.parse.urlsplit(base)
        assert parsed.hostname and parsed.port
        self.host, self.port, self.source = parsed.hostname, parsed.port, source
        self.cookie = ""

    def request(
        self, method: str, path: str, forwarded_for: str, form: dict | None = None
    ) -> tuple[int, str]:
        """Send one request saying it was forwarded for `forwarded_for`."""
        connection = http.client.HTTPConnection(
            self.host, self.port, timeout=30, source_address=(self.source, 0)
        )
        headers = {"X-Forwarded-For": forwarded_for}
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text

    def post_form(self, path: str, form: dict, forwarded_for: str) -> int:
        """GET the form page, then POST it with its CSRF token; return the status."""
        _, page = self.request("GET", path, forwarded_for)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:300]
        form = {**form, "csrf_token": token.group(1)}
        return self.request("POST", path, forwarded_for, form)[0]


def test_a_served_app_behind_a_trusted_proxy_counts_real_clients(people, db_url, tmp_path):
    config = write_config(tmp_path / "statuspage.toml", db_url)
    config.write_text(config.read_text() + f'[server]\ntrusted_proxies = ["{PROXY}"]\n')
    with serving(config, tmp_path) as base:
        attacker = Browser(base)
        for n in range(30):
            status = attacker.post_form(
                "/admin/login",
                {"email": EDITOR, "password": "wrong password!!"},
                forwarded_for=f"198.51.100.{n + 1}",
            )
            assert status == 401, n
        owner = Browser(base)
        login = {"email": EDITOR, "password": PASSWORD}
        assert owner.post_form("/admin/login", login, forwarded_for="203.0.113.77") == 302
        for n in range(12):
            status = Browser(base).post_form(
                "/subscribe",
                {"email": f"reader{n}@example.com"},
                forwarded_for=f"198.51.100.{n + 1}",
            )
            assert status == 303, n
        # 127.0.0.2 is not the trusted proxy: what it forwards is made up, and ignored. The
        # account is under attack, so a client that failed once waits; a fresh forwarded
        # address would not help it.
        spoofer = Browser(base, source="127.0.0.2")
        wrong = {"email": EDITOR, "password": "wrong password!!"}
        assert spoofer.post_form("/admin/login", wrong, forwarded_for="192.0.2.1") == 401
        again = Browser(base, source="127.0.0.2")
        assert again.post_form("/admin/login", login, forwarded_for="192.0.2.99") == 429
    db.session.expire_all()

    def ips(action: str) -> set[str]:
        return set(db.session.scalars(sa.select(AuditEntry.ip).where(AuditEntry.action == action)))

    assert ips("login") == {"203.0.113.77"}
    failed = {f"198.51.100.{n + 1}" for n in range(30)} | {"127.0.0.2"}
    assert ips("login.failed") == failed
