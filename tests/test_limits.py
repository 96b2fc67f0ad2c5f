"""Bad input at the edges: oversized bodies, ids that are not ours, odd methods."""

from __future__ import annotations

import pytest


def test_request_body_over_the_limit_gets_413(make_app):
    app = make_app(server={"max_request_bytes": 2048})
    client = app.test_client()
    response = client.post("/admin/login", data={"email": "x" * 5000, "password": "p"})
    assert response.status_code == 413


def test_api_body_over_the_limit_gets_413_as_json(make_app):
    app = make_app(server={"max_request_bytes": 2048})
    response = app.test_client().post(
        "/api/v1/incidents", data="{" + " " * 4000 + "}", content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/99999999999999999999",
        "/incidents/%EF%BC%91%EF%BC%92",  # fullwidth digits
        "/incidents/%00",
        "/incidents/-1",
        "/incidents/0",
        "/incidents/1.5",
        "/components/99999999999999999999",
        "/components/%00/history.rss",
        "/components/%EF%BC%91/badge.svg",
        "/components/2147483648",
    ],
)
def test_ids_that_are_not_ours_give_404(client, sample, path):
    assert client.get(path).status_code == 404


def test_unknown_api_path_gives_json_404(client):
    response = client.get("/api/v2/nope.json")
    assert response.status_code == 404 and response.is_json
