"""Request ids and the access log: every answer (the fast path's included) carries an
X-Request-Id, a client's own id is kept only when it is short and safe, every line logged while
a request is handled carries its id, and the access log has one line per request, secrets
redacted, as text or JSON. A real `statuspage serve`'s log: test_metrics_prometheus.py."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from statuspage import logs
from statuspage.web.observe import HEADER, access_log

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the access logger writes, as text lines (INFO and up), during the test."""
    yield from _capture(access_log, logs.TextFormatter())


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the access logger writes, as JSON lines, during the test."""
    yield from _capture(access_log, logs.JsonFormatter())


def _capture(logger: logging.Logger, formatter: logging.Formatter) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logs.install([handler])
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_every_answer_carries_a_request_id(client):
    answers = [client.get(path) for path in ("/", "/", "/nothing-here", "/healthz")]
    assert client.application.extensions["statuspage_fastpath"].routes  # the second: fast path
    ids = [answer.headers[HEADER] for answer in answers]
    assert all(GENERATED.fullmatch(rid) for rid in ids) and len(set(ids)) == len(ids)


def test_a_safe_incoming_request_id_is_kept_on_flask_and_fast_path_answers(client):
    for _ in range(2):
        answer = client.get("/", headers={HEADER: "edge-7f3a.b_2"})
        assert answer.headers[HEADER] == "edge-7f3a.b_2"
    assert len(answer.headers.getlist(HEADER)) == 1


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 65, "has space", "line\nbreak", 'quote"d', "<script>", "tab\tid", "é"],
)
def test_an_unsafe_or_long_incoming_request_id_is_replaced(client, incoming):
    answer = client.get("/healthz", environ_base={"HTTP_X_REQUEST_ID": incoming})
    assert GENERATED.fullmatch(answer.headers[HEADER])


def test_lines_logged_while_handling_a_request_carry_its_id(make_app):
    app = make_app()
    app.add_url_rule("/log-something", "log_something", lambda: (_log_in_view(), "ok")[1])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logs.install([handler])
    logger = logging.getLogger("statuspage.test.request")
    logger.addHandler(handler)
    try:
        app.test_client().get("/log-something", headers={HEADER: "rid-42"}).get_data()
        logger.warning("after the request")
    finally:
        logger.removeHandler(handler)
    during, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert during["message"] == "inside the view" and during["request_id"] == "rid-42"
    assert after["request_id"] is None


def _log_in_view() -> None:
    logging.getLogger("statuspage.test.request").warning("inside the view")


def test_the_access_log_has_one_text_line_per_request(client, lines):
    client.get("/", headers={HEADER: "abc-1"}).get_data()
    client.get("/", headers={HEADER: "abc-2"}).get_data()  # from the fast path
    written = lines.getvalue().splitlines()
    assert len(written) == 2
    for line, rid in zip(written, ("abc-1", "abc-2"), strict=True):
        assert re.fullmatch(
            rf'\S+ \S+ INFO \[{rid}\] 127\.0\.0\.1 "GET /" 200 \d+ \d+\.\dms', line
        ), line


def test_access_lines_redact_secrets_in_the_path_and_query(client, lines, json_lines):
    for path in (
        "/ack/S3cretAckT0ken.sig",
        "/subscriptions/unsubscribe/S3cretSubT0ken",
        "/?token=S3cretQueryT0ken&page=2",
    ):
        client.get(path).get_data()
    for written in (lines.getvalue(), json_lines.getvalue()):
        assert "S3cret" not in written and logs.REDACTED in written
        assert "/ack/" in written and "page=2" in written


def test_every_route_with_a_token_in_its_path_is_redacted_in_the_log(app):
    for rule in app.url_map.iter_rules():
        secret = [name for name in rule.arguments if "token" in name or "secret" in name]
        if not secret:
            continue
        values = {name: 7 if name.endswith("_id") else "S3cretValue" for name in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        assert "S3cretValue" not in logs.redact(path), rule.rule


def test_json_access_lines_hold_the_fields_separately(client, json_lines):
    body = client.get("/", headers={HEADER: "json-1"}).get_data()
    (line,) = json_lines.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "statuspage.access" and entry["level"] == "INFO"
    assert entry["request_id"] == "json-1"
    assert entry["client"] == "127.0.0.1" and entry["method"] == "GET" and entry["path"] == "/"
    assert entry["status"] == 200 and entry["bytes"] == len(body)
    assert entry["duration_ms"] >= 0 and entry["time"].endswith("+00:00")
    assert entry["message"].startswith('127.0.0.1 "GET /" 200')


def test_the_access_line_names_the_client_a_trusted_proxy_forwarded(make_app, json_lines):
    client = make_app(server={"trusted_proxies": ["10.0.0.0/8"]}).test_client()
    environ = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    client.get("/healthz", environ_base=environ).get_data()
    assert json.loads(json_lines.getvalue())["client"] == "203.0.113.5"


def test_the_access_log_can_be_turned_off(make_app, lines):
    client = make_app(logging={"access_log": False}).test_client()
    answer = client.get("/")
    answer.get_data()
    assert lines.getvalue() == "" and answer.headers[HEADER]


def test_a_path_cannot_break_an_access_line_or_forge_another(client, lines):
    client.get("/a%20b%22c%0A2026-06-15 INFO forged/caf%C3%A9").get_data()
    (line,) = lines.getvalue().splitlines()
    assert '"GET /a%20b%22c%0A2026-06-15%20INFO%20forged/caf%C3%A9" 404' in line


# -- the access line written without a record -------------------------------------------------

#: A moment well inside its millisecond, so every way of deriving the milliseconds agrees.
MOMENTS = (1781532187.123456, 1781532188.999012)
FIELDS = {"client": "203.0.113.5", "method": "GET", "path": "/?page=2", "status": 200}


def _only_ours(monkeypatch) -> tuple[logs.StderrHandler, io.StringIO]:
    """Make the handler `logs.configure` makes, writing to a buffer, the only one the access log
    reaches, as under `statuspage serve`. Called in the test's body: pytest adds its capture
    handlers to the root logger and to every non-propagating one as each test phase starts."""
    stream = io.StringIO()
    handler = logs.StderrHandler(stream)
    handler.setFormatter(logs.formatter("text"))
    logs.install([handler])
    monkeypatch.setattr(access_log, "handlers", [handler])
    monkeypatch.setattr(access_log, "propagate", False)
    monkeypatch.setattr(access_log, "level", logging.INFO)
    return handler, stream


def _log_access(rid: str, created: float, monkeypatch) -> None:
    """Write an access line through `logs.log_redacted` at the moment `created`."""
    monkeypatch.setattr("time.time", lambda: created)
    monkeypatch.setattr("time.time_ns", lambda: round(created * 1e6) * 1000)
    logs.log_redacted(
        access_log,
        logging.INFO,
        '203.0.113.5 "GET /?page=2" 200 5 0.1ms',
        request_id=rid,
        fields=FIELDS,
        caller=(__file__, 1, "test"),
    )


@pytest.mark.parametrize("format", logs.FORMATS)
def test_an_access_line_without_a_record_is_the_line_the_record_gives(monkeypatch, format):
    handler, stream = _only_ours(monkeypatch)
    handler.setFormatter(logs.formatter(format))
    for created in MOMENTS:
        _log_access("direct", created, monkeypatch)
    handler.addFilter(logging.Filter())  # a filter of someone else's: a record is made
    for created in MOMENTS:
        _log_access("direct", created, monkeypatch)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[:2] == lines[2:], lines
    assert lines[0] != lines[1]  # a second later: a new time stamp
    if format == "json":
        assert json.loads(lines[0])["path"] == "/?page=2"
    else:
        assert "[direct]" in lines[0]


def test_only_our_handler_gets_the_access_line_without_a_record(monkeypatch, client):
    _, stream = _only_ours(monkeypatch)
    client.get("/").get_data()  # Flask answers; the fast path learns the page
    monkeypatch.setattr(access_log, "makeRecord", _no_record)
    client.get("/", headers={HEADER: "fast-1"}).get_data()
    assert '[fast-1] 127.0.0.1 "GET /" 200' in stream.getvalue()


def test_any_other_handler_on_the_way_gets_the_record(monkeypatch, client):
    _, stream = _only_ours(monkeypatch)
    other = io.StringIO()
    access_log.addHandler(logging.StreamHandler(other))  # someone else's, on the way
    for rid in ("both-1", "both-2"):  # Flask, then the fast path
        client.get("/", headers={HEADER: rid}).get_data()
        assert f"[{rid}]" in stream.getvalue()
    assert other.getvalue().count('"GET /" 200') == 2, other.getvalue()


def _no_record(*args, **kwargs):
    raise AssertionError("a record was made for a line only our handler writes")


def test_an_access_line_that_cannot_be_written_does_not_fail_the_request(
    monkeypatch, client, capsys
):
    _, stream = _only_ours(monkeypatch)
    stream.close()
    answer = client.get("/")
    assert answer.status_code == 200 and answer.get_data()
    assert "Logging error" in capsys.readouterr().err
