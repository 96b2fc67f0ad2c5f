"""Publish to first delivery: how long a webhook subscriber waits after a publish commits.

Usage: .venv/bin/python bench/wake.py [--samples 50] [--poll-seconds 2]
                                      [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Starts a webhook receiver (http.server) on 127.0.0.1, one confirmed webhook subscriber and a
`statuspage worker` process, then publishes SAMPLES incidents through POST /api/v1/incidents
(in this process) and times each from the publish's answer (its transaction has committed) to
the arrival of the subscriber's message: the worker expands the fan-out row and sends it. The
pause between publishes is random within the poll interval, so samples land anywhere in it.
Each database is measured with `database.listen` off (the idle worker polls every
`worker.poll_seconds`) and on (woken by NOTIFY on PostgreSQL, by its 50 ms outbox probe on
SQLite). With --postgres, a scratch database is created on that server and dropped afterwards;
SQLite always runs. The machine is shared: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import random
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the receivers the tests use

from statuspage import create_app
from statuspage.accounts import tokens, users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Subscriber
from statuspage.delivery import subscribers as subscriber_service
from statuspage.publishing import components as component_service
from tests.support.receivers import HttpReceiver, start_worker, write_worker_config

SUBSCRIBERS = (
    '[subscribers]\nwebhook_allow_http = true\nwebhook_allow_networks = ["127.0.0.0/8"]\n'
    'webhook_allow_ports = ["1024-65535"]\n'
)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(url: str, folder: Path, receiver, *, listen: bool, samples: int, poll: int, seed: int):
    """Seconds from each publish's answer to its first delivery, with one worker process."""
    app = create_app(
        {
            "secret_key": "bench",
            "database": {"url": url, "listen": listen},
            "site": {"name": "Wake Bench", "url": "https://status.example.com"},
            "subscribers": {
                "webhook_allow_http": True,
                "webhook_allow_networks": ["127.0.0.0/8"],
                "webhook_allow_ports": ["1024-65535"],
            },
        }
    )
    rng = random.Random(seed)
    name = "on" if listen else "off"
    config = write_worker_config(folder, url, extra=SUBSCRIBERS, poll_seconds=poll)
    log = folder / f"worker-{name}.log"
    delays: list[float] = []
    with app.app_context():
        with write_transaction():
            api = component_service.add_component(f"API {name}", now=utcnow())
            user = users.create_user(
                f"bench-{name}@example.com",
                password="bench password 1",
                role="editor",
                now=utcnow(),
                actor=audit.CLI,
            )
            bearer = tokens.create(user, "bench", now=utcnow())[1]
            now = utcnow()
            db.session.execute(sa.delete(Subscriber))
            db.session.execute(
                sa.insert(Subscriber),
                [
                    {
                        "created_at": now,
                        "confirmed_at": now,
                        "all_components": True,
                        "source": "import",
                        "kind": "webhook",
                        "email": "ops@example.com",
                        "url": receiver.url(f"/hook/{name}"),
                        "secret": subscriber_service.new_secret(),
                    }
                ],
            )
        client = app.test_client()
        environment = {"STATUSPAGE_DATABASE_LISTEN": "true" if listen else "false"}
        process = start_worker(config, log, env=environment)
        try:
            time.sleep(3)  # let it start and go idle
            for index in range(samples):
                before = receiver.arrived
                response = client.post(
                    "/api/v1/incidents",
                    json={
                        "title": f"Wake {name} {index}",
                        "body": "Elevated errors. We are investigating.",
                        "impact": "minor",
                        "components": {str(api.id): "degraded_performance"},
                    },
                    headers={"Authorization": f"Bearer {bearer}"},
                )
                committed = time.monotonic()
                if response.status_code != 201:
                    raise SystemExit(f"publish failed: {response.status_code}")
                deadline = committed + 30
                while receiver.arrived == before:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"no delivery; see {log}")
                    time.sleep(0.001)
                with receiver.lock:
                    arrived = receiver.requests[-1].at
                delays.append(arrived - committed)
                # Land anywhere in the poll cycle: a fixed pause would lock onto one phase.
                time.sleep(rng.uniform(0, poll))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        db.session.remove()
        db.engine.dispose()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--poll-seconds", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: also measure PostgreSQL")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="statuspage-wake-"))
    databases = [("SQLite", f"sqlite:///{folder / 'wake.db'}")]
    admin = name = None
    if args.postgres:
        admin = sa.create_engine(
            sa.make_url(args.postgres).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
        )
        name = f"statuspage_wake_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        pg = sa.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        databases.append(("PostgreSQL", pg))
    rows = []
    try:
        with HttpReceiver() as receiver:
            for label, url in databases:
                app = create_app({"secret_key": "bench", "database": {"url": url}})
                with app.app_context():
                    upgrade()
                    db.engine.dispose()
                for listen in (False, True):
                    delays = measure(
                        url,
                        folder,
                        receiver,
                        listen=listen,
                        samples=args.samples,
                        poll=args.poll_seconds,
                        seed=args.seed,
                    )
                    rows.append((label, listen, delays))
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    ms = 1000
    print(
        f"\nPublish to first delivery, one webhook subscriber, one worker process, "
        f"poll_seconds = {args.poll_seconds}, {args.samples} publishes each"
    )
    header = ("p50 ms", "p90 ms", "p99 ms", "max ms")
    print(f"{'database':<12}{'database.listen':<18}" + "".join(f"{h:>9}" for h in header))
    for label, listen, delays in rows:
        print(
            f"{label:<12}{str(listen).lower():<18}"
            f"{percentile(delays, 0.5) * ms:>9.1f}{percentile(delays, 0.9) * ms:>9.1f}"
            f"{percentile(delays, 0.99) * ms:>9.1f}{max(delays) * ms:>9.1f}"
        )
    print(f"worker logs: {folder}")


if __name__ == "__main__":
    main()
