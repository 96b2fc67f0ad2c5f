"""A database outage met by real `statuspage serve` and `statuspage worker` processes.

PostgreSQL: the processes reach the database through a TCP proxy (tests/support/dbproxy.py)
that the test cuts: every connection closes and new ones are hung up on, as when the server
is down or restarting. SQLite: a running process keeps reading a file it holds open even
when the file is moved away or made unreadable, so the outage a running SQLite site meets is a
write lock held past the busy timeout (a stuck writer, a copy tool): the test holds one. Pages
are then read as usual (not stale); writes wait the busy timeout and fail.

OUTAGE_SECONDS sets how long the site test keeps the database away (default 6; on SQLite at
least the busy timeout and a bit). The figures (requests, errors, time to converge) are
printed.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import BUSY_TIMEOUT_MS, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import outbox
from tests.support.cli import write_config
from tests.support.dbproxy import TcpProxy
from tests.support.receivers import (
    HttpReceiver,
    Reply,
    serving,
    start_worker,
    write_worker_config,
)

PAGES = ("/", "/history.rss", "/api/v2/summary.json")
SECRET = "whsec_" + base64.b64encode(b"outage-test-signing-key").decode()
OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS") or 6)
#: A write on SQLite fails only after waiting this long for the lock.
BUSY_SECONDS = BUSY_TIMEOUT_MS / 1000
#: The longest the test waits for anything after the database is back.
CONVERGE_DEADLINE = 40
STALE = "x-statuspage-stale"


class Cut:
    """The database of the processes, taken away (`cut`) and given back (`restore`)."""

    def __init__(self, url: str, cut: Callable[[], object], restore: Callable[[], object]) -> None:
        self.url = url
        self.cut = cut
        self.restore = restore


@pytest.fixture
def database(db_url: str, pg_proxy: TcpProxy | None) -> Iterator[Cut]:
    if pg_proxy is not None:
        url = sa.make_url(db_url).set(host="127.0.0.1", port=pg_proxy.port)
        yield Cut(url.render_as_string(hide_password=False), pg_proxy.cut, pg_proxy.restore)
        pg_proxy.restore()
        return
    holder = sqlite3.connect(db_url[len("sqlite:///") :], isolation_level=None, timeout=30)
    yield Cut(
        db_url,
        lambda: holder.execute("BEGIN IMMEDIATE"),
        lambda: holder.in_transaction and holder.execute("ROLLBACK"),
    )
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def request(url: str, *, data: dict | None = None, token: str = "", timeout: float = 60):
    """Status, headers and body of one request (an HTTP error is an answer too)."""
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def incident(title: str) -> dict:
    return {"title": title, "status": "investigating", "impact": "major", "body": "Looking."}


class Load:
    """Threads requesting the public pages in a loop, counting answers and errors."""

    def __init__(self, base: str, threads: int = 3) -> None:
        self.base = base
        self.answers: collections.Counter[tuple[str, int, bool]] = collections.Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, offset: int) -> None:
        index = offset
        while not self.stop.is_set():
            path = PAGES[index % len(PAGES)]
            index += 1
            try:
                status, headers, _body = request(self.base + path, timeout=60)
                stale = headers.get(STALE) == "1"
            except OSError as exc:
                with self.lock:
                    self.errors.append(f"{path}: {exc}")
                continue
            with self.lock:
                self.answers[path, status, stale] += 1
                if status != 200:
                    self.errors.append(f"{path}: HTTP {status}")

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self.threads:
            thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            for thread in self.threads:
                thread.join(90)

    @property
    def total(self) -> int:
        return sum(self.answers.values())

    @property
    def stale(self) -> int:
        return sum(count for (_, _, stale), count in self.answers.items() if stale)


def until(condition: Callable[[], object], seconds: float = CONVERGE_DEADLINE) -> float | None:
    """Seconds until `condition` held (polling), or None if it did not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def webhook(key: str, url: str, now) -> None:
    """Queue a signed webhook to `url` in the outbox, due at `now`."""
    with write_transaction():
        outbox.enqueue(
            key=key,
            channel="subscriber:outage",
            kind="webhook",
            payload={
                "subject": key,
                "text": "outage test",
                "target": {"type": "webhook", "url": url, "secret_env": "OUTAGE_SECRET"},
            },
            now=now,
        )


def rows() -> dict[str, OutboxMessage]:
    db.session.rollback()  # a fresh snapshot: the worker commits in its own process
    return {m.idempotency_key: m for m in db.session.scalars(sa.select(OutboxMessage))}


def stop(process) -> int:
    process.terminate()
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_site_serves_through_a_database_outage_and_recovers_on_its_own(
    ctx, sample, people, database, tmp_path
):
    postgres = database.url.startswith("postgresql")
    outage_seconds = OUTAGE_SECONDS if postgres else max(OUTAGE_SECONDS, BUSY_SECONDS + 3)
    with write_transaction():
        token = tokens.create(people["editor"], "outage", now=utcnow())[1]
    config = write_config(tmp_path / "statuspage.toml", database.url)
    worker_config = write_worker_config(tmp_path, database.url, lease_seconds=120)
    log = tmp_path / "worker.log"
    receiver = HttpReceiver().start()
    worker = None
    try:
        with serving(config, tmp_path) as base:
            status, _, body = request(
                f"{base}/api/v1/incidents", data=incident("Before"), token=token
            )
            assert status == 201, body
            for path in PAGES:
                for _ in range(2):  # rendered, then from the fast path
                    assert request(base + path)[0] == 200
            # Started now: on SQLite the token's first use (a write) could race its commits.
            worker = start_worker(worker_config, log, {"OUTAGE_SECRET": SECRET})
            # Running before the outage (one that starts during it exits, for systemd to retry).
            assert until(lambda: " started" in log.read_text(), 60), log.read_text()
            # Due 2 s into the outage (it starts 1 s from now): sent only once it is over.
            webhook("queued-before", receiver.url("/hook"), utcnow() + timedelta(seconds=3))
            load = Load(base)
            with load.running():
                time.sleep(1)  # the load is flowing
                database.cut()
                cut_at, before_cut, stale_before_cut = time.monotonic(), load.total, load.stale
                try:
                    time.sleep(1)
                    refused = request(
                        f"{base}/api/v1/incidents", data=incident("During"), token=token
                    )
                    listing = request(f"{base}/api/v1/incidents", token=token)
                    time.sleep(max(0.0, outage_seconds - (time.monotonic() - cut_at)))
                    during = load.total - before_cut
                    stale = load.stale - stale_before_cut
                    errors_during = list(load.errors)
                finally:
                    database.restore()
                restored_at = time.monotonic()
                published = until(
                    lambda: (
                        request(f"{base}/api/v1/incidents", data=incident("After"), token=token)[0]
                        == 201
                    )
                )
                shown = until(lambda: b"After" in request(base + "/")[2])
                time.sleep(0.5)
            until(lambda: receiver.delivered())
    finally:
        code = stop(worker) if worker else None
        receiver.stop()
    hooks = [(r.headers["webhook-id"], r.at - restored_at) for r in receiver.delivered()]
    delivered = hooks[0][1] if hooks else None
    figures = (
        f"outage {restored_at - cut_at:.1f} s on {'PostgreSQL' if postgres else 'SQLite'}: "
        f"{during} requests to {', '.join(PAGES)} ({stale} stale), "
        f"{len(errors_during)} errors; after it: a publish succeeded in {seconds(published)}, "
        f"shown on / in {seconds(shown)}, the queued message delivered in {seconds(delivered)}; "
        f"worker log {log}"
    )
    print(figures)
    assert load.errors == [], figures
    assert during >= 10, figures
    assert refused[0] == 503 and refused[1]["Retry-After"] == "5", (refused, figures)
    assert json.loads(refused[2])["error"]["code"] == "database_unavailable"
    if postgres:
        assert listing[0] == 503 and listing[1]["Retry-After"] == "5", (listing, figures)
        # Every page answered during the outage came from the bytes rendered before it (but
        # those in flight at the cut, one per load thread).
        assert during - stale <= len(load.threads), figures
    assert published is not None and shown is not None, figures
    # Sent once, after the outage.
    assert [(key, at > 0) for key, at in hooks] == [("queued-before", True)], figures
    assert code == 0, figures
    assert "the database cannot be reached" in log.read_text(), figures


def test_a_worker_cut_off_mid_batch_hands_its_claims_back_when_the_database_returns(
    ctx, database, tmp_path
):
    """With the default two-minute lease, what the worker had claimed is sent and recorded
    seconds after the database is back (not when the lease ends), and nothing is sent twice."""
    answered = threading.Event()
    cut_done = threading.Event()

    def respond(req) -> Reply:
        if req.headers.get("webhook-id") == "batch:0" and not answered.is_set():
            cut_done.wait(30)  # answered only once the database is gone
            answered.set()
        return Reply(200)

    keys = [f"batch:{index}" for index in range(5)]
    receiver = HttpReceiver(respond).start()
    for key in keys:
        webhook(key, receiver.url("/hook"), utcnow())
    config = write_worker_config(
        tmp_path, database.url, batch_size=5, lease_seconds=120, poll_seconds=1
    )
    log = tmp_path / "worker.log"
    worker = start_worker(config, log, {"OUTAGE_SECRET": SECRET})
    try:
        assert until(lambda: receiver.arrived >= 1), f"nothing sent; worker log {log}"
        database.cut()
        try:
            cut_done.set()
            # The worker meets the outage when it records the first message (on SQLite after
            # the busy timeout).
            noticed = until(lambda: "the database cannot be reached" in log.read_text(), 60)
            assert noticed is not None, f"worker log {log}"
            time.sleep(1)
        finally:
            database.restore()
        drained = until(lambda: len(receiver.delivered()) >= len(keys))
        # A message sent while the database was away is recorded at the worker's next try,
        # which its backoff may put a few seconds after the database returned.
        recorded = until(lambda: all(m.state == "sent" for m in rows().values()))
        time.sleep(1)  # room for a duplicate to show
        stored = rows()
    finally:
        code = stop(worker)
        receiver.stop()
    delivered = collections.Counter(r.headers["webhook-id"] for r in receiver.delivered())
    context = (
        f"drained {seconds(drained)} and recorded {seconds(recorded)} after the outage;"
        f" worker log {log}"
    )
    print(f"worker outage test: {context}")
    # Seconds, not the two-minute lease.
    assert drained is not None and drained < 20, context
    assert recorded is not None and drained + recorded < 20, context
    assert delivered == dict.fromkeys(keys, 1), context
    assert {key: stored[key].state for key in keys} == dict.fromkeys(keys, "sent"), context
    # Released messages were not counted as attempted twice.
    assert {key: stored[key].attempts for key in keys} == dict.fromkeys(keys, 1), context
    assert code == 0, context
    assert "the database answers again" in log.read_text(), context
