"""Security headers on every response, and open CORS for the public read-only API."""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Install the request-size check and the header hook."""
    app.before_request(refuse_large_bodies)
    app.after_request(add_headers)


def refuse_large_bodies() -> None:
    """Answer 413 to any request declaring a body over the limit, before anything reads it."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        abort(413, description=f"Request bodies are limited to {limit} bytes.")


def add_headers(response: Response) -> Response:
    """Add security headers to every response, and CORS to the public JSON API."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith(("/admin", "/api/v1")):
        # Signed-in pages and management data stay out of shared caches and the back button.
        headers["Cache-Control"] = "no-store"
    if request.path.startswith("/api/v2/") and request.method in ("GET", "HEAD", "OPTIONS"):
        # Read-only public data: any site may read it, with no credentials.
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        headers["Access-Control-Max-Age"] = "86400"
    return response
