"""Incident and maintenance services: lifecycle times, component changes, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ComponentStatusChange
from statuspage.errors import Conflict, ValidationError
from statuspage.publishing import components as cs
from statuspage.publishing import incidents as inc
from tests.support import NOW


@pytest.fixture
def api(ctx):
    with write_transaction():
        return cs.add_component("API", now=NOW - timedelta(days=30))


def test_lifecycle_sets_each_timestamp_once(api):
    with write_transaction():
        incident = inc.open_incident(
            name="API errors", impact=Impact.MAJOR, body="Looking.", now=NOW
        )
        inc.post_update(
            incident,
            status=IncidentStatus.IDENTIFIED,
            body="Found it.",
            now=NOW + timedelta(minutes=10),
        )
        inc.post_update(
            incident,
            status=IncidentStatus.MONITORING,
            body="Fixed.",
            now=NOW + timedelta(minutes=20),
        )
        inc.post_update(
            incident, status=IncidentStatus.RESOLVED, body="Done.", now=NOW + timedelta(minutes=30)
        )
    assert incident.started_at == NOW
    assert incident.identified_at == NOW + timedelta(minutes=10)
    assert incident.monitoring_at == NOW + timedelta(minutes=20)
    assert incident.resolved_at == NOW + timedelta(minutes=30)
    assert [u.status for u in incident.updates] == [
        "resolved",
        "monitoring",
        "identified",
        "investigating",
    ]


def test_update_records_component_change_and_history(api):
    with write_transaction():
        incident = inc.open_incident(
            name="API down",
            impact=Impact.CRITICAL,
            body="Down.",
            now=NOW,
            component_statuses={api: ComponentStatus.MAJOR_OUTAGE},
        )
    update = incident.updates[0]
    assert api.status == "major_outage"
    assert incident.components == [api]
    [change] = update.component_changes
    assert (change.old_status, change.new_status, change.component_name) == (
        "operational",
        "major_outage",
        "API",
    )
    history = db.session.scalars(
        sa.select(ComponentStatusChange.status).order_by(ComponentStatusChange.id)
    ).all()
    assert history == ["operational", "major_outage"]


def test_unchanged_component_status_records_no_change(api):
    with write_transaction():
        incident = inc.open_incident(
            name="API slow",
            impact=Impact.MINOR,
            body="Slow.",
            now=NOW,
            component_statuses={api: ComponentStatus.OPERATIONAL},
        )
    assert incident.updates[0].component_changes == []
    assert incident.components == [api]


def test_body_is_sanitised_and_stored_beside_the_source(api):
    with write_transaction():
        incident = inc.open_incident(
            name="x", impact=Impact.MINOR, body="<script>x</script> **ok**", now=NOW
        )
    update = incident.updates[0]
    assert update.body == "<script>x</script> **ok**"
    assert "<script>" not in update.body_html and "<strong>ok</strong>" in update.body_html


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  ", "body": "b"}, "name"),
        ({"name": "x" * 301, "body": "b"}, "name"),
        ({"name": "t", "body": " \n "}, "body"),
        ({"name": "t", "body": "b" * 20_001}, "body"),
    ],
)
def test_invalid_incident_input_is_refused_with_the_field(ctx, kwargs, field):
    with pytest.raises(ValidationError) as info, write_transaction():
        inc.open_incident(impact=Impact.MINOR, now=NOW, **kwargs)
    assert info.value.field == field


def test_unknown_impact_and_status_name_the_choices():
    with pytest.raises(ValidationError, match="expected one of: none, minor, major, critical"):
        inc.parse_impact("apocalyptic")
    with pytest.raises(ValidationError, match="investigating, identified"):
        inc.parse_status(inc.IncidentKind.INCIDENT, "panicking")


def test_title_control_characters_are_removed(ctx):
    with write_transaction():
        incident = inc.open_incident(
            name="Bad\x00 title\x0b ]]>", impact=Impact.MINOR, body="b", now=NOW
        )
    assert incident.name == "Bad title ]]>"


def test_maintenance_window_must_end_after_it_starts(ctx):
    with pytest.raises(ValidationError, match="end after it starts"), write_transaction():
        inc.schedule_maintenance(
            name="m", body="b", scheduled_for=NOW, scheduled_until=NOW, now=NOW
        )


def test_maintenance_completes_with_an_end_time(api):
    with write_transaction():
        m = inc.schedule_maintenance(
            name="DB upgrade",
            body="Planned.",
            now=NOW,
            scheduled_for=NOW + timedelta(hours=1),
            scheduled_until=NOW + timedelta(hours=2),
            components=[api],
        )
        inc.post_update(
            m,
            status=MaintenanceStatus.IN_PROGRESS,
            body="Started.",
            now=NOW + timedelta(hours=1),
            component_statuses={api: ComponentStatus.UNDER_MAINTENANCE},
        )
        inc.post_update(
            m,
            status=MaintenanceStatus.COMPLETED,
            body="Done.",
            now=NOW + timedelta(hours=2),
            component_statuses={api: ComponentStatus.OPERATIONAL},
        )
    assert m.is_closed and m.resolved_at == NOW + timedelta(hours=2)
    assert m.impact == "maintenance"


def test_postmortem_needs_a_resolved_incident(ctx):
    with write_transaction():
        incident = inc.open_incident(name="x", impact=Impact.MINOR, body="b", now=NOW)
    with pytest.raises(Conflict), write_transaction():
        inc.publish_postmortem(incident, body="pm", now=NOW)
    with write_transaction():
        inc.post_update(incident, status=IncidentStatus.RESOLVED, body="ok", now=NOW)
        inc.publish_postmortem(incident, body="## What happened", now=NOW)
    assert incident.status == "postmortem" and "<h2>What happened</h2>" in incident.postmortem_html
