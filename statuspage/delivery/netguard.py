"""SSRF guard for URLs that users supply (webhook subscriptions): check, resolve, pin.

A URL is refused unless every address its host resolves to is a public unicast address (or in
the operator's allow-list) and its port is 443 or 80 (or in the operator's list of ports: a
public address's Redis or SMTP port is no webhook receiver). The request is then made to the
checked address itself, with the original host name for the Host header and TLS (SNI and
certificate check), so a DNS answer that changes between the check and the connection
(rebinding) cannot send it elsewhere. Redirects are never followed; callers check again at send
time.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from statuspage.errors import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL = 2000
#: The ports webhooks may always go to; others only when `[subscribers] webhook_allow_ports` says.
DEFAULT_PORTS = (443, 80)

# Blocks Python's `is_global` does not cover, or covers differently across versions.
_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "240.0.0.0/4",  # reserved, and the broadcast address
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # old site-local
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")
# Host spellings that resolvers read as numbers: 2130706433, 0x7f000001, 0177.1, 127.1.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.I)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.I)


class UnsafeURL(ValidationError):
    """A URL we will not send requests to."""

    code = "unsafe_url"


@dataclass(frozen=True)
class Policy:
    """What the operator allows: plain http (tests, on-premise), and networks to reach anyway."""

    allow_http: bool = False
    allow_networks: tuple[Network, ...] = field(default=())
    #: Ports allowed besides DEFAULT_PORTS, as inclusive (low, high) ranges.
    allow_ports: tuple[tuple[int, int], ...] = field(default=())

    @classmethod
    def from_settings(
        cls, allow_http: bool, cidrs: Iterable[str], ports: Iterable[int | str] = ()
    ) -> Policy:
        return cls(
            allow_http=allow_http,
            allow_networks=tuple(parse_networks(cidrs)),
            allow_ports=tuple(parse_ports(ports)),
        )

    def allows_port(self, port: int) -> bool:
        """Whether requests may go to `port`."""
        return port in DEFAULT_PORTS or any(low <= port <= high for low, high in self.allow_ports)


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    """Parse CIDR strings, raising ValidationError naming the bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise ValidationError(f"not a network in CIDR form: {cidr!r}") from None
    return networks


def parse_ports(items: Iterable[int | str]) -> list[tuple[int, int]]:
    """Parse ports (8443) and ranges ("8000-8999"), raising ValidationError naming the bad one."""
    ranges = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        elif isinstance(item, str) and re.fullmatch(r"[0-9]{1,5}-[0-9]{1,5}", item.strip()):
            low, high = (int(part) for part in item.strip().split("-"))
        else:
            raise ValidationError(f'not a port or a range of ports like "8000-8999": {item!r}')
        if not 1 <= low <= high <= 65535:
            raise ValidationError(f"not a port or a range of ports within 1-65535: {item!r}")
        ranges.append((low, high))
    return ranges


@dataclass(frozen=True)
class Target:
    """A checked URL and the addresses it may be reached at."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def pinned(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL with the checked address, headers, httpx extensions) for the request."""
        address = self.addresses[0]
        netloc = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(self.url)
        default = 443 if self.scheme == "https" else 80
        if self.port != default:
            netloc += f":{self.port}"
        url = urlunsplit((self.scheme, netloc, parts.path or "/", parts.query, ""))
        host = self.host if self.port == default else f"{self.host}:{self.port}"
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return url, {"Host": host}, extensions


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4:
        return address.sixtofour
    return None


def forbidden_reason(address: IPAddress, policy: Policy = Policy()) -> str | None:
    """Why requests may not go to `address`, or None when they may."""
    if any(address in network for network in policy.allow_networks):
        return None
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = forbidden_reason(inner, policy)
        return f"{reason} (inside {address})" if reason else None
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (any(address in network for network in _BLOCKED), "a non-public address"),
        (not address.is_global, "not a public address"),
    )
    for hit, reason in checks:
        if hit:
            return f"{address} is {reason}"
    return None


def _default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv4 or IPv6 socket address starts with the address text; other families (as IPv6 is
    # in a Python built without it) start with a number, which is no address to check.
    return [info[4][0] for info in infos if isinstance(info[4][0], str)]


def check_url(url: str, policy: Policy = Policy(), *, resolve: Resolver | None = None) -> Target:
    """Check a user-supplied URL and resolve it; raise UnsafeURL saying why it is refused."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("a URL is required", field="url")
    url = url.strip()
    if len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeURL("the URL is too long or contains spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("the URL is malformed", field="url") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed:
        raise UnsafeURL("the URL must start with https://", field="url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL must not contain a user name or password", field="url")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURL("the URL has no host", field="url")
    port = port or (443 if scheme == "https" else 80)
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        if _NUMERIC_HOST.match(host):
            raise UnsafeURL(f"{host} is a numeric address in an unusual spelling", field="url")
        if not all(_HOST_LABEL.match(label) for label in host.split(".")):
            raise UnsafeURL(f"{host} is not a valid host name", field="url")
        try:
            found = (resolve or _default_resolver)(host, port)
        except (OSError, UnicodeError):
            raise UnsafeURL(f"{host} does not resolve", field="url") from None
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise UnsafeURL(f"{host} does not resolve", field="url")
    for address in addresses:
        reason = forbidden_reason(address, policy)
        if reason:
            # A literal address needs no "resolves to": the reason names it already.
            bare = host.strip("[]") == str(address)
            said = reason if bare else f"{host} resolves to {reason}"
            raise UnsafeURL(f"refused: {said}", field="url")
    if not policy.allows_port(port):
        raise UnsafeURL(
            f"refused: port {port} is not a webhook port (use 443, the https port)", field="url"
        )
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
