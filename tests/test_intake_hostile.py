"""Hostile intake against a real `statuspage serve`: wrong secrets, oversized, malformed and
deeply nested bodies are refused with a clear answer and leave the server answering; a replay is
deduplicated; a burst of 1,000 alerts is recorded in full while a PM publishes.

Correctness only: how fast is bench/intake_burst.py's business.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.core import limits
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Draft, Incident, IncidentUpdate
from tests.support.intake import (
    alert_count,
    drafts_of,
    intake_config,
    post_json,
    prepared_site,
    raw_post,
    read,
)
from tests.support.receivers import serving

BURST = 1000
#: Clients sending the burst, one request at a time each.
SENDERS = 4


@pytest.fixture
def site(ctx, db_url, tmp_path):
    """The test's database ready for intake, and a config file with the rules: the secrets."""
    return prepared_site(ctx), intake_config(tmp_path, db_url)


@pytest.fixture
def served(site, tmp_path):
    """`statuspage serve` with the intake rules: (base URL, secrets)."""
    secrets, config = site
    with serving(config, tmp_path) as base:
        yield base, secrets


@pytest.fixture
def served_by_two(site, tmp_path):
    """The same with two processes, so intake and publishing write at the same time."""
    secrets, config = site
    with serving(config, tmp_path, workers=2) as base:
        yield base, secrets


def check(n: int, **fields) -> dict:
    """A generic-format alert for the `checks` rule (the API, critical)."""
    return {
        "title": f"Check {n} failing",
        "severity": "critical",
        "component": "API",
        "fingerprint": f"check-{n}",
        **fields,
    }


def still_answers(base: str, secret: str) -> None:
    """The server answers health checks and takes a good alert."""
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        assert response.status == 200
    status, answer = post_json(f"{base}/api/intake/kuma", check(0), secret=secret)
    assert status == 202, answer


#: Requests that must be refused alike: (integration, Authorization header).
WRONG_CREDENTIALS = [
    ("kuma", "Bearer sp_in_wrong"),
    ("kuma", None),
    ("kuma", "Basic !!!"),
    ("kuma", "Bearer {prom}"),  # another integration's secret
    ("nobody", "Bearer {kuma}"),
    ("kuma~1", "Bearer {kuma}"),
]


def test_a_wrong_secret_is_a_401_that_records_nothing(served):
    base, secrets = served
    for name, authorization in WRONG_CREDENTIALS:
        headers = {"Authorization": authorization.format(**secrets)} if authorization else {}
        status, answer = post_json(f"{base}/api/intake/{name}", check(1), headers=headers)
        assert status == 401, (name, authorization)
        assert answer["error"]["code"] == "unauthorized"
        assert "credentials" in answer["error"]["message"]
    assert alert_count() == 0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_a_413_saying_the_limit(served, declared):
    base, secrets = served
    # Valid JSON, one byte too many: the size alone refuses it.
    padding = limits.MAX_INTAKE_BYTES + 1 - len(json.dumps(check(1, description="")))
    body = json.dumps(check(1, description="x" * padding)).encode()
    assert len(body) == limits.MAX_INTAKE_BYTES + 1
    headers = {"Authorization": f"Bearer {secrets['kuma']}", "Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(len(body))
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    status, answer = raw_post(base, "/api/intake/kuma", chunks, headers)
    assert status == 413
    error = answer["error"]
    assert error["code"] == "payload_too_large" and error["field"] == "body"
    assert f"at most {limits.MAX_INTAKE_BYTES:,} bytes" in error["message"]
    assert alert_count() == 0
    still_answers(base, secrets["kuma"])


#: Bodies refused with 400: (integration, body, the field named, words of the message).
MALFORMED = [
    ("kuma", b'{"title": "x",', "body", "not JSON"),
    ("kuma", b"\xff\xfe{}", "body", "not JSON"),
    ("kuma", {"severity": "critical"}, "title", "`title` is required"),
    ("kuma", {"title": "x", "colour": "red"}, "colour", "unknown field 'colour'"),
    ("kuma", {"alerts": [{"title": "x", "url": "ftp://x"}]}, "alerts[0].url", "http(s) URL"),
    ("kuma", {"title": "x", "status": "burning"}, "status", '"firing" or "resolved"'),
    ("kuma", b'{"title": "x", "n": ' + b"9" * 5000 + b"}", "body", "number that is too long"),
    ("kuma", b'{"title": "x", "n": NaN}', "body", "NaN is not a JSON number"),
    ("kuma", b'{"title": "x", "n": 1e999}', "body", "1e999 is not a JSON number"),
    ("kuma", b'{"title": "x", "url": "https://x/\\ud800"}', "url", "http(s) URL"),
    ("prom", {"alerts": {}}, "alerts", "must be a list"),
    ("prom", [1, 2], "payload", "JSON object"),
    (
        "prom",
        {"alerts": [{"status": "firing", "labels": {"severity": 3}}]},
        "alerts[0].labels.severity",
        "must be a string",
    ),
    (
        "prom",
        {"alerts": [{"status": "firing", "labels": {}, "endsAt": "soon"}]},
        "alerts[0].endsAt",
        "RFC 3339",
    ),
]


def test_a_malformed_body_is_a_400_naming_the_field(served):
    base, secrets = served
    for name, body, field, words in MALFORMED:
        status, answer = post_json(f"{base}/api/intake/{name}", body, secret=secrets[name])
        assert status == 400, (body, answer)
        error = answer["error"]
        assert (error["code"], error["field"]) == ("invalid_payload", field), body
        assert words in error["message"], (body, error)
    assert alert_count() == 0


def test_text_a_database_cannot_store_is_cleaned_or_dropped(served):
    base, secrets = served
    # Valid JSON: a lone surrogate and a NUL, in a label, an annotation, a link, the raw alert.
    body = (
        b'{"alerts": [{"status": "firing", "fingerprint": "odd",'
        b' "labels": {"alertname": "Odd\\ud800\\u0000"},'
        b' "annotations": {"summary": "odd \\udfff text"},'
        b' "generatorURL": "https://prometheus.example.com/\\ud800",'
        b' "extra": ["\\ud800", "\\u0000"]}]}'
    )
    status, answer = post_json(f"{base}/api/intake/prom", body, secret=secrets["prom"])
    assert status == 202, answer
    row = read(lambda: db.session.scalars(sa.select(Alert)).one())
    assert (row.title, row.labels["alertname"], row.url) == ("odd text", "Odd", "")


def test_deeply_nested_json_is_a_400_and_the_server_carries_on(served):
    base, secrets = served
    nested = [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"title": "deep", "labels": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    ]
    for body in nested:
        assert len(body) < limits.MAX_INTAKE_BYTES
        status, answer = post_json(f"{base}/api/intake/kuma", body, secret=secrets["kuma"])
        assert status == 400, answer
        assert answer["error"]["field"] == "body"
        assert "nested too deeply" in answer["error"]["message"]
    still_answers(base, secrets["kuma"])


def test_a_replayed_alert_is_recorded_once(served):
    base, secrets = served
    url = f"{base}/api/intake/kuma"
    first = post_json(url, check(1), secret=secrets["kuma"])[1]
    replays = [post_json(url, check(1), secret=secrets["kuma"])[1] for _ in range(3)]
    assert (first["new"], first["deduplicated"], len(first["drafts"])) == (1, 0, 1)
    assert all((r["new"], r["deduplicated"], r["drafts"]) == (0, 1, []) for r in replays)
    row = read(lambda: db.session.scalars(sa.select(Alert)).one())
    assert (row.received_count, row.duplicate_count) == (4, 3)
    assert len(drafts_of("checks")) == 1


class Publisher(threading.Thread):
    """A PM posting updates to an incident through /api/v1 until told to stop."""

    def __init__(self, base: str, token: str, incident_id: int) -> None:
        super().__init__()
        self.url = f"{base}/api/v1/incidents/{incident_id}/updates"
        self.token = token
        self.statuses: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() or len(self.statuses) < 3:
            n = len(self.statuses) + 1
            status, _ = post_json(
                self.url,
                {"status": "identified", "body": f"Update {n}: still on it."},
                headers={"Authorization": f"Bearer {self.token}"},
            )
            self.statuses.append(status)


@pytest.fixture
def pm(people, served_by_two) -> tuple[str, int]:
    """An editor's API token and an open incident to post updates to."""
    base, _ = served_by_two
    with write_transaction():
        token = tokens.create(people["editor"], "burst test", now=utcnow())[1]
    status, answer = post_json(
        f"{base}/api/v1/incidents",
        {"title": "Payments slow", "body": "Looking into it.", "impact": "minor"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 201, answer
    return token, answer["incident"]["id"]


def test_a_burst_of_1000_alerts_is_recorded_in_full_while_a_pm_publishes(served_by_two, pm):
    base, secrets = served_by_two
    token, incident_id = pm
    url = f"{base}/api/intake/kuma"
    publisher = Publisher(base, token, incident_id)
    publisher.start()
    try:
        with ThreadPoolExecutor(SENDERS) as pool:
            answers = list(
                pool.map(lambda n: post_json(url, check(n), secret=secrets["kuma"]), range(BURST))
            )
        # And as one request of 1,000 alerts, from Alertmanager.
        started = utcnow() - timedelta(minutes=1)
        one = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "ApiDown", "component": "API", "pod": f"api-{n}"},
                    "startsAt": started.isoformat(),
                    "fingerprint": f"{n:016x}",
                }
                for n in range(BURST)
            ],
        }
        big = post_json(f"{base}/api/intake/prom", one, secret=secrets["prom"])
    finally:
        publisher.stop.set()
        publisher.join(timeout=120)

    assert [status for status, _ in answers] == [202] * BURST
    assert sum(answer["new"] for _, answer in answers) == BURST
    assert big[0] == 202 and big[1]["new"] == BURST, big
    assert alert_count() == 2 * BURST
    # Every alert of a rule joined its one draft.
    for rule in ("checks", "api-down"):
        [draft] = drafts_of(rule)
        joined = read(
            lambda d=draft: db.session.scalar(
                sa.select(sa.func.count(Alert.id)).where(Alert.draft_id == d.id)
            )
        )
        assert joined == BURST, rule
    # Publishing went on: every update was published.
    assert not publisher.is_alive()
    assert publisher.statuses and set(publisher.statuses) == {201}, publisher.statuses
    updates = read(
        lambda: db.session.scalar(
            sa.select(sa.func.count(IncidentUpdate.id)).where(
                IncidentUpdate.incident_id == incident_id
            )
        )
    )
    assert updates == 1 + len(publisher.statuses)
    assert read(lambda: db.session.scalar(sa.select(sa.func.count(Incident.id)))) == 1
    assert read(lambda: db.session.scalar(sa.select(sa.func.count(Draft.id)))) == 2
