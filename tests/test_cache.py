"""Public responses are rendered once per change, invalidated by every publish, and 304-able."""

from __future__ import annotations

import pytest

from tests.support.sample import resolve_open_incident

PUBLIC_PATHS = [
    "/",
    "/history",
    "/history.rss",
    "/history.atom",
    "/api/v2/summary.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/badge.svg",
]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_publish_invalidates_every_public_representation(client, sample, path):
    before = client.get(path)
    assert before.status_code == 200
    resolve_open_incident(sample)
    after = client.get(path)
    assert after.status_code == 200
    assert after.data != before.data
    assert after.headers["ETag"] != before.headers["ETag"]


def test_publish_invalidates_the_permalink_and_component_pages(client, sample):
    permalink = f"/incidents/{sample['open'].id}"
    paths = [
        permalink,
        f"/components/{sample['web'].id}",
        f"/components/{sample['web'].id}/badge.svg",
        f"/components/{sample['web'].id}/history.rss",
    ]
    before = {p: client.get(p).data for p in paths}
    resolve_open_incident(sample)
    for path in paths:
        assert client.get(path).data != before[path], path
    assert b"Fixed: pages load quickly again." in client.get(permalink).data


def test_unchanged_data_is_not_rendered_again(client, sample, monkeypatch):
    from statuspage.web import public

    calls = []
    original = public.home_context
    monkeypatch.setattr(public, "home_context", lambda *a: calls.append(1) or original(*a))
    client.get("/")
    client.get("/")
    client.get("/?cachebuster=123", headers={"Cache-Control": "no-cache", "Pragma": "no-cache"})
    assert len(calls) == 1


@pytest.mark.parametrize("path", ["/", "/history.rss", "/api/v2/summary.json"])
def test_if_none_match_gets_304_without_body(client, sample, path):
    first = client.get(path)
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert "Cache-Control" in again.headers


def test_gzip_etag_also_validates(client, sample):
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    again = client.get(
        "/", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


def test_if_modified_since_gets_304(client, sample):
    first = client.get("/api/v2/status.json")
    again = client.get(
        "/api/v2/status.json", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert again.status_code == 304


def test_stale_validator_after_publish_gets_the_new_body(client, sample):
    first = client.get("/")
    resolve_open_incident(sample)
    again = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.data != first.data


def test_public_responses_carry_cache_control_from_settings(make_app, sample):
    app = make_app(
        cache={
            "max_age_seconds": 15,
            "stale_while_revalidate_seconds": 45,
            "stale_if_error_seconds": 600,
        }
    )
    response = app.test_client().get("/api/v2/summary.json")
    assert response.headers["Cache-Control"] == (
        "public, max-age=15, stale-while-revalidate=45, stale-if-error=600"
    )
    assert "Last-Modified" in response.headers and response.headers["ETag"]


def test_two_app_instances_agree_after_a_publish(make_app, sample):
    first, second = make_app().test_client(), make_app().test_client()
    assert first.get("/api/v2/summary.json").get_json()["incidents"]
    assert second.get("/api/v2/summary.json").get_json()["incidents"]
    resolve_open_incident(sample)
    assert first.get("/api/v2/summary.json").get_json()["incidents"] == []
    assert second.get("/api/v2/summary.json").get_json()["incidents"] == []


def test_admin_and_health_are_never_cached(client, sample):
    assert "public" not in client.get("/healthz").headers.get("Cache-Control", "")
    assert "public" not in client.get("/admin/login").headers.get("Cache-Control", "")
