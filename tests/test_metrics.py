"""/metrics: who may read it (networks, the bearer token, behind a trusted proxy), what it
holds (requests by route, cache, outbox, deliveries, escalations, publishes; the database's
families computed at scrape time), that it is never cached, that promtool accepts it, and the
worker's own listener. The real Prometheus scraping real processes: test_metrics_prometheus.py.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from datetime import timedelta
from http import HTTPStatus
from ipaddress import ip_network

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from statuspage import metrics
from statuspage.config import load_settings
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import EscalationRun, IncidentUpdate
from statuspage.delivery import outbox
from statuspage.delivery.worker import run_worker
from statuspage.errors import ConfigError, DatabaseUnavailable
from statuspage.web.metrics import Access, Listener
from tests.support import NOW
from tests.support.cli import assert_one_line_error
from tests.support.prometheus import check_metrics
from tests.support.receivers import Reply, free_port

TOKEN = "metrics-t0ken-for-tests"
LOCAL = (ip_network("127.0.0.1/32"), ip_network("::1/128"))


def samples(text: bytes | str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    """One sample's value, 0 when absent (a counter not counted yet)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def increase(before: dict, after: dict, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def scrape(client, **environ) -> dict:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1", **environ})
    assert response.status_code == 200, response.data
    return samples(response.data)


# -- who may read it ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # an IPv4 client of a dual-stack socket
        ("10.0.0.1", False),
        ("2001:db8::1", False),
        ("not an address", False),
    ],
)
def test_the_default_networks_let_this_host_read_the_metrics(address, allowed):
    access = Access(enabled=True, token="", networks=LOCAL)
    expected = HTTPStatus.OK if allowed else HTTPStatus.FORBIDDEN
    assert access.verdict({"REMOTE_ADDR": address}) is expected


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (f"Bearer {TOKEN}", HTTPStatus.OK),
        (f"bearer {TOKEN}", HTTPStatus.OK),
        (f"Bearer {TOKEN}x", HTTPStatus.UNAUTHORIZED),
        ("Bearer ", HTTPStatus.UNAUTHORIZED),
        (f"Basic {TOKEN}", HTTPStatus.UNAUTHORIZED),
        (TOKEN, HTTPStatus.UNAUTHORIZED),
        (None, HTTPStatus.UNAUTHORIZED),
    ],
)
def test_the_token_opens_the_metrics_from_anywhere(authorization, expected):
    access = Access(enabled=True, token=TOKEN, networks=LOCAL)
    environ = {"REMOTE_ADDR": "203.0.113.9"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    assert access.verdict(environ) is expected


def test_a_token_without_networks_is_needed_even_from_this_host():
    access = Access(enabled=True, token=TOKEN, networks=())
    assert access.verdict({"REMOTE_ADDR": "127.0.0.1"}) is HTTPStatus.UNAUTHORIZED


def test_metrics_turned_off_are_not_found():
    access = Access(enabled=False, token=TOKEN, networks=LOCAL)
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert access.verdict(environ) is HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"])
def test_a_request_relayed_by_an_untrusted_proxy_on_this_host_is_not_local(header):
    # nginx on the same host, not listed in server.trusted_proxies: everyone would be 127.0.0.1.
    access = Access(enabled=True, token="", networks=LOCAL)
    environ = {"REMOTE_ADDR": "127.0.0.1", header: "203.0.113.9"}
    assert access.verdict(environ) is HTTPStatus.FORBIDDEN


def test_the_web_app_answers_401_with_a_challenge_and_403_without_a_token(make_app):
    with_token = make_app(metrics={"token": TOKEN}).test_client()
    response = with_token.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.headers["Cache-Control"] == "no-store"
    ok = with_token.get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert ok.status_code == 200 and b"statuspage_database_up 1.0" in ok.data
    without = make_app().test_client()
    response = without.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 403 and "WWW-Authenticate" not in response.headers


def test_behind_a_trusted_proxy_the_real_client_address_decides(make_app):
    app = make_app(
        server={"trusted_proxies": ["10.0.0.0/8"]},
        metrics={"allow_networks": ["192.0.2.0/24"]},
    )
    client = app.test_client()

    def status(peer: str, forwarded_for: str) -> int:
        environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for}
        return client.get("/metrics", environ_base=environ).status_code

    assert status("10.0.0.5", "192.0.2.7") == 200  # an allowed client, through our proxy
    assert status("10.0.0.5", "198.51.100.1") == 403  # anyone else, through our proxy
    assert status("10.0.0.5", "192.0.2.7, 10.0.0.9") == 200  # through two of our proxies
    assert status("198.51.100.1", "192.0.2.7") == 403  # a client claiming to be allowed


def test_the_metrics_need_no_session_and_set_no_cookie(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == metrics.CONTENT_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert client.head("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_the_metrics_are_never_served_from_the_cache(client):
    first = scrape(client)
    second = scrape(client)
    route = {"route": "metrics.scrape", "method": "GET", "status": "200"}
    assert increase(first, second, "statuspage_http_requests_total", **route) == 1
    assert "/metrics" not in client.application.extensions["statuspage_fastpath"].routes
    for layer, result in (("fastpath", "hit"), ("flask", "hit"), ("flask", "miss")):
        labels = {"layer": layer, "result": result}
        assert increase(first, second, "statuspage_public_cache_lookups_total", **labels) == 0


# -- what it holds --------------------------------------------------------------------------


def test_requests_are_counted_by_route_fast_path_included(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/").get_data()  # the second and third come from the fast path
    missed = client.get("/no/such/page")
    assert missed.status_code == 404 and missed.get_data()  # counted once its body is sent
    after = scrape(client)
    index = {"route": "public.index", "method": "GET", "status": "200"}
    assert increase(before, after, "statuspage_http_requests_total", **index) == 3
    missing = {"route": "unmatched", "method": "GET", "status": "404"}
    assert increase(before, after, "statuspage_http_requests_total", **missing) == 1
    durations = "statuspage_http_request_duration_seconds_count"
    assert increase(before, after, durations, route="public.index") == 3
    assert not any(("route", "/") in labels for _, labels in after)  # never the raw path
    lookups = "statuspage_public_cache_lookups_total"
    assert increase(before, after, lookups, layer="flask", result="miss") == 1
    assert increase(before, after, lookups, layer="fastpath", result="hit") == 2


def test_the_database_families_are_read_at_scrape_time(app, ctx, sample):
    with write_transaction():
        for key, state, error, age in (
            ("m:new", "pending", "", 30),
            ("m:oldest", "pending", "HTTP 500", 90),
            ("m:sent", "sent", "", 600),
            ("m:dead", "dead", "HTTP 400", 700),
        ):
            outbox.enqueue(
                key=key,
                channel="ops-hook",
                kind="webhook",
                payload={"subject": "s", "text": "t"},
                now=NOW - timedelta(seconds=age),
            )
            db.session.execute(
                sa.update(outbox.OutboxMessage)
                .where(outbox.OutboxMessage.idempotency_key == key)
                .values(state=state, last_error=error)
            )
        for index, active in enumerate((True, True, False)):
            db.session.add(
                EscalationRun(
                    incident_id=sample["open"].id,
                    path_name=f"path-{index}",
                    snapshot={},
                    started_at=NOW,
                    active=active,
                )
            )
    updates = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate))
    found = samples(metrics.render(app, clock=lambda: NOW))
    assert value(found, "statuspage_outbox_messages", state="pending") == 1
    assert value(found, "statuspage_outbox_messages", state="retrying") == 1
    assert value(found, "statuspage_outbox_messages", state="sent") == 1
    assert value(found, "statuspage_outbox_messages", state="dead") == 1
    assert value(found, "statuspage_outbox_oldest_pending_age_seconds") == 90
    assert value(found, "statuspage_escalation_runs_active") == 2
    assert updates > 0
    assert value(found, "statuspage_incident_updates_published_total") == updates
    assert value(found, "statuspage_database_up") == 1


def test_an_unreachable_database_is_database_up_0_not_a_failed_scrape(client, monkeypatch):
    def unreachable():
        raise DatabaseUnavailable()

    monkeypatch.setattr(outbox, "stats", unreachable)
    found = scrape(client)
    assert value(found, "statuspage_database_up") == 0
    names = {name for name, _ in found}
    assert not any(
        name.startswith(("statuspage_outbox", "statuspage_escalation")) for name in names
    )
    assert "statuspage_incident_updates_published_total" not in names
    assert "statuspage_http_requests_total" in names  # the process's own are still there


def test_a_failing_family_leaves_the_others_in_place(client, monkeypatch, caplog):
    def broken(now):
        raise ValueError("a bug")

    monkeypatch.setattr(metrics, "DATABASE_FAMILIES", [broken, *metrics.DATABASE_FAMILIES])
    found = scrape(client)
    assert value(found, "statuspage_database_up") == 1
    assert ("statuspage_escalation_runs_active", frozenset()) in found
    assert "broken failed" in caplog.text


def test_one_function_adds_a_database_family(client, monkeypatch):
    from prometheus_client.metrics_core import GaugeMetricFamily

    def components(now):
        yield GaugeMetricFamily("statuspage_test_family", "A family added by one function.", 7)

    monkeypatch.setattr(metrics, "DATABASE_FAMILIES", list(metrics.DATABASE_FAMILIES))
    metrics.database_family(components)
    assert value(scrape(client), "statuspage_test_family") == 7


SECRET = "whsec_" + base64.b64encode(b"metrics-test-signing-secret!").decode()


def test_deliveries_are_counted_by_kind_and_result(make_app, receiver, monkeypatch):
    monkeypatch.setenv("METRICS_TEST_SECRET", SECRET)
    replies = {"/ok": 200, "/later": 503, "/never": 400}
    receiver.respond = lambda request: Reply(replies[request.path])
    app = make_app(
        worker={"max_attempts": 3},
        channels={
            name: {
                "type": "webhook",
                "url": receiver.url(path),
                "secret_env": "METRICS_TEST_SECRET",
            }
            for name, path in (
                ("hook-ok", "/ok"),
                ("hook-later", "/later"),
                ("hook-never", "/never"),
            )
        },
    )
    with app.app_context(), write_transaction():
        for channel in ("hook-ok", "hook-later", "hook-never"):
            outbox.enqueue(
                key=f"d:{channel}",
                channel=channel,
                kind="webhook",
                payload={"subject": "s", "text": "t"},
                now=NOW,
            )

    def count(result: str) -> float:
        labels = {"kind": "webhook", "result": result}
        return metrics.REGISTRY.get_sample_value("statuspage_deliveries_total", labels) or 0.0

    before = {result: count(result) for result in metrics.DELIVERY_RESULTS}
    assert run_worker(app, once=True, clock=lambda: NOW) == 3
    after = {result: count(result) for result in metrics.DELIVERY_RESULTS}
    assert {r: after[r] - before[r] for r in after} == {
        "sent": 1,
        "retry": 1,
        "dead": 1,
        "skipped": 0,
    }
    found = samples(metrics.render(app))
    assert value(found, "statuspage_deliveries_total", kind="webhook", result="dead") >= 1


@pytest.mark.parametrize("counted_before", [False, True])
def test_counts_of_forked_processes_add_up_in_one_scrape(app, db_url, tmp_path, counted_before):
    # What `statuspage serve` does: switch to multiprocess mode, then fork the workers. A
    # series counted before the switch (kept for the next request) must not swallow theirs.
    script = textwrap.dedent(
        f"""
        import os, sys
        from statuspage import create_app, metrics
        app = create_app({{"secret_key": "s", "database": {{"url": {db_url!r}}}}})
        if {counted_before!r}:
            metrics.observe_request("public.index", "GET", "200", 0.01)
        metrics.use_multiprocess_dir({str(tmp_path / "prom")!r})
        children = []
        for n in (1, 2):
            pid = os.fork()
            if pid == 0:
                for _ in range(n):
                    metrics.observe_request("public.index", "GET", "200", 0.01)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        sys.stdout.write(metrics.render(app).decode())
        """
    )
    (tmp_path / "prom").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATUSPAGE_", "PROMETHEUS"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    found = samples(done.stdout)
    labels = {"route": "public.index", "method": "GET", "status": "200"}
    assert value(found, "statuspage_http_requests_total", **labels) == 3
    assert value(found, "statuspage_database_up") == 1


# -- promtool, and the worker's listener ----------------------------------------------------


def test_promtool_accepts_the_web_metrics(client):
    for path in ("/", "/", "/history", "/api/v2/summary.json", "/nothing"):
        client.get(path).get_data()
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    checked = check_metrics(response.data)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_the_worker_listener_serves_the_same_metrics_behind_the_same_rule(make_app):
    port = free_port()
    app = make_app(
        metrics={"token": TOKEN, "allow_networks": [], "worker_listen": f"127.0.0.1:{port}"}
    )
    metrics.start_delivery_series(["webhook"])
    listener = Listener(app, app.config["STATUSPAGE"].metrics["worker_listen"]).start()
    try:
        base = f"http://127.0.0.1:{port}"
        status, headers, _ = _get(base + "/metrics")
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        status, headers, body = _get(base + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and headers["Cache-Control"] == "no-store"
        found = samples(body)
        assert value(found, "statuspage_database_up") == 1
        assert ("statuspage_outbox_oldest_pending_age_seconds", frozenset()) in found
        dead = frozenset({("kind", "webhook"), ("result", "dead")})
        assert ("statuspage_deliveries_total", dead) in found
        checked = check_metrics(body)
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout
        assert _get(base + "/other")[0] == 404
        post = urllib.request.Request(base + "/metrics", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(post, timeout=10)
        refused.value.close()
        assert refused.value.code == 405
    finally:
        listener.stop()


def test_a_busy_worker_listen_port_is_a_one_line_error(sqlite_site, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("STATUSPAGE_METRICS_WORKER_LISTEN", f"127.0.0.1:{port}")
        result = sqlite_site("worker")
    assert_one_line_error(result, "metrics.worker_listen", f"127.0.0.1:{port}")


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("metrics", "allow_networks", ["not-a-network"], "metrics.allow_networks"),
        ("metrics", "worker_listen", "9465", "metrics.worker_listen"),
        ("metrics", "worker_listen", "127.0.0.1:99999", "metrics.worker_listen"),
        ("logging", "format", "yaml", "logging.format"),
    ],
)
def test_bad_metrics_and_logging_settings_are_refused_by_name(section, key, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(overrides={section: {key: value}}, environ={})


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9465", ("127.0.0.1", 9465)), ("[::1]:9465", ("::1", 9465)), (":9465", ("", 9465))],
)
def test_worker_listen_takes_host_and_port(listen, expected):
    from statuspage.config import parse_listen

    assert parse_listen(listen) == expected


def test_a_trusted_proxy_that_names_no_client_does_not_make_it_local(make_app):
    """nginx on this host with only X-Real-IP (or no header): the peer is the proxy itself."""
    app = make_app(server={"trusted_proxies": ["127.0.0.1/32"]})
    client = app.test_client()
    for headers in ({}, {"HTTP_X_REAL_IP": "203.0.113.9"}):
        environ = {"REMOTE_ADDR": "127.0.0.1", **headers}
        assert client.get("/metrics", environ_base=environ).status_code == 403, headers
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=forwarded).status_code == 200
