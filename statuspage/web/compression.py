"""Gzip for text responses, negotiated on Accept-Encoding: a 60 KB page travels as ~5 KB."""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

COMPRESSIBLE = (
    "text/html",
    "text/css",
    "text/plain",
    "application/json",
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "image/svg+xml",
)
#: Below this the gzip header costs more than it saves.
MIN_SIZE = 500


def init_app(app: Flask) -> None:
    """Install the compression hook (runs after the security headers are set)."""
    app.after_request(compress)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (q=0 refuses it)."""
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


def compress(response: Response) -> Response:
    """Gzip a text body when the client accepts it."""
    if (
        request.method == "HEAD"
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
        or (response.mimetype or "") not in COMPRESSIBLE
    ):
        return response
    response.vary.add("Accept-Encoding")
    if not accepts_gzip(request.headers.get("Accept-Encoding", "")):
        return response
    # Static files stream from disk; ours are small, so read them to compress.
    response.direct_passthrough = False
    source = response.response
    data = response.get_data()
    if hasattr(source, "close"):
        source.close()  # the file behind a static response, now read in full
    if len(data) < MIN_SIZE:
        return response
    response.set_data(gzip.compress(data, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    if response.headers.get("ETag"):
        # The compressed bytes are a different representation: a weak-free distinct tag.
        tag, weak = response.get_etag()
        if tag:
            response.set_etag(f"{tag}-gzip", weak=bool(weak))
    return response
