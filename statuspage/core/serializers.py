"""The Statuspage v2 JSON documents (`/api/v2/*.json`), built from records and values.

Ids are strings, as in Statuspage. A component's id is its database id (`"12"`); a group's id
is `"group-<database id>"` (`"group-3"`), so the two can never collide. The page id is the first
12 hex digits of the SHA-256 of the site URL: stable across processes and restarts, and changed
only by moving the page to another URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statuspage.core.enums import ComponentStatus
from statuspage.core.records import (
    ComponentRecord,
    ComponentTreeRecord,
    GroupRecord,
    IncidentRecord,
    UpdateRecord,
)
from statuspage.core.times import isoformat

if TYPE_CHECKING:
    from statuspage.core.status import OverallStatus

GROUP_ID_PREFIX = "group-"


@dataclass(frozen=True)
class Site:
    """The page's identity as the API shows it: name, public URL and time zone."""

    name: str
    url: str
    time_zone: str

    @property
    def page_id(self) -> str:
        """A stable id derived from the site URL (Statuspage ids are 12 characters too)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:12]

    def incident_url(self, incident_id: int) -> str:
        """The public permalink of an incident or maintenance."""
        return f"{self.url}/incidents/{incident_id}"


def group_id(value: int | None) -> str | None:
    """Return the API id of a component group."""
    return None if value is None else f"{GROUP_ID_PREFIX}{value}"


def page(site: Site, updated_at: datetime | None) -> dict[str, Any]:
    """The `page` object every document starts with."""
    return {
        "id": site.page_id,
        "name": site.name,
        "url": site.url,
        "time_zone": site.time_zone,
        "updated_at": isoformat(updated_at),
    }


def status(overall: OverallStatus) -> dict[str, str]:
    """The `status` object: the page-wide indicator and its description."""
    return {"indicator": overall.indicator.value, "description": overall.description}


def component(item: ComponentRecord, site: Site) -> dict[str, Any]:
    """One component."""
    return {
        "id": str(item.id),
        "name": item.name,
        "status": item.status,
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "position": item.position,
        "description": item.description or None,
        "showcase": item.showcase,
        "start_date": item.start_date.isoformat() if item.start_date else None,
        "group_id": group_id(item.group_id),
        "page_id": site.page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def group(item: GroupRecord, members: Sequence[ComponentRecord], site: Site) -> dict[str, Any]:
    """A component group, shown as Statuspage does: a component with `group: true`."""
    worst = max(
        (ComponentStatus(m.status) for m in members),
        key=lambda s: s.severity,
        default=ComponentStatus.OPERATIONAL,
    )
    return {
        "id": group_id(item.id),
        "name": item.name,
        "status": worst.value,
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "position": item.position,
        "description": item.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": site.page_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [str(m.id) for m in members],
    }


def components(tree: ComponentTreeRecord, site: Site) -> list[dict[str, Any]]:
    """Every group and component in display order: each group, then its members."""
    result = []
    for item in tree.groups:
        members = tree.members.get(item.id, [])
        if not members:
            # The page does not show an empty group, so neither does the API.
            continue
        result.append(group(item, members, site))
        result.extend(component(m, site) for m in members)
    result.extend(component(c, site) for c in tree.ungrouped)
    return result


def incident_update(update: UpdateRecord) -> dict[str, Any]:
    """One update of an incident's timeline; `body` is the Markdown source, as plain text."""
    changes = [
        {
            "code": None if change.component_id is None else str(change.component_id),
            "name": change.component_name,
            "old_status": change.old_status,
            "new_status": change.new_status,
        }
        for change in update.component_changes
    ]
    return {
        "id": str(update.id),
        "status": update.status,
        "body": update.body,
        "incident_id": str(update.incident_id),
        "created_at": isoformat(update.created_at),
        "updated_at": isoformat(update.updated_at),
        "display_at": isoformat(update.display_at),
        # Statuspage sends null, not an empty list, when an update changed no component.
        "affected_components": changes or None,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident(item: IncidentRecord, site: Site) -> dict[str, Any]:
    """An incident, or a scheduled maintenance with its window, with updates newest first."""
    result = {
        "id": str(item.id),
        "name": item.name,
        "status": item.status,
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "monitoring_at": isoformat(item.monitoring_at),
        "resolved_at": isoformat(item.resolved_at),
        "impact": item.impact,
        "shortlink": site.incident_url(item.id),
        "started_at": isoformat(item.started_at),
        "page_id": site.page_id,
        "incident_updates": [incident_update(u) for u in _newest_first(item.updates)],
        "components": [component(c, site) for c in item.components],
    }
    if item.is_maintenance:
        result["scheduled_for"] = isoformat(item.scheduled_for)
        result["scheduled_until"] = isoformat(item.scheduled_until)
    return result


def _newest_first(updates: Iterable[UpdateRecord]) -> list[UpdateRecord]:
    return sorted(updates, key=lambda u: (u.display_at, u.id or 0), reverse=True)


def summary_document(
    site: Site,
    updated_at: datetime | None,
    *,
    tree: ComponentTreeRecord,
    incidents: Sequence[IncidentRecord],
    maintenances: Sequence[IncidentRecord],
    overall: OverallStatus,
) -> dict[str, Any]:
    """`summary.json`: components, unresolved incidents, active and upcoming maintenances."""
    return {
        "page": page(site, updated_at),
        "components": components(tree, site),
        "incidents": [incident(i, site) for i in incidents],
        "scheduled_maintenances": [incident(m, site) for m in maintenances],
        "status": status(overall),
    }


def status_document(
    site: Site, updated_at: datetime | None, overall: OverallStatus
) -> dict[str, Any]:
    """`status.json`: the page and its overall status."""
    return {"page": page(site, updated_at), "status": status(overall)}


def components_document(
    site: Site, updated_at: datetime | None, tree: ComponentTreeRecord
) -> dict[str, Any]:
    """`components.json`: the page and its components."""
    return {"page": page(site, updated_at), "components": components(tree, site)}


def incidents_document(
    site: Site, updated_at: datetime | None, incidents: Sequence[IncidentRecord]
) -> dict[str, Any]:
    """`incidents.json` and `incidents/unresolved.json`."""
    return {"page": page(site, updated_at), "incidents": [incident(i, site) for i in incidents]}


def maintenances_document(
    site: Site, updated_at: datetime | None, maintenances: Sequence[IncidentRecord]
) -> dict[str, Any]:
    """`scheduled-maintenances.json` and its `upcoming` and `active` subsets."""
    return {
        "page": page(site, updated_at),
        "scheduled_maintenances": [incident(m, site) for m in maintenances],
    }
