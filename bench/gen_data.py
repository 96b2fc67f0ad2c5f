"""Generate a large status history for benchmarks: components in groups, incidents, updates and
component status changes over years, written with bulk Core inserts.

Usage: .venv/bin/python bench/gen_data.py --database-url sqlite:///instance/big.db
       [--components 100] [--groups 10] [--incidents 20000] [--updates 100000] [--days 1095]

The schema is upgraded first; rows are added beside whatever the database holds already. From a
bench script: `generate(url)` returns a `Summary`.
"""

from __future__ import annotations

import argparse
import html as html_lib
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from statuspage import create_app
from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.core.markup import render_markdown
from statuspage.db import generation, rollup
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import (
    Component,
    ComponentGroup,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    UpdateComponentChange,
    incident_components,
)

BATCH = 5000
SERVICES = (
    "API",
    "Web app",
    "Authentication",
    "Database",
    "Search",
    "File storage",
    "Queues",
    "Email delivery",
    "Webhooks",
    "CDN",
)
TROUBLE = ("Elevated error rates", "Increased latency", "Partial outage", "Degraded performance")
BODIES = {
    IncidentStatus.INVESTIGATING: "We are investigating reports of **{trouble}** on {name}.",
    IncidentStatus.IDENTIFIED: "We have identified the cause and are working on a fix.",
    IncidentStatus.MONITORING: "A fix has been deployed; we are monitoring the results.",
    IncidentStatus.RESOLVED: "This incident has been resolved. Thank you for your patience.",
    MaintenanceStatus.SCHEDULED: "We will perform planned maintenance on {name}.",
    MaintenanceStatus.IN_PROGRESS: "The maintenance is in progress.",
    MaintenanceStatus.VERIFYING: "The work is done; we are verifying that everything is well.",
    MaintenanceStatus.COMPLETED: "The maintenance is complete.",
}
BAD = {
    Impact.MINOR: ComponentStatus.DEGRADED_PERFORMANCE,
    Impact.MAJOR: ComponentStatus.PARTIAL_OUTAGE,
    Impact.CRITICAL: ComponentStatus.MAJOR_OUTAGE,
}


@dataclass(frozen=True)
class Summary:
    """What was added, and how long it took."""

    groups: int
    components: int
    incidents: int
    updates: int
    status_changes: int
    seconds: float


class Rows:
    """Rows per table, with ids allocated after the ones the database already holds."""

    def __init__(self, first_ids: dict[str, int]) -> None:
        self.tables: dict[sa.Table, list[dict]] = defaultdict(list)
        self._next = dict(first_ids)

    def add(self, table: sa.Table, **values) -> int:
        """Queue a row with the next id of its table; return the id."""
        values["id"] = row_id = self._next[table.name]
        self._next[table.name] += 1
        self.tables[table].append(values)
        return row_id


def _statuses(kind: str, count: int) -> list:
    """The status of each of `count` updates, first to last (count >= 2)."""
    if kind == "maintenance":
        middle = [MaintenanceStatus.IN_PROGRESS] + [MaintenanceStatus.VERIFYING] * (count - 3)
        return [MaintenanceStatus.SCHEDULED, *middle[: count - 2], MaintenanceStatus.COMPLETED]
    middle = [IncidentStatus.IDENTIFIED] + [IncidentStatus.MONITORING] * (count - 3)
    return [IncidentStatus.INVESTIGATING, *middle[: count - 2], IncidentStatus.RESOLVED]


def build_rows(
    first_ids: dict[str, int],
    *,
    now: datetime,
    components: int,
    groups: int,
    incidents: int,
    updates: int,
    days: int,
    seed: int,
    position: int = 0,
    existing: list[tuple[int, str]] = (),  # type: ignore[assignment]
) -> Rows:
    """Build every row in memory (no database): a plausible, time-ordered history ending at `now`.

    With `components` 0 the incidents touch the `existing` (id, name) components instead, whose
    rows are left as they are (so their current status and recent history stay untouched).
    """
    rng = random.Random(seed)
    rows = Rows(first_ids)
    start = now - timedelta(days=days)
    created = start - timedelta(days=1)
    html = {status: render_markdown(text) for status, text in BODIES.items()}
    comp_tables = ComponentGroup.__table__, Component.__table__, ComponentStatusChange.__table__
    group_table, component_table, change_table = comp_tables
    comps: list[tuple[int, str]] = list(existing)
    for g in range(groups if components else 0):
        region = f"Region {g + 1:02d}"
        group_id = rows.add(
            group_table,
            name=region,
            description="",
            position=position + g + 1,
            created_at=created,
            updated_at=created,
        )
        for n in range(g * components // groups, (g + 1) * components // groups):
            name = f"{SERVICES[n % len(SERVICES)]} ({region.lower()}-{n // len(SERVICES) + 1})"
            comp_id = rows.add(
                component_table,
                group_id=group_id,
                name=name,
                description="",
                position=position + n + 1,
                status=ComponentStatus.OPERATIONAL.value,
                showcase=True,
                start_date=created.date(),
                created_at=created,
                updated_at=created,
            )
            comps.append((comp_id, name))
            rows.add(change_table, component_id=comp_id, status="operational", started_at=created)

    per_incident = [updates // incidents] * incidents
    for i in rng.sample(range(incidents), updates % incidents):
        per_incident[i] += 1
    span = (now - start - timedelta(hours=8)).total_seconds()
    starts = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(incidents))
    # (time, order, component id, new status, update id): applied in time order below.
    events: list[tuple[datetime, int, int, ComponentStatus, int]] = []
    for began, count in zip(starts, per_incident, strict=True):
        count = max(2, count)
        maintenance = rng.random() < 0.05
        kind = "maintenance" if maintenance else "incident"
        impact = Impact.MAINTENANCE if maintenance else rng.choice(list(BAD) * 2 + [Impact.MINOR])
        affected = rng.sample(comps, rng.randint(1, 3))
        length = timedelta(minutes=rng.randint(15, 360))
        statuses = _statuses(kind, count)
        times = [began + length * k / (count - 1) for k in range(count)]
        if maintenance:
            times[0] = began - timedelta(days=3)  # announced before the window opens
        ended = times[-1]
        trouble = rng.choice(TROUBLE)
        incident_id = rows.add(
            Incident.__table__,
            kind=kind,
            name=f"{trouble} on {affected[0][1]}" if not maintenance else "Planned maintenance",
            status=statuses[-1].value,
            impact=impact.value,
            started_at=began,
            identified_at=times[1] if not maintenance and count > 2 else None,
            monitoring_at=times[2] if not maintenance and count > 3 else None,
            resolved_at=ended,
            scheduled_for=began if maintenance else None,
            scheduled_until=ended if maintenance else None,
            acknowledged_by="",
            created_at=times[0],
            updated_at=ended,
        )
        for comp_id, _ in affected:
            rows.tables[incident_components].append(
                {"incident_id": incident_id, "component_id": comp_id}
            )
        body_values = {"trouble": trouble.lower(), "name": affected[0][1]}
        escaped = {key: html_lib.escape(value) for key, value in body_values.items()}
        for k, (status, at) in enumerate(zip(statuses, times, strict=True)):
            update_id = rows.add(
                IncidentUpdate.__table__,
                incident_id=incident_id,
                status=status.value,
                body=BODIES[status].format(**body_values),
                body_html=html[status].format(**escaped),
                display_at=at,
                deliver_notifications=True,
                text_edited=False,
                created_at=at,
                updated_at=at,
            )
            bad_at = 1 if maintenance else 0
            if k == bad_at:
                new = ComponentStatus.UNDER_MAINTENANCE if maintenance else BAD[impact]
                events.extend((at, update_id, c, new, update_id) for c, _ in affected)
            elif k == count - 1:
                ok = ComponentStatus.OPERATIONAL
                events.extend((at, update_id, c, ok, update_id) for c, _ in affected)

    names = dict(comps)
    current = {comp_id: ComponentStatus.OPERATIONAL for comp_id, _ in comps}
    last_change = {}
    for at, _, comp_id, new, update_id in sorted(events):
        old = current[comp_id]
        if old is new:
            continue  # overlapping incidents: set_status records only real changes
        current[comp_id] = new
        last_change[comp_id] = at
        rows.add(change_table, component_id=comp_id, status=new.value, started_at=at)
        rows.add(
            UpdateComponentChange.__table__,
            update_id=update_id,
            component_id=comp_id,
            component_name=names[comp_id],
            old_status=old.value,
            new_status=new.value,
        )
    for row in rows.tables[component_table]:  # only the components made here
        row["status"] = current[row["id"]].value
        row["updated_at"] = last_change.get(row["id"], created)
    return rows


_EXISTING = sa.select(Component.id, Component.name).order_by(Component.id)


def _first_ids(tables: list[sa.Table]) -> dict[str, int]:
    return {
        t.name: (db.session.scalar(sa.select(sa.func.max(t.c.id))) or 0) + 1
        for t in tables
        if "id" in t.c
    }


def generate(
    database_url: str,
    *,
    components: int = 100,
    groups: int = 10,
    incidents: int = 20_000,
    updates: int = 100_000,
    days: int = 1095,
    seed: int = 7,
    end_days_ago: int = 0,
    now: datetime | None = None,
) -> Summary:
    """Upgrade the schema at `database_url` and add a generated history to it.

    `components` 0 puts the incidents on the components already there (say, the demo's);
    `end_days_ago` ends the generated history that many days before now.
    """
    began = time.perf_counter()
    now = (now or utcnow()).replace(microsecond=0)
    end = now - timedelta(days=end_days_ago)
    app = create_app({"database": {"url": database_url}, "secret_key": "bench"})
    order = [
        ComponentGroup.__table__,
        Component.__table__,
        ComponentStatusChange.__table__,
        Incident.__table__,
        incident_components,
        IncidentUpdate.__table__,
        UpdateComponentChange.__table__,
    ]
    with app.app_context():
        upgrade()
        with write_transaction():
            position = db.session.scalar(sa.select(sa.func.max(Component.position))) or 0
            existing = [] if components else [tuple(row) for row in db.session.execute(_EXISTING)]
            if not components and not existing:
                raise SystemExit("--components 0 needs components in the database already")
            rows = build_rows(
                _first_ids(order),
                now=end,
                components=components,
                groups=groups,
                incidents=incidents,
                updates=updates,
                days=days,
                seed=seed,
                position=position,
                existing=existing,
            )
            for table in order:
                batch = rows.tables[table]
                for offset in range(0, len(batch), BATCH):
                    db.session.execute(sa.insert(table), batch[offset : offset + BATCH])
            if db.engine.dialect.name == "postgresql":
                # Ids were given explicitly: move each sequence past them.
                for table in order:
                    if "id" in table.c:
                        db.session.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"(SELECT max(id) FROM {table.name}))"
                            )
                        )
            # Core inserts bypass the session's flush hook: invalidate cached pages ourselves,
            # and the rolled-up uptime of the days the new status changes reach.
            generation.bump(db.session, now)
            changes = rows.tables[ComponentStatusChange.__table__]
            if changes:
                rollup.void(
                    sorted({row["component_id"] for row in changes}),
                    min(row["started_at"] for row in changes),
                )
            rollup.fill(now, ZoneInfo(app.config["STATUSPAGE"].site["time_zone"]))
        db.session.remove()
        db.engine.dispose()
    return Summary(
        groups=groups if components else 0,
        components=components,
        incidents=incidents,
        updates=len(rows.tables[IncidentUpdate.__table__]),
        status_changes=len(rows.tables[ComponentStatusChange.__table__]),
        seconds=time.perf_counter() - began,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of the database.")
    parser.add_argument(
        "--components", type=int, default=100, help="New components; 0: use the existing ones."
    )
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=1095, help="How far back the history goes.")
    parser.add_argument("--end-days-ago", type=int, default=0, help="End the history earlier.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.incidents < 1 or args.updates < 2 * args.incidents or args.groups < 1:
        parser.error("need at least one incident, two updates per incident and one group")
    if args.components < 0 or args.days < 1 or args.end_days_ago < 0:
        parser.error("--components, --days and --end-days-ago cannot be negative")
    summary = generate(
        args.database_url,
        components=args.components,
        groups=args.groups,
        incidents=args.incidents,
        updates=args.updates,
        days=args.days,
        seed=args.seed,
        end_days_ago=args.end_days_ago,
    )
    print(
        f"added {summary.components} components in {summary.groups} groups, "
        f"{summary.incidents} incidents, {summary.updates} updates, "
        f"{summary.status_changes} status changes in {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
