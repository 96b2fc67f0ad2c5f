"""Error handling in one place: JSON for `/api/`, HTML pages in the site's style elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from statuspage.errors import StatuspageError


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(StatuspageError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Build the error response for the current request: JSON for the API, a page otherwise."""
    if _wants_json():
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
    return error_response(exc.http_status, exc.code, exc.message, exc.field)


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

    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())
