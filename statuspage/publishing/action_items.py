"""A postmortem's action items: add, edit, complete, reopen, delete; the overdue ones; the
postmortem with its items as Markdown.

Every act locks the incident first (`database.lock`), then the item, and is audited on the
incident (`action_item.*`), so its trail sits with the rest of the incident's. Functions here
change the session and flush; the caller runs each in one `database.write_transaction()`.
Action items are the team's, not the customers': no act here changes the public page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from statuspage.core import limits
from statuspage.core.escalation import render
from statuspage.core.library import escape_markdown
from statuspage.core.text import clean_line
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import ActionItem, Incident
from statuspage.delivery import escalation
from statuspage.errors import Conflict, NotFound, ValidationError
from statuspage.publishing.approvals import Notices

#: The most items one incident holds: its panel and its export stay bounded.
MAX_ITEMS = 100
#: The most overdue items one call returns (the dashboard shows fewer).
MAX_OVERDUE = 200

#: What a link may hold: the characters of RFC 3986 (reserved, unreserved and %), so the link
#: is shown and exported as it is, with nothing to escape.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


@dataclass(frozen=True)
class ItemInput:
    """An action item as a person sent it (unchecked): the form's or a caller's fields."""

    title: str
    owner: str = ""
    #: "YYYY-MM-DD" or "" for no due date.
    due_on: str = ""
    link: str = ""


@dataclass(frozen=True)
class Checked:
    """An action item's fields, cleaned and within the limits."""

    title: str
    owner: str
    due_on: date | None
    link: str


def check(item: ItemInput) -> Checked:
    """Clean and check what was sent; raise ValidationError naming the field."""
    return Checked(
        title=limits.title(item.title),
        owner=owner(item.owner),
        due_on=due_date(item.due_on),
        link=link(item.link),
    )


def owner(text: str) -> str:
    """Who will do it, as written (a name or an address), within MAX_OWNER; "" for nobody."""
    cleaned = clean_line(text)
    if len(cleaned) > limits.MAX_OWNER:
        length = len(cleaned)
        raise ValidationError(
            f"an owner has at most {limits.MAX_OWNER:,} characters (this one has {length:,})",
            field="owner",
        )
    return cleaned


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The years a due date may fall in: a typo of a century would sit atop every overdue list.
DUE_YEARS = (2000, 2199)


def due_date(text: str) -> date | None:
    """A due date written as YYYY-MM-DD (what a date field sends), or None when blank."""
    cleaned = clean_line(text)
    if not cleaned:
        return None
    if not _DATE.fullmatch(cleaned):
        raise ValidationError("write the due date as YYYY-MM-DD", field="due_on")
    try:
        due = date.fromisoformat(cleaned)
    except ValueError:
        raise ValidationError(f"{cleaned} is not a date of the calendar", field="due_on") from None
    if not DUE_YEARS[0] <= due.year <= DUE_YEARS[1]:
        raise ValidationError(
            f"a due date falls in the years {DUE_YEARS[0]} to {DUE_YEARS[1]}", field="due_on"
        )
    return due


def link(text: str) -> str:
    """An http or https address within MAX_LINK, or "" for none. It is never fetched."""
    cleaned = clean_line(text)
    if not cleaned:
        return ""
    if len(cleaned) > limits.MAX_LINK:
        raise ValidationError(
            f"a link has at most {limits.MAX_LINK:,} characters (this one has {len(cleaned):,})",
            field="link",
        )
    problem = ValidationError(
        "a link is an http:// or https:// address, e.g. https://tickets.example.com/OPS-42",
        field="link",
    )
    if not _URL_CHARS.fullmatch(cleaned):
        raise problem
    try:
        parts = urlsplit(cleaned)
        host = parts.hostname
    except ValueError:
        raise problem from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise problem
    if parts.username is not None or parts.password is not None:
        # Credentials in a link would be shown on the page, in exports and in reminders.
        raise ValidationError("a link must not carry a user name or password", field="link")
    return cleaned


# -- reading -----------------------------------------------------------------------------------


def of_incident(incident_id: int) -> list[ActionItem]:
    """An incident's items, oldest first (at most MAX_ITEMS)."""
    query = (
        sa.select(ActionItem)
        .where(ActionItem.incident_id == incident_id)
        .order_by(ActionItem.id)
        .limit(MAX_ITEMS)
    )
    return list(db.session.scalars(query))


def overdue(today: date, limit: int = 20) -> list[ActionItem]:
    """Open items whose due date is before `today`, the longest overdue first, with their
    incidents; at most `limit` (and never more than MAX_OVERDUE)."""
    query = (
        sa.select(ActionItem)
        .where(ActionItem.done_at.is_(None), ActionItem.due_on < today)
        .order_by(ActionItem.due_on, ActionItem.id)
        .limit(max(0, min(limit, MAX_OVERDUE)))
        .options(joinedload(ActionItem.incident))
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Progress:
    """How many of an incident's items are done."""

    done: int
    total: int

    def __str__(self) -> str:
        return f"{self.done} of {self.total} done"


def progress(items: Sequence[ActionItem]) -> Progress:
    return Progress(sum(1 for i in items if i.done_at is not None), len(items))


# -- acts ----------------------------------------------------------------------------------------


def _incident(incident_id: int) -> Incident:
    incident = database.lock(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    if incident.is_maintenance:
        raise ValidationError("a maintenance has no postmortem, so no action items")
    return incident


def _item(incident: Incident, item_id: int) -> ActionItem:
    item = database.lock(ActionItem, item_id)
    if item is None or item.incident_id != incident.id:
        raise NotFound(f"incident {incident.id} has no action item {item_id}")
    return item


def _state(item: ActionItem) -> dict[str, Any]:
    return {
        "title": item.title,
        "owner": item.owner,
        "due_on": item.due_on.isoformat() if item.due_on else None,
        "link": item.link,
        "done": item.done_at is not None,
    }


def _record(
    actor: audit.Actor,
    action: str,
    incident: Incident,
    item: ActionItem,
    what: str,
    *,
    now: datetime,
    before: dict[str, Any] | None = None,
) -> None:
    audit.record(
        actor,
        f"action_item.{action}",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: action item “{item.title}” {what}",
        before=before,
        after=None if action == "deleted" else {"id": item.id, **_state(item)},
    )


def add(incident_id: int, item: ItemInput, *, now: datetime, actor: audit.Actor) -> ActionItem:
    """Add an action item to an incident."""
    checked = check(item)
    incident = _incident(incident_id)
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ActionItem)
        .where(ActionItem.incident_id == incident.id)
    )
    if (count or 0) >= MAX_ITEMS:
        raise Conflict(f"an incident has at most {MAX_ITEMS} action items")
    row = ActionItem(
        incident_id=incident.id,
        title=checked.title,
        owner=checked.owner,
        due_on=checked.due_on,
        link=checked.link,
        created_at=now,
        created_by=actor.label[:300],
        updated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    _record(actor, "added", incident, row, "added", now=now)
    return row


def edit(
    incident_id: int, item_id: int, item: ItemInput, *, now: datetime, actor: audit.Actor
) -> bool:
    """Change an item's title, owner, due date and link; False (nothing written) when the same."""
    checked = check(item)
    incident = _incident(incident_id)
    row = _item(incident, item_id)
    before = _state(row)
    if (row.title, row.owner, row.due_on, row.link) == (
        checked.title,
        checked.owner,
        checked.due_on,
        checked.link,
    ):
        return False
    row.title, row.owner, row.due_on, row.link = (
        checked.title,
        checked.owner,
        checked.due_on,
        checked.link,
    )
    row.updated_at = now
    _record(actor, "edited", incident, row, "edited", now=now, before=before)
    return True


def complete(incident_id: int, item_id: int, *, now: datetime, actor: audit.Actor) -> bool:
    """Mark an item done; False (nothing written) when it already was."""
    incident = _incident(incident_id)
    row = _item(incident, item_id)
    if row.done_at is not None:
        return False
    before = _state(row)
    row.done_at = now
    row.done_by = actor.label[:300]
    row.updated_at = now
    _record(actor, "done", incident, row, "done", now=now, before=before)
    return True


def reopen(incident_id: int, item_id: int, *, now: datetime, actor: audit.Actor) -> bool:
    """Mark a done item open again; False (nothing written) when it was open."""
    incident = _incident(incident_id)
    row = _item(incident, item_id)
    if row.done_at is None:
        return False
    before = _state(row)
    row.done_at = None
    row.done_by = ""
    row.updated_at = now
    _record(actor, "reopened", incident, row, "reopened", now=now, before=before)
    return True


def delete(incident_id: int, item_id: int, *, now: datetime, actor: audit.Actor) -> None:
    """Delete an item; what it said stays in the audit log."""
    incident = _incident(incident_id)
    row = _item(incident, item_id)
    before = _state(row)
    _record(actor, "deleted", incident, row, "deleted", now=now, before=before)
    db.session.delete(row)
    db.session.flush()


# -- reminders ---------------------------------------------------------------------------------


def remind_overdue(now: datetime, *, path: str, tz: tzinfo, notices: Notices) -> int:
    """Tell the escalation path `path` ([reports] action_items_path) of each open item past its
    due date, once per item and day (the site's day): the outbox key `action-item:<id>:<date>`
    makes a second call on the same day add nothing. Return the outbox rows added.

    Called by the worker's tick in its own write transaction; an empty `path` tells no one. The
    longest overdue come first, at most MAX_OVERDUE a tick.
    """
    if not path:
        return 0
    today = now.astimezone(tz).date()
    added = 0
    for item in overdue(today, limit=MAX_OVERDUE):
        assert item.due_on is not None  # overdue() selects items with a due date only
        incident = item.incident
        key = f"action-item:{item.id}:{today.isoformat()}"
        values = {
            "site_name": notices.site_name,
            "item_title": item.title,
            "incident_title": incident.name,
            "owner": item.owner,
            "due_on": item.due_on.isoformat(),
            "days_overdue": str((today - item.due_on).days),
            "link": item.link,
            "incident_url": f"{notices.site_url}/admin/incidents/{incident.id}#action-items",
        }
        fields = {"Action item": item.title, "Due": values["due_on"]}
        if item.owner:
            fields["Owner"] = item.owner
        notification = render.render_notice(
            "action_item_overdue",
            escalation.templates(),
            values,
            fields=fields,
            url=values["incident_url"],
            key=key,
            now=now,
            severity="warning",
        )
        added += escalation.notify_path(
            path,
            notification,
            key=key,
            now=now,
            incident_id=incident.id,
            config=notices.escalation,
        )
    return added


# -- export ------------------------------------------------------------------------------------


def _local(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def as_markdown(incident: Incident, items: Sequence[ActionItem], *, tz: tzinfo) -> str:
    """The postmortem with its action items, as one Markdown document for the team's records.

    Titles and owners are escaped (they are shown as written); the postmortem's own Markdown is
    kept as it is; links are plain http(s) addresses (see `link`) shown as autolinks.
    """
    lines = [f"# Postmortem: {escape_markdown(incident.name)}", ""]
    lines.append(f"- Incident: #{incident.id}, impact {incident.impact}")
    lines.append(f"- Started: {_local(incident.started_at, tz)}")
    if incident.resolved_at is not None:
        lines.append(f"- Resolved: {_local(incident.resolved_at, tz)}")
    if incident.postmortem_published_at is not None:
        lines.append(f"- Postmortem published: {_local(incident.postmortem_published_at, tz)}")
    else:
        lines.append("- Postmortem: not published yet")
    lines += ["", (incident.postmortem_body or "*No postmortem written yet.*").strip(), ""]
    lines += [f"## Action items ({progress(items)})", ""]
    if not items:
        lines.append("*None.*")
    for item in items:
        facts = []
        if item.owner:
            facts.append(f"owner: {escape_markdown(item.owner)}")
        if item.due_on is not None:
            facts.append(f"due {item.due_on.isoformat()}")
        if item.link:
            facts.append(f"<{item.link}>")
        if item.done_at is not None:
            by = f" by {escape_markdown(item.done_by)}" if item.done_by else ""
            facts.append(f"done {_local(item.done_at, tz)}{by}")
        mark = "x" if item.done_at is not None else " "
        tail = f" ({'; '.join(facts)})" if facts else ""
        lines.append(f"- [{mark}] {escape_markdown(item.title)}{tail}")
    return "\n".join(lines) + "\n"
