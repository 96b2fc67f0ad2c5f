"""Escalation runs in the database: started by publishing, advanced by time, stopped by ack."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import EscalationRun, OutboxMessage
from statuspage.delivery import escalation as runtime
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.publishing.publish import Draft, publish
from statuspage.resources import resource_dir
from tests.support import NOW
from tests.support.auth import csrf_token

ESCALATION = {
    "channels": {
        "ops-hook": {
            "type": "webhook",
            "url": "https://hooks.example.com/x",
            "secret_env": "TEST_HOOK_SECRET",
        },
        "oncall-mail": {"type": "smtp", "to": ["oncall@example.com"]},
    },
    "paths": {
        "major": {
            "match": {"impact_at_least": "major", "any_component": True},
            "steps": [
                {"after_minutes": 0, "notify": ["ops-hook"]},
                {"after_minutes": 15, "notify": ["oncall-mail"]},
            ],
            "stop_on": ["acknowledged", "resolved"],
        }
    },
}


@pytest.fixture
def app(make_app):
    return make_app(**ESCALATION)


@pytest.fixture
def api(ctx):
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
        return cs.add_component("API", now=NOW - timedelta(days=5))


def open_major(api, now=NOW):
    with write_transaction():
        update, _ = publish(
            Draft(
                message="outage-investigating",
                variables={"component": "API"},
                component_statuses={api.id: "major_outage"},
            ),
            now=now,
            actor=audit.CLI,
        )
    return update.incident


def keys():
    return db.session.scalars(
        sa.select(OutboxMessage.idempotency_key).order_by(OutboxMessage.id)
    ).all()


def test_publishing_a_major_incident_starts_a_run_and_enqueues_step_zero(api):
    incident = open_major(api)
    [run] = db.session.scalars(sa.select(EscalationRun)).all()
    assert run.path_name == "major" and run.snapshot["name"] == "major"
    assert keys() == [f"{incident.id}:major:0:0:ops-hook"]
    assert run.next_due_at == NOW + timedelta(minutes=15)


def test_minor_incident_matches_no_path(api):
    with write_transaction():
        publish(
            Draft(message="degraded-investigating", variables={"component": "API"}, impact="minor"),
            now=NOW,
            actor=audit.CLI,
        )
    assert db.session.scalars(sa.select(EscalationRun)).all() == []
    assert keys() == []


def test_worker_advances_due_runs_once(api):
    incident = open_major(api)
    assert runtime.advance_due_runs(NOW + timedelta(minutes=16)) == 1
    assert runtime.advance_due_runs(NOW + timedelta(minutes=17)) == 0
    assert keys()[-1] == f"{incident.id}:major:1:0:oncall-mail"


def test_acknowledge_link_stops_unacknowledged_steps(frozen_clock, app, api):
    start = utcnow()  # the link acknowledges at statuspage.clock's time: NOW, frozen
    incident = open_major(api, now=start)
    payload = db.session.scalar(sa.select(OutboxMessage.payload))
    ack_url = next(link["url"] for link in payload["links"] if link["label"] == "Acknowledge")
    path = ack_url.split(app.config["STATUSPAGE"].site["url"], 1)[1]
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and b"Acknowledge this incident?" in page.data
    token = csrf_token(client, path)
    done = client.post(path, data={"csrf_token": token, "name": "Ana"})
    assert done.status_code == 200 and b"Acknowledged" in done.data
    db.session.expire_all()
    assert incident.acknowledged_by == "Ana via ops-hook"
    runtime.advance_due_runs(start + timedelta(hours=2))
    assert len(keys()) == 1  # the 15-minute step was for the unacknowledged


def test_tampered_ack_link_is_refused(app, api):
    open_major(api)
    assert app.test_client().get("/ack/not-a-token").status_code == 410


def test_config_edits_do_not_change_a_run_in_flight(api, make_app):
    incident = open_major(api)
    changed = dict(ESCALATION)
    changed["paths"] = {
        "major": {
            "match": {"impact_at_least": "major", "any_component": True},
            "steps": [{"after_minutes": 0, "notify": ["oncall-mail"]}],
        }
    }
    other = make_app(**changed)
    with other.app_context():
        runtime.advance_due_runs(NOW + timedelta(minutes=16))
        assert keys()[-1] == f"{incident.id}:major:1:0:oncall-mail"
