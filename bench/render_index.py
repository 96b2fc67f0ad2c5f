"""Render time of the public pages with the demo data, then with a long incident history.

Usage: .venv/bin/python bench/render_index.py [--incidents 5000] [--requests 60]

Renders through the WSGI app in-process (no server, no network), so the figures are the
application's own cost: queries plus templates. Both datasets are measured in the same run;
compare the ratio, not the absolute times (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from statuspage import create_app, demo
from statuspage.database import upgrade, write_transaction
from statuspage.enums import ComponentStatus, Impact, IncidentStatus
from statuspage.extensions import db
from statuspage.models import Component
from statuspage.services import incidents as incident_service
from statuspage.timeutil import utcnow

PATHS = ("/", "/history", "/api/v2/summary.json", "/history.rss")


def measure(client, path: str, requests: int) -> float:
    """Median milliseconds of `requests` GETs of `path` (after two warm-up requests)."""
    for _ in range(2):
        assert client.get(path).status_code == 200
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(timings)


def add_history(count: int, seed: int = 7) -> None:
    """Add `count` resolved incidents spread over the five years before the demo's history."""
    rng = random.Random(seed)
    now = utcnow()
    components = db.session.query(Component).all()
    batch = 250
    for start in range(0, count, batch):
        with write_transaction():
            for _ in range(min(batch, count - start)):
                began = now - timedelta(days=rng.uniform(100, 1900))
                picked = rng.choice(components)
                incident = incident_service.open_incident(
                    name=f"Elevated errors on {picked.name}",
                    impact=rng.choice([Impact.MINOR, Impact.MAJOR, Impact.CRITICAL]),
                    body="We are investigating elevated error rates.",
                    now=began,
                    component_statuses={picked: ComponentStatus.PARTIAL_OUTAGE},
                )
                incident_service.post_update(
                    incident,
                    status=IncidentStatus.RESOLVED,
                    body="Error rates are back to normal.",
                    now=began + timedelta(minutes=rng.randint(10, 300)),
                    component_statuses={picked: ComponentStatus.OPERATIONAL},
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"database": {"url": url}, "secret_key": "bench"})
        client = app.test_client()
        rows = []
        with app.app_context():
            upgrade()
            with write_transaction():
                demo.load(utcnow())
            small = {path: measure(client, path, args.requests) for path in PATHS}
            started = time.perf_counter()
            add_history(args.incidents)
            loaded_in = time.perf_counter() - started
            large = {path: measure(client, path, args.requests) for path in PATHS}
            db.engine.dispose()
        for path in PATHS:
            rows.append((path, small[path], large[path], large[path] / small[path]))
    print(
        f"history added: {args.incidents} incidents in {loaded_in:.1f} s; "
        f"median of {args.requests} requests per cell"
    )
    print(f"{'path':<24}{'demo ms':>10}{'+history ms':>14}{'ratio':>8}")
    for path, a, b, ratio in rows:
        print(f"{path:<24}{a:>10.2f}{b:>14.2f}{ratio:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
