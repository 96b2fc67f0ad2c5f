"""`statuspage tick`: scheduled maintenances start and complete at their times, once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident, IncidentUpdate
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from statuspage.publishing.maintenance import format_window_time, tick
from tests.support import NOW

MESSAGES = Path(__file__).resolve().parent.parent / "messages"
UTC = ZoneInfo("UTC")


@pytest.fixture
def components(ctx):
    with write_transaction():
        api = component_service.add_component("API", now=NOW - timedelta(days=10))
        db_ = component_service.add_component("Database", now=NOW - timedelta(days=10))
    return api, db_


@pytest.fixture
def messages(ctx):
    with write_transaction():
        library_service.sync_directory(MESSAGES, now=NOW - timedelta(days=5))


def schedule(components, *, start: timedelta, end: timedelta) -> int:
    with write_transaction():
        maintenance = incident_service.schedule_maintenance(
            name="Database upgrade",
            body="We will upgrade the database.",
            scheduled_for=NOW + start,
            scheduled_until=NOW + end,
            now=NOW - timedelta(days=1),
            components=list(components),
        )
    return maintenance.id


def run(now=NOW):
    with write_transaction():
        return tick(now, tz=UTC)


def reload(maintenance_id: int) -> Incident:
    db.session.rollback()
    return db.session.get(Incident, maintenance_id)


def test_tick_starts_a_maintenance_whose_start_has_come(components, messages):
    maintenance_id = schedule(components, start=timedelta(minutes=-1), end=timedelta(hours=2))
    [transition] = run()
    assert (transition.old.value, transition.new.value) == ("scheduled", "in_progress")
    maintenance = reload(maintenance_id)
    assert maintenance.status == "in_progress" and maintenance.started_at == NOW
    assert [c.status for c in maintenance.components] == ["under_maintenance"] * 2
    update = maintenance.updates[0]
    assert update.message_slug == "maintenance-started" and update.display_at == NOW
    assert "on API, Database has started" in update.body
    assert format_window_time(NOW + timedelta(hours=2), UTC) in update.body


def test_tick_records_its_changes_in_the_audit_log_as_tick(components, messages):
    schedule(components, start=timedelta(0), end=timedelta(hours=2))
    run()
    [entry] = audit.entries(actor="tick")
    assert entry.actor == "tick" and entry.after["status"] == "in_progress"


def test_tick_completes_a_maintenance_whose_end_has_come(components, messages):
    maintenance_id = schedule(components, start=timedelta(hours=-2), end=timedelta(hours=1))
    run(NOW)
    [transition] = run(NOW + timedelta(hours=1))
    assert transition.new.value == "completed"
    maintenance = reload(maintenance_id)
    assert maintenance.status == "completed" and maintenance.resolved_at == NOW + timedelta(hours=1)
    assert [c.status for c in maintenance.components] == ["operational"] * 2
    assert maintenance.updates[0].message_slug == "maintenance-completed"


def test_tick_twice_at_the_same_time_changes_nothing(components, messages):
    schedule(components, start=timedelta(0), end=timedelta(hours=1))
    assert len(run()) == 1
    assert run() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate)) == 2


def test_tick_leaves_a_future_maintenance_alone(components, messages):
    maintenance_id = schedule(components, start=timedelta(minutes=1), end=timedelta(hours=1))
    assert run() == []
    assert reload(maintenance_id).status == "scheduled"
    assert [c.status for c in reload(maintenance_id).components] == ["operational"] * 2


def test_tick_without_the_library_message_posts_plain_text(components):
    maintenance_id = schedule(components, start=timedelta(0), end=timedelta(hours=1))
    run()
    update = reload(maintenance_id).updates[0]
    assert update.message_slug is None and update.body == "The scheduled maintenance has started."


def test_a_window_that_passed_unseen_goes_straight_to_completed(components, messages):
    maintenance_id = schedule(components, start=timedelta(hours=-3), end=timedelta(hours=-1))
    [transition] = run()
    assert (transition.old.value, transition.new.value) == ("scheduled", "completed")
    assert len(reload(maintenance_id).updates) == 2


def test_a_component_that_broke_during_the_window_keeps_its_status(components, messages):
    api, _ = components
    maintenance_id = schedule(components, start=timedelta(hours=-1), end=timedelta(hours=1))
    run(NOW - timedelta(minutes=30))
    with write_transaction():
        component_service.set_status(
            db.session.get(type(api), api.id), ComponentStatus.MAJOR_OUTAGE, now=NOW
        )
    run(NOW + timedelta(hours=1))
    statuses = {c.name: c.status for c in reload(maintenance_id).components}
    assert statuses == {"API": "major_outage", "Database": "operational"}


def test_a_verifying_maintenance_completes_at_its_end(components, messages):
    maintenance_id = schedule(components, start=timedelta(hours=-1), end=timedelta(hours=1))
    run()
    with write_transaction():
        incident_service.post_update(
            reload(maintenance_id), status="verifying", body="Checking.", now=NOW
        )
    [transition] = run(NOW + timedelta(hours=1))
    assert (transition.old.value, transition.new.value) == ("verifying", "completed")


def test_tick_ignores_incidents(components, messages):
    with write_transaction():
        incident_service.open_incident(
            name="Outage", impact=Impact.MAJOR, body="Down.", now=NOW - timedelta(days=1)
        )
    assert run() == []


def test_tick_command_moves_maintenances_and_says_so(app, db_url, tmp_path, components):
    config = tmp_path / "statuspage.toml"
    config.write_text(
        'secret_key = "test-secret-key-not-for-production"\n'
        f"[database]\nurl = {json.dumps(db_url)}\n"
    )
    now = utcnow()
    with write_transaction():
        incident_service.schedule_maintenance(
            name="Database upgrade",
            body="We will upgrade the database.",
            scheduled_for=now - timedelta(minutes=1),
            scheduled_until=now + timedelta(hours=1),
            now=now - timedelta(days=1),
            components=list(components),
        )
    runner = CliRunner()
    first = runner.invoke(main, ["tick", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert first.output == "maintenance 1 (Database upgrade): scheduled -> in_progress\n"
    second = runner.invoke(main, ["tick", "--config", str(config)])
    assert second.exit_code == 0 and second.output == "nothing to do\n"
