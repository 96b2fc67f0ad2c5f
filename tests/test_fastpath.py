"""The fast path in front of Flask answers exactly what Flask answered, and nothing stale."""

from __future__ import annotations

from datetime import date

import pytest

from statuspage.clock import utcnow
from statuspage.web.fastpath import FastPath
from tests.support.sample import resolve_open_incident

PATHS = ["/", "/history.rss", "/api/v2/summary.json", "/badge.svg", "/history?page=1"]
#: Added by the test client or the server, not by the app; and each request's own id.
TRANSPORT = {"Date", "Server", "X-Request-Id"}


def _fastpath(app) -> FastPath:
    return app.extensions["statuspage_fastpath"]


@pytest.fixture
def flask_calls(app, monkeypatch):
    """Count the requests that reach Flask (the rest were answered by the fast path)."""
    fastpath = _fastpath(app)
    inner = fastpath.wsgi_app
    calls: list[str] = []

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(fastpath, "wsgi_app", counting)
    return calls


def _headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k not in TRANSPORT}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("encoding", ["gzip, deflate, br", "gzip", ""])
def test_second_request_is_the_same_answer_without_flask(
    client, sample, flask_calls, path, encoding
):
    first = client.get(path, headers={"Accept-Encoding": encoding})
    second = client.get(path, headers={"Accept-Encoding": encoding})
    assert first.status_code == second.status_code == 200
    assert len(flask_calls) == 1
    assert second.data == first.data
    assert _headers(second) == _headers(first)
    assert "Content-Security-Policy" in second.headers
    assert second.headers["Vary"] == "Accept-Encoding"


def test_api_answers_keep_cors_headers(client, sample, flask_calls):
    client.get("/api/v2/summary.json")
    again = client.get("/api/v2/summary.json")
    assert len(flask_calls) == 1
    assert again.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/", "/history.rss"])
def test_conditional_get_is_answered_with_an_empty_304(client, sample, flask_calls, path):
    first = client.get(path, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    by_tag = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    by_date = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert len(flask_calls) == 1
    for response in (by_tag, by_date):
        assert response.status_code == 304
        assert response.data == b""
        assert "Content-Type" not in response.headers
        assert response.headers["Cache-Control"].startswith("public")
    assert by_tag.headers["ETag"] == etag


def test_a_publish_reaches_the_next_request(client, sample, flask_calls):
    before = client.get("/api/v2/summary.json")
    resolve_open_incident(sample)
    after = client.get("/api/v2/summary.json")
    assert after.get_json()["incidents"] == [] != before.get_json()["incidents"]
    assert len(flask_calls) == 2
    stale = client.get("/api/v2/summary.json", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200


def test_head_has_headers_and_no_body(client, sample, flask_calls):
    body = client.get("/").data
    head = client.head("/")
    assert len(flask_calls) == 1
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(body))


def test_query_values_the_view_reads_are_part_of_the_key(client, sample, flask_calls):
    client.get("/history?page=1")
    client.get("/history?page=1&utm_source=x")  # an argument the view ignores
    assert flask_calls == ["/history"]
    client.get("/history?page=2")
    assert flask_calls == ["/history", "/history"]
    # A query string cannot bypass the cache of a view that reads none.
    client.get("/")
    client.get("/?nocache=1")
    assert flask_calls.count("/") == 1


def test_other_methods_and_unknown_paths_go_to_flask(client, sample, flask_calls):
    client.get("/")
    client.post("/", data={"x": "1"})
    client.get("/healthz")
    client.get("/healthz")
    assert flask_calls == ["/", "/", "/healthz", "/healthz"]


def test_a_new_local_day_renders_again(client, sample, flask_calls, monkeypatch):
    client.get("/")
    local_date = _fastpath(client.application).local_date
    monkeypatch.setattr(local_date, "today", lambda: date(2099, 1, 1))
    client.get("/")
    assert len(flask_calls) == 2


def test_a_failing_generation_read_falls_back_to_flask(client, sample, flask_calls, monkeypatch):
    client.get("/")
    reader = client.application.extensions["statuspage_generation"]
    original = reader.read
    failures = []

    def failing():
        if not failures:
            failures.append(1)
            raise RuntimeError("database restarting")
        return original()

    monkeypatch.setattr(reader, "read", failing)
    response = client.get("/")
    assert response.status_code == 200 and len(flask_calls) == 2


def test_generation_reader_matches_the_database(ctx, sample):
    from statuspage.db import generation

    reader = ctx.extensions["statuspage_generation"]
    assert reader.read() == generation.read()
    before = reader.read()[0]
    resolve_open_incident(sample)
    number, changed_at = reader.read()
    assert number > before and changed_at is not None and changed_at.tzinfo is not None
    assert (number, changed_at) == generation.read()


def test_staleness_bound_is_honoured(make_app):
    from statuspage.db import generation
    from statuspage.db.database import write_transaction
    from statuspage.db.extensions import db

    # The bound is for reading the database; a PostgreSQL listener would be exact anyway.
    app = make_app(cache={"max_staleness_seconds": 3600}, database={"listen": False})
    reader = app.extensions["statuspage_generation"]
    first = reader.read()
    with app.app_context(), write_transaction():
        generation.bump(db.session, utcnow())
    assert reader.read() == first
    reader.max_staleness = 0
    assert reader.read()[0] == first[0] + 1


def test_the_paths_it_remembers_are_bounded(client, sample, monkeypatch):
    from statuspage.web import fastpath

    monkeypatch.setattr(fastpath, "MAX_ROUTES", 3)
    incident = sample["open"].id
    for zeros in range(6):  # one incident, six spellings of its URL
        assert client.get(f"/incidents/{'0' * zeros}{incident}").status_code == 200
    assert len(_fastpath(client.application).routes) <= 3


def test_remembered_answers_give_each_validator_and_coding_its_own(client, sample, flask_calls):
    """The answers a wire remembers per header value are its own and stay right past the bound."""
    from statuspage.web.fastpath import MAX_REMEMBERED

    plain = client.get("/history.rss")
    gzipped = client.get("/history.rss", headers={"Accept-Encoding": "gzip"})
    for number in range(MAX_REMEMBERED + 5):  # more values than a wire keeps
        other = client.get("/history.rss", headers={"If-None-Match": f'"other-{number}"'})
        assert other.status_code == 200
        accept = client.get("/history.rss", headers={"Accept-Encoding": f"x-{number}, gzip"})
        assert accept.headers["Content-Encoding"] == "gzip"
    for _ in range(2):
        assert client.get("/history.rss").data == plain.data
        again = client.get("/history.rss", headers={"Accept-Encoding": "gzip"})
        assert again.headers["ETag"] == gzipped.headers["ETag"] != plain.headers["ETag"]
        for tag in (plain.headers["ETag"], gzipped.headers["ETag"]):
            assert client.get("/history.rss", headers={"If-None-Match": tag}).status_code == 304
    assert len(flask_calls) == 1


def test_a_remembered_304_is_forgotten_with_its_generation(client, sample, flask_calls):
    first = client.get("/")
    validators = {"If-None-Match": first.headers["ETag"]}
    assert client.get("/", headers=validators).status_code == 304
    resolve_open_incident(sample)
    assert client.get("/", headers=validators).status_code == 200
