"""Admin views for escalations: acknowledge, the delivery log, and test messages per channel."""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from statuspage.clock import utcnow
from statuspage.core.escalation import render
from statuspage.core.escalation.config import EscalationConfig
from statuspage.core.roles import Permission
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import escalation as runtime
from statuspage.delivery import outbox
from statuspage.errors import StatuspageError
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import publish as publishing
from statuspage.web.admin import bp
from statuspage.web.admin.common import actor, signed_in_user
from statuspage.web.auth import requires

STATES = ("pending", "retrying", "sent", "dead")


@bp.post("/incidents/<id:incident_id>/acknowledge")
@requires(Permission.PUBLISH)
def incident_acknowledge(incident_id: int):
    """Acknowledge an incident from the admin: `unacknowledged` steps stop."""
    with write_transaction():
        incident = incident_service.get_incident(incident_id)
        now = utcnow()
        if publishing.acknowledge(incident, by=signed_in_user().email, now=now, actor=actor()):
            flash("Acknowledged: steps waiting for an acknowledgement are stopped.", "ok")
        else:
            flash(f"Already acknowledged by {incident.acknowledged_by}.", "warn")
    return redirect(url_for("admin.incident", incident_id=incident_id))


@bp.get("/deliveries")
@requires(Permission.READ)
def deliveries():
    """The delivery log: sent, retrying and dead messages with their last answer."""
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        abort(404)
    return render_template(
        "admin/escalations/deliveries.html",
        messages=outbox.recent(state, limit=100),
        stats=outbox.stats(),
        state=state,
        states=STATES,
    )


@bp.get("/deliveries/<id:message_id>")
@requires(Permission.READ)
def delivery(message_id: int):
    """One message: its payload and its delivery state."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return render_template("admin/escalations/delivery.html", message=message)


@bp.post("/deliveries/<id:message_id>/retry")
@requires(Permission.PUBLISH)
def delivery_retry(message_id: int):
    """Send a dead message again."""
    try:
        with write_transaction():
            outbox.retry_dead(message_id, utcnow())
    except StatuspageError as exc:
        flash(exc.message, "error")
    else:
        flash("Queued again: the worker sends it within seconds.", "ok")
    return redirect(url_for("admin.delivery", message_id=message_id))


def _config() -> EscalationConfig | None:
    config = current_app.config["STATUSPAGE"].escalation
    return config if isinstance(config, EscalationConfig) else None


@bp.get("/channels")
@requires(Permission.READ)
def channels():
    """The configured channels and paths, with a test button per channel."""
    return render_template("admin/escalations/channels.html", config=_config())


@bp.post("/channels/<name>/test")
@requires(Permission.PUBLISH)
def channel_test(name: str):
    """Queue a test message to one channel."""
    config = _config()
    if config is None or name not in config.channels:
        abort(404)
    settings = current_app.config["STATUSPAGE"]
    now = utcnow()
    key = f"test:{name}:{secrets.token_hex(6)}"
    notification = render.render_test(
        name,
        runtime.templates(),
        site_name=settings.site["name"],
        site_url=settings.site["url"],
        key=key,
        now=now,
    )
    with write_transaction():
        outbox.enqueue(
            key=key,
            channel=name,
            kind=config.channels[name].type,
            payload=notification.payload(),
            now=now,
        )
    flash(f"Test message to {name} queued; see the delivery log.", "ok")
    return redirect(url_for("admin.deliveries"))
