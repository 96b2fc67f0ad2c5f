"""`POST /api/intake/<integration>`: alerts in from Alertmanager, Grafana or the generic format.

Answers 202 with what happened (recorded, deduplicated, drafted, published); 401 for wrong
credentials (the same answer whatever was wrong), 413 for a body over MAX_INTAKE_BYTES, 400 with
the field for anything malformed. Alertmanager retries 5xx, never 4xx: a 400 is final.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from statuspage.clock import utcnow
from statuspage.core import limits
from statuspage.core.intake import payloads
from statuspage.db import database
from statuspage.db.extensions import db
from statuspage.db.models import Integration
from statuspage.errors import ValidationError
from statuspage.intake import integrations, receive
from statuspage.web.errors import error_response

bp = Blueprint("intake", __name__)


@bp.post("/api/intake/<name>")
def alerts(name: str) -> Response:
    """Receive one webhook delivery of alerts."""
    body = _body()
    if isinstance(body, Response):
        return body
    settings = current_app.config["STATUSPAGE"]
    now = utcnow()
    integration = integrations.authenticate(
        name,
        headers=dict(request.headers),
        body=body,
        secret_key=current_app.config["SECRET_KEY"],
        now=now,
    )
    try:
        received = payloads.parse(integration.format, body)
    except ValidationError as exc:
        return error_response(400, "invalid_payload", exc.message, exc.field)
    ctx = receive.Context.from_settings(settings, now)
    integration_id = integration.id

    def act() -> receive.Received:
        row = db.session.get(Integration, integration_id)
        assert row is not None
        integrations.touch(row, now)
        return receive.receive(row, received, ctx)

    result = database.run_write(act)
    response = jsonify(result.as_json())
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


def _body() -> bytes | Response:
    """The body, or a 413 without reading more than one byte past the limit."""
    length = request.content_length
    if length is not None and length > limits.MAX_INTAKE_BYTES:
        return _413(length)
    data = request.stream.read(limits.MAX_INTAKE_BYTES + 1)
    if len(data) > limits.MAX_INTAKE_BYTES:  # no Content-Length (chunked), and too long
        return _413(None)
    return data


def _413(length: int | None) -> Response:
    size = f"{length:,} bytes" if length is not None else "more than that"
    return error_response(
        413,
        "payload_too_large",
        f"an alert webhook request has at most {limits.MAX_INTAKE_BYTES:,} bytes ({size} sent); "
        "lower max_alerts in the sender or split the alerts",
        "body",
    )
