"""Answer cached public requests in front of Flask: a generation check, then bytes.

The cached views (cache.py) render once per change; this middleware then serves the same
answer to every later request for the same path and query values, with the same headers,
without building a request context. It never decides anything Flask would decide otherwise:
a path is served here only after Flask served it from the cache, for the same generation,
local date and query values; anything else (other methods, bodies, unknown paths, a database
error other than an outage) goes to Flask. While the database cannot be reached it serves the
bytes it holds, marked stale, if the database confirmed them less than
`cache.stale_if_error_seconds` ago; else Flask answers (503).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.http import http_date

from statuspage import metrics
from statuspage.db.availability import is_unreachable
from statuspage.db.generation import Reader
from statuspage.web.entries import (
    FASTPATH_KEY,
    MAX_ENTRIES,
    Entry,
    PageCache,
    Served,
    cache_control_value,
    choose_coding,
    coded_etag,
    may_serve_stale,
    not_modified,
    stale_headers,
)
from statuspage.web.observe import ROUTE_KEY, UNMATCHED

#: Headers the fast path writes itself; every other header Flask set is replayed as it was.
OWN_HEADERS = frozenset(
    (
        "content-type",
        "content-length",
        "content-encoding",
        "etag",
        "last-modified",
        "cache-control",
        "vary",
        "date",
        "server",
    )
)

Headers = list[tuple[str, str]]
#: The most paths remembered (each a few dozen bytes).
MAX_ROUTES = 4 * MAX_ENTRIES
#: The most header values whose answer a wire remembers (clients send a handful: the ETag
#: they were given, their browser's Accept-Encoding); values past that are worked out each time.
MAX_REMEMBERED = 32


@dataclass(frozen=True)
class Variant:
    """One encoding of an entry: its 200 and 304 header lists and its body."""

    ok: Headers
    not_modified: Headers
    body: bytes


@dataclass(frozen=True)
class Wire:
    """A cached answer ready for the socket, valid for one generation and one local date."""

    entry: Entry
    generation: int
    today: date
    #: The headers Flask added (security, CORS), replayed with every answer.
    extra: Headers
    #: The endpoint of the view that rendered it, for the request metrics.
    route: str = ""
    #: By content coding (None: the plain body), each made on first request.
    variants: dict[str | None, Variant] = field(default_factory=dict)
    #: The variant chosen for an Accept-Encoding value, and whether a client holding these
    #: (If-None-Match, If-Modified-Since) values has the entry: parsed on every request they
    #: made a 304 cost more than a 200, and both depend on the entry and the values alone.
    by_accept: dict[str, Variant] = field(default_factory=dict)
    verdicts: dict[tuple[str | None, str | None], bool] = field(default_factory=dict)


class LocalDate:
    """Today's date in the site's time zone, recomputed only once a midnight has passed."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._today = date.min
        self._until = 0.0

    def today(self) -> date:
        now = time.time()
        if now >= self._until:
            self._today = datetime.fromtimestamp(now, self.tz).date()
            midnight = datetime.combine(self._today + timedelta(days=1), dtime(0), tzinfo=self.tz)
            self._until = midnight.timestamp()
        return self._today


class FastPath:
    """The WSGI middleware; `app.wsgi_app` is wrapped by it in cache.init_app."""

    def __init__(self, wsgi_app: Callable, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        settings = app.config["STATUSPAGE"]
        self.local_date = LocalDate(ZoneInfo(settings.site["time_zone"]))
        self.cache_settings = settings.cache
        self.cache_control = cache_control_value(settings.cache)
        #: path -> the query argument names its view reads (learned when Flask serves it).
        self.routes: dict[str, tuple[str, ...]] = {}

    def today(self) -> date:
        return self.local_date.today()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        query_args = self.routes.get(path)
        if query_args is not None:
            answer = self._answer(environ, start_response, path, query_args, method)
            if answer is not None:
                return answer
        sent: list[Headers] = []

        def capture(status: str, headers: Headers, exc_info: Any = None) -> Callable:
            sent.append(headers)
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        served: Served | None = environ.get(FASTPATH_KEY)
        if served is not None and sent:
            self._learn(environ, path, served, sent[-1])
        return result

    def _answer(
        self, environ: dict, start_response: Callable, path: str, query_args: tuple, method: str
    ) -> list[bytes] | None:
        cache: PageCache = self.app.extensions["statuspage_cache"]
        wire: Wire | None = cache.get_wire((path, _arg_values(environ, query_args)))
        if wire is None or wire.today != self.local_date.today():
            return None
        reader: Reader = self.app.extensions["statuspage_generation"]
        stale: list[tuple[str, str]] = []
        try:
            number, _changed = reader.read()
        except Exception as exc:
            if not is_unreachable(exc):
                return None  # Flask answers, with its own error handling
            age = reader.confirmed_age(wire.generation)
            if age is None or not may_serve_stale(self.cache_settings, age):
                return None  # Flask answers 503
            number, stale = wire.generation, stale_headers(self.cache_settings, age)
        if number != wire.generation:
            return None
        accept = environ.get("HTTP_ACCEPT_ENCODING", "")
        variant = wire.by_accept.get(accept)
        if variant is None:
            variant = self._chosen(wire, accept)
        ok, unchanged = variant.ok, variant.not_modified
        if stale:
            ok, unchanged = _restamp(ok, stale), _restamp(unchanged, stale)
        environ[ROUTE_KEY] = wire.route
        metrics.count_cache("fastpath", "stale" if stale else "hit")
        if _has_it(wire, environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE")):
            start_response("304 NOT MODIFIED", list(unchanged))
            return []
        start_response("200 OK", list(ok))
        return [] if method == "HEAD" else [variant.body]

    def _chosen(self, wire: Wire, accept: str) -> Variant:
        """The variant of `wire` for this Accept-Encoding value, made on first request."""
        coding = choose_coding(wire.entry, accept)
        variant = wire.variants.get(coding)
        if variant is None:
            variant = wire.variants[coding] = self._variant(wire.entry, coding, wire.extra)
        if len(wire.by_accept) < MAX_REMEMBERED:
            wire.by_accept[accept] = variant
        return variant

    def _learn(self, environ: dict, path: str, served: Served, headers: Headers) -> None:
        """Keep what Flask served from its cache, to serve it here next time."""
        values = _arg_values(environ, served.query_args)
        if values != served.arg_values:
            return  # our parse of the query string differs from Flask's: leave it to Flask
        extra = [(name, value) for name, value in headers if name.lower() not in OWN_HEADERS]
        if any(name.lower() == "set-cookie" for name, _ in extra):
            return  # an answer that sets a cookie is never replayed to someone else
        if path not in self.routes and len(self.routes) >= MAX_ROUTES:
            # Spellings of one URL are many (/incidents/0001, trailing slashes): start afresh
            # rather than grow without bound; Flask relearns the paths in use.
            self.routes.clear()
        self.routes[path] = served.query_args
        wire = Wire(
            entry=served.entry,
            generation=served.generation,
            today=served.today,
            extra=extra,
            route=environ.get(ROUTE_KEY, UNMATCHED),
        )
        cache: PageCache = self.app.extensions["statuspage_cache"]
        cache.put_wire((path, values), wire)

    def _variant(self, entry: Entry, coding: str | None, extra: Headers) -> Variant:
        body = entry.body_in(coding)
        content_type = entry.mimetype
        if entry.charset:
            content_type += f"; charset={entry.charset}"
        validators = [
            ("ETag", f'"{coded_etag(entry, coding)}"'),
            ("Last-Modified", http_date(entry.last_modified)),
            ("Cache-Control", self.cache_control),
            ("Vary", "Accept-Encoding"),
        ]
        ok = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if coding:
            ok.append(("Content-Encoding", coding))
        return Variant(ok=ok + validators + extra, not_modified=validators + extra, body=body)


def _has_it(wire: Wire, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether a client sending these validators has the entry (see entries.not_modified)."""
    if if_none_match is None and if_modified_since is None:
        return False
    key = (if_none_match, if_modified_since)
    verdict = wire.verdicts.get(key)
    if verdict is None:
        verdict = not_modified(wire.entry, if_none_match, if_modified_since)
        if len(wire.verdicts) < MAX_REMEMBERED:
            wire.verdicts[key] = verdict
    return verdict


def _restamp(headers: Headers, stale: Headers) -> Headers:
    """`headers` with their Cache-Control replaced by the stale answer's headers."""
    return [(name, value) for name, value in headers if name != "Cache-Control"] + stale


def _arg_values(environ: dict, names: tuple[str, ...]) -> tuple[str, ...]:
    """The first value of each named query argument ("" when absent), like request.args.get."""
    if not names:
        return ()
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="replace")
    found: dict[str, str] = {}
    for name, value in pairs:
        found.setdefault(name, value)
    return tuple(found.get(name, "") for name in names)
