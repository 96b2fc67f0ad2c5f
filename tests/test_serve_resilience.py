"""`statuspage serve` survives its workers and dies cleanly: a killed worker is replaced while
the other keeps answering, a killed master takes its workers (and the port) with it, and
SIGTERM lets a request in flight finish before the server exits 0.

Each test starts real processes; every wait is bounded and generous, for a loaded machine.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from tests.support.cli import write_config
from tests.support.receivers import free_port

SERVE = (sys.executable, "-c", "from statuspage.cli import main; main()", "serve")
#: Clients of the load, each one request at a time.
CLIENTS = 4


@dataclass
class Server:
    """A `statuspage serve` process (the granian master) and its log."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> list[int]:
        return children(self.process.pid)


def start(config: Path, folder: Path, *, workers: int, port: int | None = None) -> Server:
    """Start `statuspage serve` and wait until all its workers answer."""
    port = port or free_port()
    log = folder / f"serve-{port}-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    command = [*SERVE, "--port", str(port), "--workers", str(workers), "--config", str(config)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=out)
    server = Server(process, port, log)
    wait_for(
        lambda: process.poll() is not None or server.output().count("Started worker-") >= workers,
        90,
        "the workers to start",
    )
    assert process.poll() is None, server.output()
    wait_for(lambda: answers(server.base + "/healthz"), 30, "/healthz to answer")
    return server


@contextmanager
def running(config: Path, folder: Path, *, workers: int) -> Iterator[Server]:
    server = start(config, folder, workers=workers)
    try:
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    """SIGTERM the master, then SIGKILL whatever of it and its workers is left."""
    workers = server.workers()
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    for pid in workers:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def children(parent: int) -> list[int]:
    """The live processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == parent and stat[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = text[text.rindex(")") + 2 :].split()[:2]
    return state, int(ppid)


# --- a worker killed under load ----------------------------------------------------------------


@dataclass
class Load:
    """Clients requesting `url` back to back, each on a new connection, until stopped."""

    url: str
    clients: int = CLIENTS
    results: list[tuple[float, bool, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        host, port = self.url.split("//")[1].split("/")[0].split(":")
        self._address = (host, int(port))
        self._path = "/" + self.url.split("//")[1].partition("/")[2]
        self._threads = [threading.Thread(target=self._run) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection(*self._address, timeout=20)
                conn.request("GET", self._path)
                response = conn.getresponse()
                response.read()
                conn.close()
                outcome = (started, response.status == 200, str(response.status))
            except OSError as exc:
                outcome = (started, False, repr(exc))
            with self._lock:
                self.results.append(outcome)

    def ok_since(self, since: float) -> int:
        with self._lock:
            return sum(1 for at, ok, _ in self.results if ok and at >= since)


@pytest.fixture
def config(db_url, tmp_path) -> Path:
    return write_config(tmp_path / "statuspage.toml", db_url)


def test_a_worker_killed_under_load_is_replaced_while_the_other_answers(
    config, tmp_path, record_property
):
    with running(config, tmp_path, workers=2) as server:
        first = server.workers()
        assert len(first) == 2
        with Load(server.base + "/") as load:
            wait_for(lambda: load.ok_since(0) >= 200, 60, "the load to warm up")
            victim = first[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: server.output().count("Started worker-") >= 3, 90, "the replacement")
            respawned_at = time.monotonic()
            wait_for(lambda: load.ok_since(respawned_at) >= 200, 60, "answers after it")
        assert server.process.poll() is None, server.output()
        now = server.workers()
        assert len(now) == 2 and victim not in now and first[1] in now

    results = sorted(load.results)
    failed = [(round(at - killed_at, 4), why) for at, ok, why in results if not ok]
    during = sum(1 for at, _, _ in results if killed_at <= at < respawned_at)
    record_property("requests", len(results))
    record_property("failed", len(failed))
    print(
        f"\n{len(results)} requests, {len(failed)} failed {failed}; the other worker answered "
        f"{during} in the {respawned_at - killed_at:.2f} s until the replacement started "
        f"(net.ipv4.tcp_migrate_req = {_migrate_req()})"
    )
    # Only what the killed worker held can fail: requests in its hands or in its listen
    # queue, and connections it got while the kernel closed it; never one after that.
    assert all(-1 <= at <= 2 for at, _ in failed), failed
    assert during > 0


def _migrate_req() -> str:
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip()
    except OSError:
        return "unknown"


# --- the master killed ---------------------------------------------------------------------------


def run_worker_start(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter whose parent is this test process."""
    prelude = "import os, signal, time\nfrom statuspage import server\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60
    )


def test_a_worker_started_after_its_master_died_exits_at_once():
    # Its parent is this test process, not the master it names (pid 1 here).
    done = run_worker_start("server.die_with_master(1)\nprint('serving')")
    assert (done.returncode, done.stdout) == (1, "")


def test_a_worker_still_loading_obeys_sigterm_despite_the_masters_handler():
    # A forked worker inherits the master's handler, which only flags the master's loop.
    done = run_worker_start(
        "signal.signal(signal.SIGTERM, lambda *_: None)\n"
        "server.die_with_master(os.getppid())\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(10)\nprint('still here')"
    )
    assert (done.returncode, done.stdout) == (-signal.SIGTERM, "")


def test_a_killed_master_takes_its_workers_and_the_port_with_it(config, tmp_path):
    server = start(config, tmp_path, workers=2)
    try:
        workers = server.workers()
        assert len(workers) == 2
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        wait_for(lambda: not any(alive(pid) for pid in workers), 30, "the orphans to exit")
        began = time.monotonic()
        again = start(config, tmp_path, workers=1, port=server.port)
        stop(again)
        assert time.monotonic() - began < 90
    finally:
        stop(server)


# --- SIGTERM -----------------------------------------------------------------------------------


@contextmanager
def write_lock(db_url: str) -> Iterator[Callable[[], None]]:
    """Hold a lock every publish needs; yield the function that lets it go."""
    if db_url.startswith("sqlite:///"):
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield lambda: holder.execute("ROLLBACK")
        finally:
            holder.close()
        return
    engine = sa.create_engine(db.engine.url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE incidents IN EXCLUSIVE MODE")
            yield conn.rollback
    finally:
        engine.dispose()


def accepted(pids: list[int], server_port: int, client_port: int) -> bool:
    """Whether one of `pids` has accepted the connection from `client_port` (holds its socket)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.split(":")[1], 16) for f in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return True
                except OSError:
                    continue
        except OSError:
            continue
    return False


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    ctx, people, db_url, config, tmp_path
):
    with write_transaction():
        row, token = tokens.create(people["editor"], "drain test", now=utcnow())
        # Just used: the request then writes only in its publish transaction, which waits
        # for the lock (the token's touch would be refused at once, not wait).
        row.last_used_at = utcnow()
    db.session.remove()
    server = start(config, tmp_path, workers=2)
    try:
        outcome: dict[str, object] = {}
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=90)
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        body = {"title": "Drained", "status": "investigating", "impact": "minor", "body": "x"}

        def publish() -> None:
            try:
                conn.request(
                    "POST",
                    "/api/v1/incidents",
                    body=json.dumps(body),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                response = conn.getresponse()
                outcome["status"] = response.status
                response.read()
            except OSError as exc:
                outcome["error"] = repr(exc)

        with write_lock(db_url) as release:
            request = threading.Thread(target=publish)
            request.start()
            wait_for(
                lambda: accepted(server.workers(), server.port, client_port), 30, "the request"
            )
            time.sleep(0.5)  # the request reaches the database and waits for the lock
            server.process.send_signal(signal.SIGTERM)
            time.sleep(1)  # the server is stopping, the request still waiting
            assert server.process.poll() is None, server.output()
            release()
            request.join(timeout=60)
        assert outcome == {"status": 201}, server.output()
        assert server.process.wait(timeout=60) == 0, server.output()
        assert "Drained" in [
            row[0] for row in db.session.execute(sa.text("SELECT name FROM incidents"))
        ]
    finally:
        stop(server)
