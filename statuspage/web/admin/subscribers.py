"""Admin views for subscribers: the list with search and counts, CSV import and export, removal,
and where the subscriber messages of each update stand.

Anyone who may read the admin sees the list; importing, exporting and removing handle personal
data in bulk, so they need the admins' permission (USERS), and each is audited.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for

from statuspage.clock import utcnow
from statuspage.core.limits import MAX_SEARCH
from statuspage.core.roles import Permission
from statuspage.db.database import write_transaction
from statuspage.delivery import subscriber_admin as service
from statuspage.delivery.subscriber_common import KIND_LABELS, KINDS, STATES, shown_url, state_of
from statuspage.errors import NotFound, ValidationError
from statuspage.web.admin import bp
from statuspage.web.admin.common import actor
from statuspage.web.auth import requires

MAX_PAGE = 10_000


def _page() -> int:
    value = request.args.get("page", "1")
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_PAGE):
        raise NotFound("no such page")
    return int(value)


def _list(*, report: service.ImportReport | None = None, error: str | None = None, status=200):
    text = request.args.get("q", "").strip()[:MAX_SEARCH]
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        raise NotFound(f"no subscriber state {state!r}")
    kind = request.args.get("kind") or None
    if kind not in (None, *KINDS):
        raise NotFound(f"no subscriber kind {kind!r}")
    page = _page()
    rows, more = service.search(text, state=state, kind=kind, page=page)
    page_html = render_template(
        "admin/subscribers/list.html",
        subscribers=rows,
        q=text,
        state=state,
        states=STATES,
        kind=kind,
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        shown_url=shown_url,
        page=page,
        more=more,
        counts=service.counts(),
        state_of=state_of,
        report=report,
        error=error,
    )
    return page_html, status


@bp.get("/subscribers")
@requires(Permission.READ)
def subscribers():
    """Subscribers, searchable by address or URL, with counts per state and per component."""
    return _list()


@bp.post("/subscribers/import")
@requires(Permission.USERS)
def subscribers_import():
    """Add email subscribers from a CSV file: confirmation emails, or explicitly confirmed."""
    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.form.get("csv", "").encode()
    mode = request.form.get("mode", "confirm")
    try:
        if not raw.strip():
            raise ValidationError("choose a CSV file with an `email` column")
        if mode not in ("confirm", "confirmed"):
            raise ValidationError("choose whether to send confirmation emails")
        if mode == "confirmed" and request.form.get("consent") != "yes":
            raise ValidationError(
                "importing as confirmed needs the box ticked: these people agreed to get updates"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("the file is not UTF-8 text") from None
        with write_transaction():
            report = service.import_csv(
                text, confirmed=mode == "confirmed", now=utcnow(), actor=actor()
            )
    except ValidationError as exc:
        return _list(error=f"Not imported: {exc.message}", status=422)
    return _list(report=report)


@bp.post("/subscribers/export")
@requires(Permission.USERS)
def subscribers_export():
    """Download every subscriber as CSV (no secrets); the export is in the audit log."""
    with write_transaction():
        now = utcnow()
        body = service.export_csv(now=now, actor=actor())
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="subscribers-{now:%Y%m%d-%H%M}.csv"'
    )
    return response


@bp.post("/subscribers/<id:subscriber_id>/remove")
@requires(Permission.USERS)
def subscriber_remove(subscriber_id: int):
    """Delete a subscriber; messages still queued for them are dropped when their turn comes."""
    with write_transaction():
        removed = service.remove(subscriber_id, now=utcnow(), actor=actor())
        label = removed.email or shown_url(removed)
    flash(f"Removed {label}.", "ok")
    return redirect(url_for("admin.subscribers"))


@bp.get("/subscribers/deliveries")
@requires(Permission.READ)
def subscriber_deliveries():
    """Queued, sent, failed and skipped subscriber messages of the latest notified updates."""
    return render_template(
        "admin/subscribers/deliveries.html", rows=service.delivery_counts(), view_url=_view_url
    )


def _view_url(incident) -> str:
    endpoint = "admin.maintenance" if incident.is_maintenance else "admin.incident"
    return url_for(endpoint, incident_id=incident.id)
