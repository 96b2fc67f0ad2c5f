"""Crash test: two worker processes, a receiver failing 20% of requests, repeated `kill -9`.

Afterwards every message was delivered at least once or is dead with a reason, none is lost,
and duplicates stay within kills x batch size. Runs on SQLite and on PostgreSQL.

The kills and the receiver's answers are drawn from a seed: the clock's, or CRASH_SEED to draw
the same again (the timing of the processes, and so which request meets which answer, is not
replayed). The seed is printed first and named in every assertion's message.
"""

from __future__ import annotations

import base64
import collections
import os
import random
import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import outbox
from tests.support.receivers import (
    HttpReceiver,
    Reply,
    start_worker,
    verify_webhook,
    write_worker_config,
)

MESSAGES = 300
GONE = 10  # of which this many go to a URL answering 410: dead at once, with the reason
KILLS = 8
BATCH = 10
FAILURE_RATE = 0.2
SECRET = "whsec_" + base64.b64encode(b"crash-test-signing-key").decode()
DEADLINE_SECONDS = 55  # typical runs drain in 20-30 s; this is the cap, unless...
#: ...a message is still waiting for its retry then: failures and kills both count as attempts,
#: and the retry window doubles with each (1 s, 2 s, 4 s... 64 s after the seventh), so an
#: unlucky message may be due after the cap. Such waits are followed up to this long.
HARD_DEADLINE_SECONDS = 180
#: How late a due message may be picked up: a worker's poll, plus a claim and a send.
PICKUP_SECONDS = 5
SEED_VARIABLE = "CRASH_SEED"


def signature_ok(request) -> bool:
    """Check the Standard Webhooks signature the way a receiver would."""
    return verify_webhook(SECRET, request.headers, request.body)


def flaky(rng: random.Random):
    """Answer 410 on /gone; otherwise fail 20% of requests (500, 503 + Retry-After, hang-up)."""

    def respond(request) -> Reply:
        if request.path == "/gone":
            return Reply(410, b"gone")
        delay = rng.uniform(0.005, 0.02)  # slow enough that kills land mid-delivery
        if rng.random() < FAILURE_RATE:
            return rng.choice(
                [
                    Reply(500, b"boom", delay=delay),
                    Reply(503, headers={"retry-after": "1"}, delay=delay),
                    Reply(hang_up=True, delay=delay),
                ]
            )
        return Reply(200, delay=delay)

    return respond


def counts() -> dict[str, int]:
    db.session.rollback()  # a fresh snapshot: the workers commit in their own processes
    rows = db.session.execute(
        sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)
    )
    return dict(rows.all())


def pending() -> list[OutboxMessage]:
    db.session.rollback()
    query = sa.select(OutboxMessage).where(OutboxMessage.state == "pending")
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def waiting_for_its_turn(message: OutboxMessage) -> bool:
    """Whether a pending message is scheduled for later (a retry, or a live lease), or became
    due so recently that a worker may not have picked it up yet; else it is stuck."""
    due = max(message.next_attempt_at, message.lease_until or message.next_attempt_at)
    return utcnow() < due + timedelta(seconds=PICKUP_SECONDS)


def describe(message: OutboxMessage) -> str:
    return (
        f"{message.idempotency_key}: {message.attempts} attempts, next at "
        f"{message.next_attempt_at:%H:%M:%S}, lease until {message.lease_until}, "
        f"last error {message.last_error!r}"
    )


def test_kill_9_during_delivery_loses_no_message(make_app, db_url, tmp_path):
    seed = int(os.environ.get(SEED_VARIABLE) or time.time())
    # Shown with the output of a failing test, whatever fails: an assertion, or an exception.
    print(f"crash test: seed {seed} (rerun with {SEED_VARIABLE}={seed})")
    rng = random.Random(seed)  # the kill schedule, in this thread
    app = make_app()
    receiver = HttpReceiver(flaky(random.Random(seed + 1))).start()  # answers, in its threads
    keys = [f"crash:{index}" for index in range(MESSAGES)]
    gone = set(keys[:: MESSAGES // GONE])
    with app.app_context(), write_transaction():
        now = utcnow()
        for key in keys:
            target = {
                "type": "webhook",
                "url": receiver.url("/gone" if key in gone else "/hook"),
                "secret_env": "CRASH_SECRET",
            }
            outbox.enqueue(
                key=key,
                channel="subscriber:crash",
                kind="webhook",
                payload={"subject": key, "text": "crash test", "target": target},
                now=now,
            )
    config = write_worker_config(
        tmp_path,
        db_url,
        batch_size=BATCH,
        lease_seconds=2,
        poll_seconds=1,
        max_attempts=30,
        retry_base_seconds=1,
    )
    log = tmp_path / "workers.log"
    env = {"CRASH_SECRET": SECRET}
    workers = [start_worker(config, log, env) for _ in range(2)]
    kills = 0
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    hard_deadline = started + HARD_DEADLINE_SECONDS
    try:
        with app.app_context():
            while kills < KILLS and counts().get("pending") and time.monotonic() < deadline:
                # Kill only while requests are flowing, so the victim has messages in hand.
                seen = receiver.arrived
                time.sleep(rng.uniform(0.2, 0.8))
                if receiver.arrived == seen:
                    continue
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(10)
                kills += 1
                workers[victim] = start_worker(config, log, env)
            killed_at = time.monotonic()
            # Past the deadline, wait only for messages waiting for their turn: one that is due
            # and left alone would wait forever.
            while (left := pending()) and time.monotonic() < hard_deadline:
                if time.monotonic() > deadline and not all(map(waiting_for_its_turn, left)):
                    break
                time.sleep(0.2)
            final = counts()
            left = [describe(message) for message in pending()]
            drained_at = time.monotonic()
        # A worker started by the last kill may still be importing: a SIGTERM before its handler
        # is in place would end it by the signal, not by the clean stop this test checks.
        until_started(log, 2 + kills)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(15) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        receiver.stop()

    cut = [r for r in receiver.requests if not r.complete]
    context = (
        f"seed {seed} (rerun with {SEED_VARIABLE}={seed}), {kills} kills, "
        f"{len(cut)} requests cut short by a kill; worker log: {log}"
    )
    assert kills >= KILLS // 2, context
    assert codes == [0, 0], context  # SIGTERM: clean exit
    assert final == {"sent": MESSAGES - GONE, "dead": GONE}, f"pending: {left} ({context})"
    answered = receiver.delivered()
    delivered = collections.Counter(r.headers["webhook-id"] for r in answered)
    with app.app_context():
        db.session.rollback()
        rows = db.session.scalars(sa.select(OutboxMessage)).all()
        by_key = {row.idempotency_key: row for row in rows}
    # None lost: every message is in the outbox, and each sent one reached the receiver.
    assert set(by_key) == set(keys), context
    for key, row in by_key.items():
        if row.state == "sent":
            assert delivered[key] >= 1, f"{key} marked sent but never received ({context})"
        else:
            assert key in gone and row.last_error == "permanent error: HTTP 410: gone", (
                f"{key}: {row.state}, {row.last_error!r} ({context})"
            )
    assert set(delivered) == set(keys) - gone, context
    # At-least-once, but not much more than once: a kill costs at most the batch in hand.
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= kills * BATCH, f"{duplicates} duplicates ({context})"
    # Every request answered 2xx arrived whole and signed (one cut short is never answered).
    unsigned = [
        (r.headers.get("webhook-id"), r.headers.get("content-length"), len(r.body))
        for r in answered
        if not signature_ok(r)
    ]
    assert unsigned == [], (
        f"bad signatures (id, content-length, body bytes): {unsigned} ({context})"
    )
    print(
        f"crash test: seed {seed}, {kills} kills, {len(receiver.requests)} requests "
        f"({len(cut)} cut short), {duplicates} duplicates, {MESSAGES - GONE} sent, {GONE} dead; "
        f"kills over {killed_at - started:.1f} s, drained {drained_at - killed_at:.1f} s later"
    )


def until_started(log: Path, count: int, seconds: float = 60) -> None:
    """Wait until `count` workers have written "started" to the shared log (their SIGTERM
    handler is in place by then), or `seconds` pass."""
    deadline = time.monotonic() + seconds
    pattern = re.compile(r"worker \S+ started")
    while time.monotonic() < deadline:
        if len(pattern.findall(log.read_text(errors="replace"))) >= count:
            return
        time.sleep(0.1)
