"""Admin views for alerts in: the drafts monitoring prepared (preview, Publish, Dismiss), the
alerts received, and the integrations that send them (admins)."""

from __future__ import annotations

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
from statuspage.db.models import Alert, DraftApproval, IncidentUpdate, Integration
from statuspage.db.models import Draft as StoredDraft
from statuspage.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    StatuspageError,
    ValidationError,
)
from statuspage.intake import integrations as integration_service
from statuspage.intake import queries as intake_queries
from statuspage.publishing import approvals, drafts
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.publishing import publish as publish_service
from statuspage.web.admin import bp, compose
from statuspage.web.admin.common import actor
from statuspage.web.admin.incidents import (
    REQUESTED,
    approval_notices,
    approvers_of,
    preview_view,
    request_url,
    view_url,
)
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
STALE = (
    "The draft changed since you read it (its author revised it, or what it would publish moved "
    "on): nothing was approved. Read the preview below again, then approve."
)


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
        return self.prepared.fingerprint if self.prepared is not None else ""

    @property
    def waiting(self) -> bool:
        return self.row.state == drafts.WAITING

    @property
    def requested(self) -> bool:
        """Whether it is a request for approval (waiting for approvers, or returned)."""
        return self.row.state in REQUESTED


def draft_view(row: StoredDraft, first_alert: Alert | None, now: datetime) -> DraftView:
    """The view of a draft; only an open one is previewed (the others were decided)."""
    prepared, error = None, None
    if row.state in drafts.OPEN_STATES:
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


@dataclass(frozen=True)
class RequestView:
    """A request for approval as its page shows it: the plan, the approvals, who may do what."""

    plan: str  # "critical v2 — Critical incident"
    approvers: str
    needed: int  # approvals the plan asks for
    given: list[DraftApproval]  # approvals of this revision
    earlier: int  # approvals of earlier revisions, which no longer count
    fingerprint: str  # of what the approver reads: approving needs it unchanged
    may_approve: bool
    may_return: bool
    may_bypass: bool
    may_revise: bool

    @property
    def approve_label(self) -> str:
        """ "Approve and publish", or "Approve (1 of 2)" while more approvals are needed."""
        needed = max(self.needed, 1)
        if len(self.given) + 1 >= needed:
            return "Approve and publish"
        return f"Approve ({len(self.given) + 1} of {needed})"


def _plan_label(row: StoredDraft) -> str:
    if not row.plan_slug or row.plan_version is None:
        return "no plan"
    label = f"{row.plan_slug} v{row.plan_version}"
    try:
        version = plan_service.get_version(row.plan_slug, row.plan_version)
    except NotFound:
        return f"{label} (no longer stored)"
    return f"{label} — {plan_service.as_plan(version).title}"


def request_view(view: DraftView) -> RequestView:
    """What the page of a request for approval shows the signed-in user, and offers them."""
    row, who = view.row, actor()
    pending = row.state == drafts.PENDING
    approver = approvals.may_approve(row, who.user)
    admin = approvals.is_admin(who)
    author = who.user is not None and row.author_id == who.user.id
    return RequestView(
        plan=_plan_label(row),
        approvers=approvers_of(row),
        needed=row.approvals_needed,
        given=[a for a in row.approvals if a.revision == row.revision],
        earlier=sum(1 for a in row.approvals if a.revision != row.revision),
        fingerprint=approvals.fingerprint(row, view.prepared) if view.prepared else "",
        may_approve=pending and approver and view.prepared is not None,
        may_return=pending and (approver or (admin and not author)),
        may_bypass=admin,
        may_revise=approvals.may_revise(row, who),
    )


def _draft_page(
    draft_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    comment: str = "",
    reason: str = "",
    field: str | None = None,
):
    row = drafts.get(draft_id)
    alerts, total = intake_queries.alerts_of_draft(row.id, limit=DRAFT_ALERTS)
    view = draft_view(row, alerts[0] if alerts else None, utcnow())
    update = db.session.get(IncidentUpdate, row.update_id) if row.update_id else None
    requested = request_view(view) if view.requested else None
    if view.waiting:
        edit = edit_url(row)
    elif requested is not None and requested.may_revise:
        edit = request_url(row)
    else:
        edit = None
    return (
        render_template(
            "admin/intake/draft.html",
            view=view,
            row=row,
            alerts=alerts,
            total_alerts=total,
            preview=preview_view(view.prepared) if view.prepared is not None else None,
            approval=view.prepared.approval if view.prepared is not None else None,
            requested=requested,
            author=approvals.author_name(row)
            if row.author_id is not None or row.source == "pm"
            else None,
            edit_url=edit,
            update=update,
            incident=row.incident,
            view_url=view_url,
            notice=notice,
            error=error,
            comment=comment,
            reason=reason,
            field=field,
        ),
        status,
        NO_STORE,
    )


def _refused(
    draft_id: int, what: str, exc: StatuspageError, *, comment: str = "", reason: str = ""
):
    """The draft's page again after a refused action ("Not returned: …"), keeping what was typed
    in the form and marking the field the refusal names."""
    return _draft_page(
        draft_id,
        error=f"{what}: {exc.message}",
        status=exc.http_status,
        comment=comment,
        reason=reason,
        field=exc.field,
    )


def _done(published: publish_service.Published, what: str) -> Response:
    """Where a publish from a draft's page leads: the update in its incident's timeline."""
    update = published.update
    title = published.prepared.feed_title if published.prepared else update.incident.name
    flash(f"{what}: {title}. It is on the public page now.", "ok")
    return redirect(view_url(update.incident, _anchor=f"update-{update.id}"))


@bp.post("/drafts/<id:draft_id>/publish")
@requires(Permission.PUBLISH)
def draft_publish(draft_id: int):
    """Publish a draft as previewed (the preview's fingerprint must still match), or send it for
    approval when the incident's plan asks for it."""
    shown = request.form.get("fingerprint", "")

    def act() -> tuple[publish_service.Published | None, str]:
        outcome = approvals.request(
            draft_id,
            now=utcnow(),
            actor=actor(),
            notices=approval_notices(),
            confirm=lambda p: p.fingerprint == shown,
        )
        if outcome.published is None and outcome.draft is not None:
            return None, approvers_of(outcome.draft)
        return outcome.published, ""

    try:
        result, approvers = run_write(act)
    except publish_service.PreviewOutdated:
        return _draft_page(draft_id, notice=OUTDATED, status=409)
    except (ValidationError, Conflict, PermissionDenied) as exc:
        return _draft_page(draft_id, error=f"Not published: {exc.message}", status=exc.http_status)
    if result is None:
        flash(f"Sent for approval to {approvers}. Nothing is public yet.", "ok")
        return redirect(url_for("admin.draft", draft_id=draft_id), 303)
    if not result.created:
        row = drafts.get(draft_id)
        by = f" by {row.decided_by}" if row.decided_by else ""
        return _draft_page(
            draft_id,
            error=f"Draft {draft_id} was already published{by}: nothing was published again.",
            status=409,
        )
    return _done(result, "Published")


@bp.post("/drafts/<id:draft_id>/approve")
@requires(Permission.PUBLISH)
def draft_approve(draft_id: int):
    """Approve the revision of a request the approver read (its fingerprint); the last approval
    the plan asks for publishes it, exactly as read."""
    seen = request.form.get("fingerprint", "")

    def act() -> tuple[publish_service.Published | None, int, int]:
        outcome = approvals.approve(
            draft_id, seen=seen, now=utcnow(), actor=actor(), notices=approval_notices()
        )
        row = outcome.draft
        assert row is not None
        given = sum(1 for a in row.approvals if a.revision == row.revision)
        return outcome.published, given, row.approvals_needed

    try:
        published, given, needed = run_write(act)
    except approvals.StaleApproval:
        return _draft_page(draft_id, notice=STALE, status=409)
    except (ValidationError, Conflict, PermissionDenied) as exc:
        return _draft_page(draft_id, error=f"Not approved: {exc.message}", status=exc.http_status)
    if published is None:
        flash(
            f"Approved ({given} of {needed}). It waits for {needed - given} more approval"
            f"{'s' if needed - given != 1 else ''}: nothing is public yet.",
            "ok",
        )
        return redirect(url_for("admin.draft", draft_id=draft_id), 303)
    return _done(published, "Approved and published")


@bp.post("/drafts/<id:draft_id>/return")
@requires(Permission.PUBLISH)
def draft_return(draft_id: int):
    """Return a request to its author with a comment (required); nothing is published."""
    comment = request.form.get("comment", "")

    def act() -> str:
        row = approvals.send_back(draft_id, comment=comment, now=utcnow(), actor=actor())
        return approvals.author_name(row)

    try:
        author = run_write(act)
    except (ValidationError, Conflict, PermissionDenied) as exc:
        return _refused(draft_id, "Not returned", exc, comment=comment)
    flash(f"Returned to {author} with your comment: nothing was published.", "ok")
    return redirect(url_for("admin.draft", draft_id=draft_id), 303)


@bp.post("/drafts/<id:draft_id>/publish-without-approval")
@requires(Permission.PUBLISH)
def draft_publish_without_approval(draft_id: int):
    """An admin publishes a request without (all of) its approvals, saying why (audited)."""
    reason = request.form.get("reason", "")
    shown = request.form.get("fingerprint", "")

    def act() -> publish_service.Published:
        # Exactly what the admin read goes out, as with an approval.
        return approvals.publish_without_approval(
            draft_id, reason=reason, now=utcnow(), actor=actor(), seen=shown or None
        )

    try:
        published = run_write(act)
    except approvals.StaleApproval:
        return _draft_page(draft_id, notice=STALE, status=409, reason=reason)
    except (ValidationError, Conflict, PermissionDenied) as exc:
        return _refused(draft_id, "Not published", exc, reason=reason)
    return _done(published, "Published without approval")


@bp.post("/drafts/<id:draft_id>/dismiss")
@requires(Permission.PUBLISH)
def draft_dismiss(draft_id: int):
    """Set a draft aside without publishing it (with an optional note); a request for approval
    is withdrawn so, by its author or an admin."""
    note = request.form.get("note", "").strip()

    def act() -> bool:
        requested = drafts.get(draft_id).state in REQUESTED
        approvals.withdraw(draft_id, now=utcnow(), actor=actor(), note=note)
        return requested

    try:
        withdrawn = run_write(act)
    except (Conflict, PermissionDenied) as exc:
        return _draft_page(draft_id, error=f"Not dismissed: {exc.message}", status=exc.http_status)
    if withdrawn:
        flash(f"Draft {draft_id} withdrawn: nothing was published.", "ok")
    else:
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
