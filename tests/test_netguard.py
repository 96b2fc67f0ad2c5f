"""The SSRF guard refuses every non-public address, however it is spelled."""

from __future__ import annotations

import ipaddress

import pytest

from statuspage.delivery.netguard import Policy, UnsafeURL, check_url, forbidden_reason


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
    target = check_url("https://six.example.com:8443/h", resolve=PUBLIC)
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
    policy = Policy.from_settings(True, ["127.0.0.0/8"])
    target = check_url("http://127.0.0.1:8080/hook", policy)
    assert target.pinned()[0] == "http://127.0.0.1:8080/hook"
    assert forbidden_reason(ipaddress.ip_address("10.0.0.1"), policy) is not None
