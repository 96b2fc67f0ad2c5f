"""Render public representations once per change; answer conditional GETs without rendering.

A cached entry is keyed by the view, its arguments, the query arguments the view reads (any
other query string is ignored, so it cannot be used to bypass the cache), the site's
generation number and the local date (uptime bars move at midnight). Each entry keeps its body
plain and in each content coding (brotli, gzip), a strong ETag and Last-Modified. Nothing a
client sends bypasses the cache.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask import Response, current_app, make_response, request
from werkzeug.http import parse_date, parse_etags

from statuspage.db import generation
from statuspage.db.extensions import db
from statuspage.web.compression import CODINGS, ENCODERS, MIN_SIZE, negotiate

MAX_ENTRIES = 2048
FASTPATH_KEY = "statuspage.served"


@dataclass(frozen=True)
class Entry:
    """One rendered representation, ready to serve."""

    body: bytes
    #: The content codings this body may be sent in, preferred first (none for a small body).
    codings: tuple[str, ...]
    etag: str
    last_modified: datetime
    mimetype: str
    charset: str | None
    # Compressed on first request for each coding: a render nobody asks gzip for costs none.
    _encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def body_in(self, coding: str | None) -> bytes:
        """The body in `coding` (None: as rendered)."""
        if coding is None:
            return self.body
        encoded = self._encoded.get(coding)
        if encoded is None:
            # Two threads may both compress once; the results are the same bytes.
            encoded = self._encoded[coding] = ENCODERS[coding](self.body)
        return encoded


@dataclass(frozen=True)
class Served:
    """What the cached view served for a request: enough for the fast path to serve it next."""

    entry: Entry
    query_args: tuple[str, ...]
    arg_values: tuple[str, ...]
    generation: int
    today: date


class PageCache:
    """A small thread-safe LRU of rendered entries, one per process."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        # The fast path's ready-to-send answers, by path and query values (see fastpath.py).
        self.wires: dict[tuple, Any] = {}

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.wires.clear()

    def get_wire(self, key: tuple) -> Any:
        return self.wires.get(key)

    def put_wire(self, key: tuple, wire: Any) -> None:
        with self._lock:
            self.wires[key] = wire
            if len(self.wires) > self.max_entries:
                # Oldest first: dicts keep insertion order.
                del self.wires[next(iter(self.wires))]


def init_app(app) -> None:
    """Give the app its cache, its generation reader and the fast path in front of Flask."""
    app.extensions["statuspage_cache"] = PageCache()
    staleness = app.config["STATUSPAGE"].cache["max_staleness_seconds"]
    with app.app_context():
        reader = generation.Reader(db.engine, max_staleness=staleness)
    app.extensions["statuspage_generation"] = reader
    from statuspage.web.fastpath import FastPath

    fastpath = FastPath(app.wsgi_app, app)
    app.extensions["statuspage_fastpath"] = fastpath
    app.wsgi_app = fastpath


def _cache() -> PageCache:
    return current_app.extensions["statuspage_cache"]


def current_generation() -> tuple[int, datetime | None]:
    """The site's generation (within the configured staleness bound)."""
    return current_app.extensions["statuspage_generation"].read()


def cached(*, query_args: tuple[str, ...] = ()) -> Callable:
    """Serve the view from the cache; render it only when the public side changed."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(**view_args):
            number, changed_at = current_generation()
            today = current_app.extensions["statuspage_fastpath"].today()
            arg_values = tuple(request.args.get(name, "") for name in query_args)
            key = (request.endpoint, tuple(sorted(view_args.items())), arg_values, number, today)
            cache = _cache()
            entry = cache.get(key)
            if entry is None:
                response = make_response(view(**view_args))
                if response.status_code != 200:
                    return response
                entry = build_entry(response, changed_at)
                cache.put(key, entry)
            # Tell the fast path what was served, so it can answer the next request itself.
            request.environ[FASTPATH_KEY] = Served(entry, query_args, arg_values, number, today)
            return serve(entry)

        return wrapper

    return decorate


def build_entry(response: Response, changed_at: datetime | None) -> Entry:
    """Freeze a rendered response into a cache entry."""
    body = response.get_data()
    digest = hashlib.sha256(body).hexdigest()[:32]
    # HTTP dates have whole seconds; keep the same precision for If-Modified-Since.
    modified = (changed_at or datetime.now(UTC)).replace(microsecond=0)
    return Entry(
        body=body,
        codings=CODINGS if len(body) >= MIN_SIZE else (),
        etag=digest,
        last_modified=modified,
        mimetype=response.mimetype or "application/octet-stream",
        charset=response.mimetype_params.get("charset"),
    )


def cache_control() -> str:
    """The Cache-Control value for public responses, from the settings."""
    return cache_control_value(current_app.config["STATUSPAGE"].cache)


def cache_control_value(cfg: Mapping[str, Any]) -> str:
    """The Cache-Control value for the [cache] settings `cfg`."""
    return (
        f"public, max-age={cfg['max_age_seconds']}, "
        f"stale-while-revalidate={cfg['stale_while_revalidate_seconds']}, "
        f"stale-if-error={cfg['stale_if_error_seconds']}"
    )


def serve(entry: Entry) -> Response:
    """Answer from an entry: 304 when the client has it, else the body (compressed if accepted)."""
    coding = choose_coding(entry, request.headers.get("Accept-Encoding", ""))
    if _not_modified(entry):
        response = Response(status=304)
    else:
        response = Response(entry.body_in(coding), mimetype=entry.mimetype)
        if entry.charset:
            response.mimetype_params["charset"] = entry.charset
        if coding:
            response.headers["Content-Encoding"] = coding
    response.set_etag(coded_etag(entry, coding))
    response.last_modified = entry.last_modified
    response.headers["Cache-Control"] = cache_control()
    response.vary.add("Accept-Encoding")
    return response


def choose_coding(entry: Entry, accept_encoding: str) -> str | None:
    """The content coding to send `entry` in, for this Accept-Encoding header."""
    return negotiate(accept_encoding, entry.codings) if entry.codings else None


def coded_etag(entry: Entry, coding: str | None) -> str:
    """Each coding of a body is its own representation, with its own tag."""
    return f"{entry.etag}-{coding}" if coding else entry.etag


def _not_modified(entry: Entry) -> bool:
    """Whether the request's validators match the entry."""
    return not_modified(
        entry, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")
    )


def not_modified(entry: Entry, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether a client with these validators has the entry (If-None-Match wins over the date)."""
    if if_none_match:
        tags = parse_etags(if_none_match)
        # If-None-Match uses the weak comparison (RFC 9110, 13.1.2).
        return tags.star_tag or any(
            tags.contains_weak(coded_etag(entry, coding)) for coding in (None, *entry.codings)
        )
    since = parse_date(if_modified_since) if if_modified_since else None
    return since is not None and entry.last_modified <= since
