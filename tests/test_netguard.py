"""The SSRF guard refuses every non-public address, however it is spelled."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.config import load_settings
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Subscriber
from statuspage.delivery import subscribers as subs
from statuspage.delivery.netguard import Policy, UnsafeURL, check_url, forbidden_reason
from statuspage.errors import ConfigError, ValidationError
from statuspage.publishing import components as cs
from tests.support.auth import csrf_token
from tests.support.subscribers import deliver, post_update, subscriber_rows


def resolver(mapping):
    def resolve(host, port):
        if host not in mapping:
            raise OSError("no such host")
        return mapping[host]

    return resolve


PUBLIC = resolver({"hooks.example.com": ["93.184.216.34"], "six.example.com": ["2606:4700::1"]})


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost./x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://172.16.0.1/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
        "https://224.0.0.1/x",
        "https://0.0.0.0/x",
        "https://[::]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[::ffff:7f00:1]/x",
        "https://[64:ff9b::7f00:1]/x",
        "https://[2002:7f00:1::]/x",
        "https://[fe80::1]/x",
        "https://[fd00::1]/x",
        "https://2130706433/x",
        "https://0x7f000001/x",
        "https://127.1/x",
        "https://0177.0.0.1/x",
        "https://255.255.255.255/x",
    ],
)
def test_non_public_addresses_are_refused(url):
    rebinding = resolver({"localhost": ["127.0.0.1"]})
    with pytest.raises(UnsafeURL):
        check_url(url, resolve=rebinding)


def test_host_resolving_to_a_private_address_is_refused():
    sneaky = resolver({"internal.example.com": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(UnsafeURL, match=r"10\.0\.0\.5 is a private address"):
        check_url("https://internal.example.com/hook", resolve=sneaky)


def test_public_https_url_is_accepted_and_pinned_to_the_checked_address():
    target = check_url("https://hooks.example.com/path?q=1", resolve=PUBLIC)
    url, headers, extensions = target.pinned()
    assert url == "https://93.184.216.34/path?q=1"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


def test_ipv6_target_keeps_its_port_in_the_pinned_url():
    policy = Policy.from_settings(False, [], [8443])
    target = check_url("https://six.example.com:8443/h", policy, resolve=PUBLIC)
    url, headers, _ = target.pinned()
    assert url == "https://[2606:4700::1]:8443/h"
    assert headers["Host"] == "six.example.com:8443"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/", "must start with https://"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://nowhere.example.com/", "does not resolve"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://", "no host"),
        ("https://bad_host!.com/", "not a valid host name"),
        ("", "required"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(UnsafeURL, match=message):
        check_url(url, resolve=PUBLIC)


def test_operator_allow_list_opens_a_network_and_http_for_tests():
    policy = Policy.from_settings(True, ["127.0.0.0/8"], ["8000-8099"])
    target = check_url("http://127.0.0.1:8080/hook", policy)
    assert target.pinned()[0] == "http://127.0.0.1:8080/hook"
    assert forbidden_reason(ipaddress.ip_address("10.0.0.1"), policy) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8:6379/",
        "https://hooks.example.com:25/hook",
        "https://hooks.example.com:8443/hook",
        "https://six.example.com:22/",
    ],
)
def test_a_public_address_on_a_port_other_than_443_or_80_is_refused(url):
    with pytest.raises(UnsafeURL, match=r"refused: port [0-9]+ is not a webhook port"):
        check_url(url, resolve=PUBLIC)


@pytest.mark.parametrize("url", ["https://8.8.8.8/", "https://8.8.8.8:443/", "https://8.8.8.8:80/"])
def test_ports_443_and_80_need_no_setting(url):
    assert check_url(url).port in (443, 80)


def test_the_operator_may_allow_more_ports_and_ranges():
    policy = Policy.from_settings(False, [], [8443, "9000-9099"])
    for port in (8443, 9000, 9050, 9099):
        assert check_url(f"https://hooks.example.com:{port}/", policy, resolve=PUBLIC).port == port
    for port in (8444, 8999, 9100, 6379):
        with pytest.raises(UnsafeURL, match="not a webhook port"):
            check_url(f"https://hooks.example.com:{port}/", policy, resolve=PUBLIC)


def test_an_allowed_network_still_needs_an_allowed_port():
    # Allowing a network is for on-premise receivers, not for every service on it.
    policy = Policy.from_settings(True, ["10.0.0.0/8"])
    assert check_url("https://10.1.2.3/hook", policy).port == 443
    with pytest.raises(UnsafeURL, match="port 6379"):
        check_url("http://10.1.2.3:6379/", policy)


@pytest.mark.parametrize("ports", [["8000-"], ["0"], [0], ["9-8"], [70000], [True], ["http"]])
def test_malformed_ports_are_refused_in_the_config(ports):
    with pytest.raises(ValidationError, match="not a port"):
        Policy.from_settings(False, [], ports)
    overrides = {"subscribers": {"webhook_allow_ports": ports}}
    with pytest.raises(ConfigError, match=r"subscribers\.webhook_allow_ports: not a port"):
        load_settings(None, overrides=overrides, environ={})


def test_sign_up_refuses_a_webhook_to_a_public_address_on_another_port(client, ctx):
    data = {
        "url": "https://8.8.8.8:6379/",
        "email": "ops@example.com",
        "csrf_token": csrf_token(client, "/subscribe/webhook"),
    }
    response = client.post("/subscribe/webhook", data=data)
    assert response.status_code == 422 and b"port 6379 is not a webhook port" in response.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_stored_url_to_another_port_is_refused_at_send_time(app, ctx, kind):
    # As if signed up before the rule, or with a setting since removed.
    with write_transaction():
        api = cs.add_component("API", now=utcnow() - timedelta(days=5))
        db.session.add(
            Subscriber(
                kind=kind,
                email="ops@example.com",
                url="https://8.8.8.8:6379/",
                secret=subs.new_secret() if kind == "webhook" else None,
                created_at=utcnow(),
                confirmed_at=utcnow(),
            )
        )
    update_id = post_update({api.id: "major_outage"})
    deliver(app)
    db.session.expire_all()
    row = db.session.scalars(subscriber_rows(update_id)).one()
    assert row.state == "dead" and "port 6379 is not a webhook port" in row.last_error
