"""Alerts in: integrations authenticate, payloads are read strictly, rules draft, publish or set
component status, alerts are deduplicated by fingerprint, and a resolve is proposed."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.intake.rules import parse_intake
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Component, Draft, Incident, OutboxMessage
from statuspage.errors import ValidationError
from statuspage.intake import integrations, receive
from statuspage.publishing import components as cs
from statuspage.publishing import drafts
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from tests.support import NOW
from tests.support.drafts import am_payload

ESCALATION = {
    "channels": {"pm-hook": {"type": "smtp", "to": ["pm@example.com"]}},
    "paths": {
        "pm": {
            "match": {"impact_at_least": "critical", "components": ["Nothing"]},
            "steps": [{"after_minutes": 0, "notify": ["pm-hook"]}],
        }
    },
}
RULES = {
    "api-down": {
        "match": {"alertname": "ApiDown"},
        "components": ["API"],
        "message": "outage-investigating",
        "resolve_message": "outage-resolved",
        "values": {"resolved_at": "{{ resolved_at }}"},
        "notify": "pm",
    },
    "web-slow": {
        "action": "component_status",
        "match": {"alertname": "WebSlow"},
        "component_label": "component",
        "component_status": "degraded_performance",
        "min_alerts": 2,
        "min_state_seconds": 300,
    },
    "db-down": {
        "action": "publish",
        "match": {"alertname": "DbDown"},
        "components": ["Database"],
        "message": "outage-investigating",
        "resolve_message": "outage-resolved",
        "values": {"resolved_at": "{{ resolved_at }}"},
    },
}


@pytest.fixture
def app(make_app):
    return make_app(intake=RULES, **ESCALATION)


@pytest.fixture
def site(ctx, frozen_clock):
    frozen_clock.set(NOW)
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
        for name in ("API", "Website", "Database"):
            cs.add_component(name, now=NOW - timedelta(days=3))
        _, am = integrations.create(
            "prom", "alertmanager", secret_key=ctx.config["SECRET_KEY"], now=NOW, actor=audit.CLI
        )
        _, generic = integrations.create(
            "kuma", "generic", secret_key=ctx.config["SECRET_KEY"], now=NOW, actor=audit.CLI
        )
        _, signed = integrations.create(
            "signed",
            "generic",
            auth="hmac",
            secret_key=ctx.config["SECRET_KEY"],
            now=NOW,
            actor=audit.CLI,
        )
    return {"prom": am, "kuma": generic, "signed": signed, "clock": frozen_clock}


def post(client, name, secret, payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        f"/api/intake/{name}",
        data=body,
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            **headers,
        },
    )


def component(name):
    db.session.rollback()
    return db.session.scalar(sa.select(Component).where(Component.name == name))


def test_a_firing_alert_prepares_a_draft_and_tells_the_pm(client, site):
    response = post(client, "prom", site["prom"], am_payload())
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["drafts"] == [1]
    db.session.rollback()
    draft = db.session.get(Draft, 1)
    assert draft.state == "waiting" and draft.message_slug == "outage-investigating"
    assert draft.component_statuses == {str(component("API").id): "major_outage"}
    prepared = drafts.preview(db.session.get(Draft, 1))
    assert prepared.title == "API unavailable"
    notices = db.session.scalars(sa.select(OutboxMessage)).all()
    assert [n.idempotency_key for n in notices] == ["draft:1:pm-hook"]
    links = notices[0].payload["links"]
    assert links == [
        {"label": "Review and publish", "url": "https://status.example.com/admin/drafts/1"}
    ]
    # Nothing is public yet.
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 0


def test_a_replayed_alert_is_deduplicated(client, site):
    post(client, "prom", site["prom"], am_payload())
    again = post(client, "prom", site["prom"], am_payload())
    assert again.status_code == 202
    assert again.get_json()["deduplicated"] == 1 and again.get_json()["drafts"] == []
    db.session.rollback()
    alert = db.session.scalars(sa.select(Alert)).one()
    assert (alert.received_count, alert.duplicate_count) == (2, 1)
    assert db.session.scalar(sa.select(sa.func.count(Draft.id))) == 1


def test_publishing_the_draft_then_resolving_the_alert_proposes_the_resolve(client, site):
    post(client, "prom", site["prom"], am_payload())
    with write_transaction():
        published = drafts.publish(1, now=NOW, actor=audit.CLI)
    incident = published.update.incident
    assert incident.detected_at.isoformat() == "2026-06-15T11:56:00+00:00"
    resolved = post(client, "prom", site["prom"], am_payload(status="resolved"))
    assert resolved.get_json()["drafts"] == [2]
    db.session.rollback()
    draft = db.session.get(Draft, 2)
    assert draft.incident_id == incident.id and draft.message_slug == "outage-resolved"
    prepared = drafts.preview(draft)
    assert prepared.status.value == "resolved"
    assert "working normally since 12:30 UTC" in prepared.body
    with write_transaction():
        drafts.publish(2, now=NOW, actor=audit.CLI)
    db.session.rollback()
    assert db.session.get(Incident, incident.id).status == "resolved"
    assert component("API").status == "operational"


def test_an_alert_that_resolves_before_anyone_publishes_sets_the_draft_aside(client, site):
    post(client, "prom", site["prom"], am_payload())
    post(client, "prom", site["prom"], am_payload(status="resolved"))
    db.session.rollback()
    assert db.session.get(Draft, 1).state == "obsolete"
    with pytest.raises(Exception, match="obsolete"), write_transaction():
        drafts.publish(1, now=NOW, actor=audit.CLI)


def test_a_publish_rule_publishes_at_once_as_the_rule(client, site):
    response = post(client, "prom", site["prom"], am_payload(alertname="DbDown", fingerprint="d"))
    assert len(response.get_json()["published_updates"]) == 1
    db.session.rollback()
    incident = db.session.scalars(sa.select(Incident)).one()
    assert incident.name == "Database unavailable"
    entry = db.session.scalars(
        sa.text("SELECT actor FROM audit_log WHERE action = 'incident.opened'")
    ).one()
    assert entry == "intake rule db-down"


def test_component_status_rules_damp_flapping(app, client, site):
    payload = am_payload(alertname="WebSlow", fingerprint="w", component="Website")
    first = post(client, "prom", site["prom"], payload)
    assert first.get_json()["component_changes"] == []  # min_alerts = 2
    second = post(client, "prom", site["prom"], payload)
    assert second.get_json()["component_changes"] == ["Website: degraded_performance"]
    assert component("Website").status == "degraded_performance"
    # Resolved a minute later: the component stays degraded until 5 minutes have passed.
    site["clock"].set(NOW + timedelta(minutes=1))
    post(
        client,
        "prom",
        site["prom"],
        {**payload, "status": "resolved"}
        | {"alerts": [{**payload["alerts"][0], "status": "resolved"}]},
    )
    assert component("Website").status == "degraded_performance"
    db.session.rollback()
    held = db.session.scalars(sa.select(Alert)).one()
    assert held.held_until == NOW + timedelta(minutes=5)
    with write_transaction():
        ctx = receive.Context.from_settings(app.config["STATUSPAGE"], NOW + timedelta(minutes=5))
        assert receive.tick(ctx) == 1
    assert component("Website").status == "operational"


def test_generic_format_and_hmac_signatures(client, site):
    body = json.dumps({"title": "Checkout down", "component": "API", "severity": "high"}).encode()
    unsigned = client.post("/api/intake/signed", data=body)
    assert unsigned.status_code == 401
    headers = integrations.sign(site["signed"], body, timestamp=int(NOW.timestamp()))
    assert client.post("/api/intake/signed", data=body, headers=headers).status_code == 202
    stale = integrations.sign(site["signed"], body, timestamp=int(NOW.timestamp()) - 3600)
    assert client.post("/api/intake/signed", data=body, headers=stale).status_code == 401
    db.session.rollback()
    alert = db.session.scalars(sa.select(Alert)).one()
    assert (alert.severity, alert.labels, alert.outcome) == (
        "error",
        {"component": "API"},
        "no rule matched: recorded only",
    )


def test_basic_authentication_carries_the_secret_as_the_password(client, site):
    token = base64.b64encode(f"alertmanager:{site['prom']}".encode()).decode()
    response = client.post(
        "/api/intake/prom",
        data=json.dumps(am_payload()),
        headers={"Authorization": f"Basic {token}"},
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "name, secret",
    [("prom", "sp_in_wrong"), ("nobody", "sp_in_wrong"), ("prom", ""), ("../x", "y")],
)
def test_wrong_credentials_are_one_401(client, site, name, secret):
    response = post(client, name, secret, am_payload())
    assert response.status_code in (401, 404)
    if response.status_code == 401:
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_integration_is_refused(client, site):
    with write_transaction():
        integrations.revoke("prom", now=NOW, actor=audit.CLI)
    assert post(client, "prom", site["prom"], am_payload()).status_code == 401


@pytest.mark.parametrize(
    "payload, field",
    [
        (b"not json", "body"),
        ({"alerts": "x"}, "alerts"),
        ({"alerts": [{"status": "burning", "labels": {}}]}, "alerts[0].status"),
        ({"alerts": [{"status": "firing", "labels": {"a": 1}}]}, "alerts[0].labels.a"),
        (
            {"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]},
            "alerts[0].startsAt",
        ),
    ],
)
def test_malformed_payloads_are_a_400_naming_the_field(client, site, payload, field):
    response = post(client, "prom", site["prom"], payload)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_an_oversized_payload_is_a_413(client, site):
    body = b"{" + b" " * limits.MAX_INTAKE_BYTES + b"}"
    response = post(client, "prom", site["prom"], body)
    assert response.status_code == 413
    assert "at most 524,288 bytes" in response.get_json()["error"]["message"]


def test_the_generic_format_refuses_unknown_fields(client, site):
    response = post(client, "kuma", site["kuma"], {"title": "x", "colour": "red"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "colour"


def test_alerts_of_one_rule_racing_make_one_draft(app, site):
    """Two Alertmanagers (an HA pair) post at the same moment: one alert row, one draft."""
    rounds = 5
    for round_ in range(rounds):
        barrier = threading.Barrier(3)
        answers: list[int] = []

        def send(
            fingerprint: str,
            round_: int = round_,
            barrier: threading.Barrier = barrier,
            answers: list[int] = answers,
        ) -> None:
            client = app.test_client()
            payload = am_payload(fingerprint=f"{fingerprint}-{round_}")
            barrier.wait(timeout=30)
            answers.append(post(client, "prom", site["prom"], payload).status_code)

        threads = [threading.Thread(target=send, args=(f,)) for f in ("same", "same", "other")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert answers == [202, 202, 202], f"round {round_}: {answers}"
        db.session.rollback()
        waiting = db.session.scalars(sa.select(Draft).where(Draft.state == "waiting")).all()
        assert len(waiting) == 1, f"round {round_}: {[d.id for d in waiting]}"
        alerts = db.session.scalars(sa.select(Alert).where(Alert.draft_id == waiting[0].id)).all()
        assert sorted(a.fingerprint for a in alerts) == [f"other-{round_}", f"same-{round_}"]
        with write_transaction():
            drafts.dismiss(waiting[0].id, now=NOW, actor=audit.CLI)


def test_the_metrics_count_alerts_repeats_and_drafts(client, site):
    post(client, "prom", site["prom"], am_payload())
    post(client, "prom", site["prom"], am_payload())
    text = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert 'statuspage_alerts_total{result="received"} 2.0' in text
    assert 'statuspage_alerts_total{result="deduplicated"} 1.0' in text
    assert "statuspage_alerts_firing 1.0" in text
    assert 'statuspage_drafts{state="waiting"} 1.0' in text


def test_an_alert_about_another_component_proposes_an_update_adding_it(client, site):
    post(client, "prom", site["prom"], am_payload())
    with write_transaction():
        drafts.publish(1, now=NOW, actor=audit.CLI)
    rule_with_label = am_payload(fingerprint="web", component="Website")
    # api-down names API only; a second ApiDown alert for API joins the incident quietly ...
    again = post(client, "prom", site["prom"], am_payload(fingerprint="api-2"))
    assert again.get_json()["drafts"] == []
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Draft.id))) == 1
    # ... one about a component the incident does not name proposes the update that adds it.
    with_label = {**RULES["api-down"], "component_label": "component"}
    app = client.application
    app.config["STATUSPAGE"].intake = parse_intake(
        {"api-down": with_label}, source="test", paths=["pm"]
    )
    added = post(client, "prom", site["prom"], rule_with_label)
    assert added.get_json()["drafts"] == [2]
    db.session.rollback()
    update = db.session.get(Draft, 2)
    website = component("Website")
    assert (update.purpose, update.incident_id, update.status) == ("update", 1, "investigating")
    assert update.component_statuses == {str(website.id): "major_outage"}
    # An alert firing again does not set the update aside; the resolve of them all does.
    post(client, "prom", site["prom"], am_payload(fingerprint="api-3"))
    db.session.rollback()
    assert db.session.get(Draft, 2).state == "waiting"
    with write_transaction():
        drafts.publish(2, now=NOW, actor=audit.CLI)
    assert component("Website").status == "major_outage"
    db.session.rollback()
    assert "Website" in [c.name for c in db.session.get(Incident, 1).components]


def test_notices_of_a_draft_decided_before_they_left_are_recalled(client, site):
    post(client, "prom", site["prom"], am_payload())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1
    post(client, "prom", site["prom"], am_payload(status="resolved"))
    db.session.rollback()
    assert db.session.get(Draft, 1).state == "obsolete"
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def test_an_alert_from_the_future_started_when_it_arrived(client, site):
    payload = am_payload()
    payload["alerts"][0]["startsAt"] = "2099-01-01T00:00:00Z"
    post(client, "prom", site["prom"], payload)
    db.session.rollback()
    assert db.session.scalars(sa.select(Alert)).one().started_at == NOW


def test_alertmanager_cannot_be_an_hmac_integration(ctx):
    with pytest.raises(ValidationError, match="alertmanager cannot sign"), write_transaction():
        integrations.create(
            "am", "alertmanager", auth="hmac", secret_key="k" * 40, now=NOW, actor=audit.CLI
        )
