"""RSS 2.0 and Atom feeds of the status history: one entry per incident or maintenance update."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator

from statuspage.core.enums import status_for
from statuspage.core.records import IncidentRecord, UpdateRecord
from statuspage.core.text import clean_line, clean_text

#: How many entries a feed carries at most (updates and postmortems together).
MAX_ENTRIES = 50

#: The `updated` time of a feed with no entries, so that an empty feed never changes.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)


def update_url(site_url: str, update: UpdateRecord) -> str:
    """The permalink of one update: its incident's page, anchored at the update."""
    return f"{site_url}/incidents/{update.incident_id}#update-{update.id}"


def entry_title(update: UpdateRecord) -> str:
    """The entry title: the incident's name and the status this update moved it to."""
    incident = update.incident
    return f"{incident.name} — {status_for(incident.kind, update.status).label}"


@dataclass(frozen=True)
class Entry:
    """One feed entry: an update, or a published postmortem."""

    url: str
    title: str
    at: datetime
    html: str
    categories: tuple[str, ...]
    order: int


def entries(
    updates: Iterable[UpdateRecord], postmortems: Iterable[IncidentRecord], site_url: str
) -> list[Entry]:
    """Updates and postmortems as entries, newest first, capped at MAX_ENTRIES."""
    found = [
        Entry(
            url=update_url(site_url, update),
            title=entry_title(update),
            at=update.display_at,
            html=update.body_html,
            categories=tuple(c.name for c in update.incident.components),
            order=update.id,
        )
        for update in updates
    ]
    found += [
        Entry(
            url=f"{site_url}/incidents/{incident.id}#postmortem",
            title=f"{incident.name} — Postmortem",
            at=incident.postmortem_published_at,
            html=incident.postmortem_html or "",
            categories=tuple(c.name for c in incident.components),
            order=0,
        )
        for incident in postmortems
        if incident.postmortem_published_at is not None
    ]
    found.sort(key=lambda e: (e.at, e.order), reverse=True)
    return found[:MAX_ENTRIES]


def feed_title(site_name: str, component_name: str | None = None) -> str:
    """The feed title, naming the component for a per-component feed."""
    title = f"{site_name} status history"
    return f"{title}: {component_name}" if component_name else title


def rss(updates: Iterable[UpdateRecord], **context: Any) -> bytes:
    """Render the updates (and postmortems) as an RSS 2.0 document (UTF-8 bytes)."""
    document: bytes = _build(updates, **context).rss_str(pretty=False)
    return document


def atom(updates: Iterable[UpdateRecord], **context: Any) -> bytes:
    """Render the updates (and postmortems) as an Atom document (UTF-8 bytes)."""
    document: bytes = _build(updates, **context).atom_str(pretty=False)
    return document


def _build(
    updates: Iterable[UpdateRecord],
    *,
    site_url: str,
    site_name: str,
    self_url: str,
    component_name: str | None = None,
    postmortems: Iterable[IncidentRecord] = (),
) -> FeedGenerator:
    """One feed for both formats: updates and postmortems, newest first."""
    items = entries(updates, postmortems, site_url)
    # Text was cleaned when it was stored; cleaning again is cheap and means no stored value
    # (or setting) can ever make the XML ill-formed, which lxml would refuse to write anyway.
    title = clean_line(feed_title(site_name, component_name))
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(title)
    feed.description(title)
    # RSS has room for one <link> and feedgen gives it the last one added: the site.
    feed.link(href=self_url, rel="self")
    feed.link(href=site_url, rel="alternate")
    feed.author({"name": clean_line(site_name) or site_url})
    feed.generator("statuspage")
    # feedgen would stamp the current time; the newest entry keeps the bytes stable.
    feed.updated(items[0].at if items else EMPTY_FEED_UPDATED)
    for item in items:
        entry = feed.add_entry(order="append")
        entry.guid(item.url, permalink=True)
        entry.title(clean_line(item.title))
        entry.link(href=item.url)
        entry.published(item.at)
        entry.updated(item.at)
        entry.content(clean_text(item.html), type="html")
        names = [name for name in (clean_line(c) for c in item.categories) if name]
        if names:
            entry.category([{"term": name} for name in names])
    return feed
