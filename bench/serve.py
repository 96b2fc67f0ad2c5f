"""The public side under load, side by side in one run: a ceiling, the app, nginx; one table.

Usage: .venv/bin/python bench/serve.py [--duration 5] [--connections 64] [--threads 2]

Everything listens on 127.0.0.1 only and is stopped at the end. Needs `wrk`; nginx and
gunicorn rows are skipped (with a note) when they are not installed. Rows:

(a) ceiling: a minimal Flask app returning the same bytes, pre-rendered, per server;
(b) `statuspage serve` (2 workers), warm, as a ratio to the best ceiling for that path;
(c) the same with If-None-Match (304), as a ratio to that ceiling;
(d) `/` right after a publish: cold render ms, demo vs a long history; and throughput with
    the page cache disabled (every request renders; the same server settings);
(e) p99 of `/` while a publisher process publishes an update every second;
(f) nginx serving `statuspage export` output: the upper reference; then `/` of nginx (with and
    without an access log), of `statuspage serve` (the same) and of a no-op WSGI app under
    granian (the floor of any WSGI app) in turns, as ratios to nginx;
(g) the real app's `/` under each server, to choose the one `statuspage serve` uses;
(h) PostgreSQL, the exact default (`[database] listen`: each process follows the generation
    by LISTEN/NOTIFY): two `statuspage serve` processes A and B on one database, warm and 304,
    measured in turns with a `statuspage serve` on SQLite (the demo), as ratios to it and to
    the ceiling; whether a publish through A's API is in B's next answer; B while publishing;
    and `/` with `listen = false` (a generation read per request) for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

import gen_data

from statuspage import create_app, demo, server
from statuspage import export as exporter
from statuspage.accounts import tokens, users
from statuspage.clock import utcnow
from statuspage.core.enums import Impact, IncidentStatus
from statuspage.core.roles import Role
from statuspage.db import audit
from statuspage.db.database import upgrade, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident
from statuspage.publishing import incidents as incident_service

PYTHON = sys.executable
BIN = Path(sys.executable).parent
PATHS = ("/", "/history.rss", "/api/v2/summary.json")
WORKERS = 2
GTHREADS = 4
BENCH_INCIDENT = "Benchmark: publishing every second"
TARGET = server.TARGET
#: Pages whose in-process render time is compared between the demo and the long history.
RENDER_PATHS = (
    "/",
    "/history",
    "/history.rss",
    "/components/1",
    "/components/1/history.rss",
    "/incidents/1",
    "/api/v2/summary.json",
    "/api/v2/incidents.json",
)

#: (f)'s nginx writing an access log line per request, as `statuspage serve` does by default.
NGINX_LOGGED = "nginx, export, access log"

#: (f)'s floor: a WSGI app that only returns the bytes of `/`, under granian as serve runs it.
NOOP_APP = '''
"""The floor: a WSGI callable answering every request with the same bytes and headers."""
import json
from pathlib import Path

HERE = Path(__file__).parent
BODY = (HERE / "noop_body.html").read_bytes()
HEADERS = [tuple(pair) for pair in json.loads((HERE / "noop_headers.json").read_text())]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
'''

CEILING_APP = '''
"""The ceiling: the same bytes as the app, pre-rendered, from the smallest Flask app."""
from pathlib import Path
from flask import Flask, Response

HERE = Path(__file__).parent
BODIES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/history.rss": ("history.rss", "application/rss+xml; charset=utf-8"),
    "/api/v2/summary.json": ("summary.json", "application/json"),
}
app = Flask(__name__)


def _route(path, name, mimetype):
    body = (HERE / name).read_bytes()
    app.add_url_rule(path, name, lambda: Response(body, content_type=mimetype))


for path, (name, mimetype) in BODIES.items():
    _route(path, name, mimetype)


def create():
    return app
'''

UNCACHED_APP = '''
"""The app with its page cache turned off: every request renders (for uncached throughput)."""
from statuspage import create_app
from statuspage.web.cache import PageCache
from statuspage.clock import utcnow


class NoCache(PageCache):
    def get(self, key):
        return None

    def put(self, key, entry):
        pass

    def put_wire(self, key, wire):
        pass


def create():
    app = create_app()
    app.extensions["statuspage_cache"] = NoCache()
    return app
'''

NGINX_CONF = """
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/rss+xml rss; application/atom+xml atom; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=10000 inactive=30s;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {export};
        charset utf-8;
        charset_types text/html application/json application/rss+xml image/svg+xml;
        location / {{ try_files $uri $uri/index.html =404; }}
    }}
}}
"""


@dataclass
class Row:
    """One line of the result table."""

    section: str
    server: str
    path: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


@dataclass
class Wrk:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, args: argparse.Namespace, headers: Sequence[str] = (), seconds=None) -> Wrk:
    """Run wrk against `url` and parse requests/s and latency percentiles."""
    # A generous timeout: an uncached page queues for over a second behind 64 connections.
    command = ["wrk", "--latency", "--timeout", "10s", f"-t{args.threads}", f"-c{args.connections}"]
    command += [f"-d{seconds or args.duration}s", url]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s))\s*$", out, re.M))
    p50, p99 = (_ms(*re.match(r"([\d.]+)(us|ms|s)", latency[q]).groups()) for q in ("50", "99"))
    errors = []
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors.append(f"{match.group(1)} non-2xx")
    if match := re.search(r"Socket errors: (.*)", out):
        errors.append(f"socket errors: {match.group(1)}")
    return Wrk(rps=rps, p50_ms=p50, p99_ms=p99, errors="; ".join(errors))


@contextmanager
def running(
    command: Sequence[str], port: int, *, cwd: Path, env: dict, ready_path: str = "/"
) -> Iterator[subprocess.Popen]:
    """Start a server in its own process group, wait until it answers, stop it afterwards."""
    log = open(cwd / f"server-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: see {log.name}")
            try:
                if get(port, ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not answer within 60 s")
            time.sleep(0.2)
        yield process
    finally:
        # Our own process group (start_new_session): the server and the workers it forked.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, Message, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def write_config(path: Path, database_url: str) -> Path:
    path.write_text(
        textwrap.dedent(f"""\
            secret_key = "bench-only"
            [site]
            name = "Bench Status"
            url = "http://127.0.0.1"
            [database]
            url = "{database_url}"
            """)
    )
    return path


def load_demo(database_url: str) -> None:
    app = create_app({"database": {"url": database_url}, "secret_key": "bench"})
    with app.app_context():
        upgrade()
        with write_transaction():
            demo.load(utcnow())
        db.engine.dispose()


class Publisher:
    """Publishes updates to one open incident, the way a PM would, through the services."""

    def __init__(self, database_url: str) -> None:
        self.app = create_app({"database": {"url": database_url}, "secret_key": "bench"})
        self.count = 0

    def publish(self) -> None:
        with self.app.app_context():
            with write_transaction():
                incident = db.session.scalar(
                    sa.select(Incident).where(Incident.name == BENCH_INCIDENT)
                )
                if incident is None:
                    incident_service.open_incident(
                        name=BENCH_INCIDENT,
                        impact=Impact.MINOR,
                        body="Publishing an update every second.",
                        now=utcnow(),
                    )
                else:
                    status = (IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING)[self.count % 2]
                    incident_service.post_update(
                        incident, status=status, body=f"Update {self.count}.", now=utcnow()
                    )
            db.session.remove()
        self.count += 1

    def close(self) -> None:
        with self.app.app_context():
            db.engine.dispose()


def publish_loop(database_url: str, every: float, seconds: float) -> int:
    """The publisher process of (e): one update every `every` s for `seconds` s."""
    publisher = Publisher(database_url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        publisher.publish()
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    publisher.close()
    print(publisher.count)
    return 0


def cold_render_ms(port: int, publisher: Publisher, rounds: int) -> tuple[list, list]:
    """Ms of each first GET / after a publish, and of each GET right after it.

    One keep-alive connection, so both requests reach the same worker: the first renders,
    the second is served from that worker's cache.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    cold, warm = [], []
    try:
        for _ in range(rounds):
            publisher.publish()
            for bucket in (cold, warm):
                started = time.perf_counter()
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                bucket.append((time.perf_counter() - started) * 1000)
                assert response.status == 200
    finally:
        conn.close()
    return cold, warm


class Bench:
    """Runs every section and collects the rows."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.rows: list[Row] = []
        self.ceiling: dict[str, float] = {}
        self.env = dict(os.environ, PYTHONPATH=str(root), GRANIAN_LOG_LEVEL="warning")
        self.env.pop("STATUSPAGE_CONFIG", None)
        #: The keyword arguments of `running` for a server of this run.
        self.run_in = {"cwd": root, "env": self.env}

    def add(self, row: Row) -> None:
        self.rows.append(row)
        rps = f"{row.rps:,.0f} req/s" if row.rps is not None else ""
        print(f"  {row.section:<16}{row.server:<28}{row.path:<22}{rps:>14}  {row.note}", flush=True)

    def measure(self, section, name, port, path, *, headers=(), ratio_to=None, seconds=None):
        result = wrk(f"http://127.0.0.1:{port}{path}", self.args, headers, seconds)
        note = result.errors
        if ratio_to:
            note = f"{result.rps / ratio_to:.2f} x ceiling" + (f"; {note}" if note else "")
        self.add(Row(section, name, path, result.rps, result.p50_ms, result.p99_ms, note))
        return result

    def serve_command(self, config: Path, port: int, target: str = server.TARGET) -> list[str]:
        code = (
            "from statuspage import server; "
            f"server.serve(host='127.0.0.1', port={port}, workers={WORKERS}, "
            f"config_file={str(config)!r}, target={target!r})"
        )
        return [PYTHON, "-c", code]

    def cli_serve(self, config: Path, port: int) -> list[str]:
        """`statuspage serve` itself, as an operator runs it."""
        command = [str(BIN / "statuspage"), "serve", "--config", str(config)]
        return [*command, "--port", str(port), "--workers", str(WORKERS)]

    def gunicorn_command(self, target: str, port: int, threads: int = 0) -> list[str] | None:
        if not (BIN / "gunicorn").exists():
            return None
        command = [str(BIN / "gunicorn"), "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
        command += ["-k", "gthread", "--threads", str(threads)] if threads else ["-k", "sync"]
        return [*command, "--log-level", "warning", target]


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="statuspage-bench-"))
    root.chmod(0o755)  # nginx workers run as another user and read the export
    began = time.monotonic()
    try:
        bench = Bench(args, root)
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print("preparing data ...")
        names = ("demo", "recent", "history", "c90", "c3y")
        urls = {name: f"sqlite:///{root / name}.db" for name in names}
        load_demo(urls["demo"])
        if "d" not in args.skip:
            for name in ("recent", "history"):
                load_demo(urls[name])
        # Before the demo's 90 days, at one density (18 incidents a day): 55 days of history
        # (1,000 incidents, so every list and feed is full) or three years (20,000 incidents,
        # 100,000 updates). The pages show the same amount; the database holds 20 times more.
        if "d" not in args.skip:
            gen_data.generate(
                urls["recent"],
                components=0,
                incidents=1000,
                updates=5000,
                days=55,
                end_days_ago=100,
            )
            gen_data.generate(urls["history"], components=0, end_days_ago=100)
            # The shape: 100 components in 10 groups, 90 days or three years of history.
            gen_data.generate(urls["c3y"])
            gen_data.generate(urls["c90"], incidents=1644, updates=8220, days=90)
        configs = {name: write_config(root / f"{name}.toml", url) for name, url in urls.items()}
        (root / "bench_ceiling.py").write_text(CEILING_APP)
        (root / "bench_uncached.py").write_text(UNCACHED_APP)
        print(f"  ready in {time.monotonic() - began:.0f} s\n")
        sections(bench, configs, urls)
        print_table(bench.rows)
        elapsed = time.monotonic() - began
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}; total {elapsed:.0f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def sections(bench: Bench, configs: dict[str, Path], urls: dict[str, str]) -> None:
    args, root = bench.args, bench.root
    port = free_port()
    etags: dict[str, str] = {}
    print("(b, c) statuspage serve, demo data; bodies for the ceiling")
    with running(bench.cli_serve(configs["demo"], port), port, cwd=root, env=bench.env):
        for path, name in zip(PATHS, ("index.html", "history.rss", "summary.json"), strict=True):
            _, headers, body = get(port, path)
            (root / name).write_bytes(body)
            etags[path] = headers["ETag"]
        print("(a) ceiling")
        ceiling_servers = {
            "granian (as serve)": lambda p: bench.serve_command(
                configs["demo"], p, "bench_ceiling:create"
            ),
            "gunicorn sync": lambda p: bench.gunicorn_command("bench_ceiling:app", p),
            "gunicorn gthread": lambda p: bench.gunicorn_command("bench_ceiling:app", p, GTHREADS),
        }
        for name, make_command in ceiling_servers.items():
            other = free_port()
            command = make_command(other)
            if command is None:
                bench.add(Row("(a) ceiling", name, "", note="skipped: gunicorn not installed"))
                continue
            with running(command, other, cwd=root, env=bench.env):
                for path in PATHS if name.startswith("granian") else ("/",):
                    result = bench.measure("(a) ceiling", name, other, path)
                    bench.ceiling[path] = max(bench.ceiling.get(path, 0), result.rps)
        for path in PATHS:
            get(port, path)  # warm both workers' caches
            bench.measure("(b) warm", "statuspage serve", port, path, ratio_to=bench.ceiling[path])
        for path in PATHS:
            bench.measure(
                "(c) 304",
                "statuspage serve",
                port,
                path,
                headers=[f"If-None-Match: {etags[path]}"],
                ratio_to=bench.ceiling[path],
            )
        print("(e) p99 of / while a publisher publishes every second")
        seconds = max(args.duration * 2, 6)
        publisher = subprocess.Popen(
            [PYTHON, __file__, "--publish", urls["demo"], "--seconds", str(seconds + 2)],
            stdout=subprocess.PIPE,
            text=True,
            env=bench.env,
        )
        time.sleep(1)
        result = wrk(f"http://127.0.0.1:{port}/", args, seconds=seconds)
        published = publisher.communicate(timeout=60)[0].strip()
        bench.add(
            Row(
                "(e) publishing",
                "statuspage serve",
                "/",
                result.rps,
                result.p50_ms,
                result.p99_ms,
                f"{published} publishes in {seconds + 2} s"
                + (f"; {result.errors}" if result.errors else ""),
            )
        )
    if "h" not in args.skip:
        postgres_section(bench, args.postgres, configs["demo"])
    if "g" not in args.skip:
        compare_servers(bench, configs["demo"], urls["demo"])
    if "d" not in args.skip:
        cold_and_uncached(bench, configs, urls)
    if "f" not in args.skip:
        nginx_export(bench, configs)


def postgres_section(bench: Bench, admin_url: str, sqlite_config: Path) -> None:
    """(h) Two `statuspage serve` on one PostgreSQL database, exact default (LISTEN/NOTIFY)."""
    print("(h) two statuspage serve processes on one PostgreSQL database")
    admin = sa.create_engine(
        sa.make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"statuspage_bench_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        bench.add(Row("(h) postgres", "", "", note=f"skipped: {str(error).splitlines()[0]}"))
        admin.dispose()
        return
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        load_demo(url)
        token = api_token(url)
        # The exact default: [database] listen is not set, so it is on.
        config = write_config(bench.root / "postgres.toml", url)
        ports = {"A": free_port(), "B": free_port()}
        sqlite_port = free_port()
        with ExitStack() as stack:
            for port in ports.values():
                stack.enter_context(running(bench.cli_serve(config, port), port, **bench.run_in))
            stack.enter_context(
                running(bench.cli_serve(sqlite_config, sqlite_port), sqlite_port, **bench.run_in)
            )
            postgres_rows(bench, ports, sqlite_port)
            visible_from_other(bench, ports, token)
            seconds = max(bench.args.duration * 2, 6)
            publisher = subprocess.Popen(
                [PYTHON, __file__, "--publish", url, "--seconds", str(seconds + 2)],
                stdout=subprocess.PIPE,
                text=True,
                env=bench.env,
            )
            time.sleep(1)
            result = wrk(f"http://127.0.0.1:{ports['B']}/", bench.args, seconds=seconds)
            published = publisher.communicate(timeout=60)[0].strip()
            note = f"{published} publishes in {seconds + 2} s (by a third process)"
            bench.add(
                Row(
                    "(h) publishing",
                    "PG serve B",
                    "/",
                    result.rps,
                    result.p50_ms,
                    result.p99_ms,
                    note,
                )
            )
        # What LISTEN saves: the same serve reading the generation on every request.
        polled = write_config(bench.root / "postgres-read.toml", url)
        with polled.open("a") as file:
            file.write("listen = false\n")  # still under [database]
        port = free_port()
        with running(bench.cli_serve(polled, port), port, **bench.run_in):
            get(port, "/")
            bench.measure("(h) warm", "PG, listen = false", port, "/", ratio_to=bench.ceiling["/"])
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_rows(bench: Bench, ports: dict[str, int], sqlite_port: int) -> None:
    """(h) Warm and 304 rows: SQLite's serve, then A, then B, in turns, one wrk at a time."""
    etags: dict[tuple[int, str], str] = {}
    servers = {"SQLite serve, in turn": sqlite_port}
    servers.update({f"PG serve {label}": port for label, port in ports.items()})
    for path in PATHS:
        for port in servers.values():
            for _ in range(4):  # new connections: both workers of each process
                _, headers, _ = get(port, path)
            etags[port, path] = headers["ETag"]
    for section, validator in (("(h) warm", None), ("(h) 304", "If-None-Match")):
        for path in PATHS:
            sqlite = 0.0
            for label, port in servers.items():
                headers = [f"{validator}: {etags[port, path]}"] if validator else []
                result = wrk(f"http://127.0.0.1:{port}{path}", bench.args, headers)
                ceiling = f"{result.rps / bench.ceiling[path]:.2f} x ceiling"
                if port == sqlite_port:
                    sqlite, note = result.rps, ceiling
                else:
                    note = f"{result.rps / sqlite:.2f} x SQLite; {ceiling}"
                note += f"; {result.errors}" if result.errors else ""
                bench.add(Row(section, label, path, result.rps, result.p50_ms, result.p99_ms, note))


def visible_from_other(bench: Bench, ports: dict[str, int], token: str, rounds: int = 10) -> None:
    """(h) Publish through process A's API; is it in process B's next answer to `/`?"""
    seen, late, render_ms = 0, [], []
    for number in range(rounds):
        for _ in range(4):
            get(ports["B"], "/")  # B's workers hold the page before the publish
        title = f"Benchmark: visible on B {number} {os.getpid()}"
        status, _, body = post_json(
            ports["A"],
            "/api/v1/incidents",
            {"title": title, "body": "Published through A.", "impact": "minor"},
            token,
        )
        if status != 201:
            raise RuntimeError(f"publishing through A answered {status}: {body[:200]!r}")
        published = time.perf_counter()
        status, _, page = get(ports["B"], "/")
        render_ms.append((time.perf_counter() - published) * 1000)
        if status == 200 and title.encode() in page:
            seen += 1
            continue
        while title.encode() not in get(ports["B"], "/")[2]:
            if time.perf_counter() - published > 10:
                break
            time.sleep(0.001)
        late.append((time.perf_counter() - published) * 1000)
    note = f"{seen}/{rounds} publishes through A in B's next answer"
    note += f"; late ones after {max(late):.0f} ms" if late else ""
    note += f"; that answer {statistics.median(render_ms):.1f} ms (median, renders)"
    bench.add(Row("(h) visible", "A publishes, B answers", "/", note=note))


def api_token(database_url: str) -> str:
    """An admin's API token in that database, for publishing through /api/v1."""
    app = create_app({"database": {"url": database_url}, "secret_key": "bench"})
    with app.app_context():
        with write_transaction():
            user = users.create_user(
                "bench@example.com",
                password="bench-password-not-secret",
                now=utcnow(),
                actor=audit.CLI,
                role=Role.ADMIN,
            )
            _, text = tokens.create(user, "bench", now=utcnow(), actor=audit.CLI)
        db.engine.dispose()
    return text


def post_json(port: int, path: str, data: dict, token: str) -> tuple[int, Message, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", path, body=json.dumps(data), headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def cold_and_uncached(bench: Bench, configs: dict[str, Path], urls: dict[str, str]) -> None:
    """(d) / right after a publish, as the history grows; throughput with the cache off."""
    args, root = bench.args, bench.root
    print("(d) / right after a publish; uncached throughput")
    for name in ("demo", "recent", "history", "c90", "c3y"):
        port = free_port()
        with running(bench.cli_serve(configs[name], port), port, cwd=root, env=bench.env):
            publisher = Publisher(urls[name])
            publisher.publish()  # opens the benchmark incident, so every round is an update
            cold, warm = cold_render_ms(port, publisher, args.rounds)
            publisher.close()
            label = {
                "demo": "demo data",
                "recent": "demo + 55 d (1k)",
                "history": "demo + 3 y (20k)",
                "c90": "100 comps, 90 d",
                "c3y": "100 comps, 3 y, 20k",
            }[name]
            bench.add(
                Row(
                    "(d) cold ms",
                    label,
                    "/",
                    note=(
                        f"first GET after a publish: median {statistics.median(cold):.1f} ms, "
                        f"min {min(cold):.1f} (next GET {statistics.median(warm):.1f})"
                    ),
                )
            )
    render_in_process(bench, configs)
    for name in ("demo", "history"):
        port = free_port()
        command = bench.serve_command(configs[name], port, "bench_uncached:create")
        with running(command, port, cwd=root, env=bench.env):
            get(port, "/")
            # Three turns, the middle one: one run of a render-bound server swings with the load.
            turns = sorted((wrk(f"http://127.0.0.1:{port}/", args) for _ in range(3)), key=_rps)
            middle = turns[1]
            note = "turns " + ", ".join(f"{t.rps:,.0f}" for t in turns)
            bench.add(
                Row(
                    "(d) uncached",
                    f"no cache, {name}",
                    "/",
                    middle.rps,
                    middle.p50_ms,
                    middle.p99_ms,
                    note,
                )
            )


def take_turns(ports: dict[str, int], args: argparse.Namespace) -> dict[str, list[Wrk]]:
    """wrk on `/` of each server in turn, three rounds: no two ever share the CPUs."""
    turns: dict[str, list[Wrk]] = {name: [] for name in ports}
    for _ in range(3):
        for name, port in ports.items():
            turns[name].append(wrk(f"http://127.0.0.1:{port}/", args))
    return turns


def _rps(result: Wrk) -> float:
    return result.rps


def nginx_export(bench: Bench, configs: dict[str, Path]) -> None:
    """(f) nginx serving `statuspage export` output: the upper reference."""
    root = bench.root
    print("(f) nginx serving the export")
    if shutil.which("nginx") is None:
        bench.add(Row("(f) nginx", "nginx", "", note="skipped: nginx not installed"))
        return
    app = create_app(config_file=configs["demo"])
    result = exporter.export(app, root / "export")
    with app.app_context():
        db.engine.dispose()
    nginx_root = root / "nginx"
    (nginx_root / "tmp").mkdir(parents=True)
    port = free_port()
    conf = NGINX_CONF.format(workers=WORKERS, root=nginx_root, port=port, export=result.directory)
    (nginx_root / "nginx.conf").write_text(conf)
    command = ["nginx", "-p", str(nginx_root), "-c", str(nginx_root / "nginx.conf")]
    with running(command, port, cwd=root, env=bench.env):
        for path in PATHS:
            bench.measure("(f) nginx", "nginx, export", port, path, ratio_to=bench.ceiling[path])
        logged_root = root / "nginx-logged"
        (logged_root / "tmp").mkdir(parents=True)
        logged_port = free_port()
        logged = NGINX_CONF.format(
            workers=WORKERS, root=logged_root, port=logged_port, export=result.directory
        ).replace("access_log off;", f"access_log {logged_root}/access.log;")
        (logged_root / "nginx.conf").write_text(logged)
        command = ["nginx", "-p", str(logged_root), "-c", str(logged_root / "nginx.conf")]
        with running(command, logged_port, cwd=root, env=bench.env):
            versus_nginx(bench, configs["demo"], {"nginx, export": port, NGINX_LOGGED: logged_port})


def versus_nginx(bench: Bench, config: Path, nginx: dict[str, int]) -> None:
    """(f) Warm `/` of `statuspage serve`, of nginx and of a no-op WSGI app under granian, in
    turns (median of 3 each).

    `statuspage serve` writes an access-log line per request by default, so it is measured
    both ways, and so is nginx. The no-op app returns the same bytes and headers and does
    nothing else: the most any WSGI app under granian can answer here.
    """
    servers = dict(nginx)
    quiet = dict(bench.env, STATUSPAGE_LOGGING_ACCESS_LOG="false")
    with ExitStack() as stack:
        for label, env in (("statuspage serve", bench.env), ("serve, access_log = false", quiet)):
            port = free_port()
            stack.enter_context(
                running(bench.cli_serve(config, port), port, cwd=bench.root, env=env)
            )
            for _ in range(4):
                _, headers, page = get(port, "/")
            servers[label] = port
        (bench.root / "noop_body.html").write_bytes(page)
        # serve's own headers (security, caching, its request id) but those granian adds.
        replayed = [(k, v) for k, v in headers.items() if k.lower() not in ("date", "server")]
        (bench.root / "noop_headers.json").write_text(json.dumps(replayed))
        (bench.root / "bench_noop.py").write_text(NOOP_APP)
        port = free_port()
        granian = [str(BIN / "granian"), "--interface", "wsgi", "--workers", str(WORKERS)]
        granian += ["--blocking-threads", str(server.THREADS_PER_WORKER), "--no-ws"]
        granian += ["--log-level", "warning", "--port", str(port), "bench_noop:app"]
        stack.enter_context(running(granian, port, cwd=bench.root, env=bench.env))
        servers["no-op WSGI app, granian"] = port
        turns = take_turns(servers, bench.args)
    unlogged = sorted(turns["nginx, export"], key=_rps)[1].rps
    logged = sorted(turns[NGINX_LOGGED], key=_rps)[1].rps
    for label, results in turns.items():
        if label == "nginx, export":
            continue
        middle = sorted(results, key=_rps)[1]
        versus = f"{middle.rps / unlogged:.2f} x nginx ({unlogged:,.0f})"
        if label == "statuspage serve":
            versus += f", {middle.rps / logged:.2f} x nginx with its log ({logged:,.0f})"
        note = f"{versus}; turns " + ", ".join(f"{r.rps:,.0f}" for r in results)
        bench.add(Row("(f) vs nginx", label, "/", middle.rps, middle.p50_ms, middle.p99_ms, note))


def render_in_process(bench: Bench, configs: dict[str, Path], rounds: int = 15) -> None:
    """(d) Cold render ms of each public page, in-process (no server), as the history grows."""
    datasets = ("demo", "recent", "history")
    times: dict[str, dict[str, list[float]]] = {}
    sql: dict[str, dict[str, float]] = {}
    for name in datasets:
        app = create_app(config_file=configs[name])
        client, cache = app.test_client(), app.extensions["statuspage_cache"]
        times[name], sql[name] = {}, {}
        clock = SqlClock(app)
        for path in RENDER_PATHS:
            assert client.get(path).status_code == 200, path
            samples, queries = [], []
            for _ in range(rounds):
                cache.clear()
                clock.total = 0.0
                started = time.perf_counter()
                client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                queries.append(clock.total * 1000)
            times[name][path], sql[name][path] = samples, min(queries)
        with app.app_context():
            db.engine.dispose()
    for path in RENDER_PATHS:
        demo, recent, history = (min(times[name][path]) for name in datasets)
        bench.add(
            Row(
                "(d) render ms",
                "55 d -> 3 y of history",
                path,
                note=(
                    f"min {recent:.1f} -> {history:.1f} ms ({history / recent - 1:+.0%}), "
                    f"SQL {sql['recent'][path]:.1f} -> {sql['history'][path]:.1f} ms; "
                    f"demo alone {demo:.1f} ms"
                ),
            )
        )


class SqlClock:
    """Adds up the time an app's engine spends executing statements."""

    def __init__(self, app) -> None:
        self.total = 0.0
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, *_args) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, *_args) -> None:
        self.total += time.perf_counter() - conn.info.pop("bench_started")


def compare_servers(bench: Bench, config: Path, database_url: str) -> None:
    """(g) The real app's / under each server, all running at once, measured in turns."""
    print("(g) the real app's / under each server: warm (median of 3 turns), then publishing")
    root, env = bench.root, dict(bench.env, STATUSPAGE_CONFIG=str(config))
    granian = [str(BIN / "granian"), "--interface", "wsgi", "--workers", str(WORKERS)]
    granian += ["--no-ws", "--log-level", "warning", "--factory"]

    def granian_with(threads: int):
        return lambda p: [*granian, "--port", str(p), "--blocking-threads", str(threads), TARGET]

    serve_threads = server.THREADS_PER_WORKER
    label = f"granian, {serve_threads} thread{'s' if serve_threads > 1 else ''} (serve)"
    candidates = {label: lambda p: bench.cli_serve(config, p)}
    for threads in sorted({1, 2, 5} - {serve_threads}):
        candidates[f"granian, {threads} threads"] = granian_with(threads)
    candidates["gunicorn sync"] = lambda p: bench.gunicorn_command(TARGET + "()", p)
    candidates[f"gunicorn gthread x{GTHREADS}"] = lambda p: bench.gunicorn_command(
        TARGET + "()", p, GTHREADS
    )
    ports: dict[str, int] = {}
    with ExitStack() as stack:
        for name, make_command in candidates.items():
            port = free_port()
            command = make_command(port)
            if command is None:
                bench.add(Row("(g) server", name, "/", note="skipped: gunicorn not installed"))
                continue
            stack.enter_context(running(command, port, cwd=root, env=env))
            get(port, "/")
            ports[name] = port
        turns = take_turns(ports, bench.args)
        for name, results in turns.items():
            middle = sorted(results, key=lambda r: r.rps)[1]
            note = f"{middle.rps / bench.ceiling['/']:.2f} x ceiling; turns " + ", ".join(
                f"{r.rps:,.0f}" for r in results
            )
            bench.add(Row("(g) warm", name, "/", middle.rps, middle.p50_ms, middle.p99_ms, note))
        seconds = bench.args.duration * len(ports) + 3
        publisher = subprocess.Popen(
            [PYTHON, __file__, "--publish", database_url, "--seconds", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=bench.env,
        )
        time.sleep(1)
        for name, port in ports.items():
            result = wrk(f"http://127.0.0.1:{port}/", bench.args)
            bench.add(Row("(g) publishing", name, "/", result.rps, result.p50_ms, result.p99_ms))
        publisher.communicate(timeout=60)


def print_table(rows: list[Row]) -> None:
    print()
    header = (
        f"{'section':<16}{'server / data':<28}{'path':<22}"
        f"{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}  note"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rps = f"{row.rps:,.0f}" if row.rps is not None else ""
        p50 = f"{row.p50_ms:.2f}" if row.p50_ms is not None else ""
        p99 = f"{row.p99_ms:.2f}" if row.p99_ms is not None else ""
        print(
            f"{row.section:<16}{row.server:<28}{row.path:<22}{rps:>10}{p50:>9}{p99:>9}  {row.note}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--rounds", type=int, default=15, help="Publishes per cold-render figure.")
    parser.add_argument(
        "--skip",
        default="",
        help="Sections to leave out, by letter: d (cold/uncached), f (nginx), g (servers), "
        "h (PostgreSQL).",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="A PostgreSQL server for (h): a database is created there and dropped at the end.",
    )
    parser.add_argument("--publish", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        return publish_loop(args.publish, 1.0, args.seconds)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
