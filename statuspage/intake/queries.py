"""The bounded reads of alerts and drafts that the admin and the API show.

Every list has a limit (and the dashboard's timings a time window), so a page costs the same
after a million alerts as after ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from statuspage.core.intake.payloads import FIRING
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Incident, IncidentUpdate, Integration
from statuspage.db.models import Draft as StoredDraft
from statuspage.publishing import drafts

#: The most rows any list here returns.
MAX_ROWS = 100


def _bounded(limit: int) -> int:
    return max(1, min(limit, MAX_ROWS))


def drafts_in(state: str | None, *, limit: int = 20) -> list[StoredDraft]:
    """Drafts in `state` (None: every state), newest first."""
    query = sa.select(StoredDraft).order_by(StoredDraft.created_at.desc(), StoredDraft.id.desc())
    if state is not None:
        query = query.where(StoredDraft.state == state)
    return list(db.session.scalars(query.limit(_bounded(limit))))


def count_waiting() -> int:
    """How many drafts wait for a PM."""
    query = sa.select(sa.func.count(StoredDraft.id)).where(StoredDraft.state == drafts.WAITING)
    return db.session.scalar(query) or 0


def first_alerts(draft_ids: Sequence[int]) -> dict[int, Alert]:
    """The first alert of each draft (by draft id): the draft's title when its preview fails."""
    if not draft_ids:
        return {}
    firsts = (
        sa.select(sa.func.min(Alert.id))
        .where(Alert.draft_id.in_(list(draft_ids)))
        .group_by(Alert.draft_id)
        .scalar_subquery()
    )
    rows = db.session.scalars(sa.select(Alert).where(Alert.id.in_(firsts)))
    return {row.draft_id: row for row in rows if row.draft_id is not None}


def alerts_of_draft(draft_id: int, *, limit: int = 50) -> tuple[list[Alert], int]:
    """A draft's first alerts (with their integration) and how many it has in all."""
    query = (
        sa.select(Alert)
        .where(Alert.draft_id == draft_id)
        .order_by(Alert.id)
        .options(joinedload(Alert.integration))
        .limit(_bounded(limit))
    )
    total = db.session.scalar(sa.select(sa.func.count(Alert.id)).where(Alert.draft_id == draft_id))
    return list(db.session.scalars(query)), total or 0


def alerts(
    *, status: str | None = None, integration_id: int | None = None, limit: int = MAX_ROWS
) -> list[Alert]:
    """Alerts, the most recently received first, filtered by status and integration."""
    query = (
        sa.select(Alert)
        .order_by(Alert.last_received_at.desc(), Alert.id.desc())
        .options(joinedload(Alert.integration))
        .limit(_bounded(limit))
    )
    if status is not None:
        query = query.where(Alert.status == status)
    if integration_id is not None:
        query = query.where(Alert.integration_id == integration_id)
    return list(db.session.scalars(query))


def count_firing() -> int:
    """How many alerts fire now."""
    return db.session.scalar(sa.select(sa.func.count(Alert.id)).where(Alert.status == FIRING)) or 0


def alert(alert_id: int) -> Alert | None:
    """One alert with its integration."""
    return db.session.scalar(
        sa.select(Alert).where(Alert.id == alert_id).options(joinedload(Alert.integration))
    )


def integration_by_name(name: str) -> Integration | None:
    """The integration called `name` (a revoked one too: its alerts stay listed)."""
    return db.session.scalar(sa.select(Integration).where(Integration.name == name))


@dataclass(frozen=True)
class Detected:
    """An incident monitoring saw first, and how long customers waited for its first update."""

    incident: Incident
    detected_at: datetime
    first_update_at: datetime

    @property
    def alert_to_update(self) -> timedelta:
        return max(self.first_update_at - self.detected_at, timedelta(0))


def detected_incidents(*, since: datetime, limit: int = 5) -> list[Detected]:
    """Recent incidents that came from alerts, newest first, with their first public update."""
    # Per incident, through its updates' index: no scan of every update.
    first_at = (
        sa.select(sa.func.min(IncidentUpdate.created_at))
        .where(IncidentUpdate.incident_id == Incident.id)
        .correlate(Incident)
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(Incident, first_at)
        .where(Incident.detected_at.is_not(None), Incident.started_at >= since)
        .order_by(Incident.started_at.desc(), Incident.id.desc())
        .limit(_bounded(limit))
    ).all()
    return [
        Detected(incident, incident.detected_at, first)
        for incident, first in rows
        if incident.detected_at is not None and first is not None
    ]
