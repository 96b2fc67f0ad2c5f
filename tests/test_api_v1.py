"""The management API under /api/v1/: tokens and roles, publishing, strict input, errors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.core.markup import plain_text
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident, IncidentUpdate, User
from statuspage.errors import ValidationError
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from statuspage.web.api_v1 import json_input
from tests.support import NOW
from tests.support.auth import ROLES, csrf_token, sign_in


class Api:
    """A test client that sends one user's bearer token and JSON bodies."""

    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers(), **kwargs)

    def post(self, path: str, body=None, headers: dict | None = None):
        return self.client.post(path, json=body, headers=self.headers(headers))

    def patch(self, path: str, body=None):
        return self.client.patch(path, json=body, headers=self.headers())

    def raw(self, method: str, path: str, data, content_type: str):
        return self.client.open(
            path, method=method, data=data, content_type=content_type, headers=self.headers()
        )


@pytest.fixture
def setup(ctx, people):
    """The starter library, two components, and a token for each of the `people`."""
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
        api = cs.add_component("API", now=NOW - timedelta(days=10))
        web = cs.add_component("Website", now=NOW - timedelta(days=10))
        texts = {role: tokens.create(user, "ci", now=NOW)[1] for role, user in people.items()}
    return {"api": api.id, "web": web.id, "users": people, "tokens": texts}


@pytest.fixture
def editor_api(setup, client):
    """The API as the editor of `people`, with the editor's token."""
    return Api(client, setup["tokens"]["editor"])


@pytest.fixture
def viewer_api(setup, client):
    """The API as the viewer of `people`, with the viewer's token."""
    return Api(client, setup["tokens"]["viewer"])


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def assert_error(response, status: int, field: str | None = None, code: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    assert error["field"] == field
    if code is not None:
        assert error["code"] == code
    return error


def open_incident(api: Api, setup, **extra):
    body = {
        "message": "outage-investigating",
        "variables": {"component": "API"},
        "components": {str(setup["api"]): "major_outage"},
        **extra,
    }
    response = api.post("/api/v1/incidents", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# -- authentication -------------------------------------------------------------------------


def test_request_without_token_is_401_with_a_bearer_challenge(setup, client):
    response = client.get("/api/v1/incidents")
    assert_error(response, 401, code="unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_401_invalid_token(setup, client):
    response = Api(client, "sp_not-a-real-token").get("/api/v1/incidents")
    assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoked_token_is_401(setup, client):
    [row] = tokens.tokens_of(setup["users"]["editor"])
    with write_transaction():
        tokens.revoke(row.id, now=utcnow())
    assert_error(Api(client, setup["tokens"]["editor"]).get("/api/v1/incidents"), 401)


def test_token_of_a_disabled_user_is_401(setup, client):
    with write_transaction():
        db.session.get(User, setup["users"]["editor"].id).active = False
    assert_error(Api(client, setup["tokens"]["editor"]).get("/api/v1/components"), 401)


def test_token_in_another_scheme_is_401(setup, client):
    response = client.get(
        "/api/v1/incidents", headers={"Authorization": f"Token {setup['tokens']['admin']}"}
    )
    assert_error(response, 401)


def test_signed_in_browser_session_alone_does_not_authenticate(setup, client):
    login = sign_in(client, "admin@example.com")
    assert login.status_code == 302 and client.get("/admin/").status_code == 200
    csrf = csrf_token(client, "/admin/")  # a valid token of the signed-in session
    assert_error(client.get("/api/v1/incidents"), 401)
    write = client.post(
        "/api/v1/incidents",
        json={"title": "x", "body": "y", "impact": "minor"},
        headers={"X-CSRF-Token": csrf},
    )
    assert_error(write, 401)
    assert count(Incident) == 0


def test_openapi_document_needs_no_token(setup, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.get_json()["openapi"].startswith("3.1")


def test_api_answers_are_not_cached(editor_api):
    assert editor_api.get("/api/v1/components").headers["Cache-Control"] == "no-store"


# -- roles ----------------------------------------------------------------------------------

READS = [
    "/api/v1/incidents",
    "/api/v1/maintenances",
    "/api/v1/components",
    "/api/v1/messages",
    "/api/v1/messages/outage-investigating",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", READS)
def test_every_role_may_read(setup, client, role, path):
    assert Api(client, setup["tokens"][role]).get(path).status_code == 200


def writes(setup, incident_id: int, maintenance_id: int) -> list[tuple[str, str, dict]]:
    window = {
        "scheduled_for": "2026-07-01T22:00:00+00:00",
        "scheduled_until": "2026-07-01T23:00:00+00:00",
    }
    return [
        ("POST", "/api/v1/incidents", {"title": "T", "body": "B", "impact": "minor"}),
        ("POST", f"/api/v1/incidents/{incident_id}/updates", {"body": "B", "status": "identified"}),
        ("POST", f"/api/v1/incidents/{incident_id}/resolve", {}),
        ("POST", "/api/v1/maintenances", {"title": "M", "body": "B", **window}),
        (
            "POST",
            f"/api/v1/maintenances/{maintenance_id}/updates",
            {"body": "B", "status": "in_progress"},
        ),
        ("PATCH", f"/api/v1/components/{setup['api']}", {"status": "major_outage"}),
    ]


@pytest.fixture
def targets(setup, client):
    """An open incident and a scheduled maintenance, made by the admin."""
    admin = Api(client, setup["tokens"]["admin"])
    incident = open_incident(admin, setup)["incident"]["id"]
    maintenance = admin.post(
        "/api/v1/maintenances",
        {
            "title": "Database upgrade",
            "body": "We will upgrade the database.",
            "scheduled_for": "2026-07-01T22:00:00+02:00",
            "scheduled_until": "2026-07-02T01:00:00+02:00",
        },
    ).get_json()["incident"]["id"]
    return incident, maintenance


def test_viewer_token_cannot_write_anything(setup, viewer_api, targets):
    before = (count(IncidentUpdate), count(AuditEntry))
    for method, path, body in writes(setup, *targets):
        response = viewer_api.raw(method, path, json.dumps(body), "application/json")
        error = assert_error(response, 403, code="forbidden")
        assert "viewer" in error["message"], path
    assert (count(IncidentUpdate), count(AuditEntry)) == before


def test_editor_token_may_write_everything(setup, editor_api, targets):
    for method, path, body in writes(setup, *targets):
        response = editor_api.raw(method, path, json.dumps(body), "application/json")
        assert response.status_code in (200, 201), (path, response.get_data(as_text=True))


def test_token_acts_with_its_users_current_role(setup, editor_api):
    with write_transaction():
        db.session.get(User, setup["users"]["editor"].id).role = "viewer"
    response = editor_api.post("/api/v1/incidents", {"title": "T", "body": "B", "impact": "minor"})
    assert_error(response, 403)
    assert editor_api.get("/api/v1/incidents").status_code == 200


def test_role_field_in_a_body_is_refused_and_changes_nothing(setup, client):
    viewer = Api(client, setup["tokens"]["viewer"])
    editor = Api(client, setup["tokens"]["editor"])
    response = editor.post(
        "/api/v1/incidents", {"title": "T", "body": "B", "impact": "minor", "role": "admin"}
    )
    assert_error(response, 422, field="role", code="invalid")
    assert count(Incident) == 0
    assert_error(viewer.patch(f"/api/v1/components/{setup['api']}", {"role": "admin"}), 403)
    assert db.session.get(User, setup["users"]["viewer"].id).role == "viewer"


# -- incidents ------------------------------------------------------------------------------


def test_create_incident_from_a_message_records_provenance(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents",
        {
            "message": "outage-investigating",
            "variables": {"component": "API"},
            "components": {str(setup["api"]): "major_outage"},
        },
    )
    assert response.status_code == 201
    data = response.get_json()
    incident, update = data["incident"], data["update"]
    assert response.headers["Location"].endswith(f"/api/v1/incidents/{incident['id']}")
    assert incident["title"] == "API unavailable" and incident["status"] == "investigating"
    # The message suggests major; the component's major outage makes it critical.
    assert incident["impact"] == "critical"
    assert incident["url"] == f"https://status.example.com/incidents/{incident['id']}"
    assert incident["components"] == [{"id": setup["api"], "name": "API", "status": "major_outage"}]
    assert update["message"]["id"] == "outage-investigating" and update["message"]["version"] == 1
    assert update["variables"] == {"component": "API", "next_update": "30 minutes"}
    assert update["text_edited"] is False and update["author"] == "editor@example.com"
    assert update["component_changes"][0]["new_status"] == "major_outage"


def test_publishing_is_audited_as_the_tokens_user(setup, editor_api):
    open_incident(editor_api, setup)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "incident.opened"))
    assert entry.actor_id == setup["users"]["editor"].id
    assert "editor@example.com" in entry.actor and "ci" in entry.actor


def test_create_incident_from_free_text_renders_markdown(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents",
        {"title": "Slow logins", "body": "Logins are **slow**.", "impact": "minor"},
    )
    assert response.status_code == 201
    update = response.get_json()["update"]
    assert update["message"] is None and update["status"] == "investigating"
    assert "<strong>slow</strong>" in update["body_html"]


def test_message_with_edited_body_is_marked_edited(setup, editor_api):
    data = open_incident(editor_api, setup, body="Our own words about the API.")
    assert data["update"]["text_edited"] is True
    assert data["update"]["body"] == "Our own words about the API."


def test_free_text_incident_needs_an_impact(setup, editor_api):
    response = editor_api.post("/api/v1/incidents", {"title": "T", "body": "B"})
    assert_error(response, 422, field="impact")


def test_body_with_neither_message_nor_text_names_message(setup, editor_api):
    assert_error(editor_api.post("/api/v1/incidents", {"impact": "minor"}), 422, field="message")


def test_variables_without_a_message_are_refused(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents",
        {"title": "T", "body": "B", "impact": "minor", "variables": {"component": "API"}},
    )
    assert_error(response, 422, field="variables")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": 5, "body": "B", "impact": "minor"}, "title"),
        ({"title": "T", "body": "B", "impact": "minor", "notify": "yes"}, "notify"),
        ({"title": "T", "body": "B", "impact": "catastrophic"}, "impact"),
        ({"title": "T", "body": "B", "impact": "maintenance"}, "impact"),
        ({"title": "T", "body": "B", "impact": "minor", "status": "fixed"}, "status"),
        ({"title": "", "body": "B", "impact": "minor"}, "title"),
        ({"title": "T", "body": "B", "impact": "minor", "components": ["1"]}, "components"),
        ({"title": "T", "body": "B", "impact": "minor", "components": {"x": "operational"}}, None),
        ({"message": "outage-investigating", "variables": {"component": 7}}, "variables.component"),
        ({"message": "Not A Slug"}, "message"),
    ],
)
def test_wrong_types_and_values_are_422_naming_the_field(setup, editor_api, body, field):
    response = editor_api.post("/api/v1/incidents", body)
    if field is None:  # a bad key inside an object is named by its path
        field = "components.x"
    assert_error(response, 422, field=field)
    assert count(Incident) == 0


def test_unknown_component_status_names_the_component(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents",
        {
            "title": "T",
            "body": "B",
            "impact": "minor",
            "components": {str(setup["api"]): "on_fire"},
        },
    )
    error = assert_error(response, 422, field=f"components.{setup['api']}")
    assert "major_outage" in error["message"]


def test_unknown_component_is_a_refused_field_not_a_404(setup, editor_api):
    body = {"title": "T", "body": "B", "impact": "minor", "components": {"99999": "major_outage"}}
    assert_error(editor_api.post("/api/v1/incidents", body), 422, field="components.99999")
    too_big = {**body, "components": {"9999999999": "major_outage"}}
    assert_error(editor_api.post("/api/v1/incidents", too_big), 422, field="components.9999999999")


def test_unknown_message_is_a_refused_field(setup, editor_api):
    response = editor_api.post("/api/v1/incidents", {"message": "no-such-message"})
    assert_error(response, 422, field="message")


def test_missing_required_variable_names_it(setup, editor_api):
    response = editor_api.post("/api/v1/incidents", {"message": "outage-investigating"})
    assert_error(response, 422, field="variables.component")


def test_undeclared_variable_names_it(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents",
        {"message": "outage-investigating", "variables": {"component": "API", "nope": "x"}},
    )
    assert_error(response, 422, field="variables.nope")


@pytest.mark.parametrize(
    "value", ["{{ config }}", "{{7*7}}", "${7*7}", "<script>alert(1)</script>", "{0.__class__}"]
)
def test_hostile_variable_values_are_stored_and_shown_literally(setup, editor_api, value):
    data = open_incident(editor_api, setup, variables={"component": value})
    update = data["update"]
    assert update["variables"]["component"] == value
    assert data["incident"]["title"] == f"{value} unavailable"
    assert "<script>" not in update["body_html"] and "49" not in update["body_html"]
    assert value in plain_text(update["body_html"])
    stored = db.session.get(IncidentUpdate, update["id"])
    assert stored.variables["component"] == value


def test_line_breaks_in_a_value_cannot_add_lines(setup, editor_api):
    data = open_incident(editor_api, setup, variables={"component": "API\r\n# Owned"})
    assert "<h1>" not in data["update"]["body_html"]
    assert data["incident"]["title"] == "API # Owned unavailable"


def test_post_update_from_a_message(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(
        f"/api/v1/incidents/{incident_id}/updates",
        {"message": "outage-identified", "variables": {"component": "API"}},
    )
    assert response.status_code == 201
    data = response.get_json()
    assert data["incident"]["status"] == "identified"
    assert data["update"]["message"]["id"] == "outage-identified"
    assert data["incident"]["updates"][0]["id"] == data["update"]["id"]


def test_post_update_from_free_text_needs_a_status(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    path = f"/api/v1/incidents/{incident_id}/updates"
    assert_error(editor_api.post(path, {"body": "Still looking."}), 422, field="status")
    response = editor_api.post(
        path, {"body": "Found it.", "status": "identified", "impact": "minor"}
    )
    assert response.status_code == 201
    assert response.get_json()["incident"]["impact"] == "minor"


def test_update_cannot_rename_the_incident(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(
        f"/api/v1/incidents/{incident_id}/updates",
        {"body": "B", "status": "identified", "title": "New name"},
    )
    assert_error(response, 422, field="title")


def test_update_to_an_unknown_incident_is_404(setup, editor_api):
    response = editor_api.post(
        "/api/v1/incidents/999/updates", {"body": "B", "status": "identified"}
    )
    assert_error(response, 404, code="not_found")


def test_resolve_returns_components_to_operational(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(f"/api/v1/incidents/{incident_id}/resolve", {})
    assert response.status_code == 201
    data = response.get_json()
    assert data["incident"]["status"] == "resolved" and data["incident"]["resolved_at"]
    assert data["update"]["body"] == "This incident has been resolved."
    assert data["incident"]["components"][0]["status"] == "operational"


def test_resolve_can_leave_components_alone(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        {"body": "Fixed; the API stays degraded for a while.", "components_operational": False},
    )
    assert response.get_json()["incident"]["components"][0]["status"] == "major_outage"


def test_resolve_from_a_resolved_message(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        {"message": "outage-resolved", "variables": {"component": "API", "resolved_at": "14:20"}},
    )
    assert response.status_code == 201
    assert response.get_json()["update"]["message"]["id"] == "outage-resolved"


def test_resolve_refuses_a_message_for_another_stage(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    response = editor_api.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        {"message": "outage-monitoring", "variables": {"component": "API"}},
    )
    assert_error(response, 422, field="message")


def test_resolving_twice_is_a_conflict(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    assert editor_api.post(f"/api/v1/incidents/{incident_id}/resolve", {}).status_code == 201
    assert_error(editor_api.post(f"/api/v1/incidents/{incident_id}/resolve", {}), 409)


def test_get_incident_and_unknown_ids(setup, editor_api, targets):
    incident_id, maintenance_id = targets
    data = editor_api.get(f"/api/v1/incidents/{incident_id}").get_json()
    assert data["id"] == incident_id and len(data["updates"]) == 1
    assert_error(editor_api.get("/api/v1/incidents/424242"), 404, code="not_found")
    assert_error(editor_api.get(f"/api/v1/incidents/{maintenance_id}"), 404)
    assert_error(editor_api.get("/api/v1/incidents/abc"), 404)


def test_list_is_newest_first_and_filters_by_status(setup, editor_api):
    first = open_incident(editor_api, setup)["incident"]["id"]
    second = open_incident(editor_api, setup)["incident"]["id"]
    editor_api.post(f"/api/v1/incidents/{first}/resolve", {})
    everything = editor_api.get("/api/v1/incidents").get_json()
    assert [i["id"] for i in everything["incidents"]] == [second, first]
    assert everything["next_cursor"] is None
    opened = editor_api.get("/api/v1/incidents?status=open").get_json()["incidents"]
    closed = editor_api.get("/api/v1/incidents?status=closed").get_json()["incidents"]
    assert [i["id"] for i in opened] == [second] and [i["id"] for i in closed] == [first]


def test_list_pages_with_a_cursor_without_gaps_or_repeats(setup, editor_api):
    made = [open_incident(editor_api, setup)["incident"]["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = editor_api.get("/api/v1/incidents", query_string=query).get_json()
        assert len(page["incidents"]) <= 2
        seen += [i["id"] for i in page["incidents"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "pending"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422(setup, editor_api, query, field):
    assert_error(editor_api.get("/api/v1/incidents", query_string=query), 422, field=field)


# -- idempotency ----------------------------------------------------------------------------


def test_repeated_idempotency_key_returns_the_same_update_with_200(setup, editor_api):
    body = {"message": "outage-investigating", "variables": {"component": "API"}}
    first = editor_api.post("/api/v1/incidents", body, headers={"Idempotency-Key": "deploy-42"})
    again = editor_api.post("/api/v1/incidents", body, headers={"Idempotency-Key": "deploy-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["update"]["id"] == again.get_json()["update"]["id"]
    assert count(Incident) == 1 and count(IncidentUpdate) == 1


def test_a_key_reused_for_another_text_is_refused_not_replayed(setup, editor_api):
    first = {"title": "Slow API", "body": "Looking.", "impact": "minor"}
    other = {"title": "Other title", "body": "Looking.", "impact": "minor"}
    headers = {"Idempotency-Key": "same-1"}
    assert editor_api.post("/api/v1/incidents", first, headers=headers).status_code == 201
    again = editor_api.post("/api/v1/incidents", other, headers=headers)
    assert again.status_code == 409, again.get_json()
    assert count(Incident) == 1


def test_idempotency_key_also_guards_updates(setup, editor_api):
    incident_id = open_incident(editor_api, setup)["incident"]["id"]
    path = f"/api/v1/incidents/{incident_id}/updates"
    body = {"body": "Found it.", "status": "identified"}
    codes = [
        editor_api.post(path, body, headers={"Idempotency-Key": "k1"}).status_code for _ in "ab"
    ]
    assert codes == [201, 200] and count(IncidentUpdate) == 2


def test_idempotency_key_reused_for_another_incident_is_a_conflict(setup, editor_api):
    first = open_incident(editor_api, setup)["incident"]["id"]
    second = open_incident(editor_api, setup)["incident"]["id"]
    body = {"body": "Found it.", "status": "identified"}
    key = {"Idempotency-Key": "same"}
    assert (
        editor_api.post(f"/api/v1/incidents/{first}/updates", body, headers=key).status_code == 201
    )
    response = editor_api.post(f"/api/v1/incidents/{second}/updates", body, headers=key)
    assert_error(response, 409, field="Idempotency-Key")


def test_idempotency_keys_of_two_users_never_meet(setup, client):
    body = {"title": "T", "body": "B", "impact": "minor"}
    key = {"Idempotency-Key": "nightly"}
    editor = Api(client, setup["tokens"]["editor"])
    admin = Api(client, setup["tokens"]["admin"])
    assert editor.post("/api/v1/incidents", body, headers=key).status_code == 201
    assert admin.post("/api/v1/incidents", body, headers=key).status_code == 201
    assert count(Incident) == 2


@pytest.mark.parametrize("key", ["", "x" * 81, "has space", "caf\u00e9"])
def test_malformed_idempotency_key_is_422(setup, editor_api, key):
    response = editor_api.post(
        "/api/v1/incidents",
        {"title": "T", "body": "B", "impact": "minor"},
        headers={"Idempotency-Key": key},
    )
    assert_error(response, 422, field="Idempotency-Key")


# -- strict bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"[1, 2]", b'"text"', b"null", b"{not json", b'{"title": "a", "title": "b"}', b"\xff\xfe"],
)
def test_body_that_is_not_one_json_object_is_400(setup, editor_api, raw):
    response = editor_api.raw("POST", "/api/v1/incidents", raw, "application/json")
    assert_error(response, 400, code="bad_request")


def test_nan_is_not_json(setup, editor_api):
    response = editor_api.raw("POST", "/api/v1/incidents", b'{"notify": NaN}', "application/json")
    assert_error(response, 400)


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "text/json"]
)
def test_write_without_json_content_type_is_415(setup, editor_api, content_type):
    body = json.dumps({"title": "T", "body": "B", "impact": "minor"})
    response = editor_api.raw("POST", "/api/v1/incidents", body, content_type)
    assert_error(response, 415, code="unsupported_media_type")
    assert count(Incident) == 0


def test_json_with_a_charset_is_accepted(setup, editor_api):
    body = json.dumps({"title": "T", "body": "B", "impact": "minor"})
    response = editor_api.raw("POST", "/api/v1/incidents", body, "application/json; charset=utf-8")
    assert response.status_code == 201


def test_validator_refuses_booleans_as_integers():
    with pytest.raises(ValidationError) as info:
        json_input.validate(
            {"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": True}
        )
    assert info.value.field == "n"


def test_validator_refuses_a_schema_keyword_it_does_not_know():
    with pytest.raises(RuntimeError, match="oneOf"):
        json_input.validate({"oneOf": []}, {})


# -- maintenances ---------------------------------------------------------------------------


def test_schedule_a_maintenance_from_a_message(setup, editor_api):
    response = editor_api.post(
        "/api/v1/maintenances",
        {
            "message": "maintenance-scheduled",
            "variables": {
                "component": "API",
                "window_start": "Tuesday 22:00 UTC",
                "window_end": "Wednesday 01:00 UTC",
            },
            "scheduled_for": "2026-07-01T22:00:00+02:00",
            "scheduled_until": "2026-07-02T01:00:00+02:00",
            "components": [setup["api"]],
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    maintenance = data["incident"]
    assert response.headers["Location"].endswith(f"/api/v1/maintenances/{maintenance['id']}")
    assert maintenance["kind"] == "maintenance" and maintenance["status"] == "scheduled"
    assert maintenance["scheduled_for"] == "2026-07-01T20:00:00.000Z"
    assert maintenance["scheduled_until"] == "2026-07-01T23:00:00.000Z"
    assert [c["id"] for c in maintenance["components"]] == [setup["api"]]
    assert maintenance["components"][0]["status"] == "operational"
    assert data["update"]["message"]["id"] == "maintenance-scheduled"


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"scheduled_for": "2026-07-01T22:00:00"}, "scheduled_for"),
        ({"scheduled_for": "next tuesday"}, "scheduled_for"),
        ({"scheduled_until": "2026-07-01T21:00:00+00:00"}, "scheduled_until"),
    ],
)
def test_maintenance_window_must_have_offsets_and_end_after_start(setup, editor_api, window, field):
    body = {
        "title": "M",
        "body": "B",
        "scheduled_for": "2026-07-01T22:00:00+00:00",
        "scheduled_until": "2026-07-01T23:00:00+00:00",
        **window,
    }
    assert_error(editor_api.post("/api/v1/maintenances", body), 422, field=field)


def test_maintenance_needs_its_window(setup, editor_api):
    body = {"title": "M", "body": "B", "scheduled_for": "2026-07-01T22:00:00+00:00"}
    assert_error(editor_api.post("/api/v1/maintenances", body), 422, field="scheduled_until")


def test_maintenance_with_an_incident_message_is_refused(setup, editor_api):
    body = {
        "message": "outage-investigating",
        "variables": {"component": "API"},
        "scheduled_for": "2026-07-01T22:00:00+00:00",
        "scheduled_until": "2026-07-01T23:00:00+00:00",
    }
    assert_error(editor_api.post("/api/v1/maintenances", body), 422, field="message")


def test_maintenance_update_and_list(setup, editor_api, targets):
    incident_id, maintenance_id = targets
    response = editor_api.post(
        f"/api/v1/maintenances/{maintenance_id}/updates",
        {
            "body": "Work has started.",
            "status": "in_progress",
            "components": {str(setup["api"]): "under_maintenance"},
        },
    )
    assert response.status_code == 201
    assert response.get_json()["incident"]["status"] == "in_progress"
    listed = editor_api.get("/api/v1/maintenances").get_json()["maintenances"]
    assert [m["id"] for m in listed] == [maintenance_id]
    assert editor_api.get(f"/api/v1/maintenances/{maintenance_id}").status_code == 200
    assert_error(editor_api.get(f"/api/v1/maintenances/{incident_id}"), 404)
    wrong_kind = editor_api.post(
        f"/api/v1/maintenances/{incident_id}/updates", {"body": "B", "status": "in_progress"}
    )
    assert_error(wrong_kind, 404)


def test_maintenance_update_refuses_incident_statuses(setup, editor_api, targets):
    _, maintenance_id = targets
    response = editor_api.post(
        f"/api/v1/maintenances/{maintenance_id}/updates", {"body": "B", "status": "resolved"}
    )
    assert_error(response, 422, field="status")


# -- components -----------------------------------------------------------------------------


def test_list_components(setup, viewer_api):
    data = viewer_api.get("/api/v1/components").get_json()
    assert [(c["id"], c["name"], c["status"]) for c in data["components"]] == [
        (setup["api"], "API", "operational"),
        (setup["web"], "Website", "operational"),
    ]


def test_set_component_status_is_audited(setup, editor_api):
    response = editor_api.patch(f"/api/v1/components/{setup['web']}", {"status": "partial_outage"})
    assert response.status_code == 200 and response.get_json()["status"] == "partial_outage"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "component.status"))
    assert entry.before == {"status": "operational"} and entry.after == {"status": "partial_outage"}
    assert entry.actor_id == setup["users"]["editor"].id


def test_set_component_status_errors(setup, editor_api):
    path = f"/api/v1/components/{setup['web']}"
    assert_error(editor_api.patch(path, {"status": "down"}), 422, field="status")
    assert_error(editor_api.patch(path, {}), 422, field="status")
    assert_error(editor_api.patch("/api/v1/components/4242", {"status": "major_outage"}), 404)


# -- message library ------------------------------------------------------------------------


def test_list_messages_shows_current_versions_with_variables(setup, viewer_api):
    messages = viewer_api.get("/api/v1/messages").get_json()["messages"]
    assert len(messages) >= 20
    item = next(m for m in messages if m["id"] == "outage-investigating")
    assert item["version"] == 1 and item["status"] == "investigating"
    names = [v["name"] for v in item["variables"]]
    assert "component" in names
    component = next(v for v in item["variables"] if v["name"] == "component")
    assert component["required"] is True and component["label"]


def test_message_shows_every_version_with_its_author(setup, viewer_api):
    current = lib.current_version(lib.get_message("outage-investigating"))
    editor_user = setup["users"]["editor"]
    with write_transaction():
        lib.edit(
            "outage-investigating",
            title=current.title,
            body=current.body + "\n\nSorry for the trouble.",
            reason="apologise",
            now=NOW,
            actor=audit.Actor.for_user(editor_user),
        )
    data = viewer_api.get("/api/v1/messages/outage-investigating").get_json()
    assert data["current_version"] == 2 and data["archived"] is False
    first, second = data["versions"]
    assert (first["number"], first["author"], first["reason"]) == (1, None, "sync")
    assert (second["number"], second["author"], second["reason"]) == (
        2,
        "editor@example.com",
        "apologise",
    )
    assert second["body"].endswith("Sorry for the trouble.")
    assert first["content_hash"] != second["content_hash"] and first["created_at"]


def test_unknown_message_is_404(setup, viewer_api, editor_api):
    assert_error(viewer_api.get("/api/v1/messages/no-such-message"), 404)
    response = editor_api.post("/api/v1/messages/no-such-message/preview", {"variables": {}})
    assert_error(response, 404)


def test_preview_needs_the_publish_permission(setup, viewer_api):
    # A preview renders Markdown, the costliest request there is: only those who may publish.
    response = viewer_api.post(
        "/api/v1/messages/outage-investigating/preview", {"variables": {"component": "API"}}
    )
    assert "viewer" in assert_error(response, 403, code="forbidden")["message"]


def test_preview_fills_the_message_and_publishes_nothing(setup, editor_api):
    response = editor_api.post(
        "/api/v1/messages/outage-investigating/preview",
        {"variables": {"component": "<b>API</b> {{7*7}}"}},
    )
    assert response.status_code == 200
    data = response.get_json()
    assert data["title"] == "<b>API</b> {{7*7}} unavailable"
    assert "<b>" not in data["body_html"] and "&lt;b&gt;API&lt;/b&gt; {{7*7}}" in data["body_html"]
    assert data["variables"]["next_update"] == "30 minutes"
    assert count(IncidentUpdate) == 0 and count(Incident) == 0


def test_preview_of_a_maintenance_message(setup, editor_api):
    response = editor_api.post(
        "/api/v1/messages/maintenance-started/preview",
        {"variables": {"component": "API", "window_end": "01:00 UTC"}},
    )
    assert response.status_code == 200 and response.get_json()["status"] == "in_progress"


def test_preview_errors_name_the_field(setup, editor_api):
    path = "/api/v1/messages/outage-investigating/preview"
    assert_error(editor_api.post(path, {"variables": {}}), 422, field="variables.component")
    assert_error(
        editor_api.post(path, {"variables": {"component": "A"}, "version": 9}), 422, "version"
    )
    assert_error(editor_api.post(path, {"vars": {}}), 422, field="vars")


def test_maintenance_update_can_extend_the_window(setup, editor_api, targets):
    _, maintenance_id = targets
    response = editor_api.post(
        f"/api/v1/maintenances/{maintenance_id}/updates",
        {
            "body": "The work takes longer than planned.",
            "status": "in_progress",
            "scheduled_until": "2026-07-02T03:00:00+02:00",
        },
    )
    assert response.status_code == 201
    assert response.get_json()["incident"]["scheduled_until"] == "2026-07-02T01:00:00.000Z"
