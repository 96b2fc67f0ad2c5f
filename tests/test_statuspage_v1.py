"""The Statuspage-compatible management API under /v1/pages/<page id>/: Atlassian's generated
client against `statuspage serve`, every resource, and hostile input answered as /api/v1/
answers it, in Statuspage's error shape."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.core import limits
from statuspage.core.serializers import Site
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import (
    AuditEntry,
    Component,
    Incident,
    IncidentUpdate,
    OutboxMessage,
    Subscriber,
)
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from statuspage.web.statuspage_v1 import schema
from tests.support import NOW
from tests.support.clients import statuspage_client_python
from tests.support.plans import load as load_plans
from tests.support.receivers import serving

PAGE = Site("", "https://status.example.com", "UTC").page_id
BASE = f"/v1/pages/{PAGE}"
SCRIPT = Path(__file__).parent / "support" / "statuspage_client_script.py"


class Compat:
    """A test client that sends a token as Statuspage's clients do (`OAuth <token>`)."""

    def __init__(self, client, token: str | None, scheme: str = "OAuth") -> None:
        self.client = client
        self.token = token
        self.scheme = scheme

    def headers(self) -> dict:
        return {"Authorization": f"{self.scheme} {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs):
        return self.client.get(BASE + path, headers=self.headers(), **kwargs)

    def send(self, method: str, path: str, body=None, **kwargs):
        return self.client.open(
            BASE + path, method=method, json=body, headers=self.headers(), **kwargs
        )

    def post(self, path: str, body=None):
        return self.send("POST", path, body)

    def patch(self, path: str, body=None):
        return self.send("PATCH", path, body)


@pytest.fixture
def setup(ctx, people):
    """The starter library, two components, and a token for each of the `people`."""
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
        api = cs.add_component("API", now=NOW - timedelta(days=10))
        web = cs.add_component("Website", now=NOW - timedelta(days=10))
        texts = {role: tokens.create(user, "ci", now=NOW)[1] for role, user in people.items()}
    return {"api": str(api.id), "web": str(web.id), "tokens": texts}


@pytest.fixture
def sp(setup, client):
    """The compatible API as the admin of `people`."""
    return Compat(client, setup["tokens"]["admin"])


def statuspage_error(response, status: int) -> str:
    """The answer is Statuspage's error shape; return its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == body["message"] and body["message"], body
    return body["message"]


def open_incident(sp: Compat, setup, **extra) -> dict:
    body = {
        "incident": {
            "name": "API errors",
            "status": "investigating",
            "body": "Looking into it.",
            "components": {setup["api"]: "major_outage"},
            **extra,
        }
    }
    response = sp.post("/incidents", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# -- the generated client, unchanged, against `statuspage serve` -----------------------------


def test_the_generated_statuspage_client_runs_its_script_against_serve(
    ctx, people, config_file, tmp_path
):
    python = statuspage_client_python()
    with write_transaction():
        token = tokens.create(people["admin"], "automation", now=NOW)[1]
    with serving(config_file, tmp_path) as base:
        page_id = Site("", "http://127.0.0.1:8080", "UTC").page_id
        done = subprocess.run(
            [str(python), str(SCRIPT), f"{base}/v1", page_id, token],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout)
        with urllib.request.urlopen(f"{base}/api/v2/summary.json", timeout=10) as r:
            summary = json.load(r)
    assert seen["group"]["name"] == "Core"
    assert [c[0] for c in seen["components"]] == ["Core", "API", "Website"]
    assert seen["opened"]["status"] == "investigating"
    assert seen["opened"]["impact"] == "major"
    assert seen["opened"]["components"] == [["API", "major_outage"]]
    assert seen["updated"] == {"status": "identified", "updates": 2}
    assert seen["unresolved_before"] == [seen["opened"]["id"]]
    assert seen["resolved"]["status"] == "resolved" and seen["resolved"]["resolved_at"]
    assert seen["resolved"]["bodies"][0] == "Rolled back; errors are back to normal."
    assert seen["unresolved_after"] == []
    assert seen["template"] == {"id": "database-failover", "title": "Database failover in progress"}
    assert "database-failover" in seen["templates"]
    assert seen["subscribers_active"] == ["ops@example.com"]
    assert seen["subscribers_all"] == ["cto@example.com", "ops@example.com"]
    assert seen["missing"]["status"] == 404
    assert seen["missing"]["body"]["error"] == "Incident not found"
    # What the client did is what the public page shows.
    assert summary["incidents"] == []
    statuses = {c["name"]: c["status"] for c in summary["components"]}
    assert statuses == {"Core": "operational", "API": "operational", "Website": "operational"}


# -- authentication and the page -----------------------------------------------------------


@pytest.mark.parametrize("how", ["OAuth", "Bearer", "query"])
def test_a_token_is_taken_in_every_form_statuspage_documents(setup, client, how):
    token = setup["tokens"]["viewer"]
    if how == "query":
        response = client.get(f"{BASE}/components?api_key={token}")
    else:
        response = client.get(f"{BASE}/components", headers={"Authorization": f"{how} {token}"})
    assert response.status_code == 200
    assert [c["name"] for c in response.get_json()] == ["API", "Website"]


def test_without_a_token_the_answer_is_401_in_statuspage_shape(setup, client):
    response = client.get(f"{BASE}/incidents")
    assert "Authorization: OAuth" in statuspage_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("OAuth")
    assert statuspage_error(Compat(client, "sp_wrong").get("/incidents"), 401)


def test_another_page_id_is_not_found(sp):
    response = sp.client.get("/v1/pages/000000000000/components", headers=sp.headers())
    assert "Page not found" in statuspage_error(response, 404)


def test_the_page_is_this_site_and_its_settings_are_named_as_ignored(sp):
    listed = sp.client.get("/v1/pages", headers=sp.headers()).get_json()
    assert [p["id"] for p in listed] == [PAGE]
    page = sp.get("").get_json()
    assert page["name"] == "Acme Status" and page["url"] == "https://status.example.com"
    response = sp.patch("", {"page": {"name": "Other", "css_blues": "#00f"}})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Acme Status"
    assert response.headers[schema.IGNORED_HEADER] == "css_blues, name"


def test_a_viewer_reads_but_may_not_write(setup, client):
    viewer = Compat(client, setup["tokens"]["viewer"])
    assert viewer.get("/incidents").status_code == 200
    response = viewer.post("/components", {"component": {"name": "DNS"}})
    assert "viewer" in statuspage_error(response, 403)


def test_the_rate_limit_answers_429_with_retry_after(make_app, setup):
    app = make_app(api={"statuspage_requests_per_minute": 3})
    client = Compat(app.test_client(), setup["tokens"]["viewer"])
    codes = [client.get("/components").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/components")
    assert "Rate limit" in statuspage_error(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another token is counted apart.
    assert Compat(app.test_client(), setup["tokens"]["admin"]).get("/components").status_code == 200


# -- components and groups ------------------------------------------------------------------


def test_components_are_created_edited_moved_and_deleted(sp, setup):
    created = sp.post(
        "/components",
        {
            "component": {
                "name": "DNS",
                "description": "Name servers",
                "status": "degraded_performance",
            }
        },
    )
    assert created.status_code == 201
    dns = created.get_json()
    assert dns["status"] == "degraded_performance" and dns["description"] == "Name servers"
    group = sp.post(
        "/component-groups", {"component_group": {"name": "Edge", "components": [dns["id"]]}}
    ).get_json()
    assert group["components"] == [dns["id"]]
    edited = sp.patch(
        f"/components/{dns['id']}",
        {
            "component": {
                "name": "DNS servers",
                "status": "operational",
                "only_show_if_degraded": True,
            }
        },
    )
    assert edited.get_json()["name"] == "DNS servers"
    assert edited.get_json()["status"] == "operational"
    assert edited.get_json()["group_id"] == group["id"]
    assert edited.headers[schema.IGNORED_HEADER] == "only_show_if_degraded"
    renamed = sp.send(
        "PUT",
        f"/component-groups/{group['id']}",
        {"component_group": {"name": "Net", "components": [setup["api"]]}},
    )
    assert renamed.get_json()["components"] == [setup["api"]]
    assert sp.get(f"/components/{dns['id']}").get_json()["group_id"] is None
    assert sp.send("DELETE", f"/component-groups/{group['id']}").status_code == 200
    assert sp.get(f"/component-groups/{group['id']}").status_code == 404
    assert sp.send("DELETE", f"/components/{dns['id']}").status_code == 204
    assert statuspage_error(sp.get(f"/components/{dns['id']}"), 404) == "Component not found"
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {
        "component.created",
        "group.created",
        "component.edited",
        "component.status",
        "group.edited",
        "group.deleted",
        "component.deleted",
    } <= actions


# -- incidents ------------------------------------------------------------------------------


def test_an_incident_lives_through_the_publishing_core(sp, setup):
    opened = open_incident(sp, setup, impact_override="critical")
    assert opened["impact"] == "critical" and opened["impact_override"] == "critical"
    assert opened["components"][0]["status"] == "major_outage"
    assert opened["incident_updates"][0]["affected_components"][0]["new_status"] == "major_outage"
    updated = sp.patch(
        f"/incidents/{opened['id']}",
        {"incident": {"status": "monitoring", "body": "Fix deployed.", "name": "API 500s"}},
    ).get_json()
    assert updated["name"] == "API 500s" and updated["status"] == "monitoring"
    assert [i["id"] for i in sp.get("/incidents/unresolved").get_json()] == [opened["id"]]
    resolved = sp.patch(
        f"/incidents/{opened['id']}",
        {"incident": {"status": "resolved", "components": {setup["api"]: "operational"}}},
    ).get_json()
    assert resolved["status"] == "resolved"
    assert resolved["incident_updates"][0]["body"] == "This incident has been resolved."
    assert sp.get("/incidents/unresolved").get_json() == []
    row = db.session.get(Incident, int(opened["id"]))
    assert len(row.updates) == 3
    actions = list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "incident.opened" in actions and "incident.renamed" in actions
    # A second resolve is the same 409 as on /api/v1/.
    again = sp.patch(f"/incidents/{opened['id']}", {"incident": {"status": "resolved"}})
    assert statuspage_error(again, 409)


def test_an_update_body_is_corrected_and_an_incident_deleted(sp, setup):
    opened = open_incident(sp, setup)
    update_id = opened["incident_updates"][0]["id"]
    response = sp.patch(
        f"/incidents/{opened['id']}/incident_updates/{update_id}",
        {"incident_update": {"body": "Looking into API errors.", "wants_twitter_update": False}},
    )
    assert response.get_json()["body"] == "Looking into API errors."
    assert response.headers[schema.IGNORED_HEADER] == "wants_twitter_update"
    assert db.session.get(IncidentUpdate, int(update_id)).edited_at is not None
    deleted = sp.send("DELETE", f"/incidents/{opened['id']}")
    assert deleted.get_json()["id"] == opened["id"]
    assert sp.get(f"/incidents/{opened['id']}").status_code == 404
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="incident.deleted"))
    assert entry.before["updates"][0]["body"] == "Looking into API errors."


def test_maintenances_are_scheduled_and_listed(sp, setup, frozen_clock):
    frozen_clock.set(NOW)
    start = (NOW + timedelta(days=2)).isoformat()
    end = (NOW + timedelta(days=2, hours=2)).isoformat()
    created = sp.post(
        "/incidents",
        {
            "incident": {
                "name": "Database upgrade",
                "status": "scheduled",
                "scheduled_for": start,
                "scheduled_until": end,
                "scheduled_auto_in_progress": True,
                "component_ids": [setup["api"]],
            }
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["impact"] == "maintenance" and body["scheduled_for"].startswith(start[:16])
    assert created.headers[schema.IGNORED_HEADER] == "scheduled_auto_in_progress"
    assert [m["id"] for m in sp.get("/incidents/upcoming").get_json()] == [body["id"]]
    assert [m["id"] for m in sp.get("/incidents/scheduled").get_json()] == [body["id"]]
    assert sp.get("/incidents/active_maintenance").get_json() == []


def test_a_backfilled_incident_is_history_told_to_nobody(sp, setup):
    response = sp.post(
        "/incidents",
        {
            "incident": {
                "name": "Outage last spring",
                "body": "It was DNS.",
                "backfilled": True,
                "backfill_date": "2026-04-02",
                "impact_override": "minor",
            }
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "resolved"
    assert body["incident_updates"][0]["created_at"].startswith("2026-04-02")
    assert body["incident_updates"][0]["deliver_notifications"] is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_a_postmortem_is_drafted_published_and_reverted(sp, setup):
    opened = open_incident(sp, setup)
    sp.patch(f"/incidents/{opened['id']}", {"incident": {"status": "resolved"}})
    path = f"/incidents/{opened['id']}/postmortem"
    drafted = sp.send("PUT", path, {"postmortem": {"body_draft": "## What happened\nA deploy."}})
    assert drafted.get_json()["body_draft"].startswith("## What happened")
    assert drafted.get_json()["body"] is None
    assert (
        sp.client.get(f"/incidents/{opened['id']}").get_data(as_text=True).count("A deploy.") == 0
    )
    published = sp.send("PUT", path + "/publish", {"postmortem": {"notify_subscribers": True}})
    assert published.get_json()["body"].startswith("## What happened")
    assert published.get_json()["published_at"] is not None
    assert published.headers[schema.IGNORED_HEADER] == "notify_subscribers"
    assert sp.get(f"/incidents/{opened['id']}").get_json()["status"] == "postmortem"
    assert "A deploy." in sp.client.get(f"/incidents/{opened['id']}").get_data(as_text=True)
    reverted = sp.send("PUT", path + "/revert").get_json()
    assert reverted["body"] is None and reverted["body_draft"].startswith("## What happened")
    assert sp.send("DELETE", path).status_code == 204
    assert sp.get(path).get_json()["body_draft"] is None


def test_an_update_a_plan_wants_approved_waits_with_202(sp, setup):
    load_plans()
    response = sp.post(
        "/incidents",
        {
            "incident": {
                "name": "Everything down",
                "impact_override": "critical",
                "body": "All down.",
                "components": {setup["api"]: "major_outage"},
            }
        },
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    assert "approval" in response.get_json()["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


# -- templates and subscribers --------------------------------------------------------------


def test_a_template_becomes_a_library_message_with_its_history(sp):
    response = sp.post(
        "/incident_templates",
        {
            "template": {
                "name": "CDN: slow!",
                "title": "Slow pages",
                "body": "Our CDN is slow.",
                "update_status": "identified",
                "should_tweet": False,
            }
        },
    )
    assert response.status_code == 201
    assert response.get_json()["id"] == "cdn-slow"
    message = lib.get_message("cdn-slow")
    assert [v.number for v in message.versions] == [1]
    assert lib.current_version(message).status == "identified"
    assert "cdn-slow" in [t["id"] for t in sp.get("/incident_templates?per_page=100").get_json()]
    again = sp.post(
        "/incident_templates", {"template": {"name": "cdn slow", "title": "x", "body": "y"}}
    )
    assert again.status_code == 201 and again.get_json()["id"] == "cdn-slow-2"


def test_subscribers_are_added_counted_and_unsubscribed(sp, setup):
    confirmed = sp.post(
        "/subscribers",
        {
            "subscriber": {
                "email": "a@example.com",
                "skip_confirmation_notification": True,
                "component_ids": [setup["api"]],
            }
        },
    ).get_json()
    assert confirmed["state"] == "active" and confirmed["components"] == [setup["api"]]
    pending = sp.post("/subscribers", {"subscriber": {"email": "b@example.com"}}).get_json()
    assert pending["state"] == "unconfirmed"
    counts = sp.get("/subscribers/count").get_json()
    assert counts["email"] == 1 and counts["count"] == 1
    assert sp.get("/subscribers/count?state=all").get_json()["email"] == 2
    assert (
        sp.post("/subscribers/resend_confirmation", {"subscribers": pending["id"]}).status_code
        == 202
    )
    assert sp.post(f"/subscribers/{pending['id']}/resend_confirmation").status_code == 201
    gone = sp.post("/subscribers/unsubscribe", {"subscribers": confirmed["id"]})
    assert gone.status_code == 202
    assert sp.get(f"/subscribers/{confirmed['id']}").get_json()["state"] == "unsubscribed"
    assert sp.get("/subscribers").get_json() == []
    sms = sp.post("/subscribers", {"subscriber": {"phone_number": "+15555550100"}})
    assert "SMS" in statuspage_error(sms, 422)
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="subscribers.imported"))
    assert entry is not None and entry.after["confirmed"] is True


def test_a_webhook_to_this_machine_is_refused_by_the_ssrf_guard(sp):
    response = sp.post(
        "/subscribers",
        {"subscriber": {"endpoint": "http://127.0.0.1:9/hook", "email": "ops@example.com"}},
    )
    message = statuspage_error(response, 422)
    assert "subscriber.endpoint" in message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0


# -- hostile input: the answers of /api/v1/, in Statuspage's shape ---------------------------


def api_v1_message(client, token: str, body: dict) -> str:
    response = client.post(
        "/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    return response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("ours", "theirs", "field"),
    [
        ({"title": "x" * (limits.MAX_TITLE + 1)}, {"name": "x" * (limits.MAX_TITLE + 1)}, "title"),
        ({"body": "y" * (limits.MAX_BODY + 1)}, {"body": "y" * (limits.MAX_BODY + 1)}, "body"),
        ({"body": "\x00\x01 "}, {"body": "\x00\x01 "}, ""),
        (
            {"components": {"999999": "major_outage"}},
            {"components": {"999999": "major_outage"}},
            "components.999999",
        ),
    ],
    ids=["long title", "long body", "control characters only", "unknown component"],
)
def test_hostile_input_gets_the_same_refusal_as_on_api_v1(sp, setup, ours, theirs, field):
    base = {"title": "T", "body": "B", "impact": "minor", "status": "investigating"}
    expected = api_v1_message(sp.client, setup["tokens"]["admin"], {**base, **ours})
    response = sp.post("/incidents", {"incident": {"name": "T", "body": "B", **theirs}})
    message = statuspage_error(response, 422)
    # The same words, under Statuspage's name for the field (incident.name for title).
    assert message.endswith(expected.removeprefix(field).lstrip(": ")), (message, expected)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"incident": {"name": "a", "name": "b"}}', "application/json", 400),
        (b"[]", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"<incident/>", "application/xml", 415),
        (b'{"incident": {"name": "a", "nmae": "typo"}}', "application/json", 422),
        (b'{"incident": {"name": "a", "status": "exploded"}}', "application/json", 422),
        (b'{"incident": {"name": "a", "components": {"1": "on_fire"}}}', "application/json", 422),
    ],
    ids=[
        "bad json",
        "duplicate key",
        "not an object",
        "not utf-8",
        "xml",
        "unknown field",
        "bad status",
        "bad component status",
    ],
)
def test_broken_bodies_are_refused_in_statuspage_shape(sp, setup, data, content_type, status):
    response = sp.client.post(
        f"{BASE}/incidents", data=data, content_type=content_type, headers=sp.headers()
    )
    statuspage_error(response, status)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_statuspage_form_fields_are_read_like_json(sp, setup):
    response = sp.client.post(
        f"{BASE}/incidents",
        data={
            "incident[name]": "Form-made",
            "incident[body]": "From curl -d.",
            f"incident[components][{setup['web']}]": "partial_outage",
            "incident[deliver_notifications]": "false",
        },
        headers=sp.headers(),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "Form-made"
    assert body["incident_updates"][0]["deliver_notifications"] is False
    assert db.session.get(Component, int(setup["web"])).status == "partial_outage"


def test_form_fields_nested_too_deep_are_a_400(sp):
    response = sp.client.post(
        f"{BASE}/incidents", data={"incident" + "[a]" * 5000: "x"}, headers=sp.headers()
    )
    assert "too deep" in statuspage_error(response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/abc",
        "/incidents/99999999999999",
        "/components/-1",
        "/component-groups/group-x",
        "/subscribers/1e3",
    ],
)
def test_odd_ids_are_not_found(sp, path):
    statuspage_error(sp.get(path), 404)


@pytest.mark.parametrize("query", ["page=0", "per_page=101", "limit=abc", "page=-1"])
def test_bad_paging_is_refused(sp, query):
    assert statuspage_error(sp.get(f"/incidents?{query}"), 422)


def test_every_ignored_field_is_documented(ctx):
    text = (resource_dir("messages").parent / "docs" / "migrating.md").read_text()
    for kind, fields in schema.IGNORED.items():
        for name in fields:
            assert f"`{name}`" in text, f"docs/migrating.md does not name {kind}.{name}"


# -- found by an outside test ---------------------------------------------------------------


def test_the_page_id_a_page_was_imported_from_keeps_working(sp):
    from statuspage.imports import idmap

    with write_transaction():
        idmap.remember("kctbh9vrtdwd", "component", "abc123def456", "1", now=NOW)
    headers = sp.headers()
    assert sp.client.get("/v1/pages/kctbh9vrtdwd/components", headers=headers).status_code == 200
    assert sp.client.get("/v1/pages/kctbh9vrtdwe/components", headers=headers).status_code == 404


@pytest.mark.parametrize("path", ["/incidents", "/incidents/unresolved", "/subscribers"])
def test_a_search_with_control_characters_is_not_an_error(sp, path):
    assert sp.get(f"{path}?q=%00%01x").status_code == 200


def test_a_date_past_the_last_day_python_knows_is_a_422_on_both_apis(sp, setup):
    window = {
        "scheduled_for": "9999-12-31T23:00:00-10:00",
        "scheduled_until": "9999-12-31T23:30:00-10:00",
    }
    response = sp.post("/incidents", {"incident": {"name": "far", "status": "scheduled", **window}})
    assert "out of range" in statuspage_error(response, 422)
    ours = sp.client.post(
        "/api/v1/maintenances",
        json={"title": "far", "body": "x", **window},
        headers={"Authorization": f"Bearer {setup['tokens']['admin']}"},
    )
    assert ours.status_code == 422 and "out of range" in ours.get_json()["error"]["message"]


def test_a_confirmed_subscriber_may_follow_one_of_two_components_of_the_same_name(sp, setup):
    with write_transaction():
        twin = cs.add_component("API", now=NOW)
    for component in (setup["api"], str(twin.id)):
        response = sp.post(
            "/subscribers",
            {
                "subscriber": {
                    "email": f"c{component}@example.com",
                    "component_ids": [component],
                    "skip_confirmation_notification": True,
                }
            },
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.get_json()["components"] == [component]


def test_a_backfilled_incident_keeps_its_components_and_says_their_statuses_were_not(sp, setup):
    response = sp.post(
        "/incidents",
        {
            "incident": {
                "name": "Old",
                "backfilled": True,
                "backfill_date": "2025-02-02",
                "body": "x",
                "components": {setup["api"]: "major_outage"},
            }
        },
    )
    assert response.status_code == 201
    assert [c["id"] for c in response.get_json()["components"]] == [setup["api"]]
    assert "components" in response.headers[schema.IGNORED_HEADER]
    assert db.session.get(Component, int(setup["api"])).status == "operational"
    too_old = sp.post(
        "/incidents",
        {"incident": {"name": "Older", "backfilled": True, "backfill_date": "1999-01-01"}},
    )
    assert statuspage_error(too_old, 422).startswith("incident.backfill_date")


def test_templates_of_the_same_name_are_both_kept_and_blanks_are_explained(sp):
    body = {"template": {"name": "Maint start", "title": "Maintenance", "body": "Starting."}}
    first, second = sp.post("/incident_templates", body), sp.post("/incident_templates", body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert [first.get_json()["id"], second.get_json()["id"]] == ["maint-start", "maint-start-2"]
    blank = sp.post(
        "/incident_templates",
        {"template": {"name": "With blank", "title": "T", "body": "Hi {{ name }}"}},
    )
    message = statuspage_error(blank, 422)
    assert message.startswith("template.body: ") and ".md" not in message


def test_the_other_subscriber_calls_of_the_client(sp, setup):
    gone = sp.post(
        "/subscribers",
        {"subscriber": {"email": "g@example.com", "skip_confirmation_notification": True}},
    ).get_json()
    sp.send("DELETE", f"/subscribers/{gone['id']}")
    assert [s["email"] for s in sp.get("/subscribers/unsubscribed").get_json()] == ["g@example.com"]
    kept = sp.post(
        "/subscribers",
        {"subscriber": {"email": "k@example.com", "skip_confirmation_notification": True}},
    ).get_json()
    histogram = sp.get("/subscribers/histogram_by_state").get_json()
    assert histogram["email"] == {"active": 1, "unconfirmed": 0, "quarantined": 0, "total": 1}
    changed = sp.patch(f"/subscribers/{kept['id']}", {"component_ids": [setup["web"]]})
    assert changed.get_json()["components"] == [setup["web"]]
    with write_transaction():
        db.session.get(Subscriber, int(kept["id"])).disabled_at = NOW
    assert sp.get(f"/subscribers/{kept['id']}").get_json()["state"] == "quarantined"
    assert sp.post("/subscribers/reactivate", {"subscribers": kept["id"]}).status_code == 202
    assert sp.get(f"/subscribers/{kept['id']}").get_json()["state"] == "active"


def test_json_sent_as_a_form_is_read_as_json_and_a_form_field_twice_is_a_400(sp):
    response = sp.client.post(
        f"{BASE}/incidents",
        data=b'{"incident": {"name": "curl -d", "body": "JSON without its type"}}',
        content_type="application/x-www-form-urlencoded",
        headers=sp.headers(),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    twice = sp.client.post(
        f"{BASE}/incidents",
        data="incident[name]=a&incident[name]=b",
        content_type="application/x-www-form-urlencoded",
        headers=sp.headers(),
    )
    assert "twice" in statuspage_error(twice, 400)


def test_a_wrong_token_is_told_it_is_not_valid(setup, client):
    message = statuspage_error(Compat(client, "sp_not_a_token").get("/incidents"), 401)
    assert "not valid" in message
