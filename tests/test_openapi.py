"""The OpenAPI document of /api/v1/: it lists exactly the app's routes, and real answers fit it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from statuspage.accounts import tokens
from statuspage.db.database import write_transaction
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from statuspage.web import MAX_ID
from statuspage.web.api_v1 import openapi
from tests.support import NOW
from tests.support.auth import make_user
from tests.support.drafts import RULES, am_payload, prepare_site, send
from tests.support.openapi import assert_fits, check, resolve

METHODS = {"get", "post", "patch", "put", "delete"}


def app_routes(app) -> set[tuple[str, str]]:
    """(path, method) of every /api/v1 route, in OpenAPI's path syntax."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(openapi.PREFIX):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def doc_routes(doc: dict) -> set[tuple[str, str]]:
    return {(p, m) for p, ops in doc["paths"].items() for m in ops if m in METHODS}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


@pytest.fixture
def doc():
    return openapi.document("https://status.example.com")


# -- the document itself --------------------------------------------------------------------


def test_document_lists_exactly_the_apps_api_routes(app, doc):
    assert doc_routes(doc) == app_routes(app)


def test_the_checker_notices_a_missing_route(app, doc):
    del doc["paths"][f"{openapi.PREFIX}/components"]
    assert doc_routes(doc) != app_routes(app)


def test_document_is_openapi_31_with_a_bearer_scheme(doc):
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"] == {
        **doc["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    assert doc["security"] == [{"bearer": []}]
    assert doc["servers"] == [{"url": "https://status.example.com"}]


def test_every_reference_resolves(doc):
    for ref in refs(doc):
        assert resolve(doc, {"$ref": ref}), ref


def test_path_parameters_are_declared(doc):
    for path, operations in doc["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for method, operation in operations.items():
            declared = {
                resolve(doc, p)["name"]
                for p in operation.get("parameters", [])
                if resolve(doc, p)["in"] == "path"
            }
            assert declared == names, (path, method)


def test_every_protected_operation_documents_401_and_403(doc):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue
            assert {"401", "403"} <= set(operation["responses"]), (path, method)


def test_every_write_documents_its_json_body_and_input_errors(doc):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "get":
                continue
            assert operation["requestBody"]["required"] is True
            body = resolve(doc, operation["requestBody"]["content"]["application/json"]["schema"])
            assert body["additionalProperties"] is False, path
            assert {"400", "415", "422"} <= set(operation["responses"]), (path, method)


def test_request_schemas_are_closed_all_the_way_down(doc):
    def closed(schema: dict, where: str) -> None:
        if schema.get("type") == "object" and "properties" in schema:
            assert schema.get("additionalProperties") is False, where
        for key, child in schema.get("properties", {}).items():
            closed(child, f"{where}.{key}")

    for name in openapi.REQUESTS:
        closed(doc["components"]["schemas"][name], name)


def test_errors_share_one_schema(doc):
    for name, response in doc["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }, name
    assert "WWW-Authenticate" in doc["components"]["responses"]["Unauthorized"]["headers"]


def test_the_id_bound_matches_the_url_converter():
    assert openapi.MAX_ID == MAX_ID


def test_callers_cannot_change_the_api_input_checks(doc):
    doc["components"]["schemas"]["CreateIncident"]["additionalProperties"] = True
    assert openapi.REQUESTS["CreateIncident"]["additionalProperties"] is False


# -- real answers against the document ------------------------------------------------------


@pytest.fixture
def editor_api(ctx, client, people):
    """A client, the editor's bearer-token header and a component's id, for real answers."""
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
        component = cs.add_component("API", now=NOW - timedelta(days=1))
        _, text = tokens.create(people["editor"], "ci", now=NOW)
    return client, {"Authorization": f"Bearer {text}"}, component.id


def test_served_document_is_the_built_one(client, doc):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.get_json() == doc


def test_real_answers_fit_their_documented_schemas(editor_api, doc):
    client, auth, component_id = editor_api
    p = openapi.PREFIX
    created = client.post(
        f"{p}/incidents",
        json={
            "message": "outage-investigating",
            "variables": {"component": "API"},
            "components": {str(component_id): "major_outage"},
        },
        headers=auth,
    )
    assert created.status_code == 201
    assert_fits(doc, f"{p}/incidents", "post", created)
    incident_id = created.get_json()["incident"]["id"]
    resolved = client.post(f"{p}/incidents/{incident_id}/resolve", json={}, headers=auth)
    assert_fits(doc, f"{p}/incidents/{{incident_id}}/resolve", "post", resolved)
    maintenance = client.post(
        f"{p}/maintenances",
        json={
            "title": "Upgrade",
            "body": "We upgrade.",
            "scheduled_for": "2026-07-01T22:00:00Z",
            "scheduled_until": "2026-07-01T23:00:00Z",
            "components": [component_id],
        },
        headers=auth,
    )
    assert_fits(doc, f"{p}/maintenances", "post", maintenance)
    reads = [
        (f"{p}/incidents", f"{p}/incidents"),
        (f"{p}/incidents/{incident_id}", f"{p}/incidents/{{incident_id}}"),
        (f"{p}/maintenances", f"{p}/maintenances"),
        (f"{p}/components", f"{p}/components"),
        (f"{p}/reports?period=2026-06", f"{p}/reports"),
        (f"{p}/messages", f"{p}/messages"),
        (f"{p}/messages/outage-investigating", f"{p}/messages/{{slug}}"),
    ]
    for url, path in reads:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, url
        assert_fits(doc, path, "get", response)
    preview = client.post(
        f"{p}/messages/outage-investigating/preview",
        json={"variables": {"component": "API"}},
        headers=auth,
    )
    assert_fits(doc, f"{p}/messages/{{slug}}/preview", "post", preview)
    patched = client.patch(
        f"{p}/components/{component_id}", json={"status": "degraded_performance"}, headers=auth
    )
    assert_fits(doc, f"{p}/components/{{component_id}}", "patch", patched)


def test_error_answers_fit_the_error_schema(editor_api, doc):
    client, auth, _ = editor_api
    p = openapi.PREFIX
    answers = [
        (client.get(f"{p}/incidents"), f"{p}/incidents", "get", 401),
        (
            client.get(f"{p}/incidents/999", headers=auth),
            f"{p}/incidents/{{incident_id}}",
            "get",
            404,
        ),
        (
            client.post(f"{p}/incidents", json={"role": "admin"}, headers=auth),
            f"{p}/incidents",
            "post",
            422,
        ),
        (
            client.post(f"{p}/incidents", data="x", content_type="text/plain", headers=auth),
            f"{p}/incidents",
            "post",
            415,
        ),
        (
            client.post(f"{p}/incidents", data="[]", content_type="application/json", headers=auth),
            f"{p}/incidents",
            "post",
            400,
        ),
    ]
    for response, path, method, status in answers:
        assert response.status_code == status, (path, response.get_data(as_text=True))
        assert_fits(doc, path, method, response)


def test_the_checker_catches_an_undocumented_key(doc):
    schema = {"$ref": "#/components/schemas/ComponentRef"}
    good = {"id": 1, "name": "API", "status": "operational"}
    assert check(doc, schema, good) == []
    assert check(doc, schema, {**good, "secret": 1}) == ["$: undocumented key secret"]
    assert check(doc, schema, {**good, "status": "fine"})


@pytest.fixture
def drafts_api(make_app, fast_hashing):
    """An app with intake rules, a waiting draft (1), one that cannot publish (2), a token."""
    app = make_app(intake=RULES)
    with app.app_context():
        secret = prepare_site(app, NOW)
        client = app.test_client()
        assert send(client, secret, am_payload()).status_code == 202
        assert send(client, secret, am_payload(alertname="ProviderDown", fingerprint="p"))
        user = make_user("pm@example.com", "editor")
        with write_transaction():
            _, text = tokens.create(user, "ci", now=NOW)
        yield client, {"Authorization": f"Bearer {text}"}


def test_draft_and_alert_answers_fit_their_documented_schemas(drafts_api, doc):
    client, auth = drafts_api
    p = openapi.PREFIX
    reads = [
        (f"{p}/drafts", f"{p}/drafts"),
        (f"{p}/drafts?state=all", f"{p}/drafts"),
        (f"{p}/drafts/1", f"{p}/drafts/{{draft_id}}"),
        (f"{p}/drafts/2", f"{p}/drafts/{{draft_id}}"),
        (f"{p}/alerts", f"{p}/alerts"),
    ]
    for url, path in reads:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, url
        assert_fits(doc, path, "get", response)
    for status in (201, 200):
        published = client.post(f"{p}/drafts/1/publish", json={}, headers=auth)
        assert published.status_code == status
        assert_fits(doc, f"{p}/drafts/{{draft_id}}/publish", "post", published)
    assert_fits(doc, f"{p}/drafts/{{draft_id}}", "get", client.get(f"{p}/drafts/1", headers=auth))
    for status in (200, 409):
        dismissed = client.post(f"{p}/drafts/2/dismiss", json={"note": "x"}, headers=auth)
        assert dismissed.status_code == status
        assert_fits(doc, f"{p}/drafts/{{draft_id}}/dismiss", "post", dismissed)
    refused = client.post(f"{p}/drafts/9/publish", json={}, headers=auth)
    assert refused.status_code == 404
    assert_fits(doc, f"{p}/drafts/{{draft_id}}/publish", "post", refused)
