"""Per-component lists (a component's page and feeds) are the newest rows, however spread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.publishing import components as cs
from statuspage.publishing import incidents as inc

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def incident_on(component, days_ago: float, name: str) -> None:
    began = NOW - timedelta(days=days_ago)
    incident = inc.open_incident(
        name=name,
        impact=Impact.MINOR,
        body="Errors.",
        now=began,
        component_statuses={component: ComponentStatus.PARTIAL_OUTAGE},
    )
    inc.post_update(
        incident,
        status=IncidentStatus.RESOLVED,
        body="Fixed.",
        now=began + timedelta(minutes=30),
        component_statuses={component: ComponentStatus.OPERATIONAL},
    )


@pytest.fixture
def spread(ctx):
    """A busy component (recent and old incidents), a quiet one (old ones only), a new one."""
    with write_transaction():
        busy = cs.add_component("Busy", now=NOW - timedelta(days=900))
        quiet = cs.add_component("Quiet", now=NOW - timedelta(days=900))
        cs.add_component("Never", now=NOW - timedelta(days=900))
        for n, days_ago in enumerate((1, 2, 20, 40, 100, 200, 400, 401, 700)):
            incident_on(busy, days_ago, f"busy {n}")
        for n, days_ago in enumerate((500, 600, 800)):
            incident_on(quiet, days_ago, f"quiet {n}")
    return busy.id, quiet.id


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 9, 20])
def test_a_components_incidents_are_its_newest_whatever_the_window(spread, limit):
    busy, quiet = spread
    got = queries.incidents_for_component(busy, limit, now=NOW)
    assert [i.name for i in got] == [f"busy {n}" for n in range(9)][:limit]
    got = queries.incidents_for_component(quiet, limit, now=NOW)
    assert [i.name for i in got] == [f"quiet {n}" for n in range(3)][:limit]
    assert queries.incidents_for_component(3, limit, now=NOW) == []


@pytest.mark.parametrize("limit", [1, 3, 4, 17, 50])
def test_a_components_feed_is_its_newest_updates_whatever_the_window(spread, limit):
    busy, quiet = spread
    got = queries.feed_updates(limit, component_id=busy, now=NOW)
    expected = [u for i in queries.incidents_for_component(busy, 20, now=NOW) for u in i.updates]
    expected.sort(key=lambda u: (u.display_at, u.id), reverse=True)
    assert [u.id for u in got] == [u.id for u in expected][:limit]
    assert {u.incident.name for u in queries.feed_updates(limit, component_id=quiet, now=NOW)} <= {
        f"quiet {n}" for n in range(3)
    }
