"""Delivery throughput and the delay from enqueue to first delivery, with real worker processes.

Usage: .venv/bin/python bench/delivery.py [--messages 500] [--database-url URL]

Starts a local webhook receiver (http.server) and a local SMTP sink (aiosmtpd) on 127.0.0.1,
fills the outbox, and runs 1 then 2 `statuspage worker` processes against it. Throughput is
counted at the receiver, from its first to its last message, so process start-up is left out.
The delay is measured with one idle worker: commit a message, time its arrival; it is mostly the
wait for the worker's next poll (`worker.poll_seconds`). The machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the receivers the tests use

from statuspage import create_app
from statuspage.clock import utcnow
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import outbox
from tests.support.receivers import (
    HttpReceiver,
    SmtpSink,
    start_worker,
    write_worker_config,
)


def fill(kind: str, count: int, target: dict, run: str) -> None:
    """Enqueue `count` messages for `target` in one transaction."""
    with write_transaction():
        now = utcnow()
        for index in range(count):
            outbox.enqueue(
                key=f"bench:{run}:{index}",
                channel="subscriber:bench",
                kind=kind,
                payload={
                    "subject": f"Bench message {index}",
                    "text": "Throughput benchmark.",
                    "target": target,
                },
                now=now,
            )


def pending() -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state == "pending")
    )


def stop(workers) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(30)


def throughput(arrivals: list[float]) -> float:
    arrivals = sorted(arrivals)
    span = arrivals[-1] - arrivals[0]
    return (len(arrivals) - 1) / span if span > 0 else float("inf")


def measure_throughput(kind, count, workers, config, log, target, arrivals_of, run) -> float:
    fill(kind, count, target, run)
    processes = [start_worker(config, log) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 300
        while pending() and time.monotonic() < deadline:
            if any(process.poll() is not None for process in processes):
                raise SystemExit(f"a worker exited early; see {log}")
            time.sleep(0.1)
        if pending():
            raise SystemExit(f"{kind} x{workers}: messages still pending after 300 s; see {log}")
    finally:
        stop(processes)
    return throughput(arrivals_of())


def measure_delay(config, log, receiver, samples: int, poll_seconds: int) -> list[float]:
    """Seconds from commit to arrival, one message at a time, with one idle worker."""
    rng = random.Random(poll_seconds)
    process = start_worker(config, log)
    delays = []
    try:
        time.sleep(3)  # let it start and go idle
        for index in range(samples):
            before = receiver.arrived
            target = {"type": "webhook", "url": receiver.url("/delay")}
            fill("webhook", 1, target, f"delay-{poll_seconds}-{index}")
            committed = time.monotonic()
            while receiver.arrived == before:
                if process.poll() is not None:
                    raise SystemExit(f"the worker exited early; see {log}")
                time.sleep(0.002)
            delays.append(receiver.requests[-1].at - committed)
            # Land anywhere in the poll cycle: a fixed pause would lock onto one phase of it.
            time.sleep(rng.uniform(0, 2 * poll_seconds))
    finally:
        stop([process])
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--samples", type=int, default=20, help="delay measurements per setting")
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="statuspage-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"secret_key": "bench", "database": {"url": url}})
    log = folder / "workers.log"
    results = []
    with app.app_context(), HttpReceiver() as receiver, SmtpSink() as sink:
        upgrade()
        db.session.execute(sa.delete(OutboxMessage))
        db.session.commit()
        smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {sink.port}\nfrom_address = "b@example.com"\n'
        config = write_worker_config(folder, url, extra=smtp, batch_size=20, lease_seconds=60)
        hook = {"type": "webhook", "url": receiver.url("/hook"), "secret_env": ""}
        mail = {"type": "smtp", "to": ["sink@example.com"]}
        for workers in (1, 2):
            receiver.requests.clear()
            rate = measure_throughput(
                "webhook",
                args.messages,
                workers,
                config,
                log,
                hook,
                lambda: [r.at for r in receiver.requests],
                f"hook{workers}",
            )
            results.append(("webhook", workers, rate))
            sink.arrivals.clear()
            rate = measure_throughput(
                "smtp",
                args.messages,
                workers,
                config,
                log,
                mail,
                lambda: list(sink.arrivals),
                f"mail{workers}",
            )
            results.append(("smtp", workers, rate))
        delays = {}
        for poll in (2, 1):
            poll_config = write_worker_config(
                folder, url, batch_size=20, lease_seconds=60, poll_seconds=poll
            )
            delays[poll] = measure_delay(poll_config, log, receiver, args.samples, poll)

    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"\nDelivery to local receivers, {args.messages} messages per run, {database}")
    print(f"{'transport':<10} {'workers':>7} {'messages/s':>11}")
    for kind, workers, rate in results:
        print(f"{kind:<10} {workers:>7} {rate:>11.0f}")
    print(f"\nDelay from commit to delivery, one idle worker, {args.samples} samples")
    print(f"{'poll_seconds':<13} {'median s':>9} {'p90 s':>7} {'max s':>7}")
    for poll, values in delays.items():
        values = sorted(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        print(f"{poll:<13} {statistics.median(values):>9.2f} {p90:>7.2f} {max(values):>7.2f}")
    print(f"\nworker log: {log}")


if __name__ == "__main__":
    main()
