"""A monthly reliability report on a long history: `reports.build`, the admin Reports page,
and the public `/` before and after (issue 15: under 1 s, and no slower public side).

Usage: .venv/bin/python bench/reports.py [--rounds 7] [--components 100] [--incidents 20000]
       [--days 1095] [--database-url URL]

With no URL, `gen_data.py`'s history (100 components in 10 groups, 20,000 incidents, 100,000
updates over three years) goes into a temporary SQLite file. Three SLAs name generated
components (one, ten and every component of the first group). The month is last month in the
site's zone, fully inside the history. Everything runs in-process (no server, no network): the
public `/` with its page cache cleared before each request (the uncached render) and served
from the cache (warm), before and after the reports; figures are min (median) ms over the
rounds. Compare figures of one run: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_data

from statuspage import create_app
from statuspage.accounts import users
from statuspage.clock import utcnow
from statuspage.db import audit, generation
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component
from statuspage.reports import report as reports
from statuspage.web.admin.reports import last_month

EMAIL, PASSWORD = "bench@example.com", "bench-password-long-enough"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def timed(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(min ms, median ms) of `rounds` calls."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples)


def slas(url: str) -> dict:
    """Three SLAs on generated components: one, ten, and one group's."""
    app = create_app({"database": {"url": url}, "secret_key": "bench"})
    with app.app_context():
        rows = db.session.execute(
            sa.select(Component.name, Component.group_id).order_by(Component.id)
        ).all()
        db.engine.dispose()
    names = [name for name, _ in rows]
    group = rows[0][1]
    return {
        "api": {"components": names[:1], "target": 99.9},
        "core": {"components": names[:10], "target": 99.5, "count_degraded": 0.25},
        "region": {"components": [n for n, g in rows if g == group], "target": 99.0},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--database-url", help="use this database as it is (no generation)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'reports.db'}"
        if not args.database_url:
            summary = gen_data.generate(
                url,
                components=args.components,
                incidents=args.incidents,
                updates=5 * args.incidents,
                days=args.days,
            )
            print(
                f"history: {summary.components} components, {summary.incidents} incidents, "
                f"{summary.updates} updates, {summary.status_changes} status changes "
                f"in {summary.seconds:.1f} s",
                flush=True,
            )
        run(url, args.rounds)
    return 0


def run(url: str, rounds: int) -> None:
    app = create_app({"database": {"url": url}, "secret_key": "bench", "sla": slas(url)})
    settings = app.config["STATUSPAGE"]
    cache = app.extensions["statuspage_cache"]
    with app.app_context():
        with write_transaction():
            users.create_user(
                EMAIL, password=PASSWORD, role="viewer", now=utcnow(), actor=audit.CLI
            )
        label = last_month(utcnow(), reports.site_zone(settings))
        period = reports.period_of(label, settings)
    admin = app.test_client()
    token = _CSRF.search(admin.get("/admin/login").get_data(as_text=True))
    assert token, "no CSRF token on the sign-in form"
    signed = admin.post(
        "/admin/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]}
    )
    assert signed.status_code == 302, signed.status_code
    public = app.test_client()

    def index_uncached() -> None:
        cache.clear()
        assert public.get("/").status_code == 200

    def index_warm() -> None:
        assert public.get("/").status_code == 200

    def build() -> reports.Report:
        with app.app_context():
            return reports.build(period, settings, utcnow())

    def page() -> None:
        response = admin.get(f"/admin/reports?period={label}")
        assert response.status_code == 200, response.status_code

    def export() -> None:
        assert admin.get(f"/admin/reports.csv?period={label}").status_code == 200

    with app.app_context():
        generation_before = generation.read()[0]
    index_warm()  # first request: connections, templates
    figures: list[tuple[str, tuple[float, float]]] = []
    figures.append(("public / uncached, before", timed(index_uncached, rounds)))
    index_warm()
    figures.append(("public / warm (cached), before", timed(index_warm, rounds)))
    report = build()
    figures.append((f"reports.build({label})", timed(build, rounds)))
    figures.append((f"GET /admin/reports?period={label}", timed(page, rounds)))
    figures.append((f"GET /admin/reports.csv?period={label}", timed(export, rounds)))
    figures.append(("public / warm (cached), after", timed(index_warm, rounds)))
    figures.append(("public / uncached, after", timed(index_uncached, rounds)))
    with app.app_context():
        generation_after = generation.read()[0]
        db.engine.dispose()

    started = sum(1 for row in report.incidents if period.contains(row.started_at))
    size = len(admin.get(f"/admin/reports?period={label}").get_data())
    print(
        f"\nmonth {label}: {len(report.components)} components, {len(report.slas)} SLAs, "
        f"{len(report.incidents)} incidents touched it ({started} started in it); "
        f"page {size / 1000:.0f} KB; min (median) ms over {rounds} rounds"
    )
    base = figures[0][1][0]
    for name, (low, mid) in figures:
        print(f"{name:<44}{low:9.1f} ({mid:7.1f})   {low / base:5.2f} x public / uncached")
    before, after = figures[0][1][0], figures[-1][1][0]
    print(
        f"\npublic / uncached after / before: {after / before:.2f}; the public generation "
        f"{'did not change' if generation_after == generation_before else 'CHANGED'} "
        f"({generation_before} -> {generation_after}), so cached public pages stayed valid"
    )


if __name__ == "__main__":
    sys.exit(main())
