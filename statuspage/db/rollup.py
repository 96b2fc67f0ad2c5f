"""The daily uptime rollup: closed days of each component's uptime, written once.

Pages read closed days from `uptime_rollup` and compute only today (and any day not rolled up
yet) from the raw status history; `queries.uptimes` does that. The rows are written here, by
the worker's periodic tick, `statuspage tick` and the data loaders, with the same rules
(`uptime.daily_uptime`). A status change that starts inside a rolled-up day voids that day and
the later ones in its own transaction (the listeners beside `models.UptimeRollup`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from statuspage.core import uptime
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, UptimeRollup


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day starts."""
    return datetime.combine(day, time(0), tzinfo=tz)


def missing_days(
    now: datetime, tz: ZoneInfo, *, days: int = queries.UPTIME_DAYS
) -> dict[int, list[date]]:
    """The closed days of the last `days` that each component has no rollup row for."""
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=days - 1)
    closed = [first_day + timedelta(days=n) for n in range(days - 1)]
    table = UptimeRollup.__table__
    window = (
        table.c.time_zone == uptime.zone_key(tz),
        table.c.day >= first_day,
        table.c.day < today,
    )
    # Counting first (index only): the worker asks every cycle, and almost always every
    # component has all its days, so the days themselves are read only for the others.
    counts = dict(
        db.session.execute(
            sa.select(Component.id, sa.func.count(table.c.day))
            .outerjoin(table, sa.and_(table.c.component_id == Component.id, *window))
            .group_by(Component.id)
        ).all()
    )
    ids = sorted(cid for cid, count in counts.items() if count < len(closed))
    if not ids:
        return {}
    present: dict[int, set[date]] = {cid: set() for cid in ids}
    for cid, day in db.session.execute(
        sa.select(table.c.component_id, table.c.day).where(table.c.component_id.in_(ids), *window)
    ):
        present[cid].add(day)
    missing = {cid: [d for d in closed if d not in present[cid]] for cid in ids}
    return {cid: found for cid, found in missing.items() if found}


def fill(now: datetime, tz: ZoneInfo, *, days: int = queries.UPTIME_DAYS) -> int:
    """Roll up the closed days of the last `days` that have no row yet; return rows written.

    Run it inside a write transaction. Idempotent: running it again writes nothing.
    """
    missing = missing_days(now, tz, days=days)
    if not missing:
        return 0
    # Lock the components first (PostgreSQL) so a backdated status change either committed
    # before the history is read below, or waits and then voids what this writes.
    components = db.session.execute(
        sa.select(Component.id, Component.created_at)
        .where(Component.id.in_(missing))
        .order_by(Component.id)
        .with_for_update()
    ).all()
    today = now.astimezone(tz).date()
    earliest = min(day for found in missing.values() for day in found)
    changes = queries.status_changes([cid for cid, _ in components], local_midnight(earliest, tz))
    rows = []
    for cid, created_at in components:
        wanted = set(missing[cid])
        start = min(wanted)
        # "Now" at today's midnight: every day before it is whole, today stays empty.
        daily = uptime.daily_uptime(
            changes.get(cid, []),
            now=local_midnight(today, tz),
            days=(today - start).days + 1,
            tz=tz,
            data_start=created_at,
        )
        for day in daily[:-1]:
            if day.day in wanted:
                rows.append(_row(cid, day, tz))
    table = UptimeRollup.__table__
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    # Two workers may roll up the same day at once: the first row wins, both are the same.
    db.session.execute(dialect.insert(table).on_conflict_do_nothing(), rows)
    return len(rows)


def _row(component_id: int, day: uptime.DayUptime, tz: ZoneInfo) -> dict:
    major, partial, degraded, maintenance = uptime.problem_seconds(day)
    return {
        "component_id": component_id,
        "time_zone": uptime.zone_key(tz),
        "day": day.day,
        "ends_at": local_midnight(day.day + timedelta(days=1), tz),
        "known_seconds": day.known_seconds,
        "major_outage_seconds": major,
        "partial_outage_seconds": partial,
        "degraded_seconds": degraded,
        "maintenance_seconds": maintenance,
    }


def void(component_ids: list[int], since: datetime) -> int:
    """Delete rollup rows of days that end after `since` (for writes that bypass the ORM)."""
    table = UptimeRollup.__table__
    # A DELETE without RETURNING gives a CursorResult (SQLAlchemy types it as any Result).
    result = cast(
        sa.CursorResult[Any],
        db.session.execute(
            table.delete().where(table.c.component_id.in_(component_ids), table.c.ends_at > since)
        ),
    )
    return result.rowcount


def tick(now: datetime, tz: ZoneInfo) -> int:
    """Roll up missing closed days in a write transaction of their own; cheap when none are."""
    if not missing_days(now, tz):
        db.session.rollback()  # end the read; the worker's next step starts afresh
        return 0
    with write_transaction():
        return fill(now, tz)
