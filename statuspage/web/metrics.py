"""`/metrics` for Prometheus: on the web app, and on the worker's own listener.

Both answer through `respond`, behind one rule (`Access`, from `[metrics]`): a request may read
the metrics if it comes from one of `allow_networks` or carries `Authorization: Bearer <token>`.
The address is the real client's, as the proxy layer found it (trusted proxies only); a request
that carries forwarding headers but did not come through a trusted proxy is not believed to
come from an allowed network (a proxy on the same host would otherwise make everyone local).
The answer is never cached: the view is not a cached one, so the fast path never learns it,
and it is sent with `Cache-Control: no-store`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Blueprint, Flask, Response, current_app, request

from statuspage import metrics
from statuspage.config import Settings, parse_listen
from statuspage.delivery.netguard import Network, parse_networks
from statuspage.errors import StatuspageError
from statuspage.web.proxy import CLIENT_KEY, PROXIED_KEY, ProxyHeaders

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

PATH = "/metrics"
#: Headers a proxy adds; from a peer that is not a trusted proxy they mean "someone relayed this".
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_EXTENSION = "statuspage_metrics_access"

Answer = tuple[HTTPStatus, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Access:
    """Who may read the metrics: `[metrics] enabled`, `token` and `allow_networks`."""

    enabled: bool
    token: str
    networks: tuple[Network, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        section = settings.metrics
        return cls(
            enabled=section["enabled"],
            token=section["token"],
            networks=tuple(parse_networks(section["allow_networks"])),
        )

    def verdict(self, environ: Mapping) -> HTTPStatus:
        """OK, NOT_FOUND (metrics off), UNAUTHORIZED (a token would open it) or FORBIDDEN."""
        if not self.enabled:
            return HTTPStatus.NOT_FOUND
        if self._has_token(environ.get("HTTP_AUTHORIZATION", "")) or self._from_network(environ):
            return HTTPStatus.OK
        return HTTPStatus.UNAUTHORIZED if self.token else HTTPStatus.FORBIDDEN

    def _has_token(self, authorization: str) -> bool:
        if not self.token:
            return False
        scheme, _, sent = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(sent.strip().encode(), self.token.encode())

    def _from_network(self, environ: Mapping) -> bool:
        if not self.networks:
            return False
        if not environ.get(PROXIED_KEY) and any(environ.get(h) for h in FORWARDING_HEADERS):
            return False
        if environ.get(PROXIED_KEY) and not environ.get(CLIENT_KEY):
            # A trusted proxy that did not say who its client is (no X-Forwarded-For, only
            # X-Real-IP, say): the address here is the proxy's own, which proves nothing.
            return False
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
        return any(address in network for network in self.networks)


def respond(app: Flask, access: Access, environ: Mapping) -> Answer:
    """The answer to a request for the metrics: status, headers and body."""
    verdict = access.verdict(environ)
    headers = [("Cache-Control", "no-store")]
    if verdict is HTTPStatus.OK:
        headers.append(("Content-Type", metrics.CONTENT_TYPE))
        return verdict, headers, metrics.render(app)
    headers.append(("Content-Type", "text/plain; charset=utf-8"))
    if verdict is HTTPStatus.UNAUTHORIZED:
        headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
        return verdict, headers, b"The metrics need the bearer token ([metrics] token).\n"
    if verdict is HTTPStatus.FORBIDDEN:
        return verdict, headers, b"The metrics are not served to this address.\n"
    return verdict, headers, b"Not Found\n"


def init_app(app: Flask) -> None:
    """Register `/metrics` with the access rule of the app's settings."""
    app.extensions[_EXTENSION] = Access.from_settings(app.config["STATUSPAGE"])
    app.register_blueprint(bp)


@bp.get(PATH)
def scrape() -> Response:
    """The metrics, in Prometheus text format, to whom `Access` allows."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    status, headers, body = respond(app, app.extensions[_EXTENSION], request.environ)
    return Response(body, status=status, headers=headers)


# -- the worker's listener ----------------------------------------------------------------


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer's server_bind looks the host name up in DNS (getfqdn): slow, and unused.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("metrics listener: " + format, *args)


class Listener:
    """`/metrics` of a process without the web app (the worker), on a daemon thread."""

    def __init__(self, app: Flask, address: str) -> None:
        self.app = app
        settings: Settings = app.config["STATUSPAGE"]
        self.access = Access.from_settings(settings)
        trusted = parse_networks(settings.server["trusted_proxies"])
        host, port = parse_listen(address)
        server_class = _Server6 if ":" in host else _Server
        try:
            self.server = make_server(
                host,
                port,
                ProxyHeaders(self._wsgi, trusted),
                server_class=server_class,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StatuspageError(
                f"metrics.worker_listen: cannot listen on {address}: {reason}"
            ) from None
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="metrics-listener", daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> Listener:
        self.thread.start()
        # Not as a URL: the log redacts the path of every URL.
        log.info("metrics listener on %s (%s)", _netloc(self.server.server_name, self.port), PATH)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            status, headers, body = HTTPStatus.NOT_FOUND, [], b"Not Found\n"
        elif environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, headers, body = HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "GET, HEAD")], b""
        else:
            status, headers, body = respond(self.app, self.access, environ)
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(f"{status.value} {status.phrase}", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextmanager
def worker_listener(app: Flask) -> Iterator[Listener | None]:
    """Serve the worker's `/metrics` on `[metrics] worker_listen` (if set) until the block ends."""
    section = app.config["STATUSPAGE"].metrics
    if not section["enabled"] or not section["worker_listen"]:
        yield None
        return
    listener = Listener(app, section["worker_listen"]).start()
    try:
        yield listener
    finally:
        listener.stop()
