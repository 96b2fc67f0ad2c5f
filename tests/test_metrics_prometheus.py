"""The real Prometheus (Debian's `prometheus`) scrapes a real `statuspage serve` (two worker
processes) and a real `statuspage worker` with a bearer token, and after a publish reads back,
through its HTTP API, the outbox depth and the request counts; the processes' logs are JSON
lines with request ids.

Every wait polls with a deadline of tens of seconds (never a fixed sleep): the machine may be
loaded. Every process started here is stopped in a `finally`.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Subscriber
from tests.support.cli import SECRET
from tests.support.prometheus import (
    PROMETHEUS,
    check_metrics,
    require,
    running,
    value,
    wait_for_value,
)
from tests.support.receivers import free_port, serving, start_worker

TOKEN = "prometheus-scrapes-with-this-t0ken"
#: Deadline of each wait, in seconds: generous, for a loaded machine.
PATIENCE = 90


def write_site_config(folder: Path, db_url: str, smtp_port: int) -> Path:
    """One config for the server and the worker: metrics by token only, JSON logs, and an SMTP
    server that refuses connections (the subscriber's mail waits in the outbox, retrying). The
    worker's metrics address comes from its environment."""
    path = folder / "statuspage.toml"
    path.write_text(
        f"""secret_key = "{SECRET}"
[site]
url = "https://status.example.com"
[database]
url = {json.dumps(db_url)}
[metrics]
token = "{TOKEN}"
allow_networks = []
[logging]
format = "json"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
timeout_seconds = 2
[worker]
poll_seconds = 1
retry_base_seconds = 3600
"""
    )
    return path


def get(url: str, token: str = "") -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def post_incident(base: str, api_token: str) -> int:
    body = {"title": "Checkout errors", "status": "investigating", "impact": "major", "body": "."}
    request = urllib.request.Request(
        f"{base}/api/v1/incidents",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_prometheus_reads_outbox_depth_and_request_counts_after_a_publish(
    ctx, people, db_url, tmp_path
):
    require(PROMETHEUS)
    with write_transaction():
        api_token = tokens.create(people["editor"], "prometheus test", now=utcnow())[1]
        db.session.add(
            Subscriber(
                kind="email", email="ops@example.com", created_at=utcnow(), confirmed_at=utcnow()
            )
        )
    # Each port is picked once the ports picked before it are taken (a port picked but not yet
    # bound could be handed out twice): the server's, then the worker's, then Prometheus's.
    config = write_site_config(tmp_path, db_url, smtp_port=free_port())
    worker_log = tmp_path / "worker.log"
    output: list[str] = []
    with serving(config, tmp_path, output, workers=2) as base:
        worker_port = free_port()
        listen = {"STATUSPAGE_METRICS_WORKER_LISTEN": f"127.0.0.1:{worker_port}"}
        worker = start_worker(config, worker_log, env=listen)
        try:
            port = base.rsplit(":", 1)[1]
            jobs = {"web": f"127.0.0.1:{port}", "worker": f"127.0.0.1:{worker_port}"}
            with running(tmp_path, jobs, TOKEN) as prometheus:
                log = tmp_path / "prometheus.log"

                def wait(expression: str, accept) -> float:
                    return wait_for_value(prometheus, expression, accept, PATIENCE, log)

                # Both targets are up: the bearer token opened /metrics (no network may).
                for job in jobs:
                    wait(f'up{{job="{job}"}}', lambda up: up == 1)
                depth = 'sum(statuspage_outbox_messages{{job="{}",state=~"pending|retrying"}})'
                published = 'statuspage_incident_updates_published_total{job="web"}'
                assert wait(depth.format("web"), lambda found: True) == 0
                before = wait(published, lambda found: True)
                for _ in range(5):
                    assert get(base + "/")  # rendered once, then from the fast path

                assert post_incident(base, api_token) == 201

                # One message waits: the fan-out row, then (expanded) the subscriber's mail.
                for job in jobs:
                    wait(depth.format(job), lambda found: found == 1)
                wait(published, lambda found: found == before + 1)
                index = 'sum(statuspage_http_requests_total{job="web",route="public.index"})'
                assert wait(index, lambda found: found >= 5) >= 5
                created = (
                    'sum(statuspage_http_requests_total{job="web",'
                    'route="api_v1.create_incident",method="POST",status="201"})'
                )
                assert wait(created, lambda found: found == 1) == 1
                hits = (
                    "sum(statuspage_public_cache_lookups_total"
                    '{job="web",layer="fastpath",result="hit"})'
                )
                assert wait(hits, lambda found: found >= 1) >= 1
                retries = (
                    'sum(statuspage_deliveries_total{job="worker",kind="smtp",result="retry"})'
                )
                assert wait(retries, lambda found: found >= 1) >= 1
                assert value(prometheus, 'statuspage_database_up{job="worker"}') == 1
                # promtool accepts what both processes serve (the server's adds up its workers).
                for target in jobs.values():
                    checked = check_metrics(get(f"http://{target}/metrics", token=TOKEN))
                    assert checked.returncode == 0, checked.stdout + checked.stderr
                    assert not checked.stdout.strip(), checked.stdout
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)

    # The logs: one JSON object per line (but the command's own "Serving ..." line), the
    # scrapes and the publish in the access log with their request ids, each request once.
    served = [line for line in output[0].splitlines() if not line.startswith("Serving ")]
    entries = [json.loads(line) for line in served]
    access = [e for e in entries if e["logger"] == "statuspage.access"]
    assert any(e["path"] == "/api/v1/incidents" and e["status"] == 201 for e in access)
    assert any(e["path"] == "/metrics" and e["status"] == 200 for e in access)
    ids = [e["request_id"] for e in access]
    assert all(ids) and len(ids) == len(set(ids))
    assert not any(e["logger"] == "granian.access" for e in entries)
    worker_entries = [json.loads(line) for line in worker_log.read_text().splitlines()]
    assert any("metrics listener on" in e["message"] for e in worker_entries)
