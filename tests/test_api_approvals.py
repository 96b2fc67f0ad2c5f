"""Approval through /api/v1: an update the plan wants approved is stored (202), approved by
someone else with the fingerprint they read (201), returned with a comment, or published without
approval by an admin who says why; plans and the incident's standing against its plan are read."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.core import limits
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident, IncidentUpdate
from statuspage.db.models import Draft as StoredDraft
from statuspage.publishing import approvals, drafts
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as core
from statuspage.web.api_v1 import openapi
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import make_user
from tests.support.openapi import assert_fits

P = openapi.PREFIX


@pytest.fixture
def site(ctx, client, people, frozen_clock, tmp_path):
    """The messages, the critical plan (an admin approves the first update and the resolve),
    the API component, and a token for each of the `people` and for a second admin."""
    plan_support.load(tmp_path, [plan_support.plan_text()])
    users = {**people, "chief": make_user("chief@example.com", "admin")}
    with write_transaction():
        api = component_service.add_component("API", now=NOW - timedelta(days=1))
        texts = {role: tokens.create(user, "ci", now=NOW)[1] for role, user in users.items()}
    return {"api": api.id, "tokens": texts, "users": users}


@pytest.fixture
def doc():
    return openapi.document("https://status.example.com")


def call(client, site, method: str, path: str, role: str = "editor", **kwargs):
    headers = {"Authorization": f"Bearer {site['tokens'][role]}", **kwargs.pop("headers", {})}
    return client.open(f"{P}{path}", method=method, headers=headers, **kwargs)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def critical(site, **extra) -> dict:
    return {
        "message": "outage-investigating",
        "variables": {"component": "API"},
        "components": {str(site["api"]): "major_outage"},
        **extra,
    }


def request_approval(client, site, role: str = "editor") -> dict:
    """Open a critical incident as `role`: it waits for approval; return the draft."""
    response = call(client, site, "POST", "/incidents", role=role, json=critical(site))
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def approve(client, site, draft_id: int, role: str = "admin", fingerprint: str | None = None):
    if fingerprint is None:
        fingerprint = call(client, site, "GET", f"/drafts/{draft_id}").get_json()["fingerprint"]
    body = {"fingerprint": fingerprint}
    return call(client, site, "POST", f"/drafts/{draft_id}/approve", role=role, json=body)


def entries(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_a_critical_incident_waits_for_approval_and_nothing_is_public(client, site, doc):
    response = call(client, site, "POST", "/incidents", json=critical(site))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert_fits(doc, f"{P}/incidents", "post", response)
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/drafts/{body['id']}")
    assert body["state"] == "pending" and body["source"] == "pm"
    assert body["author"] == "editor@example.com" and body["revision"] == 1
    assert body["plan"] == {"slug": "critical", "version": 1}
    assert body["approvals_needed"] == 1 and body["approvals"] == []
    assert body["requested_at"] == "2026-06-15T12:00:00.000Z"
    assert len(body["fingerprint"]) == 32
    assert body["preview"]["title"] == "API unavailable"
    assert body["preview"]["impact"] == "critical"
    assert count(Incident) == 0 and count(IncidentUpdate) == 0
    assert client.get("/api/v2/summary.json").get_json()["incidents"] == []
    assert client.get("/api/v2/components.json").get_json()["components"][0]["status"] == (
        "operational"
    )
    pending = call(client, site, "GET", "/drafts?state=pending", role="viewer")
    assert [d["id"] for d in pending.get_json()["drafts"]] == [body["id"]]
    assert_fits(doc, f"{P}/drafts", "get", pending)
    shown = call(client, site, "GET", f"/drafts/{body['id']}", role="viewer")
    assert_fits(doc, f"{P}/drafts/{{draft_id}}", "get", shown)


def test_the_author_cannot_approve_their_own_draft(client, site):
    draft = request_approval(client, site, role="admin")
    refused = approve(client, site, draft["id"], role="admin", fingerprint=draft["fingerprint"])
    assert refused.status_code == 403
    assert "you wrote this update" in refused.get_json()["error"]["message"]
    assert count(Incident) == 0


def test_an_editor_cannot_approve_what_the_plan_gives_to_admins(client, site):
    draft = request_approval(client, site, role="admin")
    refused = approve(client, site, draft["id"], role="editor", fingerprint=draft["fingerprint"])
    assert refused.status_code == 403 and "an admin" in refused.get_json()["error"]["message"]


def test_an_admin_approves_with_the_fingerprint_and_it_is_public(client, site, doc):
    draft = request_approval(client, site)
    approved = approve(client, site, draft["id"], fingerprint=draft["fingerprint"])
    assert approved.status_code == 201, approved.get_data(as_text=True)
    assert_fits(doc, f"{P}/drafts/{{draft_id}}/approve", "post", approved)
    published = approved.get_json()
    assert approved.headers["Location"].endswith(f"/api/v1/incidents/{published['incident']['id']}")
    assert published["update"]["author"] == "editor@example.com"
    assert published["incident"]["plan"]["slug"] == "critical"
    assert published["incident"]["plan"]["next_update_due"] == "2026-06-15T12:30:00.000Z"
    assert published["incident"]["plan"]["next_message"] == "outage-identified"
    [public] = client.get("/api/v2/summary.json").get_json()["incidents"]
    assert public["name"] == "API unavailable" and public["impact"] == "critical"
    shown = call(client, site, "GET", f"/drafts/{draft['id']}").get_json()
    assert shown["state"] == "published" and shown["fingerprint"] is None
    assert [a["user"] for a in shown["approvals"]] == ["admin@example.com"]
    again = approve(client, site, draft["id"], role="chief", fingerprint=draft["fingerprint"])
    assert again.status_code == 409 and count(IncidentUpdate) == 1


def test_two_approvals_needed_answer_200_then_201(client, site, tmp_path):
    plan_support.load(tmp_path, [plan_support.plan_text(count=2)])
    draft = request_approval(client, site)
    assert draft["approvals_needed"] == 2
    first = approve(client, site, draft["id"], role="admin")
    assert first.status_code == 200 and first.get_json()["state"] == "pending"
    assert [a["user"] for a in first.get_json()["approvals"]] == ["admin@example.com"]
    assert approve(client, site, draft["id"], role="admin").status_code == 409
    assert approve(client, site, draft["id"], role="chief").status_code == 201


def test_a_stale_fingerprint_is_refused_with_409(client, site):
    draft = request_approval(client, site)
    with write_transaction():
        approvals.revise(
            draft["id"],
            core.Draft(
                message="outage-investigating",
                variables={"component": "API"},
                body="We see errors on the API.",
                component_statuses={site["api"]: "major_outage"},
            ),
            now=NOW,
            actor=audit.Actor.for_user(site["users"]["editor"]),
            notices=plan_support.site_notices(),
        )
    stale = approve(client, site, draft["id"], fingerprint=draft["fingerprint"])
    assert stale.status_code == 409
    assert "changed since you read it" in stale.get_json()["error"]["message"]
    shown = call(client, site, "GET", f"/drafts/{draft['id']}").get_json()
    assert shown["revision"] == 2 and shown["fingerprint"] != draft["fingerprint"]
    fresh = approve(client, site, draft["id"], fingerprint=shown["fingerprint"])
    assert fresh.status_code == 201
    assert fresh.get_json()["update"]["body"] == "We see errors on the API."


def test_a_made_up_fingerprint_is_refused_with_409(client, site):
    draft = request_approval(client, site)
    stale = approve(client, site, draft["id"], fingerprint="0" * 32)
    assert stale.status_code == 409 and count(Incident) == 0


def test_return_needs_a_comment_and_sends_it_back(client, site, doc):
    draft = request_approval(client, site)
    path = f"/drafts/{draft['id']}/return"
    for body in ({}, {"comment": ""}, {"comment": "   "}):
        refused = call(client, site, "POST", path, role="admin", json=body)
        assert refused.status_code == 422, body
        assert refused.get_json()["error"]["field"] == "comment"
    returned = call(client, site, "POST", path, role="admin", json={"comment": "Name the region."})
    assert returned.status_code == 200
    assert_fits(doc, f"{P}/drafts/{{draft_id}}/return", "post", returned)
    body = returned.get_json()
    assert body["state"] == "returned" and body["comment"] == "Name the region."
    assert body["fingerprint"] is None
    assert [e.actor for e in entries("draft.returned")] == ["admin@example.com (api token ci)"]
    assert approve(client, site, draft["id"], fingerprint=draft["fingerprint"]).status_code == 409


def test_an_editor_who_is_no_approver_cannot_return(client, site):
    draft = request_approval(client, site, role="admin")
    path = f"/drafts/{draft['id']}/return"
    refused = call(client, site, "POST", path, role="editor", json={"comment": "no"})
    assert refused.status_code == 403


def test_publish_without_approval_is_for_admins_with_a_reason(client, site, doc):
    draft = request_approval(client, site)
    path = f"/drafts/{draft['id']}/publish-without-approval"
    by_editor = call(client, site, "POST", path, role="editor", json={"reason": "urgent"})
    assert by_editor.status_code == 403
    no_reason = call(client, site, "POST", path, role="admin", json={})
    assert no_reason.status_code == 422
    assert no_reason.get_json()["error"]["field"] == "reason"
    blank = call(client, site, "POST", path, role="admin", json={"reason": "  "})
    assert blank.status_code == 422 and blank.get_json()["error"]["field"] == "reason"
    assert count(Incident) == 0
    done = call(client, site, "POST", path, role="admin", json={"reason": "no approver awake"})
    assert done.status_code == 201, done.get_data(as_text=True)
    assert_fits(doc, f"{P}/drafts/{{draft_id}}/publish-without-approval", "post", done)
    [entry] = entries("draft.published_without_approval")
    assert entry.after["reason"] == "no approver awake"
    assert entry.actor == "admin@example.com (api token ci)"
    assert "no approver awake" in entry.summary
    assert len(client.get("/api/v2/summary.json").get_json()["incidents"]) == 1
    again = call(client, site, "POST", path, role="admin", json={"reason": "again"})
    assert again.status_code == 409


def test_without_approval_on_a_publishing_call(client, site):
    by_editor = call(
        client, site, "POST", "/incidents", json=critical(site, without_approval="urgent")
    )
    assert by_editor.status_code == 403 and count(Incident) == 0
    blank = call(
        client, site, "POST", "/incidents", role="admin", json=critical(site, without_approval=" ")
    )
    assert blank.status_code == 422
    assert blank.get_json()["error"]["field"] == "without_approval"
    done = call(
        client,
        site,
        "POST",
        "/incidents",
        role="admin",
        json=critical(site, without_approval="the approvers are in the outage"),
    )
    assert done.status_code == 201, done.get_data(as_text=True)
    [entry] = entries("draft.published_without_approval")
    assert entry.after["reason"] == "the approvers are in the outage"


def test_updates_in_between_publish_at_once_and_the_resolve_waits(client, site, doc):
    draft = request_approval(client, site)
    incident_id = approve(client, site, draft["id"]).get_json()["incident"]["id"]
    update = call(
        client,
        site,
        "POST",
        f"/incidents/{incident_id}/updates",
        json={"message": "outage-identified", "variables": {"component": "API"}},
    )
    assert update.status_code == 201
    resolve = call(
        client,
        site,
        "POST",
        f"/incidents/{incident_id}/resolve",
        json={
            "message": "outage-resolved",
            "variables": {"component": "API", "resolved_at": "12:40 UTC"},
        },
    )
    assert resolve.status_code == 202
    assert_fits(doc, f"{P}/incidents/{{incident_id}}/resolve", "post", resolve)
    assert resolve.get_json()["incident_id"] == incident_id
    shown = call(client, site, "GET", f"/incidents/{incident_id}")
    assert shown.get_json()["status"] == "identified"
    assert_fits(doc, f"{P}/incidents/{{incident_id}}", "get", shown)


def test_a_request_sent_twice_with_one_key_stores_one_draft(client, site):
    key = {"Idempotency-Key": "open-1"}
    first = call(client, site, "POST", "/incidents", json=critical(site), headers=key)
    again = call(client, site, "POST", "/incidents", json=critical(site), headers=key)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    other = call(
        client, site, "POST", "/incidents", json=critical(site, body="Other."), headers=key
    )
    assert other.status_code == 409 and other.get_json()["error"]["field"] == "Idempotency-Key"
    approve(client, site, first.get_json()["id"])
    replay = call(client, site, "POST", "/incidents", json=critical(site), headers=key)
    assert replay.status_code == 200 and count(IncidentUpdate) == 1


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("approve", {}, "fingerprint"),
        ("approve", {"fingerprint": 5}, "fingerprint"),
        ("approve", {"fingerprint": "x" * 65}, "fingerprint"),
        ("approve", {"fingerprint": "not hex!"}, "fingerprint"),
        ("approve", {"fingerprint": "ab", "role": "admin"}, "role"),
        ("return", {"comment": "x" * (limits.MAX_NOTE + 1)}, "comment"),
        ("return", {"comment": ["a list"]}, "comment"),
        ("return", {"comment": "ok", "state": "published"}, "state"),
        ("publish-without-approval", {"reason": "x" * (limits.MAX_NOTE + 1)}, "reason"),
        ("publish-without-approval", {"reason": None}, "reason"),
        ("publish-without-approval", {"reason": "ok", "approved": True}, "approved"),
    ],
)
def test_hostile_bodies_are_refused_naming_the_field(client, site, action, body, field):
    draft = request_approval(client, site)
    response = call(
        client, site, "POST", f"/drafts/{draft['id']}/{action}", role="admin", json=body
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field
    assert drafts.get(draft["id"]).state == "pending" and count(Incident) == 0


@pytest.mark.parametrize("value", ["x" * (limits.MAX_NOTE + 1), "", 3, True, {"why": "x"}], ids=str)
def test_a_hostile_without_approval_is_refused(client, site, value):
    body = critical(site, without_approval=value)
    response = call(client, site, "POST", "/incidents", role="admin", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "without_approval"
    assert count(Incident) == 0


def test_unknown_drafts_are_404(client, site):
    for action, body in [
        ("approve", {"fingerprint": "ab"}),
        ("return", {"comment": "x"}),
        ("publish-without-approval", {"reason": "x"}),
    ]:
        response = call(client, site, "POST", f"/drafts/99/{action}", role="admin", json=body)
        assert response.status_code == 404, action


def test_a_viewer_token_cannot_approve(client, site):
    draft = request_approval(client, site)
    refused = approve(client, site, draft["id"], role="viewer", fingerprint=draft["fingerprint"])
    assert refused.status_code == 403


def test_plans_are_listed_and_read(client, site, doc):
    listed = call(client, site, "GET", "/plans", role="viewer")
    assert listed.status_code == 200
    assert_fits(doc, f"{P}/plans", "get", listed)
    assert [p["id"] for p in listed.get_json()["plans"]] == ["critical"]
    shown = call(client, site, "GET", "/plans/critical", role="viewer")
    assert shown.status_code == 200
    assert_fits(doc, f"{P}/plans/{{slug}}", "get", shown)
    plan = shown.get_json()
    assert plan["version"] == 1 and plan["match"]["impacts"] == ["critical"]
    assert plan["cadence"] == {"investigating": 30, "identified": 30, "monitoring": 60}
    assert plan["approval"]["updates"] == ["first", "resolve"]
    assert plan["approval"]["approvers"] == "an admin"
    assert plan["source"].startswith('+++\nid = "critical"')
    assert plan["playbook"].strip() == "Call the incident lead first."
    missing = call(client, site, "GET", "/plans/nope", role="viewer")
    assert missing.status_code == 404


def test_an_alert_draft_goes_for_approval_when_published(client, site, doc):
    with write_transaction():
        row = drafts_row(site)
    response = call(client, site, "POST", f"/drafts/{row}/publish", json={})
    assert response.status_code == 202, response.get_data(as_text=True)
    assert_fits(doc, f"{P}/drafts/{{draft_id}}/publish", "post", response)
    body = response.get_json()
    assert body["state"] == "pending" and body["source"] == "alert"
    assert body["author"] == "editor@example.com"
    again = call(client, site, "POST", f"/drafts/{row}/publish", json={})
    assert again.status_code == 409 and "waits for approval" in again.get_json()["error"]["message"]
    assert approve(client, site, row).status_code == 201


def drafts_row(site) -> int:
    """A draft as intake stores it (source alert, waiting) for a critical new incident."""
    row = StoredDraft(
        source="alert",
        state=drafts.WAITING,
        rule="api-down",
        message_slug="outage-investigating",
        variables={"component": "API"},
        component_statuses={str(site["api"]): "major_outage"},
        detected_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def test_only_the_author_or_an_admin_withdraws_a_request(client, site):
    draft_id = request_approval(client, site)["id"]
    with write_transaction():
        site["tokens"]["colleague"] = tokens.create(
            make_user("colleague@example.com", "editor"), "ci", now=NOW
        )[1]
    other = call(client, site, "POST", f"/drafts/{draft_id}/dismiss", role="colleague", json={})
    assert other.status_code == 403, other.get_json()
    assert "only its author or an admin" in other.get_json()["error"]["message"]
    admin = call(client, site, "POST", f"/drafts/{draft_id}/dismiss", role="admin", json={})
    assert admin.status_code == 200 and admin.get_json()["state"] == "dismissed"
