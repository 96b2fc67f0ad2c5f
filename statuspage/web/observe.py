"""The layer every web request passes: its id, its line in the access log and its metrics.

It sits inside the proxy layer (it sees the real client address) and outside the fast path
(answers from the cache are counted and logged like any other). The request id comes from an
incoming X-Request-Id when that is short and safe, else it is made here; it goes back as the
X-Request-Id response header and into every log line written while the request is handled.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request

from statuspage import logs, metrics

#: Where Flask (an after_request hook) and the fast path leave the route a request matched.
ROUTE_KEY = "statuspage.route"
#: The route of a request no URL rule matched (404, 405), or one that failed before routing.
UNMATCHED = "unmatched"
HEADER = "X-Request-Id"
#: An incoming id is kept only if it is this: anything else could forge or garble log lines.
SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("statuspage.access")
#: Printable ASCII but the double quote and backslash: what a path keeps as is in a log line.
_PATH_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')


@functools.lru_cache(maxsize=4096)  # the same few paths come back all the time
def loggable_path(path: str) -> str:
    """`path` for a log line: secrets redacted; spaces, quotes, control characters and non-ASCII
    bytes percent-encoded, so a path cannot break a line or forge another."""
    raw = path.encode("latin-1", "replace")  # a WSGI string holds the request's bytes as latin-1
    return logs.redact(quote(raw, safe=_PATH_CHARS))


def init_app(app: Flask) -> None:
    """Wrap the app (fast path included) in `Observe`; name each request's route for it."""
    app.after_request(_note_route)
    app.wsgi_app = Observe(  # type: ignore[method-assign]
        app.wsgi_app, access_log=app.config["STATUSPAGE"].logging["access_log"]
    )


def _note_route(response: Response) -> Response:
    """Tell `Observe` which route answered (the endpoint: bounded, unlike the path)."""
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.endpoint if rule is not None else UNMATCHED
    return response


def request_id(incoming: str | None) -> str:
    """The id of a request: the client's X-Request-Id if it is short and safe, else a new one."""
    if incoming and SAFE_ID.fullmatch(incoming):
        return incoming
    # An id names a request in the logs; it guards nothing, so it need not come from the
    # kernel (a system call per request). `random` is reseeded in every forked worker.
    return f"{random.getrandbits(64):016x}"


class Observe:
    """WSGI middleware: a request id on every answer, metrics and an access-log line for each."""

    def __init__(
        self,
        wsgi_app: Callable,
        *,
        access_log: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.access_log = access_log
        self.clock = clock

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = self.clock()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        status = ["500"]

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None):
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, [*headers, (HEADER, rid)], exc_info)

        token = logs.REQUEST_ID.set(rid)
        try:
            result = self.wsgi_app(environ, start)
        except BaseException:
            self._finish(environ, rid, status[0], None, started)
            raise
        finally:
            logs.REQUEST_ID.reset(token)
        if isinstance(result, list):
            self._finish(environ, rid, status[0], sum(map(len, result)), started)
            return result
        return _Body(result, lambda sent: self._finish(environ, rid, status[0], sent, started))

    def _finish(self, environ: dict, rid: str, status: str, sent: int | None, started: float):
        """Count the request and write its access-log line."""
        seconds = self.clock() - started
        method = environ.get("REQUEST_METHOD", "")
        metrics.observe_request(environ.get(ROUTE_KEY, UNMATCHED), method, status, seconds)
        if self.access_log and access_log.isEnabledFor(logging.INFO):
            write_access_line(environ, rid, status, sent, seconds)


def write_access_line(
    environ: dict, rid: str, status: str, sent: int | None, seconds: float
) -> None:
    """Log one answered request: client, method, path (secrets redacted), status, bytes, time."""
    path = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    # Every part is redacted (the path) or cannot hold a secret (an address, a method token,
    # numbers, an id of SAFE_ID's characters): the line is not redacted again.
    client = environ.get("REMOTE_ADDR", "") or "-"
    method = environ.get("REQUEST_METHOD", "")
    path = loggable_path(path)
    duration_ms = round(seconds * 1000, 3)
    size = "-" if sent is None else sent
    fields = {
        "client": client,
        "method": method,
        "path": path,
        "status": int(status) if status.isdigit() else status,
        "bytes": sent,
        "duration_ms": duration_ms,
    }
    message = f'{client} "{method} {path}" {status} {size} {duration_ms:.1f}ms'
    logs.log_redacted(
        access_log, logging.INFO, message, request_id=rid, fields=fields, caller=_CALLER
    )


#: Where the access line is written from, for its record (file, line, function).
_CALLER = (__file__, write_access_line.__code__.co_firstlineno, write_access_line.__name__)


class _Body:
    """A response body passed through, counting its bytes; `done` runs once, when the body has
    been sent or is closed, whichever comes first (a server closes it; a test may only read)."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.inner = inner
        self.done: Callable[[int], None] | None = done
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.sent += len(chunk)
            yield chunk
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(self.sent)
