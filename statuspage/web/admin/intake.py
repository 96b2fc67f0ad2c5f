"""Admin views for alerts in: the drafts monitoring prepared (preview, Publish, Dismiss), the
alerts received, and the integrations that send them (admins)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from statuspage.clock import utcnow
from statuspage.core.enums import IncidentKind
from statuspage.core.intake.payloads import FIRING, FORMATS, RESOLVED
from statuspage.core.roles import Permission
from statuspage.db.database import run_write, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, IncidentUpdate, Integration
from statuspage.db.models import Draft as StoredDraft
from statuspage.errors import Conflict, NotFound, StatuspageError, ValidationError
from statuspage.intake import integrations as integration_service
from statuspage.intake import queries as intake_queries
from statuspage.publishing import drafts
from statuspage.publishing import library as library_service
from statuspage.publishing import publish as publish_service
from statuspage.web.admin import bp, compose
from statuspage.web.admin.common import actor
from statuspage.web.admin.incidents import preview_view, view_url
from statuspage.web.auth import requires

#: Pages that show a secret or an alert's raw payload: never kept by a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store"}
#: Alerts listed on a draft's page and on the alerts page.
DRAFT_ALERTS = 50
ALERTS_SHOWN = 100
ALERT_STATUSES = (FIRING, RESOLVED)
OUTDATED = (
    "The draft changed since you saw it (a component, the message or its values): "
    "check the preview below, then publish."
)


def fingerprint(prepared: publish_service.Prepared) -> str:
    """What a draft's preview showed, condensed: Publish goes ahead only if it is still the same."""
    data = {
        "title": prepared.title,
        "text": prepared.body,
        "status": prepared.status.value,
        "impact": prepared.impact.value,
        "components": sorted((c.id, s.value) for c, s in prepared.components.items()),
        "notify": prepared.notify,
        "version": prepared.provenance,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DraftView:
    """A stored draft with what publishing it would publish, or why it cannot be."""

    row: StoredDraft
    prepared: publish_service.Prepared | None
    error: StatuspageError | None
    first_alert: Alert | None
    now: datetime

    @property
    def title(self) -> str:
        if self.prepared is not None:
            return self.prepared.title
        if self.first_alert is not None:
            return self.first_alert.title
        return f"Draft {self.row.id}"

    @property
    def since(self) -> timedelta:
        """How long since the first alert behind it started firing."""
        return max(self.now - self.row.detected_at, timedelta(0))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.prepared) if self.prepared is not None else ""

    @property
    def waiting(self) -> bool:
        return self.row.state == drafts.WAITING


def draft_view(row: StoredDraft, first_alert: Alert | None, now: datetime) -> DraftView:
    """The view of a draft; only a waiting one is previewed (the others were decided)."""
    prepared, error = None, None
    if row.state == drafts.WAITING:
        try:
            prepared = drafts.preview(row)
        except StatuspageError as exc:
            error = exc
    return DraftView(row, prepared, error, first_alert, now)


def edit_url(row: StoredDraft) -> str:
    """The compose form, filled with the draft's message, values and components."""
    args: dict[str, Any] = {"draft": row.id}
    if _usable_message(row.message_slug):
        args["message"] = row.message_slug
    else:
        args["free"] = "1"
    if row.incident_id is not None:
        return url_for("admin.incident_update", incident_id=row.incident_id, **args)
    return url_for("admin.incident_new", **args)


def _usable_message(slug: str) -> bool:
    """Whether the compose form can open this message (it exists, is live, is for incidents)."""
    if not slug:
        return False
    try:
        message = library_service.get_message(slug)
        version = library_service.current_version(message)
    except StatuspageError:
        return False
    return message.archived_at is None and compose.message_kind(version) is IncidentKind.INCIDENT


# -- one draft ---------------------------------------------------------------------------------


@bp.get("/drafts/<id:draft_id>")
@requires(Permission.READ)
def draft(draft_id: int):
    """A draft's preview, exactly as publishing would publish it, and the alerts behind it."""
    return _draft_page(draft_id)


def _draft_page(
    draft_id: int, *, notice: str | None = None, error: str | None = None, status: int = 200
):
    row = drafts.get(draft_id)
    alerts, total = intake_queries.alerts_of_draft(row.id, limit=DRAFT_ALERTS)
    view = draft_view(row, alerts[0] if alerts else None, utcnow())
    update = db.session.get(IncidentUpdate, row.update_id) if row.update_id else None
    return (
        render_template(
            "admin/intake/draft.html",
            view=view,
            row=row,
            alerts=alerts,
            total_alerts=total,
            preview=preview_view(view.prepared) if view.prepared is not None else None,
            edit_url=edit_url(row) if view.waiting else None,
            update=update,
            incident=row.incident,
            view_url=view_url,
            notice=notice,
            error=error,
        ),
        status,
        NO_STORE,
    )


@bp.post("/drafts/<id:draft_id>/publish")
@requires(Permission.PUBLISH)
def draft_publish(draft_id: int):
    """Publish a draft as previewed (the preview's fingerprint must still match)."""
    shown = request.form.get("fingerprint", "")

    def act() -> publish_service.Published:
        return drafts.publish(
            draft_id, now=utcnow(), actor=actor(), confirm=lambda p: fingerprint(p) == shown
        )

    try:
        result = run_write(act)
    except publish_service.PreviewOutdated:
        return _draft_page(draft_id, notice=OUTDATED, status=409)
    except (ValidationError, Conflict) as exc:
        return _draft_page(draft_id, error=f"Not published: {exc.message}", status=exc.http_status)
    if not result.created:
        row = drafts.get(draft_id)
        by = f" by {row.decided_by}" if row.decided_by else ""
        return _draft_page(
            draft_id,
            error=f"Draft {draft_id} was already published{by}: nothing was published again.",
            status=409,
        )
    update = result.update
    title = result.prepared.feed_title if result.prepared is not None else update.incident.name
    flash(f"Published: {title}. It is on the public page now.", "ok")
    return redirect(view_url(update.incident, _anchor=f"update-{update.id}"))


@bp.post("/drafts/<id:draft_id>/dismiss")
@requires(Permission.PUBLISH)
def draft_dismiss(draft_id: int):
    """Set a draft aside without publishing it (with an optional note)."""
    note = request.form.get("note", "").strip()
    try:
        with write_transaction():
            drafts.dismiss(draft_id, now=utcnow(), actor=actor(), note=note)
    except Conflict as exc:
        return _draft_page(draft_id, error=f"Not dismissed: {exc.message}", status=409)
    flash(f"Draft {draft_id} dismissed: nothing was published.", "ok")
    return redirect(url_for("admin.dashboard"))


# -- alerts ------------------------------------------------------------------------------------


@bp.get("/alerts")
@requires(Permission.READ)
def alerts() -> str:
    """The alerts received, the most recent first, by status and integration."""
    status = request.args.get("status", "")
    if status and status not in ALERT_STATUSES:
        raise ValidationError(f"status is one of {', '.join(ALERT_STATUSES)}", field="status")
    name = request.args.get("integration", "")
    source: Integration | None = None
    if name:
        source = intake_queries.integration_by_name(name)
        if source is None:
            raise NotFound(f"no integration called {name!r}")
    rows = intake_queries.alerts(
        status=status or None,
        integration_id=source.id if source is not None else None,
        limit=ALERTS_SHOWN,
    )
    return render_template(
        "admin/intake/alerts.html",
        alerts=rows,
        status=status,
        statuses=ALERT_STATUSES,
        integration=name,
        integrations=integration_service.listed(),
        firing=intake_queries.count_firing(),
        limit=ALERTS_SHOWN,
    )


@bp.get("/alerts/<id:alert_id>")
@requires(Permission.READ)
def alert(alert_id: int):
    """One alert: what it says, what intake did with it, and its payload as received."""
    row = intake_queries.alert(alert_id)
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    # Shown as text in a <pre>: the payload is the sender's, never markup of ours.
    raw = json.dumps(row.raw, indent=2, ensure_ascii=False, sort_keys=True)
    return render_template("admin/intake/alert.html", alert=row, raw=raw), 200, NO_STORE


# -- integrations (admins: they hand out secrets) ---------------------------------------------


def intake_url(name: str) -> str:
    """The full URL a sender posts to."""
    return f"{current_app.config['STATUSPAGE'].site['url'].rstrip('/')}/api/intake/{name}"


def snippets(row: Integration, secret: str) -> list[tuple[str, str]]:
    """Copy-paste configuration for the sender: (heading, text)."""
    url = intake_url(row.name)
    out = []
    if row.format == "alertmanager" and row.auth == "bearer":
        out.append(
            (
                "Alertmanager (alertmanager.yml)",
                "receivers:\n"
                "  - name: statuspage\n"
                "    webhook_configs:\n"
                f"      - url: '{url}'\n"
                "        send_resolved: true\n"
                "        http_config:\n"
                "          authorization:\n"
                "            type: Bearer\n"
                f"            credentials: '{secret}'\n",
            )
        )
    if row.format == "grafana":
        if row.auth == "bearer":
            text = (
                "Alerting > Contact points > Add contact point > Integration: Webhook\n"
                f"URL: {url}\n"
                "HTTP Method: POST\n"
                "Optional Webhook settings > Authorization Header - Scheme: Bearer\n"
                f"Authorization Header - Credentials: {secret}\n"
            )
        else:
            text = (
                "Alerting > Contact points > Add contact point > Integration: Webhook\n"
                f"URL: {url}\n"
                "Optional Webhook settings > HMAC Signature - Secret:\n"
                f"  {secret}\n"
                "  Header: X-Grafana-Alerting-Signature\n"
                "  Timestamp header: X-Grafana-Alerting-Signature-Timestamp\n"
            )
        out.append(("Grafana contact point", text))
    if row.format == "generic":
        body = json.dumps(
            {
                "title": "API is down",
                "severity": "critical",
                "component": "API",
                "status": "firing",
                "fingerprint": "api-down",
            }
        )
        if row.auth == "bearer":
            text = (
                f"curl -sS -X POST '{url}' \\\n"
                f"  -H 'Authorization: Bearer {secret}' \\\n"
                "  -H 'Content-Type: application/json' \\\n"
                f"  -d '{body}'\n"
            )
        else:
            text = (
                f"body='{body}'\n"
                "stamp=$(date +%s)\n"
                f"sig=$(printf '%s:%s' \"$stamp\" \"$body\" | openssl dgst -sha256 -hmac '{secret}'"
                " | sed 's/^.* //')\n"
                f"curl -sS -X POST '{url}' \\\n"
                '  -H "X-Statuspage-Timestamp: $stamp" \\\n'
                '  -H "X-Statuspage-Signature: sha256=$sig" \\\n'
                "  -H 'Content-Type: application/json' \\\n"
                '  -d "$body"\n'
            )
        out.append(("Generic format (curl)", text))
    return out


def _integrations_page(status: int = 200, **context):
    return (
        render_template(
            "admin/intake/integrations.html",
            rows=integration_service.listed(),
            formats=FORMATS,
            auths=integration_service.AUTHS,
            form=context.pop("form", {"name": "", "format": "alertmanager", "auth": "bearer"}),
            intake_url=intake_url,
            **context,
        ),
        status,
        NO_STORE,
    )


@bp.get("/integrations")
@requires(Permission.USERS)
def integrations():
    """The alert integrations, with the form to add one."""
    return _integrations_page()


@bp.post("/integrations")
@requires(Permission.USERS)
def integration_create():
    """Create an integration and show its secret once, with its URL and sender snippets."""
    form = {
        "name": request.form.get("name", "").strip(),
        "format": request.form.get("format", ""),
        "auth": request.form.get("auth", "bearer"),
    }
    try:
        with write_transaction():
            row, secret = integration_service.create(
                form["name"],
                form["format"],
                auth=form["auth"],
                secret_key=current_app.config["SECRET_KEY"],
                now=utcnow(),
                actor=actor(),
            )
    except StatuspageError as exc:
        return _integrations_page(exc.http_status, form=form, error=exc.message, field=exc.field)
    return _integrations_page(
        created=row, secret=secret, url=intake_url(row.name), snippets=snippets(row, secret)
    )


@bp.post("/integrations/<name>/revoke")
@requires(Permission.USERS)
def integration_revoke(name: str) -> Response:
    """Revoke an integration: its secret stops working at once; its alerts stay."""
    try:
        with write_transaction():
            integration_service.revoke(name, now=utcnow(), actor=actor())
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.integrations"))
    flash(f"Integration “{name}” is revoked: its secret no longer works.", "ok")
    return redirect(url_for("admin.integrations"))
