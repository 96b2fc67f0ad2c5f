"""The `/api/v2/` routes answer what Statuspage clients expect, on every database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import Impact, IncidentStatus, MaintenanceStatus
from statuspage.core.times import isoformat
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.publishing import incidents as incident_service

ROUTES = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
]

# Key sets of Statuspage's public v2 documents, as its documentation shows them.
DOCUMENT_KEYS = {
    "/api/v2/summary.json": {
        "page",
        "components",
        "incidents",
        "scheduled_maintenances",
        "status",
    },
    "/api/v2/status.json": {"page", "status"},
    "/api/v2/components.json": {"page", "components"},
    "/api/v2/incidents.json": {"page", "incidents"},
    "/api/v2/incidents/unresolved.json": {"page", "incidents"},
    "/api/v2/scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "/api/v2/scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "/api/v2/scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}
PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
STATUS_KEYS = {"indicator", "description"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
GROUP_KEYS = COMPONENT_KEYS | {"components"}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
MAINTENANCE_KEYS = INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
AFFECTED_KEYS = {"code", "name", "old_status", "new_status"}


def get_json(client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize("path", ROUTES)
def test_route_answers_json(sample, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("path", ROUTES)
def test_route_allows_any_origin(sample, client, path):
    response = client.get(path, headers={"Origin": "https://elsewhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ROUTES)
def test_route_has_statuspage_document_keys(sample, client, path):
    document = get_json(client, path)
    assert set(document) == DOCUMENT_KEYS[path]
    assert set(document["page"]) == PAGE_KEYS


def test_components_have_statuspage_keys(sample, client):
    components = get_json(client, "/api/v2/components.json")["components"]
    assert components
    for item in components:
        assert set(item) == (GROUP_KEYS if item["group"] else COMPONENT_KEYS)


def test_incidents_have_statuspage_keys(sample, client):
    incidents = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert incidents
    for incident in incidents:
        assert set(incident) == INCIDENT_KEYS
        for update in incident["incident_updates"]:
            assert set(update) == UPDATE_KEYS
            for change in update["affected_components"] or []:
                assert set(change) == AFFECTED_KEYS
        for component in incident["components"]:
            assert set(component) == COMPONENT_KEYS


def test_maintenances_have_statuspage_keys(sample, client):
    maintenances = get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert maintenances
    for maintenance in maintenances:
        assert set(maintenance) == MAINTENANCE_KEYS
        assert maintenance["incident_updates"]
        for update in maintenance["incident_updates"]:
            assert set(update) == UPDATE_KEYS


def test_page_names_the_site_and_its_latest_change(sample, client):
    page = get_json(client, "/api/v2/status.json")["page"]
    assert page["name"] == "Acme Status"
    assert page["url"] == "https://status.example.com"
    assert page["time_zone"] == "UTC"
    assert page["updated_at"] == isoformat(queries.last_change_at())


def test_page_id_is_the_same_in_every_document(sample, client):
    summary = get_json(client, "/api/v2/summary.json")
    page_id = summary["page"]["id"]
    assert {c["page_id"] for c in summary["components"]} == {page_id}
    assert {i["page_id"] for i in summary["incidents"]} == {page_id}
    assert get_json(client, "/api/v2/incidents.json")["page"]["id"] == page_id


def test_status_reports_the_open_major_incident(sample, client):
    assert get_json(client, "/api/v2/status.json")["status"] == {
        "indicator": "major",
        "description": "Partial System Outage",
    }


def test_status_of_an_empty_page_is_all_operational(ctx, client):
    document = get_json(client, "/api/v2/status.json")
    assert document["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert document["page"]["updated_at"] is None


def test_summary_nests_components_under_their_groups(sample, client):
    components = get_json(client, "/api/v2/summary.json")["components"]
    by_name = {c["name"]: c for c in components}
    core = by_name["Core"]
    assert core["group"] is True
    assert core["components"] == [str(sample["api"].id), str(sample["web"].id)]
    assert by_name["API"]["group_id"] == core["id"]
    assert by_name["Email delivery"]["group_id"] is None


def test_summary_lists_unresolved_incidents_and_upcoming_maintenances(sample, client):
    summary = get_json(client, "/api/v2/summary.json")
    assert [i["name"] for i in summary["incidents"]] == ["Website slow to load"]
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Database upgrade"]


def test_incidents_lists_every_incident_newest_first_without_maintenances(sample, client):
    incidents = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert [i["name"] for i in incidents] == ["Website slow to load", "Elevated API errors"]


def test_incident_shows_its_updates_and_component_changes(sample, client):
    incidents = get_json(client, "/api/v2/incidents.json")["incidents"]
    resolved = next(i for i in incidents if i["id"] == str(sample["resolved"].id))
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "investigating"]
    assert resolved["incident_updates"][0]["body"] == "The error rate is back to normal."
    assert resolved["incident_updates"][0]["affected_components"] == [
        {
            "code": str(sample["api"].id),
            "name": "API",
            "old_status": "partial_outage",
            "new_status": "operational",
        }
    ]
    assert resolved["shortlink"] == f"https://status.example.com/incidents/{resolved['id']}"


def test_incidents_returns_at_most_fifty(ctx, client):
    now = utcnow()
    with write_transaction():
        for n in range(51):
            incident_service.open_incident(
                name=f"Incident {n}",
                impact=Impact.MINOR,
                body="Looking.",
                now=now - timedelta(minutes=n),
            )
    incidents = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert len(incidents) == 50
    assert incidents[0]["name"] == "Incident 0"


def test_unresolved_leaves_out_resolved_incidents(sample, client):
    incidents = get_json(client, "/api/v2/incidents/unresolved.json")["incidents"]
    assert [i["id"] for i in incidents] == [str(sample["open"].id)]


def test_scheduled_maintenances_shows_the_window(sample, client):
    maintenances = get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    maintenance = sample["maintenance"]
    assert [m["id"] for m in maintenances] == [str(maintenance.id)]
    assert maintenances[0]["scheduled_for"] == isoformat(maintenance.scheduled_for)
    assert maintenances[0]["scheduled_until"] == isoformat(maintenance.scheduled_until)
    assert maintenances[0]["impact"] == "maintenance"


def test_upcoming_lists_the_scheduled_maintenance_and_active_none(sample, client):
    upcoming = get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")
    active = get_json(client, "/api/v2/scheduled-maintenances/active.json")
    assert [m["name"] for m in upcoming["scheduled_maintenances"]] == ["Database upgrade"]
    assert active["scheduled_maintenances"] == []


def test_started_maintenance_moves_from_upcoming_to_active(sample, client):
    with write_transaction():
        incident_service.post_update(
            sample["maintenance"],
            status=MaintenanceStatus.IN_PROGRESS,
            body="The upgrade has begun.",
            now=utcnow(),
        )
    upcoming = get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")
    active = get_json(client, "/api/v2/scheduled-maintenances/active.json")
    assert upcoming["scheduled_maintenances"] == []
    assert [m["status"] for m in active["scheduled_maintenances"]] == ["in_progress"]


def test_resolving_the_open_incident_empties_unresolved(sample, client):
    with write_transaction():
        incident_service.post_update(
            sample["open"], status=IncidentStatus.RESOLVED, body="Fixed.", now=utcnow()
        )
    assert get_json(client, "/api/v2/incidents/unresolved.json")["incidents"] == []


@pytest.mark.parametrize("path", ["/api/v2/summary.json", "/api/v2/no-such-thing.json"])
def test_preflight_answers_204_with_cors(client, path):
    response = client.options(
        path,
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert response.status_code == 204
    assert response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v2/no-such-thing.json")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "not_found"


def test_api_refuses_writes(client):
    response = client.post("/api/v2/summary.json")
    assert response.status_code == 405
    assert response.mimetype == "application/json"
