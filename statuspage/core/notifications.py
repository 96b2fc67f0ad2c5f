"""What subscribers receive: the email of an update (text and HTML twins), and the webhook body
in Statuspage's envelope (`meta`, `page`, then `incident` or `component_update` + `component`).

Pure: values and records (statuspage.core.records) in, values out. The caller renders the
templates and reads the database; an email is rendered once per update with placeholder links,
then personalised per subscriber by `personalise`, which is a string replacement (or by
the SMTP channel, from `fills`, in the email's bytes).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from statuspage.core.enums import ComponentStatus, status_for
from statuspage.core.records import ComponentRecord, IncidentRecord, UpdateRecord
from statuspage.core.serializers import Site, component, incident
from statuspage.core.text import clean_line
from statuspage.core.times import isoformat

#: Where the webhook format is described (`meta.documentation`), under the site URL.
DOCUMENTATION_PATH = "/subscribe/webhook"
SUBJECT_CHARS = 200
#: The only headers a subscriber email may add to the ones the SMTP channel writes.
EMAIL_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Links:
    """A subscriber's own links: change the components, leave."""

    manage: str
    unsubscribe: str


def subscriber_links(site_url: str, manage_token: str, unsubscribe_token: str) -> Links:
    """The manage and unsubscribe URLs for a subscriber's tokens."""
    return Links(
        manage=f"{site_url}/subscriptions/manage/{manage_token}",
        unsubscribe=f"{site_url}/subscriptions/unsubscribe/{unsubscribe_token}",
    )


def placeholder_links(nonce: str | None = None) -> Links:
    """Stand-ins for a subscriber's links, unguessable so no update text can contain them."""
    nonce = nonce or secrets.token_hex(12)
    return Links(manage=f"x-manage-{nonce}", unsubscribe=f"x-unsubscribe-{nonce}")


def unsubscribe_headers(links: Links) -> dict[str, str]:
    """RFC 2369 and RFC 8058 headers: a one-click unsubscribe by POST to the link."""
    return {"List-Unsubscribe": f"<{links.unsubscribe}>", "List-Unsubscribe-Post": ONE_CLICK}


@dataclass(frozen=True)
class Email:
    """An email as rendered: one-line subject, plain text and its HTML twin."""

    subject: str
    text: str
    html: str
    #: The placeholder links the text and HTML were rendered with (None: nothing to replace).
    placeholders: Links | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def fills(email: Email, links: Links) -> tuple[tuple[str, str], ...]:
    """The (stand-in, link) pairs that make `email` one subscriber's (none if it has none)."""
    if email.placeholders is None:
        return ()
    return (
        (email.placeholders.manage, links.manage),
        (email.placeholders.unsubscribe, links.unsubscribe),
    )


def fill_in(text: str, pairs: Iterable[tuple[str, str]], *, escape: bool = False) -> str:
    """`text` with each stand-in replaced by its value (HTML-escaped with `escape`)."""
    for stand_in, value in pairs:
        text = text.replace(stand_in, html.escape(value, quote=True) if escape else value)
    return text


def with_unsubscribe_headers(email: Email) -> Email:
    """The email with the unsubscribe headers, pointing at its placeholder link until filled."""
    if email.placeholders is None:
        return email
    return replace(email, headers=unsubscribe_headers(email.placeholders))


def personalise(email: Email, links: Links) -> Email:
    """Put one subscriber's links in place of the placeholders, and add the unsubscribe headers."""
    pairs = fills(email, links)
    return replace(
        email,
        text=fill_in(email.text, pairs),
        html=fill_in(email.html, pairs, escape=True),
        placeholders=None,
        headers=unsubscribe_headers(links),
    )


def subject(site_name: str, words: str) -> str:
    """`[Site] words`, on one line and at most SUBJECT_CHARS long."""
    text = clean_line(f"[{site_name}] {words}")
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1] + "…"


def update_subject(site_name: str, item: IncidentRecord, update: UpdateRecord) -> str:
    """The subject of an update's email: "[Acme] API errors — Identified", as the feeds say it."""
    label = status_for(item.kind, update.status).label
    return subject(site_name, f"{item.name} — {label}")


def reminder_subject(site_name: str, item: IncidentRecord, starts: str) -> str:
    """The subject of the reminder sent before a maintenance starts."""
    return subject(site_name, f"Reminder: {item.name} starts {starts}")


@dataclass(frozen=True)
class ComponentLine:
    """One affected component as an email lists it."""

    name: str
    status: ComponentStatus
    old: ComponentStatus | None = None


def affected_components(item: IncidentRecord, update: UpdateRecord | None) -> list[ComponentLine]:
    """What the update changed, then the incident's other components with their status now."""
    lines = []
    seen: set[int | None] = set()
    for change in update.component_changes if update is not None else ():
        lines.append(
            ComponentLine(
                change.component_name,
                ComponentStatus(change.new_status),
                ComponentStatus(change.old_status),
            )
        )
        seen.add(change.component_id)
    for item_component in item.components:
        if item_component.id not in seen:
            lines.append(ComponentLine(item_component.name, item_component.status_enum))
    return lines


def update_context(
    item: IncidentRecord,
    update: UpdateRecord | None,
    site: Site,
    *,
    links: Links,
    reminder: bool = False,
) -> dict[str, Any]:
    """What the update and maintenance email templates show."""
    status = status_for(item.kind, update.status if update is not None else item.status)
    return {
        "incident": item,
        "update": update,
        "status_label": status.label,
        "components": affected_components(item, update),
        "incident_url": site.incident_url(item.id),
        "site_url": site.url,
        "links": links,
        "reminder": reminder,
    }


# -- webhooks ------------------------------------------------------------------------------------


def webhook_incident(
    item: IncidentRecord, site: Site, *, reminded_at: datetime | None = None
) -> dict[str, Any]:
    """The incident as Statuspage's webhooks show it: the API object and webhook-only fields."""
    data = incident(item, site)
    maintenance = item.is_maintenance
    data.update(
        {
            "postmortem_ignored": False,
            "postmortem_body": item.postmortem_body,
            "postmortem_body_last_updated_at": isoformat(item.postmortem_published_at),
            "postmortem_published_at": isoformat(item.postmortem_published_at),
            "postmortem_notified_subscribers": item.postmortem_published_at is not None,
            "postmortem_notified_twitter": False,
            "backfilled": False,
            "scheduled_for": isoformat(item.scheduled_for),
            "scheduled_until": isoformat(item.scheduled_until),
            # Maintenances get a reminder an hour before, and start and end on their own.
            "scheduled_remind_prior": maintenance,
            "scheduled_reminded_at": isoformat(reminded_at),
            "impact_override": None,
            "scheduled_auto_in_progress": maintenance,
            "scheduled_auto_completed": maintenance,
        }
    )
    for entry in data["incident_updates"]:
        entry.setdefault("wants_twitter_update", False)
        entry.setdefault("twitter_updated_at", None)
    return data


def webhook_component(item: ComponentRecord, site: Site) -> dict[str, Any]:
    """A component as Statuspage's webhooks show it (the API object)."""
    return component(item, site)


def component_update(
    *, change_id: int | str, component_id: int, old: str, new: str, created_at: datetime
) -> dict[str, Any]:
    """Statuspage's `component_update` object: one status change of one component."""
    return {
        "old_status": old,
        "new_status": new,
        "created_at": isoformat(created_at),
        "component_type": "Component",
        "id": str(change_id),
        "component_id": str(component_id),
    }


def page_status(site: Site, indicator: str, description: str) -> dict[str, Any]:
    """The envelope's `page`: the page id and its overall status when the event happened."""
    return {"id": site.page_id, "status_indicator": indicator, "status_description": description}


def envelope(
    *,
    site: Site,
    unsubscribe_url: str,
    generated_at: str,
    page: Mapping[str, Any],
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole webhook body: `meta`, `page`, then `incident` or `component_update`+`component`."""
    return {
        "meta": {
            "unsubscribe": unsubscribe_url,
            "documentation": site.url + DOCUMENTATION_PATH,
            "generated_at": generated_at,
        },
        "page": dict(page),
        **body,
    }


def names(components: Iterable[ComponentRecord]) -> list[str]:
    """Component names in display order, for pages and emails."""
    return [c.name for c in components]
