"""The admin dashboard: overdue incidents stand out, maintenances and recent activity show."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import Impact
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.models import Incident, IncidentUpdate
from statuspage.publishing import incidents as incident_service
from statuspage.web.admin.dashboard import cadence_for, open_incidents
from tests.support import NOW

# "2 h ago", "5 min ago": what the dashboard shows depends on the time it is.
pytestmark = pytest.mark.usefixtures("frozen_clock")


def incident_at(impact: str, last_update: timedelta) -> Incident:
    incident = Incident(name="x", impact=impact, status="investigating", started_at=NOW)
    incident.updates = [
        IncidentUpdate(
            status="investigating", body="a", display_at=NOW - last_update - timedelta(1)
        ),
        IncidentUpdate(status="identified", body="b", display_at=NOW - last_update),
    ]
    return incident


def test_cadence_comes_from_the_config_and_is_shorter_for_worse_impacts(ctx):
    assert cadence_for("critical") < cadence_for("major") < cadence_for("minor")
    assert cadence_for("minor") < cadence_for("none")
    assert cadence_for("critical") == timedelta(minutes=30)
    assert cadence_for("nonsense") == cadence_for("none")


def test_cadence_can_be_configured(make_app):
    with make_app(cadence={"major_minutes": 45}).app_context():
        assert cadence_for("major") == timedelta(minutes=45)


def test_incident_is_overdue_once_its_last_update_is_older_than_the_cadence(ctx):
    [late] = open_incidents([incident_at("major", timedelta(minutes=61))], NOW)
    [fine] = open_incidents([incident_at("major", timedelta(minutes=59))], NOW)
    assert late.overdue and late.since == timedelta(minutes=61)
    assert not fine.overdue


def test_the_cadence_depends_on_the_impact(ctx):
    [minor] = open_incidents([incident_at("minor", timedelta(minutes=90))], NOW)
    [critical] = open_incidents([incident_at("critical", timedelta(minutes=31))], NOW)
    assert not minor.overdue and critical.overdue


def test_overdue_incidents_come_first(ctx):
    rows = open_incidents(
        [incident_at("minor", timedelta(minutes=10)), incident_at("critical", timedelta(hours=1))],
        NOW,
    )
    assert [r.incident.impact for r in rows] == ["critical", "minor"]


def _open(name: str, impact: Impact, ago: timedelta) -> None:
    with write_transaction():
        incident_service.open_incident(
            name=name, impact=impact, body="We are looking into it.", now=utcnow() - ago
        )


def test_dashboard_highlights_an_overdue_incident(editor):
    _open("Checkout failing", Impact.MAJOR, timedelta(hours=2))
    html = editor.get("/admin/").get_data(as_text=True)
    assert "Checkout failing" in html
    assert 'class="overdue"' in html and "overdue" in html and "2 h ago" in html


def test_dashboard_shows_a_recent_incident_without_highlight(editor):
    _open("Search slow", Impact.MINOR, timedelta(minutes=5))
    html = editor.get("/admin/").get_data(as_text=True)
    assert "Search slow" in html and 'class="overdue"' not in html and "5 min ago" in html


def test_dashboard_lists_upcoming_maintenance(editor):
    now = utcnow()
    with write_transaction():
        incident_service.schedule_maintenance(
            name="Network upgrade",
            body="We will upgrade the network.",
            scheduled_for=now + timedelta(days=1),
            scheduled_until=now + timedelta(days=1, hours=2),
            now=now,
        )
    html = editor.get("/admin/").get_data(as_text=True)
    assert "Network upgrade" in html and "Scheduled" in html


def test_recent_activity_shows_work_but_not_sign_ins(editor):
    _open("Checkout failing", Impact.MAJOR, timedelta(minutes=3))
    with write_transaction():
        audit.record(
            audit.CLI,
            "incident.opened",
            now=utcnow(),
            target_type="incident",
            summary="Opened by hand",
        )
    html = editor.get("/admin/").get_data(as_text=True)
    section = html[html.index("Recent activity") :]
    assert "Opened by hand" in section
    assert audit.entries(action="login")  # there was a sign-in to leave out
    assert "signed in" not in section and "user.created" not in section


def test_dashboard_offers_new_incident_to_editors_only(editor, viewer):
    assert "New incident" in editor.get("/admin/").get_data(as_text=True)
    html = viewer.get("/admin/").get_data(as_text=True)
    assert "New incident" not in html and "Post update" not in html
