"""A burst of alerts against `statuspage serve` while a PM publishes: alerts/s, intake latency,
and publish latency during the burst against idle, side by side in one run.

Usage: .venv/bin/python bench/intake_burst.py [--alerts 1000] [--concurrency 8] [--workers 2]
                                              [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

1. prepares a database (the message library, three components, an editor's API token, two
   integrations and one `[intake.NAME]` draft rule that every alert matches) and serves it with
   `statuspage serve --workers W` on 127.0.0.1;
2. idle: a PM posts updates to an open incident through POST /api/v1/incidents/<id>/updates,
   one after the other (`--samples` of them);
3. burst: ALERTS alerts in the generic format, each its own request (its own fingerprint), from
   CONCURRENCY clients on kept-alive connections, while the PM posts updates back to back;
4. one request: the same number of alerts in one Alertmanager payload, while the PM publishes.
It then checks that every alert was recorded and joined the rule's one draft, and prints a table.
With --postgres, a scratch database is created on that server and dropped at the end (also
`STATUSPAGE_TEST_DATABASE_URL`, with `--postgres env`); otherwise a SQLite file in a temporary
folder. The machine is shared: compare rows of one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the server helper the tests use

from statuspage import create_app
from statuspage.accounts import tokens, users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Draft, IncidentUpdate
from statuspage.intake import integrations
from statuspage.publishing import components as component_service
from statuspage.publishing import library
from statuspage.resources import resource_dir
from tests.support.receivers import serving

SECRET = "bench-secret"
RULE = """
[intake.storm]
component_label = "component"
message = "outage-investigating"
resolve_message = "outage-resolved"
values = { resolved_at = "{{ resolved_at }}" }
"""


@dataclass
class Timings:
    """Latencies (seconds) and failures of one kind of request."""

    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, failure: str | None) -> None:
        with self.lock:
            self.seconds.append(seconds)
            if failure:
                self.failures.append(failure)

    def cell(self) -> str:
        if not self.seconds:
            return "none"
        ordered = sorted(self.seconds)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return (
            f"n={len(ordered):<5} p50 {statistics.median(ordered) * 1000:7.1f} ms   "
            f"p99 {p99 * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms"
            + (f"   {len(self.failures)} failed" if self.failures else "")
        )


class Client:
    """One kept-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, payload: object, token: str) -> tuple[float, int, bytes]:
        body = json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(*self.address, timeout=120)
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return time.perf_counter() - started, response.status, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Publisher(threading.Thread):
    """A PM posting updates to one incident back to back until stopped (or `count` times)."""

    def __init__(self, base: str, token: str, incident_id: int, count: int | None = None):
        super().__init__(daemon=True)
        self.client = Client(base)
        self.path = f"/api/v1/incidents/{incident_id}/updates"
        self.token = token
        self.count = count
        self.timings = Timings()
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set() and (self.count is None or n < self.count):
            n += 1
            payload = {"status": "identified", "body": f"Update {n}: we are still on it."}
            seconds, status, data = self.client.post(self.path, payload, self.token)
            self.timings.add(seconds, None if status == 201 else f"{status} {data[:200]!r}")
        self.client.close()

    def stop(self) -> Timings:
        """Stop after the update in hand (a counted run: after the last one); its timings."""
        if self.count is None:
            self.halt.set()
        self.join(300)
        return self.timings


def prepare(url: str) -> tuple[dict[str, str], str]:
    """Migrate and fill the database; the integrations' secrets and an editor's API token."""
    app = create_app(
        {
            "secret_key": SECRET,
            "database": {"url": url},
            "site": {"name": "Bench Status", "url": "https://status.example.com"},
        }
    )
    with app.app_context():
        upgrade()
        now = utcnow()
        with write_transaction():
            library.sync_directory(resource_dir("messages"), now=now)
            for name in ("API", "Website", "Database"):
                component_service.add_component(name, now=now)
            keys = {
                name: integrations.create(name, fmt, secret_key=SECRET, now=now, actor=audit.CLI)[1]
                for name, fmt in (("kuma", "generic"), ("prom", "alertmanager"))
            }
            user = users.create_user(
                "pm@example.com",
                password="bench password 1",
                role="editor",
                now=now,
                actor=audit.CLI,
            )
            token = tokens.create(user, "bench", now=now)[1]
        db.engine.dispose()
    return keys, token


def check(url: str, alerts: int) -> str:
    """Every alert recorded and in the rule's one draft; the updates published."""
    app = create_app({"secret_key": SECRET, "database": {"url": url}})
    with app.app_context():
        recorded = db.session.scalar(sa.select(sa.func.count(Alert.id)))
        drafts = db.session.scalar(sa.select(sa.func.count(Draft.id)))
        joined = db.session.scalar(
            sa.select(sa.func.count(Alert.id)).where(Alert.draft_id.is_not(None))
        )
        updates = db.session.scalar(sa.select(sa.func.count(IncidentUpdate.id)))
        db.engine.dispose()
    verdict = "OK" if recorded == joined == 2 * alerts and drafts == 1 else "WRONG"
    return (
        f"check: {recorded} alerts recorded (sent {2 * alerts}), {joined} in a draft, "
        f"{drafts} draft(s) for the rule (1 expected), {updates} updates published: {verdict}"
    )


def burst(base: str, key: str, alerts: int, concurrency: int) -> tuple[Timings, float]:
    """ALERTS generic alerts, one request each, from CONCURRENCY kept-alive clients."""
    timings = Timings()
    local = threading.local()

    def send(n: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(base)
        payload = {
            "title": f"Checkout probe {n} failing",
            "severity": "critical",
            "component": "API",
            "fingerprint": f"probe-{n}",
            "url": f"https://kuma.example.com/dashboard/{n}",
        }
        try:
            seconds, status, data = local.client.post("/api/intake/kuma", payload, key)
        except OSError as exc:
            timings.add(0.0, repr(exc))
            return
        timings.add(seconds, None if status == 202 else f"{status} {data[:200]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(alerts)))
    return timings, time.perf_counter() - started


def one_request(base: str, key: str, alerts: int) -> tuple[float, int, bytes]:
    """ALERTS alerts in one Alertmanager payload."""
    starts = utcnow().isoformat()
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "statuspage",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ApiDown", "component": "API", "pod": f"api-{n}"},
                "annotations": {"summary": "API down"},
                "startsAt": starts,
                "fingerprint": f"{n:016x}",
            }
            for n in range(alerts)
        ],
    }
    client = Client(base)
    try:
        return client.post("/api/intake/prom", payload, key)
    finally:
        client.close()


def scratch_postgres(server_url: str) -> tuple[str, sa.Engine, str]:
    admin = sa.create_engine(
        sa.make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"statuspage_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return url, admin, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="clients sending the burst")
    parser.add_argument("--workers", type=int, default=2, help="statuspage serve processes")
    parser.add_argument("--samples", type=int, default=15, help="publishes while idle")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (or 'env'); default: SQLite")
    args = parser.parse_args()
    if args.postgres == "env":
        args.postgres = os.environ["STATUSPAGE_TEST_DATABASE_URL"]

    folder = Path(tempfile.mkdtemp(prefix="statuspage-intake-bench-"))
    admin = name = None
    if args.postgres:
        url, admin, name = scratch_postgres(args.postgres)
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    try:
        print(run(args, url, folder))
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    print(f"server log: {folder}")


def run(args: argparse.Namespace, url: str, folder: Path) -> str:
    keys, token = prepare(url)
    config = folder / "statuspage.toml"
    config.write_text(
        f'secret_key = "{SECRET}"\n[site]\nname = "Bench Status"\n'
        f'url = "https://status.example.com"\n[database]\nurl = {json.dumps(url)}\n'
        "[logging]\naccess_log = false\n" + RULE
    )
    load = os.getloadavg()[0]
    with serving(config, folder, workers=args.workers) as base:
        pm = Client(base)
        _, status, data = pm.post(
            "/api/v1/incidents",
            {"title": "Payments slow", "body": "Looking into it.", "impact": "minor"},
            token,
        )
        assert status == 201, data
        incident_id = json.loads(data)["incident"]["id"]
        pm.close()

        idle = Publisher(base, token, incident_id, count=args.samples)
        idle.start()
        idle_timings = idle.stop()

        during = Publisher(base, token, incident_id)
        during.start()
        intake, wall = burst(base, keys["kuma"], args.alerts, args.concurrency)
        during_timings = during.stop()

        during_one = Publisher(base, token, incident_id)
        during_one.start()
        one_seconds, one_status, one_data = one_request(base, keys["prom"], args.alerts)
        during_one_timings = during_one.stop()
        assert one_status == 202, one_data

    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    lines = [
        f"\nIntake burst on {database}: {args.alerts} alerts, {args.concurrency} clients, "
        f"`statuspage serve --workers {args.workers}`, load {load:.1f} -> "
        f"{os.getloadavg()[0]:.1f}",
        f"burst, one request per alert   {args.alerts / wall:7.0f} alerts/s "
        f"({wall:.1f} s)   intake {intake.cell()}",
        f"burst, one request of {args.alerts}    {args.alerts / one_seconds:7.0f} alerts/s "
        f"({one_seconds:.2f} s for the request)",
        f"publish, idle                   {idle_timings.cell()}",
        f"publish, during the burst       {during_timings.cell()}",
        f"publish, during the one request {during_one_timings.cell()}",
        check(url, args.alerts),
    ]
    for timings in (intake, idle_timings, during_timings, during_one_timings):
        lines += [f"  failed: {failure}" for failure in timings.failures[:5]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
