"""The front page's one read: the same incidents, updates and components as the ORM queries."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.publishing import components as cs
from statuspage.publishing import incidents as inc
from tests.support import NOW


def busy_history() -> None:
    """Open, resolved, old and recent incidents; maintenances done, under way and to come."""
    core = cs.get_or_create_group("Core")
    api = cs.add_component("API", group=core, now=NOW - timedelta(days=200))
    web = cs.add_component("Website", group=core, now=NOW - timedelta(days=200))
    cdn = cs.add_component("CDN", now=NOW - timedelta(days=200))
    for n in range(12):
        incident = inc.open_incident(
            name=f"Recent {n}",
            impact=Impact.MINOR,
            body="Errors.",
            now=NOW - timedelta(hours=10 * n + 1),
            component_statuses={
                cdn: ComponentStatus.DEGRADED_PERFORMANCE,
                api: ComponentStatus.PARTIAL_OUTAGE,
            },
        )
        if n % 3:
            inc.post_update(
                incident,
                status=IncidentStatus.RESOLVED,
                body="Fixed.",
                now=NOW - timedelta(hours=10 * n),
                component_statuses={cdn: ComponentStatus.OPERATIONAL},
            )
    # Started long ago: one still open, one resolved within the window, one long over.
    for name, resolved in (("Old open", None), ("Old, resolved lately", 2), ("Ancient", 40)):
        old = inc.open_incident(
            name=name, impact=Impact.MAJOR, body="Down.", now=NOW - timedelta(days=60)
        )
        if resolved is not None:
            inc.post_update(
                old,
                status=IncidentStatus.RESOLVED,
                body="Up.",
                now=NOW - timedelta(days=resolved),
            )
    for n, status in enumerate(
        (None, MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING, None)
    ):
        start = NOW + timedelta(days=3 - n) if status is None else NOW - timedelta(hours=n)
        maintenance = inc.schedule_maintenance(
            name=f"Maintenance {n}",
            body="Planned work.",
            scheduled_for=start,
            scheduled_until=start + timedelta(hours=2),
            now=NOW - timedelta(days=5),
            components=[web, api],
        )
        if status is not None:
            inc.post_update(maintenance, status=status, body="Working.", now=NOW)
    done = inc.schedule_maintenance(
        name="Done",
        body="Planned.",
        scheduled_for=NOW - timedelta(days=1),
        scheduled_until=NOW - timedelta(hours=20),
        now=NOW - timedelta(days=5),
    )
    inc.post_update(done, status=MaintenanceStatus.COMPLETED, body="Done.", now=NOW)


def shape(incidents) -> list[tuple]:
    """What the page shows of incidents: ids, fields, updates and components in order."""
    return [
        (
            i.id,
            i.kind,
            i.name,
            i.status,
            i.impact,
            i.started_at,
            i.resolved_at,
            i.scheduled_for,
            i.is_upcoming_maintenance,
            [(u.id, u.status, u.body_html, u.display_at, u.edited_at) for u in i.updates],
        )
        for i in incidents
    ]


def test_front_page_reads_what_the_separate_queries_read(ctx):
    with write_transaction():
        busy_history()
    since = NOW - timedelta(days=3)
    page = queries.front_page(since=since, limit=5)
    db.session.expunge_all()
    assert shape(page.open_incidents) == shape(queries.unresolved_incidents())
    assert shape(page.active_maintenances) == shape(queries.active_maintenances())
    assert shape(page.upcoming_maintenances) == shape(queries.upcoming_maintenances())
    assert shape(page.recent) == shape(queries.recent_incidents(since=since, limit=5))
    assert len(page.recent) == 5 and len(page.open_incidents) == 5
    assert [m.status for m in page.active_maintenances] == ["verifying", "in_progress"]
    # The cards name what they affect, in display order.
    cards = [*page.open_incidents, *page.active_maintenances, *page.upcoming_maintenances]
    orm = {i.id: i for i in queries.unresolved_incidents() + queries.active_maintenances()}
    orm.update({i.id: i for i in queries.upcoming_maintenances()})
    for card in cards:
        assert [c.id for c in card.components] == [c.id for c in orm[card.id].components]
    assert [c.name for c in page.upcoming_maintenances[0].components] == ["API", "Website"]


def test_front_page_tree_matches_the_component_tree(ctx):
    with write_transaction():
        busy_history()
    rows, orm = queries.front_page(since=NOW).tree, queries.component_tree()
    assert [(g.id, g.name) for g in rows.groups] == [(g.id, g.name) for g in orm.groups]
    assert [(c.id, c.status, c.created_at) for c in rows.components] == [
        (c.id, c.status, c.created_at) for c in orm.components
    ]
    assert [c.id for c in rows.ungrouped] == [c.id for c in orm.ungrouped]


def test_front_page_query_count_does_not_grow_with_the_history(ctx):
    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            queries.front_page(since=NOW - timedelta(days=3))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    with write_transaction():
        busy_history()
    before = statements()
    assert before <= 5
    with write_transaction():
        for n in range(30):
            older = inc.open_incident(
                name=f"Older {n}", impact=Impact.MINOR, body="x", now=NOW - timedelta(days=9)
            )
            inc.post_update(older, status=IncidentStatus.RESOLVED, body="y", now=NOW)
    assert statements() == before


def test_front_page_of_an_empty_site_reads_no_incident_details(ctx):
    page = queries.front_page(since=NOW)
    assert page.tree.components == [] and page.recent == [] and page.open_incidents == []
