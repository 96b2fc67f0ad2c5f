"""Grafana's webhook contact point and the generic format, over HTTP to a real `statuspage
serve`: the firing alert becomes a draft with the mapped component and message, and once the
draft is published, the resolved alert proposes the resolve."""

from __future__ import annotations

import copy
import json
import time

import pytest

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Component, Incident
from statuspage.intake import integrations
from statuspage.publishing import drafts
from tests.support.intake import drafts_of, intake_config, post_json, prepared_site, read
from tests.support.receivers import serving

#: Grafana's documented example of its webhook contact point's body (Grafana alerting docs,
#: "Configure webhook notifications", Webhook JSON payload), unchanged.
GRAFANA_EXAMPLE = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={__name__=go_memstats_alloc_bytes} value=44.23 ], "
            "[ var='C' labels={__name__=go_memstats_alloc_bytes} value=1 ]",
        },
        {
            "status": "firing",
            "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
            "annotations": {
                "description": "The system has high CPU usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone eu-1",
            },
            "startsAt": "2021-10-12T09:56:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 33.88768561192955, "C": 1},
            "valueString": "[ var='B' labels={__name__=go_memstats_alloc_bytes} value=33.88 ], "
            "[ var='C' labels={__name__=go_memstats_alloc_bytes} value=1 ]",
        },
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:2]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\n"
    "Annotations:\n - description = This is the alert rule checking the second system\n"
    " - runbook_url = https://myrunbook.com\n - summary = This is my summary\n"
    "Source: https://play.grafana.org/alerting/1afz29v7z/edit\n"
    "Silence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
    "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1\n\n"
    "Labels:\n - alertname = T1\n - team = blue\n - zone = eu-1\n"
    "Annotations:\nSource: https://play.grafana.org/alerting/d1rdpdv7k/edit\n"
    "Silence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
    "&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1\n",
}
RESOLVED_AT = "2021-10-12T10:20:03.157076+02:00"  # 08:20 UTC


def grafana_resolved() -> dict:
    """The example once Grafana sees both alerts resolved."""
    payload = copy.deepcopy(GRAFANA_EXAMPLE)
    payload["status"] = "resolved"
    payload["state"] = "ok"
    payload["title"] = "[RESOLVED]  (blue)"
    for alert in payload["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = RESOLVED_AT
    return payload


@pytest.fixture
def served(ctx, db_url, tmp_path):
    """`statuspage serve` on the test's database, with the intake rules: (base URL, secrets)."""
    secrets = prepared_site(ctx)
    with serving(intake_config(tmp_path, db_url), tmp_path) as base:
        yield base, secrets


def component_id(name: str) -> str:
    return str(read(lambda: db.session.query(Component).filter_by(name=name).one()).id)


def publish(draft_id: int) -> int:
    """Publish a draft as a PM does; the incident's id."""
    with write_transaction():
        return drafts.publish(draft_id, now=utcnow(), actor=audit.CLI).update.incident_id


def test_grafanas_documented_example_drafts_then_proposes_the_resolve(served):
    base, secrets = served
    url = f"{base}/api/intake/grafana"
    status, answer = post_json(url, GRAFANA_EXAMPLE, secret=secrets["grafana"])
    assert status == 202, answer
    assert (answer["received"], answer["new"], answer["unmatched"]) == (2, 2, 1)
    [draft] = drafts_of("memory")
    assert draft.id in answer["drafts"]
    assert draft.message_slug == "degraded-investigating"
    assert draft.component_statuses == {component_id("Website"): "degraded_performance"}
    preview = read(lambda: drafts.preview(drafts.get(draft.id)))
    assert preview.title == "Slow performance on Website"
    assert "The system has high memory usage." in preview.body
    cpu = read(lambda: db.session.query(Alert).filter_by(fingerprint="bc97ff14869b13e3").one())
    assert cpu.outcome == "no rule matched: recorded only"
    assert cpu.raw["valueString"].startswith("[ var='B'")

    incident_id = publish(draft.id)
    status, answer = post_json(url, grafana_resolved(), secret=secrets["grafana"])
    assert status == 202, answer
    assert answer["resolved"] == 2
    [_, resolve] = drafts_of("memory")
    assert resolve.id in answer["drafts"] and resolve.incident_id == incident_id
    assert resolve.message_slug == "degraded-resolved"
    assert resolve.component_statuses == {component_id("Website"): "operational"}
    preview = read(lambda: drafts.preview(drafts.get(resolve.id)))
    assert "back to normal since 08:20 UTC" in preview.body
    publish(resolve.id)
    assert read(lambda: db.session.get(Incident, incident_id).status) == "resolved"


def test_a_grafana_contact_point_may_sign_its_bodies_instead(served, ctx):
    base, secrets = served
    body = json.dumps(GRAFANA_EXAMPLE).encode()
    url = f"{base}/api/intake/grafana-signed"
    # Grafana signs `timestamp:body` when a timestamp header is configured; the signature goes
    # in X-Grafana-Alerting-Signature as bare hex.
    stamp = int(time.time())
    signed = integrations.sign(secrets["grafana-signed"], body, timestamp=stamp)
    headers = {
        "X-Grafana-Alerting-Signature": signed["X-Statuspage-Signature"].removeprefix("sha256="),
        "X-Grafana-Alerting-Signature-Timestamp": str(stamp),
    }
    assert post_json(url, body, headers=headers)[0] == 202
    forged = {**headers, "X-Grafana-Alerting-Signature": "0" * 64}
    assert post_json(url, body, headers=forged)[0] == 401
    # The secret as a bearer token is not a signature.
    assert post_json(url, body, secret=secrets["grafana-signed"])[0] == 401
    assert len(drafts_of("memory")) == 1


def test_the_generic_format_drafts_then_proposes_the_resolve(served):
    base, secrets = served
    url = f"{base}/api/intake/kuma"
    firing = {
        "title": "Checkout API is down",
        "severity": "critical",
        "component": "API",
        "status": "firing",
        "fingerprint": "kuma-monitor-7",
        "url": "https://kuma.example.com/dashboard/7",
        "description": "HTTP 503 from https://api.example.com/health",
    }
    status, answer = post_json(url, firing, secret=secrets["kuma"])
    assert status == 202, answer
    [draft] = drafts_of("checks")
    assert answer["drafts"] == [draft.id]
    assert draft.message_slug == "errors-investigating"
    assert draft.component_statuses == {component_id("API"): "major_outage"}
    assert read(lambda: drafts.preview(drafts.get(draft.id)).title) == "Increased errors on API"

    incident_id = publish(draft.id)
    resolved = {**firing, "status": "resolved", "ended_at": "2026-06-15T12:34:56+02:00"}
    status, answer = post_json(url, resolved, secret=secrets["kuma"])
    assert status == 202, answer
    [_, resolve] = drafts_of("checks")
    assert answer["drafts"] == [resolve.id] and resolve.incident_id == incident_id
    assert resolve.message_slug == "errors-resolved"
    preview = read(lambda: drafts.preview(drafts.get(resolve.id)))
    assert "without unusual errors since 10:34 UTC" in preview.body
