"""LISTEN/NOTIFY: each process follows the generation without a query per request, exactly,
and an idle worker wakes at the commit that wrote outbox rows."""

from __future__ import annotations

import json
import os
import random
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db import generation, notify
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.delivery import outbox
from tests.support.cli import write_config
from tests.support.receivers import serving, start_worker, write_worker_config

postgres_only = pytest.mark.skipif(
    not os.environ.get("STATUSPAGE_TEST_DATABASE_URL"), reason="LISTEN/NOTIFY is PostgreSQL's"
)


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Return once `condition()` is true; fail after `seconds` (a deadline, not a sleep)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def follower_of(app) -> generation.Follower:
    follower = app.extensions["statuspage_generation"].follower
    assert follower is not None
    return follower


def following(app) -> generation.Follower:
    """The app's follower, once its listener has connected and read the generation."""
    follower = follower_of(app)
    wait_for(lambda: follower.current() is not None, 20, "the listener to connect")
    return follower


def bump_elsewhere(db_url: str, change: str = "") -> int:
    """Run the SQL `change` and bump the generation in one transaction, through an engine of
    its own (no hint to this process's followers: only the NOTIFY can tell them); return the
    new number."""
    engine = sa.create_engine(sa.make_url(db_url).set(drivername="postgresql+psycopg"))
    try:
        with Session(engine) as session, session.begin():
            if change:
                session.execute(sa.text(change))
            generation.bump(session, utcnow())
            return session.execute(sa.text("SELECT generation FROM site_state")).scalar_one()
    finally:
        engine.dispose()


def admin_sql(db_url: str, statement: str) -> list:
    engine = sa.create_engine(
        sa.make_url(db_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(statement)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@postgres_only
def test_the_followed_generation_moves_on_a_notify_from_another_connection(make_app, db_url):
    app = make_app()
    follower = following(app)
    before = follower.current()
    assert before is not None
    number = bump_elsewhere(db_url)
    assert number == before[0] + 1
    wait_for(lambda: follower.current() == generation_now(app), 10, "the notification")
    with app.app_context():
        assert app.extensions["statuspage_generation"].read() == generation.read()


def generation_now(app) -> tuple[int, datetime | None]:
    with app.app_context():
        value = generation.read()
        db.session.remove()
        return value


@postgres_only
def test_a_notify_is_sent_only_when_the_transaction_commits(make_app, db_url):
    app = make_app()
    follower = following(app)
    start = follower.current()
    assert start is not None
    engine = sa.create_engine(sa.make_url(db_url).set(drivername="postgresql+psycopg"))
    try:
        with Session(engine) as session:
            generation.bump(session, utcnow())
            session.rollback()
        seen: list[str] = []
        listener = follower.listener
        original = listener.on_notify

        def spy(channel: str, payload: str) -> None:
            seen.append(payload)
            original(channel, payload)

        listener.on_notify = spy
        try:
            number = bump_elsewhere(db_url)
            wait_for(lambda: seen, 10, "the notification")
        finally:
            listener.on_notify = original
    finally:
        engine.dispose()
    assert number == start[0] + 1  # the rolled-back bump left nothing behind
    assert [int(p.split()[0]) for p in seen] == [number]


@postgres_only
def test_a_generation_that_goes_back_is_read_again(make_app, db_url):
    app = make_app()
    follower = following(app)
    for _ in range(3):
        bump_elsewhere(db_url)
    wait_for(lambda: (follower.current() or (0,))[0] >= 3, 10, "three notifications")
    # A tool empties the table; the next bump starts again at 1 and says so.
    admin_sql(db_url, "DELETE FROM site_state")
    assert bump_elsewhere(db_url) == 1
    wait_for(lambda: (follower.current() or (0,))[0] == 1, 10, "the read after going back")
    assert follower.current() == generation_now(app)


def test_a_notification_during_the_read_on_connect_is_not_lost():
    """A commit the read did not see, notified while the read runs, wins over the read."""
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    follower = generation.Follower(engine)  # never started: nothing connects
    changed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    class Conn:
        def execute(self, _query):
            follower._notified(notify.GENERATION, f"8 {changed.isoformat()}")
            return self

        def fetchone(self):
            return (7, datetime(2030, 1, 1, tzinfo=UTC))

    follower._connected(Conn())
    assert follower._value == (8, changed)
    engine.dispose()


@pytest.mark.parametrize("rounds", [20])
def test_a_publish_through_one_process_shows_on_the_others_next_request(
    ctx, sample, people, db_url, tmp_path, rounds
):
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    with write_transaction():
        token = tokens.create(people["editor"], "notify test", now=utcnow())[1]
    config = write_config(tmp_path / "statuspage.toml", db_url)
    with serving(config, tmp_path) as first, serving(config, tmp_path) as second:
        for base in (first, second):
            for _ in range(2):  # the second answer comes from the fast path
                assert get(base + "/api/v2/summary.json")[0] == 200
        for round_ in range(rounds):
            publisher, reader = (first, second) if rng.random() < 0.5 else (second, first)
            # Warm: the reader's next answer would come from its fast path if nothing moved.
            status, etag, _body = get(reader + "/api/v2/summary.json")
            assert status == 200
            title = f"Round {round_} of {seed}: payments failing"
            assert post_json(f"{publisher}/api/v1/incidents", token, title) == 201
            status, new_etag, body = get(reader + "/api/v2/summary.json", etag)
            assert status == 200 and new_etag != etag, (round_, seed)
            assert title.encode() in body, (round_, seed)


def get(url: str, etag: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["ETag"], response.read()
    except urllib.error.HTTPError as error:  # a 304 arrives as an "error"
        return error.code, error.headers["ETag"], error.read()


def post_json(url: str, token: str, title: str) -> int:
    body = {"title": title, "status": "investigating", "impact": "minor", "body": "Looking."}
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@postgres_only
def test_a_killed_listener_falls_back_to_reading_and_reconnects(make_app, db_url, sample):
    app = make_app()
    client = app.test_client()
    follower = following(app)
    listener = follower.listener
    listener.min_backoff = 1.0  # room to be served while it is away
    connects = listener.connects
    for _ in range(2):
        assert client.get("/api/v2/summary.json").status_code == 200
    killed = admin_sql(
        db_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE application_name = '{notify.APPLICATION_NAME}' AND datname = current_database()",
    )
    assert killed and all(row[0] for row in killed)
    wait_for(lambda: not listener.connected or listener.connects > connects, 10, "the loss")
    # Whether it is still away (the read per request) or back (the read on connect): exact.
    api = sample["api"].id
    for index in range(3):
        client.get("/api/v2/summary.json")
        name = f"API renamed {index}"
        bump_elsewhere(db_url, f"UPDATE components SET name = '{name}' WHERE id = {api}")
        assert name in client.get("/api/v2/summary.json").get_data(as_text=True)
    wait_for(lambda: listener.connected and listener.connects > connects, 20, "the reconnect")
    client.get("/api/v2/summary.json")
    number = bump_elsewhere(db_url, f"UPDATE components SET name = 'API back' WHERE id = {api}")
    wait_for(lambda: (follower.current() or (0,))[0] == number, 10, "the notification")
    assert "API back" in client.get("/api/v2/summary.json").get_data(as_text=True)


def test_an_idle_worker_wakes_at_the_commit_and_stops_on_sigterm(
    make_app, db_url, tmp_path, receiver
):
    app = make_app()
    # A poll far longer than the bound: only the wake-up can explain a quick delivery.
    config = write_worker_config(tmp_path, db_url, poll_seconds=60)
    log = tmp_path / "worker.log"
    process = start_worker(config, log)

    def send(key: str) -> None:
        with app.app_context(), write_transaction():
            outbox.enqueue(
                key=key,
                channel="subscriber:1",
                kind="webhook",
                payload={"subject": key, "target": {"type": "webhook", "url": receiver.url()}},
                now=utcnow(),
            )

    try:
        send("first")  # delivered once the worker is up, however slowly it starts
        wait_for(lambda: receiver.arrived >= 1 or process.poll() is not None, 60, "the worker")
        assert receiver.arrived == 1, log.read_text()
        for index in range(3):
            time.sleep(0.3)  # let it go idle: the point is to wake it from its sleep
            send(f"wake-{index}")
            committed = time.monotonic()
            wait_for(lambda i=index: receiver.arrived >= i + 2, 10, "the delivery")
            assert time.monotonic() - committed < 2.0, log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
