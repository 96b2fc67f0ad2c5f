"""Uncached render time and size of the public pages: the demo, the demo with three years of
history, and 100 components with three years of history.

Usage: .venv/bin/python bench/render_index.py [--rounds 15] [--skip-large]

Renders through the WSGI app in-process (no server, no network), clearing the page cache
before every request, so the figures are the application's own cost: queries plus templates.
The datasets are measured in the same run; compare rows and ratios, not absolute times (the
machine is shared and noisy). SQL is the time the engine spent executing statements, q the
number of statements per request (transaction control left out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_data

from statuspage import create_app, demo
from statuspage.clock import utcnow
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db

PATHS = (
    "/",
    "/components/1",
    "/components/1/history.rss",
    "/history",
    "/history?page=2",
    "/history.rss",
    "/api/v2/summary.json",
)
DATASETS = ("demo", "demo + 3 y", "100 comps, 3 y")


class SqlClock:
    """Adds up the time an engine spends executing statements, and counts them."""

    def __init__(self, engine: sa.Engine) -> None:
        self.total = 0.0
        self.statements = 0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, *_args) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, _cursor, statement: str, *_args) -> None:
        self.total += time.perf_counter() - conn.info.pop("bench_started")
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.statements += 1


def prepare(name: str, url: str) -> None:
    """Fill a database with one dataset."""
    if name == "100 comps, 3 y":
        gen_data.generate(url)
        return
    app = create_app({"database": {"url": url}, "secret_key": "bench"})
    with app.app_context():
        upgrade()
        with write_transaction():
            demo.load(utcnow())
        db.engine.dispose()
    if name == "demo + 3 y":
        gen_data.generate(url, components=0, end_days_ago=100)


def measure(url: str, rounds: int) -> dict[str, tuple[float, float, float, int, int] | None]:
    """Per path: (min ms, median ms, min SQL ms, body bytes, statements per request), the
    cache cleared every time.

    None for a path the dataset does not have (the demo has one history page).
    """
    app = create_app({"database": {"url": url}, "secret_key": "bench"})
    client, cache = app.test_client(), app.extensions["statuspage_cache"]
    with app.app_context():
        clock = SqlClock(db.engine)
    result: dict[str, tuple[float, float, float, int, int] | None] = {}
    for path in PATHS:
        first = client.get(path)
        if first.status_code == 404:
            result[path] = None
            continue
        size = len(first.get_data())
        samples, sql = [], []
        for _ in range(rounds):
            cache.clear()
            clock.total, clock.statements = 0.0, 0
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            sql.append(clock.total * 1000)
            assert response.status_code == 200, path
        result[path] = (min(samples), statistics.median(samples), min(sql), size, clock.statements)
    with app.app_context():
        db.engine.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-large", action="store_true", help="skip 100 components")
    args = parser.parse_args()
    names = DATASETS[:2] if args.skip_large else DATASETS
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, name in enumerate(names):
            url = f"sqlite:///{Path(tmp) / f'bench{n}.db'}"
            started = time.perf_counter()
            prepare(name, url)
            print(f"{name}: prepared in {time.perf_counter() - started:.1f} s", flush=True)
            results[name] = measure(url, args.rounds)
    css = Path(__file__).resolve().parent.parent / "statuspage" / "static" / "style.css"
    print(
        f"\nuncached, in-process; min (median) ms over {args.rounds} requests; SQL min ms; "
        "statements per request; KB"
    )
    header = f"{'path':<28}" + "".join(f"{name:>40}" for name in names)
    print(header)
    for path in PATHS:
        cells = []
        for name in names:
            if results[name][path] is None:
                cells.append("-")
                continue
            low, mid, sql, size, statements = results[name][path]
            cells.append(
                f"{low:7.1f} ({mid:6.1f}) sql {sql:5.1f} q {statements:2} {size / 1000:6.1f} KB"
            )
        print(f"{path:<28}" + "".join(f"{cell:>40}" for cell in cells))
    index = results["demo"]["/"]
    assert index is not None
    print(
        f"\ndemo /: {index[0]:.1f} ms uncached (~{1000 / index[0]:.0f} renders/s per core), "
        f"{index[3] / 1000:.1f} KB + style.css {css.stat().st_size / 1000:.1f} KB "
        f"= {(index[3] + css.stat().st_size) / 1000:.1f} KB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
