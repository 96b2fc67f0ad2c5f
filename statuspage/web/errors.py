"""Error handling in one place: JSON for `/api/`, HTML pages in the site's style elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from statuspage.db.availability import is_unreachable
from statuspage.db.health import DISK_FULL_MESSAGE, is_disk_full
from statuspage.errors import DatabaseUnavailable, StatuspageError


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(StatuspageError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)


#: The Statuspage-compatible API (web/statuspage_v1): its errors in Statuspage's shape.
STATUSPAGE_PREFIX = "/v1/"


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Build the error response for the current request: JSON for the API (in Statuspage's
    shape under /v1/, with the same message), a page otherwise."""
    if request.path.startswith(STATUSPAGE_PREFIX):
        text = message if field is None or message.startswith(field) else f"{field}: {message}"
        response = jsonify({"error": text, "message": text, "code": code})
    elif _wants_json():
        response = jsonify({"error": {"code": code, "message": message, "field": field}})
    else:
        template = "errors/404.html" if status == 404 else "errors/error.html"
        response = Response(
            render_template(template, status=status, message=message), mimetype="text/html"
        )
    response.status_code = status
    return response


def handle_domain_error(exc: StatuspageError) -> Response:
    """Map an error from our own tree to its HTTP status."""
    response = error_response(exc.http_status, exc.code, exc.message, exc.field)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
        response.headers["Cache-Control"] = "no-store"
    return response


def handle_http_error(exc: HTTPException) -> Response:
    """Render Werkzeug's HTTP errors (404, 405, 413, ...) in our style."""
    code = (exc.name or "error").lower().replace(" ", "_")
    response = error_response(exc.code or 500, code, exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def handle_unexpected(exc: Exception) -> Response:
    """Log an unexpected error and answer 500 without leaking details."""
    from flask import current_app

    if is_disk_full(exc):
        # Not a bug, and no retry mends it: say so, so someone frees space on the disk.
        current_app.logger.error("%s %s: the database's disk is full", request.method, request.path)
        response = error_response(503, "database_disk_full", DISK_FULL_MESSAGE)
        response.headers["Cache-Control"] = "no-store"
        return response
    if is_unreachable(exc):
        # An outage, not a bug: one line, and a 503 the client may retry.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        current_app.logger.warning("%s %s: %s", request.method, request.path, first)
        return handle_domain_error(DatabaseUnavailable())
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())
