"""The acknowledge link of escalation messages: a confirm page, then a POST that acknowledges.

The link itself changes nothing: mail scanners and chat previews open links on their own.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.delivery import ack_links
from statuspage.errors import ValidationError
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import publish as publishing
from statuspage.web.auth import current_user

bp = Blueprint("ack", __name__)


def _incident_for(token: str):
    settings = current_app.config["STATUSPAGE"]
    incident_id, channel = ack_links.read_token(
        current_app.config["SECRET_KEY"],
        token,
        max_age_seconds=settings.worker["ack_link_hours"] * 3600,
    )
    return incident_service.get_incident(incident_id), channel


@bp.route("/ack/<token>", methods=["GET", "POST"])
def acknowledge(token: str):
    """Show what will be acknowledged (GET), or acknowledge it (POST, CSRF-checked)."""
    try:
        incident, channel = _incident_for(token)
    except ValidationError as exc:
        return render_template("ack.html", error=exc.message, incident=None), 410
    if request.method == "GET":
        return render_template("ack.html", incident=incident, token=token, done=False)
    user = current_user()
    name = request.form.get("name", "").strip()[:100]
    by = user.email if user else (f"{name} via {channel}" if name else f"via {channel}")
    actor = (
        audit.Actor.for_user(user, request.remote_addr or "")
        if user
        else audit.Actor(label=f"ack link ({channel})", ip=request.remote_addr or "")
    )
    with write_transaction():
        now = utcnow()
        changed = publishing.acknowledge(incident, by=by, now=now, actor=actor)
    return render_template("ack.html", incident=incident, done=True, changed=changed)
