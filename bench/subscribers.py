"""Publishing to many subscribers: the publish request stays fast (it writes one fan-out row),
the worker expands that row in one statement, and real worker processes deliver the messages
to local sinks.

Usage: .venv/bin/python bench/subscribers.py [--emails 10000] [--webhooks 500]
                                             [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Starts an SMTP sink (aiosmtpd, in a process of its own unless --sink thread) and a webhook
receiver (http.server) on 127.0.0.1, then:
1. times POST /api/v1/incidents (the publish request, through the whole app) with no
   subscribers, then with EMAILS + WEBHOOKS confirmed subscribers, and the enqueueing of the
   fan-out row inside it;
2. times the expansion of each fan-out row as the worker does it (claim, then `deliver_one`:
   one row per subscriber written and the fan-out row marked sent, committed);
3. for the code at --baseline (default HEAD, extracted with `git archive`: "before") and the
   working tree ("after"), side by side: starts `--workers` idle `statuspage worker`
   processes, publishes one update through the API and waits until every subscriber's message
   has arrived; reports the seconds from the publish to the last arrival, messages/s at the
   receivers from the first arrival to the last, each worker's peak memory (VmHWM), and the
   workers' CPU time per message (less moved by a busy machine than the rates).
With --postgres, a scratch database is created on that server and dropped afterwards;
otherwise a SQLite file in a temporary folder is used. The machine is shared: compare ratios.

    .venv/bin/python bench/subscribers.py --emails 10000 --webhooks 500
    .venv/bin/python bench/subscribers.py --emails 100000 --webhooks 0 --baseline none --samples 2
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the receivers the tests use

from statuspage import create_app
from statuspage.accounts import tokens, users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import refresh_statistics, upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage, Subscriber
from statuspage.delivery import channels, outbox, subscriber_delivery, worker
from statuspage.delivery import subscribers as subscriber_service
from statuspage.publishing import components as component_service
from tests.support.receivers import (
    HttpReceiver,
    SmtpSink,
    free_port,
    start_worker,
    write_worker_config,
)

SECRET = "bench-secret"
TIMEOUT = 900


class ProcessSink:
    """bench/smtp_sink.py in a process of its own: the workers' mail is not parsed under this
    process's lock, beside the webhook receiver and the polling."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.ask() != "ready":
            raise SystemExit("the SMTP sink did not start")

    def ask(self, command: str | None = None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def count(self) -> int:
        return int(self.ask("count"))

    def times(self) -> list[float]:
        return [float(at) for at in self.ask("times").split()]

    def clear(self) -> None:
        self.ask("clear")

    def __enter__(self) -> ProcessSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


class ThreadSink(SmtpSink):
    """The tests' sink, in this process (`--sink thread`)."""

    def count(self) -> int:
        return len(self.arrivals)

    def times(self) -> list[float]:
        return list(self.arrivals)

    def clear(self) -> None:
        self.arrivals.clear()


class FanOutTimer:
    """Wraps the fan-out that publish calls, to time it inside the publish request."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.real = subscriber_delivery.fan_out

    def __call__(self, update, *, now):
        started = time.perf_counter()
        queued = self.real(update, now=now)
        self.seconds.append(time.perf_counter() - started)
        return queued


def expand(app, update_ids: list[int]) -> list[tuple[float, int]]:
    """Expand the pending fan-out rows as a worker does; (seconds, rows written) per update."""
    settings = app.config["STATUSPAGE"]
    policy = outbox.Policy.from_settings(settings.worker)
    session = channels.Session(settings)
    timings = {}
    try:
        claimed = outbox.claim("bench", utcnow(), 100, timedelta(minutes=5))
        for message in claimed:
            assert message.kind == subscriber_delivery.FAN_OUT_KIND, message.kind
            started = time.perf_counter()
            worker.deliver_one(session, message, policy)
            timings[message.update_id] = time.perf_counter() - started
    finally:
        session.close()
    written = dict(
        db.session.execute(
            sa.select(OutboxMessage.update_id, sa.func.count())
            .where(
                OutboxMessage.update_id.in_(update_ids),
                OutboxMessage.kind != subscriber_delivery.FAN_OUT_KIND,
            )
            .group_by(OutboxMessage.update_id)
        ).all()
    )
    return [(timings[u], written.get(u, 0)) for u in update_ids]


def publish_request(client, bearer: str, component_id: int, title: str) -> tuple[float, int]:
    """POST one incident through the API; return (seconds, update id)."""
    started = time.perf_counter()
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": title,
            "body": "Elevated errors on the API. We are investigating.",
            "impact": "major",
            "components": {str(component_id): "major_outage"},
        },
        headers={"Authorization": f"Bearer {bearer}"},
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise SystemExit(
            f"publish failed: {response.status_code} {response.get_data(as_text=True)}"
        )
    return elapsed, int(response.get_json()["update"]["id"])


def seed(emails: int, webhooks: int, hook_url) -> None:
    """Insert confirmed subscribers in bulk (following every component)."""
    now = utcnow()
    base = {"created_at": now, "confirmed_at": now, "all_components": True, "source": "import"}
    with write_transaction():
        for start in range(0, emails, 2000):
            db.session.execute(
                sa.insert(Subscriber),
                [
                    {**base, "kind": "email", "email": f"reader{n}@example.com"}
                    for n in range(start, min(emails, start + 2000))
                ],
            )
        hooks = [
            {
                **base,
                "kind": "webhook",
                "email": "ops@example.com",
                "url": hook_url(n),
                "secret": subscriber_service.new_secret(),
            }
            for n in range(webhooks)
        ]
        if hooks:
            db.session.execute(sa.insert(Subscriber), hooks)
        # The planner's figures of a list this size, as autovacuum would have them long before
        # an incident (a fresh table has none: PostgreSQL plans for a few rows).
        refresh_statistics(Subscriber.__tablename__)


def pending(update_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.update_id == update_id, OutboxMessage.state == "pending")
    )


def states(update_id: int) -> dict[str, int]:
    db.session.rollback()
    return dict(
        db.session.execute(
            sa.select(OutboxMessage.state, sa.func.count())
            .where(
                OutboxMessage.update_id == update_id,
                OutboxMessage.kind != subscriber_delivery.FAN_OUT_KIND,
            )
            .group_by(OutboxMessage.state)
        ).all()
    )


def drop_all_but(update_ids: list[int]) -> None:
    """Take the other samples' messages out of the queue: each delivery run sends one update."""
    with write_transaction():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.update_id.not_in(update_ids))
            .values(state="dead", last_error="bench: not delivered")
        )


def extract(ref: str, folder: Path) -> Path:
    """The `statuspage` package as it is at `ref` with the resource folders found beside it, in
    a folder of its own (for PYTHONPATH)."""
    target = folder / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "statuspage", "templates", "messages"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def wait_started(log: Path, before: int, count: int) -> None:
    """Wait until `count` more workers have logged that they started (a deadline, not a sleep)."""
    deadline = time.monotonic() + 60
    while log.read_text().count(" started") < before + count:
        if time.monotonic() > deadline:
            raise SystemExit(f"workers did not start; see {log}")
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far: a figure the machine's load does not
    change much, unlike wall-clock rates."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(processes) -> tuple[list[float], list[float]]:
    """SIGTERM the workers and reap them; each one's peak resident memory in MiB and CPU
    seconds used.

    Read as VmHWM just before the end: ru_maxrss from wait4 would count the benchmark process
    itself, which the worker was forked from before its exec.
    """
    peaks: list[float] = []
    cpu: list[float] = []
    for process in processes:
        peaks.append(float("nan"))  # not measured if it exited early
        cpu.append(float("nan"))
        if process.poll() is None:
            with suppress(OSError):
                status = Path(f"/proc/{process.pid}/status").read_text()
                peaks[-1] = int(status.split("VmHWM:")[1].split()[0]) / 1024
                cpu[-1] = cpu_seconds(process.pid)
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(60)
    return peaks, cpu


def deliver(publish, total: int, workers: int, config: Path, log: Path, receivers, env) -> dict:
    """Start idle workers, publish, and wait until all `total` messages arrived (`receivers`:
    how many arrived, and when each did)."""
    arrived, arrivals = receivers
    before = log.read_text().count(" started") if log.exists() else 0
    processes = [start_worker(config, log, env=env) for _ in range(workers)]
    peaks: list[float] = []
    cpu: list[float] = []
    try:
        wait_started(log, before, workers)
        idle = [cpu_seconds(p.pid) for p in processes]  # start-up (imports) is not counted
        published = time.monotonic()
        update_id = publish()
        # The publish's session still holds a snapshot: open while the workers run, it keeps
        # PostgreSQL from pruning the rows they settle, and every claim walks past them all.
        db.session.rollback()
        # The sinks' counts first (no database read stealing the sinks' CPU while they work),
        # then the outbox: the fan-out row counts too, until it is expanded.
        while arrived() < total or pending(update_id):
            if time.monotonic() - published > TIMEOUT:
                raise SystemExit(f"still pending after {TIMEOUT} s; see {log}")
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker exited early; see {log}")
            time.sleep(0.05)
    finally:
        peaks, cpu = stop(processes)
    times = sorted(arrivals())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "rate": (len(times) - 1) / span if span else float("inf"),
        "last": times[-1] - published,
        "first": times[0] - published,
        "arrived": len(times),
        "rss": peaks,
        "cpu_ms": 1000 * (sum(cpu) - sum(idle)) / max(1, len(times)),
        "states": states(update_id),
    }


def scratch_postgres(server_url: str) -> tuple[str, sa.Engine, str]:
    admin = sa.create_engine(
        sa.make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"statuspage_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return url, admin, name


def smtp_tuning(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The --smtp KEY=VALUE pairs (appended to the [smtp] table the config ends with)."""
    return [tuple(kv.split("=", 1)) for kv in args.smtp]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=500)
    parser.add_argument("--samples", type=int, default=7, help="publish requests per measure")
    parser.add_argument("--postgres", help="a PostgreSQL server URL; default: SQLite")
    parser.add_argument("--publish-only", action="store_true", help="skip the delivery runs")
    parser.add_argument(
        "--baseline", default="HEAD", help='git ref to compare with ("none": the working tree only)'
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes per run")
    parser.add_argument(
        "--sink",
        choices=("process", "thread"),
        default="process",
        help="the SMTP sink in a process of its own (bench/smtp_sink.py) or in this one",
    )
    parser.add_argument(
        "--smtp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an [smtp] setting for the working tree's workers (connections=8)",
    )
    parser.add_argument(
        "--worker-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [worker] setting for the working tree's workers (batch_size=200)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="statuspage-bench-"))
    admin = name = None
    if args.postgres:
        url, admin, name = scratch_postgres(args.postgres)
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    log = folder / "workers.log"
    try:
        sink = ProcessSink() if args.sink == "process" else ThreadSink()
        with HttpReceiver() as receiver, sink:
            report = run(args, url, folder, log, receiver, sink)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    print(report)
    print(f"worker log: {log}")


def run(args, url: str, folder: Path, log: Path, receiver, sink) -> str:
    total = args.emails + args.webhooks
    section = {
        "webhook_allow_http": True,
        "webhook_allow_networks": ["127.0.0.0/8"],
        "webhook_allow_ports": [receiver.port],
    }
    smtp = {"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"}
    app = create_app(
        {
            "secret_key": SECRET,
            "database": {"url": url},
            "site": {"name": "Bench Status", "url": "https://status.example.com"},
            "smtp": smtp,
            "subscribers": section,
        }
    )

    def extra(smtp_lines: str = "") -> str:
        return (
            f'[smtp]\nhost = "127.0.0.1"\nport = {sink.port}\nfrom_address = "status@example.com"\n'
            f"{smtp_lines}"
            '[subscribers]\nwebhook_allow_http = true\nwebhook_allow_networks = ["127.0.0.0/8"]\n'
            f"webhook_allow_ports = [{receiver.port}]\n"
        )

    # Workers of the baseline may not know the newer settings: each gets only its own (the
    # default batch size of 100 for both, unless --worker-setting says otherwise).
    tuning = {"batch_size": "100", **dict(kv.split("=", 1) for kv in args.worker_setting)}
    config = write_worker_config(
        folder,
        url,
        extra=extra("".join(f"{k} = {v}\n" for k, v in smtp_tuning(args))),
        lease_seconds=120,
        **tuning,
    )
    variants = []
    if args.baseline != "none":
        (folder / "before").mkdir()
        old = write_worker_config(
            folder / "before", url, extra=extra(), lease_seconds=120, batch_size=100
        )
        variants.append(
            (f"before ({args.baseline})", old, {"PYTHONPATH": str(extract(args.baseline, folder))})
        )
    variants.append(("after (working tree)", config, {}))
    timer = FanOutTimer()
    subscriber_delivery.fan_out = timer  # publish calls it through the module
    lines = []
    with app.app_context():
        upgrade()
        with write_transaction():
            api = component_service.add_component("API", now=utcnow())
            user = users.create_user(
                "bench@example.com",
                password="bench password 1",
                role="editor",
                now=utcnow(),
                actor=audit.CLI,
            )
            bearer = tokens.create(user, "bench", now=utcnow())[1]
        component_id = api.id
        client = app.test_client()

        empty = [
            publish_request(client, bearer, component_id, f"Warm-up {n}")[0]
            for n in range(args.samples)
        ]
        empty_fan_out = timer.seconds[-args.samples :]

        seeded = time.perf_counter()
        seed(args.emails, args.webhooks, lambda n: receiver.url(f"/hook/{n}"))
        seed_seconds = time.perf_counter() - seeded

        full, updates = [], []
        for n in range(max(2, args.samples)):
            seconds, update_id = publish_request(client, bearer, component_id, f"Outage {n}")
            full.append(seconds)
            updates.append(update_id)
        full_fan_out = timer.seconds[-len(updates) :]
        expansions = expand(app, updates)
        assert all(rows == total for _seconds, rows in expansions), expansions
        drop_all_but([])  # the samples' messages are not delivered: each run publishes its own

        runs = []
        for number, (label, worker_config, env) in enumerate(
            variants if not args.publish_only else []
        ):
            sink.clear()
            with receiver.lock:
                receiver.requests.clear()

            def arrived() -> int:
                with receiver.lock:
                    hooks = len(receiver.requests)
                return sink.count() + hooks

            def arrivals() -> list[float]:
                with receiver.lock:
                    hooks = [r.at for r in receiver.requests]
                return sink.times() + hooks

            def publish(number=number):
                return publish_request(client, bearer, component_id, f"Delivery {number}")[1]

            result = deliver(
                publish, total, args.workers, worker_config, log, (arrived, arrivals), env
            )
            runs.append((label, result))

    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    ms = 1000
    lines.append(
        f"\nSubscribers benchmark on {database}: {args.emails} email + {args.webhooks} webhook "
        f"subscribers (seeded in {seed_seconds:.1f} s)"
    )
    lines.append(
        f"publish request, 0 subscribers:      median {statistics.median(empty) * ms:7.1f} ms "
        f"(enqueue {statistics.median(empty_fan_out) * ms:.1f} ms; {args.samples} requests)"
    )
    lines.append(
        f"publish request, {total} subscribers: median {statistics.median(full) * ms:7.1f} ms "
        f"(enqueue {statistics.median(full_fan_out) * ms:.1f} ms; {len(full)} requests: "
        + ", ".join(f"{s * ms:.1f}" for s in full)
        + ")"
    )
    lines.append(
        f"ratio of the medians, {total} to 0 subscribers: "
        f"{statistics.median(full) / statistics.median(empty):.2f}"
    )
    lines.append(
        f"expansion by the worker: median {statistics.median(s for s, _ in expansions) * ms:.1f} ms"
        f" ({total} rows each, committed; "
        + ", ".join(f"{s * ms:.1f}" for s, _rows in expansions)
        + ")"
    )
    if runs:
        lines.append(
            f"delivery of one update to {total} subscribers by {args.workers} worker(s), "
            "side by side:"
        )
        lines.append(
            f"  {'code':<24} {'publish->last':>13} {'first':>7} {'messages/s':>10} "
            f"{'worker MiB':>10} {'CPU ms/msg':>10}  states"
        )
        for label, r in runs:
            rss = "/".join(f"{m:.0f}" for m in r["rss"])
            lines.append(
                f"  {label:<24} {r['last']:>11.1f} s {r['first']:>5.2f} s {r['rate']:>10.0f} "
                f"{rss:>10} {r['cpu_ms']:>10.2f}  {r['states']}"
            )
        if len(runs) == 2:
            lines.append(
                f"  after / before, messages/s: {runs[1][1]['rate'] / runs[0][1]['rate']:.1f} x"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
