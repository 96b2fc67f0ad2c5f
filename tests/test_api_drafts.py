"""The management API for drafts from alerts and the alerts themselves: list, preview, publish
(idempotent), dismiss, with the same token and role rules as every /api/v1 write."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Draft, Incident, IncidentUpdate
from statuspage.publishing import drafts
from statuspage.web.api_v1 import openapi
from tests.support import NOW
from tests.support.drafts import RULES, am_payload, prepare_site, send


@pytest.fixture
def app(make_app):
    return make_app(intake=RULES)


@pytest.fixture
def site(ctx, client, people, frozen_clock):
    """Draft 1 (API unavailable) from a firing alert, and a token for each of the `people`."""
    secret = prepare_site(ctx, NOW)
    assert send(client, secret, am_payload()).status_code == 202
    with write_transaction():
        texts = {role: tokens.create(user, "ci", now=NOW)[1] for role, user in people.items()}
    return {"secret": secret, "tokens": texts}


def call(client, site, method: str, path: str, role: str = "editor", **kwargs):
    headers = {"Authorization": f"Bearer {site['tokens'][role]}"}
    return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_drafts_list_the_waiting_ones_by_default(client, site):
    send(client, site["secret"], am_payload(alertname="ProviderDown", fingerprint="p"))
    call(client, site, "POST", "/drafts/2/dismiss", json={"note": "noise"})
    listed = call(client, site, "GET", "/drafts", role="viewer")
    assert listed.status_code == 200
    [item] = listed.get_json()["drafts"]
    assert item["id"] == 1 and item["state"] == "waiting" and item["rule"] == "api-down"
    assert item["message"] == "outage-investigating" and item["incident_id"] is None
    assert item["detected_at"] == "2026-06-15T11:56:00.000Z"
    assert item["url"] == "https://status.example.com/admin/drafts/1"
    dismissed = call(client, site, "GET", "/drafts?state=dismissed").get_json()["drafts"]
    assert [(d["id"], d["note"]) for d in dismissed] == [(2, "noise")]
    every = call(client, site, "GET", "/drafts?state=all&limit=1").get_json()["drafts"]
    assert [d["id"] for d in every] == [2]


def test_a_draft_shows_its_preview_and_alerts(client, site):
    response = call(client, site, "GET", "/drafts/1", role="viewer")
    assert response.status_code == 200
    body = response.get_json()
    preview = body["preview"]
    assert preview["title"] == "API unavailable" and preview["status"] == "investigating"
    assert "API is unavailable" in preview["body"] and "<p>" in preview["body_html"]
    assert [(c["name"], c["new_status"]) for c in preview["components"]] == [
        ("API", "major_outage")
    ]
    assert preview["provenance"] == "from outage-investigating v1"
    assert preview["email_subject"] == "[Acme Status] API unavailable — Investigating"
    assert body["preview_error"] is None
    assert body["alert_count"] == 1 and body["alerts"][0]["title"] == "ApiDown on prod"
    assert count(Incident) == 0  # a preview publishes nothing


def test_a_draft_that_cannot_be_published_says_why(client, site):
    send(client, site["secret"], am_payload(alertname="ProviderDown", fingerprint="p"))
    body = call(client, site, "GET", "/drafts/2").get_json()
    assert body["preview"] is None
    assert body["preview_error"]["field"] == "variables.provider"
    refused = call(client, site, "POST", "/drafts/2/publish", json={})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "variables.provider"
    assert count(Incident) == 0


def test_publishing_twice_returns_the_same_update_with_200(client, site):
    first = call(client, site, "POST", "/drafts/1/publish", json={})
    assert first.status_code == 201, first.get_data(as_text=True)
    published = first.get_json()
    assert published["incident"]["title"] == "API unavailable"
    assert first.headers["Location"].endswith(f"/api/v1/incidents/{published['incident']['id']}")
    again = call(client, site, "POST", "/drafts/1/publish", json={})
    assert again.status_code == 200
    assert again.get_json()["update"]["id"] == published["update"]["id"]
    assert count(IncidentUpdate) == 1
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.target_type == "incident")
    ).first()
    assert entry.actor == "editor@example.com (api token ci)"
    shown = call(client, site, "GET", "/drafts/1").get_json()
    assert shown["state"] == "published" and shown["update_id"] == published["update"]["id"]
    assert shown["decided_by"] == "editor@example.com (api token ci)"
    assert shown["preview"] is None


def test_a_viewer_token_cannot_publish_or_dismiss(client, site):
    for action in ("publish", "dismiss"):
        response = call(client, site, "POST", f"/drafts/1/{action}", role="viewer", json={})
        assert response.status_code == 403
        assert "viewer" in response.get_json()["error"]["message"]
    assert db.session.get(Draft, 1).state == "waiting"


def test_without_a_token_it_is_401(client, site):
    assert client.get("/api/v1/drafts").status_code == 401
    assert client.post("/api/v1/drafts/1/publish", json={}).status_code == 401


def test_dismiss_then_neither_publish_nor_dismiss_again(client, site):
    dismissed = call(client, site, "POST", "/drafts/1/dismiss", json={"note": "a false alarm"})
    assert dismissed.status_code == 200
    assert dismissed.get_json()["state"] == "dismissed"
    assert dismissed.get_json()["note"] == "a false alarm"
    for action in ("publish", "dismiss"):
        response = call(client, site, "POST", f"/drafts/1/{action}", json={})
        assert response.status_code == 409
        assert "was dismissed by editor@example.com" in response.get_json()["error"]["message"]
    assert count(Incident) == 0


def test_an_obsolete_draft_is_a_409(client, site):
    send(client, site["secret"], am_payload("resolved"))
    response = call(client, site, "POST", "/drafts/1/publish", json={})
    assert response.status_code == 409 and "obsolete" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/drafts/1/publish", {"notify": False}, "notify"),
        ("/drafts/1/dismiss", {"note": 5}, "note"),
        ("/drafts/1/dismiss", {"note": "x" * 1001}, "note"),
    ],
)
def test_bodies_are_checked_strictly(client, site, path, body, field):
    response = call(client, site, "POST", path, json=body)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert db.session.get(Draft, 1).state == "waiting"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/drafts?state=maybe", "state"),
        ("/drafts?limit=0", "limit"),
        ("/alerts?status=maybe", "status"),
        ("/alerts?integration=nobody", "integration"),
        ("/alerts?limit=101", "limit"),
    ],
)
def test_bad_list_parameters_are_422(client, site, query, field):
    response = call(client, site, "GET", query)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field


def test_unknown_drafts_are_404(client, site):
    assert call(client, site, "GET", "/drafts/99").status_code == 404
    assert call(client, site, "POST", "/drafts/99/publish", json={}).status_code == 404


def test_alerts_list_newest_first_and_filter(client, site, frozen_clock):
    frozen_clock.advance(minutes=1)
    send(client, site["secret"], am_payload(alertname="ProviderDown", fingerprint="p"))
    frozen_clock.advance(minutes=1)
    send(client, site["secret"], am_payload("resolved", alertname="ProviderDown", fingerprint="p"))
    every = call(client, site, "GET", "/alerts", role="viewer").get_json()["alerts"]
    assert [a["fingerprint"] for a in every] == ["p", "f1"]
    assert every[0]["status"] == "resolved" and every[0]["integration"] == "prom"
    assert every[1]["draft_id"] == 1 and every[1]["rule"] == "api-down"
    assert every[1]["labels"] == {"alertname": "ApiDown", "severity": "critical"}
    firing = call(client, site, "GET", "/alerts?status=firing&integration=prom").get_json()
    assert [a["fingerprint"] for a in firing["alerts"]] == ["f1"]


def test_the_document_lists_the_draft_states_the_service_has():
    assert list(drafts.STATES) == openapi.DRAFT_STATES
