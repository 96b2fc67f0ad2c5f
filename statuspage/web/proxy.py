"""The client's real address behind reverse proxies: the outermost WSGI layer.

Only a connecting address inside `server.trusted_proxies` is believed about the client. From
such a peer, X-Forwarded-For is read from the right (each proxy appends the address it saw),
skipping addresses that are trusted proxies themselves; the first one that is not becomes
REMOTE_ADDR, so every layer below (the fast path, Flask, rate limits, the audit log) sees it.
Entries further left were written by the client and are never believed. From the same peers
X-Forwarded-Proto and X-Forwarded-Host (their last value) set the scheme and host. From any
other peer these headers are ignored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence

from statuspage.delivery.netguard import IPAddress, Network

#: Set in the environ of a request whose connecting peer is a trusted proxy.
PROXIED_KEY = "statuspage.proxied"
#: Set when a trusted proxy also said who its client was (X-Forwarded-For): without it, the
#: REMOTE_ADDR of a proxied request is the proxy's own address, not the client's.
CLIENT_KEY = "statuspage.forwarded_client"
#: A host[:port] as a proxy forwards it; anything else (spaces, control characters) is ignored.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


class ProxyHeaders:
    """WSGI middleware: believe X-Forwarded-* only from the trusted proxies' networks."""

    def __init__(self, wsgi_app: Callable, trusted: Sequence[Network]) -> None:
        self.wsgi_app = wsgi_app
        self.trusted = tuple(trusted)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.trusted and self._trusts(_address(environ.get("REMOTE_ADDR", ""))):
            environ[PROXIED_KEY] = True
            self._apply(environ)
        return self.wsgi_app(environ, start_response)

    def _trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def _apply(self, environ: dict) -> None:
        """Rewrite the environ of a request whose connecting peer is a trusted proxy."""
        client: IPAddress | None = None
        for entry in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            address = _address(entry)
            if address is None:
                break  # garbage (or "unknown"): keep the last hop we could check
            client = address
            if not self._trusts(address):
                break
        if client is not None:
            environ["REMOTE_ADDR"] = str(client)
            environ[CLIENT_KEY] = True
        proto = _last(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = _last(environ.get("HTTP_X_FORWARDED_HOST", ""))
        if _HOST.fullmatch(host):
            environ["HTTP_HOST"] = host


def _last(value: str) -> str:
    """The value the nearest proxy added to a comma-separated header."""
    return value.rsplit(",", 1)[-1].strip()


def _address(text: str) -> IPAddress | None:
    """An address from a REMOTE_ADDR or X-Forwarded-For entry (a port is dropped), or None."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
