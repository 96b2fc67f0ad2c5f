"""Alert intake end to end: a site with intake rules served by a real `statuspage serve`, alerts
posted over HTTP, a real Prometheus Alertmanager in front of it, and bounded waits.

`prepared_site` readies the test's database in-process (messages, components, integrations);
`intake_config` writes the config file the served process reads (the rules below).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Draft
from statuspage.intake import integrations
from statuspage.publishing import components as component_service
from statuspage.publishing import library
from statuspage.resources import resource_dir
from tests.support import NOW
from tests.support.cli import write_config
from tests.support.receivers import free_port

T = TypeVar("T")

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
#: Every wait for another process: generous, for a loaded machine; polled, never slept out.
DEADLINE = 30.0
COMPONENTS = ("API", "Website", "Database")
#: Integrations of the prepared site: name -> (format, authentication).
INTEGRATIONS = {
    "prom": ("alertmanager", "bearer"),
    "grafana": ("grafana", "bearer"),
    "grafana-signed": ("grafana", "hmac"),
    "kuma": ("generic", "bearer"),
}
#: The `[intake.NAME]` rules the served site runs with (TOML, as an operator writes them).
RULES = """
[intake.api-down]
integrations = ["prom"]
match = { alertname = "ApiDown" }
component_label = "component"
message = "outage-investigating"
resolve_message = "outage-resolved"
values = { resolved_at = "{{ resolved_at }}" }

[intake.memory]
integrations = ["grafana", "grafana-signed"]
match = { alertname = "High memory usage" }
components = ["Website"]
message = "degraded-investigating"
resolve_message = "degraded-resolved"
values = { symptom = "{{ description }}.", resolved_at = "{{ resolved_at }}" }

[intake.checks]
integrations = ["kuma"]
component_label = "component"
severities = ["critical", "error"]
message = "errors-investigating"
resolve_message = "errors-resolved"
values = { resolved_at = "{{ resolved_at }}" }
"""


def prepared_site(app) -> dict[str, str]:
    """Sync the message library, add the components, create the integrations; their secrets.

    Runs in the test process on the test's database, before a server is started on it.
    """
    with write_transaction():
        library.sync_directory(resource_dir("messages"), now=NOW)
        for name in COMPONENTS:
            component_service.add_component(name, now=NOW)
        secrets = {}
        for name, (fmt, auth) in INTEGRATIONS.items():
            _, secrets[name] = integrations.create(
                name,
                fmt,
                auth=auth,
                secret_key=app.config["SECRET_KEY"],
                now=NOW,
                actor=audit.CLI,
            )
    return secrets


def intake_config(folder: Path, db_url: str, extra: str = "") -> Path:
    """A config file for `statuspage serve` on `db_url` with the intake RULES."""
    path = write_config(folder / "statuspage.toml", db_url)
    path.write_text(path.read_text() + RULES + extra)
    return path


def post_json(
    url: str, payload: Any, *, secret: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST JSON (or bytes as they are); the status and the JSON answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


def raw_post(
    base: str, path: str, chunks: list[bytes], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST `chunks` as the body, chunked (no Content-Length) unless headers give a length."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=DEADLINE)
    try:
        chunked = "Content-Length" not in headers
        conn.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def wait_for(condition: Callable[[], T | None], what: str, seconds: float = DEADLINE) -> T:
    """Poll `condition` until it returns something truthy (returned); fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.1)


def read(query: Callable[[], T]) -> T:
    """Run a read on the test's session afresh, and end its transaction (a served process
    writes to the same database meanwhile)."""
    db.session.rollback()
    try:
        return query()
    finally:
        db.session.rollback()


def drafts_of(rule: str) -> list[Draft]:
    """The drafts a rule prepared, oldest first (read afresh)."""
    return read(
        lambda: list(
            db.session.scalars(sa.select(Draft).where(Draft.rule == rule).order_by(Draft.id))
        )
    )


def alert_count() -> int:
    return read(lambda: db.session.scalar(sa.select(sa.func.count(Alert.id))) or 0)


# --- Prometheus Alertmanager ------------------------------------------------------------------


def alertmanager_binary() -> str:
    """The Alertmanager binary; skipped when it is missing, a failure on CI (it is installed)."""
    if Path(ALERTMANAGER).is_file() and os.access(ALERTMANAGER, os.X_OK):
        return ALERTMANAGER
    found = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
    if found:
        return found
    reason = "Prometheus Alertmanager is not installed (apt-get install prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def alertmanager_config(webhook_url: str, secret: str) -> str:
    """Route every alert at once to one webhook receiver: statuspage's intake endpoint."""
    return f"""
route:
  receiver: statuspage
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: statuspage
    webhook_configs:
      - url: {json.dumps(webhook_url)}
        send_resolved: true
        max_alerts: 100
        http_config:
          authorization:
            type: Bearer
            credentials: {json.dumps(secret)}
"""


@contextmanager
def alertmanager(folder: Path, webhook_url: str, secret: str) -> Iterator[str]:
    """Run Alertmanager (no cluster, data in `folder`) until the block ends; yield its base URL."""
    binary = alertmanager_binary()
    config = folder / "alertmanager.yml"
    config.write_text(alertmanager_config(webhook_url, secret))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / f"alertmanager-{port}.log"
    # Loopback only: no proxy from the environment may sit between it and statuspage.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.path={folder / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=out)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"alertmanager exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, "Alertmanager to be ready")
        yield base
    except BaseException:
        print(log.read_text(errors="replace")[-6000:])  # shown with the failure
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def am_alert(alertname: str, *, starts_at: str, ends_at: str | None = None, **labels: str):
    """One alert as a client posts it to Alertmanager's API (`POST /api/v2/alerts`)."""
    alert: dict[str, Any] = {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": f"{alertname} on production"},
        "startsAt": starts_at,
        "generatorURL": "http://prometheus.example.com/graph?g0.expr=up",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at
    return alert
