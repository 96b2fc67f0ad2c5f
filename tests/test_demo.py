"""The demo dataset: a believable page with 90 days of history, loaded once."""

from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from statuspage import demo
from statuspage.core.enums import ComponentStatus, IncidentKind
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, ComponentStatusChange, Incident
from tests.support import NOW


@pytest.fixture
def loaded(ctx):
    with write_transaction():
        summary = demo.load(NOW)
    return summary


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_demo_has_twelve_components_in_three_groups(loaded):
    tree = queries.component_tree()
    assert [g.name for g in tree.groups] == list(demo.GROUPS)
    assert len(tree.components) == 12
    assert not tree.ungrouped
    assert (loaded.groups, loaded.components) == (3, 12)


def test_demo_has_exactly_one_open_incident_with_two_updates(loaded):
    [incident] = queries.unresolved_incidents()
    assert incident.status == "identified"
    assert [u.status for u in incident.updates] == ["identified", "investigating"]
    assert [c.name for c in incident.components] == ["Search"]


def test_demo_leaves_only_the_open_incidents_components_unhealthy(loaded):
    unhealthy = {
        c.name: c.status for c in queries.component_tree().components if c.status != "operational"
    }
    assert unhealthy == {"Search": ComponentStatus.DEGRADED_PERFORMANCE.value}


def test_demo_has_one_upcoming_maintenance_in_about_three_days(loaded):
    [maintenance] = queries.upcoming_maintenances()
    assert timedelta(days=2) < maintenance.scheduled_for - NOW < timedelta(days=4)
    assert maintenance.scheduled_until - maintenance.scheduled_for == timedelta(hours=2)


def test_demo_has_a_completed_maintenance_in_the_past(loaded):
    done = [m for m in queries.latest_incidents(kind=IncidentKind.MAINTENANCE) if m.is_closed]
    assert len(done) == 1
    assert done[0].resolved_at < NOW


def test_demo_history_spans_ninety_days_and_is_all_in_the_past(loaded):
    incidents = db.session.scalars(sa.select(Incident)).all()
    closed = [i for i in incidents if i.kind == "incident" and i.is_closed]
    assert 10 <= len(closed) <= 15
    assert min(i.started_at for i in closed) >= NOW - timedelta(days=90)
    assert all(u.display_at <= NOW for i in incidents for u in i.updates)
    assert {i.impact for i in closed} >= {"none", "minor", "major", "critical"}


def test_demo_resolved_incidents_tell_a_story_of_several_updates(loaded):
    closed = [i for i in queries.latest_incidents() if i.is_closed]
    assert sum(len(i.updates) >= 3 for i in closed) >= len(closed) // 2


def test_demo_publishes_one_postmortem(loaded):
    with_postmortem = db.session.scalars(
        sa.select(Incident).where(Incident.postmortem_html.is_not(None))
    ).all()
    assert [i.name for i in with_postmortem] == ["Primary database outage"]
    assert with_postmortem[0].status == "postmortem"
    assert "<h2>" in with_postmortem[0].postmortem_html


def test_demo_components_start_before_the_uptime_window(loaded):
    starts = db.session.scalars(sa.select(Component.created_at)).all()
    assert all(s <= NOW - timedelta(days=queries.UPTIME_DAYS) for s in starts)


def test_demo_uptime_bars_show_dips(loaded):
    components = queries.component_tree().components
    figures = queries.uptimes(components, now=NOW, tz=UTC)
    by_name = {c.name: figures[c.id] for c in components}
    assert by_name["API"].percent_90 < 100
    assert all(day.has_data for day in by_name["API"].days)
    bad_days = [
        d for d in by_name["Primary database"].days if d.worst is ComponentStatus.MAJOR_OUTAGE
    ]
    assert len(bad_days) == 1
    assert by_name["Webhooks"].percent_90 == 100  # degraded time is not downtime


def test_demo_load_twice_adds_nothing(loaded):
    counts = [_count(m) for m in (ComponentGroup, Component, Incident, ComponentStatusChange)]
    with write_transaction():
        assert demo.load(NOW + timedelta(hours=1)) is None
    assert [
        _count(m) for m in (ComponentGroup, Component, Incident, ComponentStatusChange)
    ] == counts
