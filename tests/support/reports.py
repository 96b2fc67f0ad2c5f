"""Incidents written as they were, for the reports' tests: rows with their public updates, no
publishing rules (what a report reads is the history, however it was made)."""

from __future__ import annotations

from datetime import datetime

from statuspage.core.enums import IncidentKind
from statuspage.db.extensions import db
from statuspage.db.models import Incident, IncidentUpdate

#: A public update: when, its status, and (optionally) the next update it promised.
Update = tuple[datetime, str] | tuple[datetime, str, datetime | None]


def incident(
    name: str,
    *,
    impact: str,
    started: datetime,
    resolved: datetime | None,
    updates: list[Update],
    detected: datetime | None = None,
    acknowledged: datetime | None = None,
    kind: IncidentKind = IncidentKind.INCIDENT,
) -> Incident:
    """An incident row with its public updates, added to the session."""
    item = Incident(
        kind=kind.value,
        name=name,
        status=updates[-1][1],
        impact=impact,
        started_at=started,
        detected_at=detected,
        acknowledged_at=acknowledged,
        resolved_at=resolved,
        created_at=started,
        updated_at=started,
    )
    item.updates = [
        IncidentUpdate(
            status=update[1],
            body=update[1],
            body_html=update[1],
            display_at=update[0],
            next_update_at=update[2] if len(update) > 2 else None,
        )
        for update in updates
    ]
    db.session.add(item)
    return item
