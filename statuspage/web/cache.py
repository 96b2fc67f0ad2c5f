"""Render public representations once per change; answer conditional GETs without rendering.

A cached entry is keyed by the view, its arguments, the query arguments the view reads (any
other query string is ignored, so it cannot be used to bypass the cache), the site's
generation number and the local date (uptime bars move at midnight). Each entry keeps its body
plain and in each content coding (brotli, gzip), a strong ETag and Last-Modified. Nothing a
client sends bypasses the cache.

While the database cannot be reached (the generation cannot be read, or a render fails for
that reason), a view answers with the newest entry it rendered, marked stale (`entries.
stale_headers`), as long as the database confirmed that entry current less than
`cache.stale_if_error_seconds` ago; otherwise DatabaseUnavailable (503, Retry-After). The body
is the cached bytes as they are: a banner would need a render, and a render needs the database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Response, current_app, make_response, request

from statuspage import metrics
from statuspage.db import generation
from statuspage.db.availability import is_unreachable
from statuspage.db.extensions import db
from statuspage.errors import DatabaseUnavailable
from statuspage.web.compression import CODINGS, MIN_SIZE
from statuspage.web.entries import (
    FASTPATH_KEY,
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
from statuspage.web.fastpath import FastPath


def init_app(app) -> None:
    """Give the app its cache, its generation reader and the fast path in front of Flask."""
    app.extensions["statuspage_cache"] = PageCache()
    settings = app.config["STATUSPAGE"]
    staleness = settings.cache["max_staleness_seconds"]
    with app.app_context():
        reader = generation.Reader(
            db.engine, max_staleness=staleness, listen=settings.database["listen"]
        )
    app.extensions["statuspage_generation"] = reader
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
            arg_values = tuple(request.args.get(name, "") for name in query_args)
            place = (request.endpoint, tuple(sorted(view_args.items())), arg_values)
            try:
                number, changed_at = current_generation()
            except Exception as exc:
                if not is_unreachable(exc):
                    raise
                return serve_stale(place, exc)
            today = current_app.extensions["statuspage_fastpath"].today()
            key = (*place, number, today)
            cache = _cache()
            entry = cache.get(key)
            metrics.count_cache("flask", "hit" if entry is not None else "miss")
            if entry is None:
                try:
                    response = make_response(view(**view_args))
                except Exception as exc:
                    if not is_unreachable(exc):
                        raise
                    return serve_stale(place, exc)
                if response.status_code != 200:
                    return response
                entry = build_entry(response, changed_at)
                cache.put(key, entry)
                cache.remember(place, number, entry)
            # Tell the fast path what was served, so it can answer the next request itself.
            request.environ[FASTPATH_KEY] = Served(entry, query_args, arg_values, number, today)
            return serve(entry)

        return wrapper

    return decorate


def serve_stale(place: tuple, exc: Exception) -> Response:
    """Answer from the newest entry of `place` while the database cannot be reached, if the
    database confirmed it recently enough; else raise DatabaseUnavailable (503)."""
    newest = _cache().newest(place)
    settings = current_app.config["STATUSPAGE"].cache
    if newest is None:
        raise DatabaseUnavailable() from exc
    number, entry = newest
    age = current_app.extensions["statuspage_generation"].confirmed_age(number)
    if age is None or not may_serve_stale(settings, age):
        raise DatabaseUnavailable() from exc
    response = serve(entry)
    metrics.count_cache("flask", "stale")
    for name, value in stale_headers(settings, age):
        response.headers[name] = value
    return response


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


def _not_modified(entry: Entry) -> bool:
    """Whether the request's validators match the entry."""
    return not_modified(
        entry, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")
    )
