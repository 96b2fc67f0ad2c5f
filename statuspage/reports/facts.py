"""The reports' reads: a period's incidents and status history as core.reliability inputs.

Every read is bounded by the period: the incidents whose span overlaps it, and each component's
status changes inside it plus the one in force when it opens. The figures come from the raw
history, not the uptime rollup: the rollup covers the last 90 days of the site's time zone only,
and adding its per-day floats gives sums that differ from the history's in the last digits,
which would let the CSV and the public page disagree with an SLA verdict by a rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.core.enums import ComponentStatus, Impact, IncidentKind
from statuspage.core.reliability import (
    ComponentHistory,
    ComponentInterval,
    IncidentFacts,
    Period,
    PublicUpdate,
)
from statuspage.core.times import as_utc
from statuspage.core.uptime import Change
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentStatusChange, Incident, IncidentUpdate

__all__ = ["ComponentRef", "component_histories", "components", "incident_facts", "incidents"]


@dataclass(frozen=True)
class ComponentRef:
    """A component as a report names it."""

    id: int
    name: str
    group: str | None
    created_at: datetime


def components() -> list[ComponentRef]:
    """Every component in display order, with its group's name."""
    rows = db.session.scalars(
        sa.select(Component)
        .options(selectinload(Component.group))
        .order_by(Component.position, Component.id)
    )
    return [
        ComponentRef(c.id, c.name, c.group.name if c.group is not None else None, c.created_at)
        for c in rows
    ]


_CHANGES = ComponentStatusChange.__table__


def component_histories(
    refs: Sequence[ComponentRef], period: Period, *, now: datetime
) -> dict[int, ComponentHistory]:
    """Each component's changes in the period (up to `now`) and the one in force at its start."""
    ids = [ref.id for ref in refs]
    if not ids:
        return {}
    until = min(period.end, as_utc(now))
    in_force = (
        sa.select(
            _CHANGES.c.component_id,
            sa.func.max(_CHANGES.c.started_at).label("at"),
        )
        .where(_CHANGES.c.component_id.in_(ids), _CHANGES.c.started_at <= period.start)
        .group_by(_CHANGES.c.component_id)
        .subquery()
    )
    # The change in force: the newest at or before the start (several at one instant: all of
    # them, in id order, so the last written wins as it does everywhere else).
    query = sa.union_all(
        sa.select(
            _CHANGES.c.component_id, _CHANGES.c.started_at, _CHANGES.c.status, _CHANGES.c.id
        ).join(
            in_force,
            sa.and_(
                in_force.c.component_id == _CHANGES.c.component_id,
                in_force.c.at == _CHANGES.c.started_at,
            ),
        ),
        sa.select(
            _CHANGES.c.component_id, _CHANGES.c.started_at, _CHANGES.c.status, _CHANGES.c.id
        ).where(
            _CHANGES.c.component_id.in_(ids),
            _CHANGES.c.started_at > period.start,
            _CHANGES.c.started_at < until,
        ),
    )
    rows = db.session.execute(query).all()
    found: dict[int, list[tuple[datetime, int, ComponentStatus]]] = {cid: [] for cid in ids}
    for component_id, at, status, row_id in rows:
        found[component_id].append((as_utc(at), row_id, ComponentStatus(status)))
    histories = {}
    for ref in refs:
        ordered = sorted(found[ref.id], key=lambda item: (item[0], item[1]))
        histories[ref.id] = ComponentHistory(
            changes=[Change(at=at, status=status) for at, _, status in ordered],
            created_at=ref.created_at,
        )
    return histories


def incidents(period: Period, *, now: datetime) -> list[Incident]:
    """The incidents whose span overlaps the period (started before its end, not resolved
    before its start), oldest first, with their updates."""
    until = min(period.end, as_utc(now))
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(
                Incident.kind == IncidentKind.INCIDENT.value,
                Incident.started_at < until,
                sa.or_(Incident.resolved_at.is_(None), Incident.resolved_at > period.start),
            )
            .order_by(Incident.started_at, Incident.id)
            .options(selectinload(Incident.updates).selectinload(IncidentUpdate.component_changes))
        )
    )


def incident_facts(incident: Incident) -> IncidentFacts:
    """What an incident's figures are computed from (its updates must be loaded or loadable)."""
    updates: Sequence[IncidentUpdate] = incident.updates
    return IncidentFacts(
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        updates=[PublicUpdate(u.display_at, u.status, u.next_update_at) for u in updates],
        # A reopened incident's resolve time is cleared (publishing/incidents.py), so an open
        # incident is simply one without it.
        resolved_at=incident.resolved_at,
        impact=_impact(incident.impact),
        components=_component_intervals(updates),
    )


def _component_intervals(updates: Sequence[IncidentUpdate]) -> list[ComponentInterval]:
    """The statuses the incident's updates gave its components, each until the next change."""
    changes = sorted(
        (u.display_at, u.id, c.component_id, ComponentStatus(c.new_status))
        for u in updates
        for c in u.component_changes
        if c.component_id is not None
    )
    intervals: list[ComponentInterval] = []
    open_by_component: dict[int, int] = {}
    for at, _, component, status in changes:
        if component in open_by_component:
            index = open_by_component[component]
            intervals[index] = replace(intervals[index], end=at)
        open_by_component[component] = len(intervals)
        intervals.append(ComponentInterval(component, status, at))
    return intervals


def _impact(value: str) -> Impact:
    impact = Impact(value)
    # Incident stats count by the four incident impacts; a stray maintenance impact is "none".
    return Impact.NONE if impact is Impact.MAINTENANCE else impact
