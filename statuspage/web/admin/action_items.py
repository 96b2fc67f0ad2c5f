"""Admin views of a postmortem's action items: the panel of an incident's page
(`action_item_panel`, a template global), add, edit, done, reopen, delete, and the postmortem
with its items as a Markdown download.

A refused form is shown again (422) on the incident's page with what was typed (`g`), as the
other forms of that page are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import flash, g, redirect, request
from werkzeug.wrappers import Response

from statuspage.clock import utcnow
from statuspage.core.roles import Permission
from statuspage.db.database import write_transaction
from statuspage.db.models import ActionItem, Incident
from statuspage.errors import Conflict, NotFound, ValidationError
from statuspage.publishing import action_items as service
from statuspage.publishing import incidents as incident_service
from statuspage.web.admin import bp
from statuspage.web.admin.common import actor
from statuspage.web.admin.incidents import _tz, _view, view_url
from statuspage.web.auth import requires

#: The anchor of the panel on the incident's page.
ANCHOR = "action-items"


@dataclass(frozen=True)
class ActionItemPanel:
    """What the incident's page shows of its action items."""

    items: list[ActionItem]
    progress: service.Progress
    today: date
    #: The add form as last sent when it was refused (else empty fields).
    form: service.ItemInput
    #: The field the refusal named, to mark it.
    invalid: str | None
    #: The item whose edit form was refused, with what was typed in it (else None).
    editing: int | None = None
    edit_form: service.ItemInput | None = None

    def overdue(self, item: ActionItem) -> bool:
        return item.done_at is None and item.due_on is not None and item.due_on < self.today

    def edit_values(self, item: ActionItem) -> service.ItemInput:
        """The edit form's fields for `item`: what was typed when refused, else the item's."""
        if self.editing == item.id and self.edit_form is not None:
            return self.edit_form
        due = item.due_on.isoformat() if item.due_on else ""
        return service.ItemInput(title=item.title, owner=item.owner, due_on=due, link=item.link)


@bp.app_template_global()
def action_item_panel(incident: Incident) -> ActionItemPanel:
    """The incident's action items, how many are done, and the add form's values."""
    items = service.of_incident(incident.id)
    return ActionItemPanel(
        items=items,
        progress=service.progress(items),
        today=utcnow().astimezone(_tz()).date(),
        form=g.get("action_item_form") or service.ItemInput(title=""),
        invalid=g.get("action_item_field"),
        editing=g.get("action_item_editing"),
        edit_form=g.get("action_item_edit_form"),
    )


def _back(incident_id: int) -> Response:
    incident = incident_service.get_incident(incident_id)
    return redirect(view_url(incident, _anchor=ANCHOR))


def _refused(incident_id: int, exc: ValidationError | Conflict, form: service.ItemInput | None):
    g.action_item_form = form
    g.action_item_field = exc.field if isinstance(exc, ValidationError) else None
    return _view(incident_id, error=exc), exc.http_status


def _form() -> service.ItemInput:
    return service.ItemInput(
        title=request.form.get("title", ""),
        owner=request.form.get("owner", ""),
        due_on=request.form.get("due_on", ""),
        link=request.form.get("link", ""),
    )


@bp.post("/incidents/<id:incident_id>/action-items")
@requires(Permission.PUBLISH)
def action_item_add(incident_id: int):
    """Add an action item to the incident's postmortem."""
    form = _form()
    try:
        with write_transaction():
            row = service.add(incident_id, form, now=utcnow(), actor=actor())
            title = row.title
    except (ValidationError, Conflict) as exc:
        return _refused(incident_id, exc, form)
    flash(f"Action item “{title}” added.", "ok")
    return _back(incident_id)


@bp.post("/incidents/<id:incident_id>/action-items/<id:item_id>/edit")
@requires(Permission.PUBLISH)
def action_item_edit(incident_id: int, item_id: int):
    """Change an action item's title, owner, due date or link."""
    form = _form()
    try:
        with write_transaction():
            changed = service.edit(incident_id, item_id, form, now=utcnow(), actor=actor())
    except ValidationError as exc:
        g.action_item_editing = item_id
        g.action_item_edit_form = form
        g.action_item_field = exc.field
        return _view(incident_id, error=exc), exc.http_status
    flash("Action item changed." if changed else "Nothing to change in that action item.", "ok")
    return _back(incident_id)


@bp.post("/incidents/<id:incident_id>/action-items/<id:item_id>/done")
@requires(Permission.PUBLISH)
def action_item_done(incident_id: int, item_id: int):
    """Mark an action item done."""
    try:
        with write_transaction():
            changed = service.complete(incident_id, item_id, now=utcnow(), actor=actor())
    except ValidationError as exc:
        return _refused(incident_id, exc, None)
    flash("Action item done." if changed else "That action item was already done.", "ok")
    return _back(incident_id)


@bp.post("/incidents/<id:incident_id>/action-items/<id:item_id>/reopen")
@requires(Permission.PUBLISH)
def action_item_reopen(incident_id: int, item_id: int):
    """Open a done action item again."""
    try:
        with write_transaction():
            changed = service.reopen(incident_id, item_id, now=utcnow(), actor=actor())
    except ValidationError as exc:
        return _refused(incident_id, exc, None)
    flash("Action item reopened." if changed else "That action item was open already.", "ok")
    return _back(incident_id)


@bp.post("/incidents/<id:incident_id>/action-items/<id:item_id>/delete")
@requires(Permission.PUBLISH)
def action_item_delete(incident_id: int, item_id: int):
    """Delete an action item (what it said stays in the audit log)."""
    try:
        with write_transaction():
            service.delete(incident_id, item_id, now=utcnow(), actor=actor())
    except ValidationError as exc:
        return _refused(incident_id, exc, None)
    flash("Action item deleted.", "ok")
    return _back(incident_id)


@bp.get("/incidents/<id:incident_id>/postmortem.md")
@requires(Permission.READ)
def incident_postmortem_markdown(incident_id: int) -> Response:
    """The postmortem with its action items, as a Markdown file."""
    incident = incident_service.get_incident(incident_id)
    if incident.is_maintenance:
        raise NotFound(f"no incident with id {incident_id}")
    body = service.as_markdown(incident, service.of_incident(incident.id), tz=_tz())
    response = Response(body, mimetype="text/markdown")
    name = f"postmortem-{incident.id}.md"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
