"""Render public representations once per change; answer conditional GETs without rendering.

A cached entry is keyed by the view, its arguments, the query arguments the view reads (any
other query string is ignored, so it cannot be used to bypass the cache), the site's
generation number and the local date (uptime bars move at midnight). Each entry keeps its body
plain and gzipped, a strong ETag and Last-Modified. Nothing a client sends bypasses the cache.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Response, current_app, make_response, request

from .. import generation
from .compression import accepts_gzip

MAX_ENTRIES = 2048


@dataclass(frozen=True)
class Entry:
    """One rendered representation, ready to serve."""

    body: bytes
    gzip_body: bytes | None
    etag: str
    last_modified: datetime
    mimetype: str
    charset: str | None


class PageCache:
    """A small thread-safe LRU of rendered entries, one per process."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.generation = (0, None, 0.0)  # (generation, changed_at, read at monotonic)

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


def init_app(app) -> None:
    """Give the app its cache."""
    app.extensions["statuspage_cache"] = PageCache()


def _cache() -> PageCache:
    return current_app.extensions["statuspage_cache"]


def current_generation() -> tuple[int, datetime | None]:
    """The site's generation, read from the database at most every `max_staleness` seconds."""
    cache = _cache()
    staleness = current_app.config["STATUSPAGE"].cache["max_staleness_seconds"]
    number, changed_at, read_at = cache.generation
    now = time.monotonic()
    if staleness <= 0 or now - read_at > staleness or read_at == 0.0:
        number, changed_at = generation.read()
        cache.generation = (number, changed_at, now)
    return number, changed_at


def cached(*, query_args: tuple[str, ...] = ()) -> Callable:
    """Serve the view from the cache; render it only when the public side changed."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(**view_args):
            number, changed_at = current_generation()
            settings = current_app.config["STATUSPAGE"]
            today = datetime.now(ZoneInfo(settings.site["time_zone"])).date()
            key = (
                request.endpoint,
                tuple(sorted(view_args.items())),
                tuple(request.args.get(name, "") for name in query_args),
                number,
                today,
            )
            cache = _cache()
            entry = cache.get(key)
            if entry is None:
                response = make_response(view(**view_args))
                if response.status_code != 200:
                    return response
                entry = build_entry(response, changed_at)
                cache.put(key, entry)
            return serve(entry)

        return wrapper

    return decorate


def build_entry(response: Response, changed_at: datetime | None) -> Entry:
    """Freeze a rendered response into a cache entry."""
    body = response.get_data()
    digest = hashlib.sha256(body).hexdigest()[:32]
    zipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= 500 else None
    # HTTP dates have whole seconds; keep the same precision for If-Modified-Since.
    modified = (changed_at or datetime.now(UTC)).replace(microsecond=0)
    return Entry(
        body=body,
        gzip_body=zipped,
        etag=digest,
        last_modified=modified,
        mimetype=response.mimetype or "application/octet-stream",
        charset=response.mimetype_params.get("charset"),
    )


def cache_control() -> str:
    """The Cache-Control value for public responses, from the settings."""
    cfg = current_app.config["STATUSPAGE"].cache
    return (
        f"public, max-age={cfg['max_age_seconds']}, "
        f"stale-while-revalidate={cfg['stale_while_revalidate_seconds']}, "
        f"stale-if-error={cfg['stale_if_error_seconds']}"
    )


def serve(entry: Entry) -> Response:
    """Answer from an entry: 304 when the client has it, else the body (gzipped if accepted)."""
    use_gzip = entry.gzip_body is not None and accepts_gzip(
        request.headers.get("Accept-Encoding", "")
    )
    etag = f"{entry.etag}-gz" if use_gzip else entry.etag
    if _not_modified(entry):
        response = Response(status=304)
    else:
        response = Response(entry.gzip_body if use_gzip else entry.body, mimetype=entry.mimetype)
        if entry.charset:
            response.mimetype_params["charset"] = entry.charset
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    response.last_modified = entry.last_modified
    response.headers["Cache-Control"] = cache_control()
    response.vary.add("Accept-Encoding")
    return response


def _not_modified(entry: Entry) -> bool:
    """Whether the request's validators match the entry (If-None-Match wins over the date)."""
    if_none_match = request.if_none_match
    if if_none_match:
        # If-None-Match uses the weak comparison (RFC 9110, 13.1.2).
        return (
            if_none_match.star_tag
            or if_none_match.contains_weak(entry.etag)
            or if_none_match.contains_weak(f"{entry.etag}-gz")
        )
    since = request.if_modified_since
    return since is not None and entry.last_modified <= since
