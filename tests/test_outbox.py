"""The outbox: idempotent enqueue, leased claims, backoff with jitter, dead letters."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.db import database
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import outbox
from statuspage.delivery.channels import Outcome, Result
from statuspage.errors import Conflict, NotFound
from tests.support import NOW

LEASE = timedelta(seconds=60)
POLICY = outbox.Policy(max_attempts=5, max_age=timedelta(hours=24), base_seconds=10)


class Highest:
    """An rng whose 'random' pick is always the top of the window."""

    def uniform(self, low: float, high: float) -> float:
        return high


def add(key: str, *, now=NOW, **kw) -> bool:
    with write_transaction():
        return outbox.enqueue(
            key=key,
            channel=kw.pop("channel", "ops"),
            kind=kw.pop("kind", "webhook"),
            payload=kw.pop("payload", {"subject": key}),
            now=now,
            **kw,
        )


def row(key: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).filter_by(idempotency_key=key)).one()


def claim_one(worker="w1", now=NOW) -> OutboxMessage:
    (message,) = outbox.claim(worker, now, 1, LEASE)
    return message


def fail(message, result, now=NOW, policy=POLICY, rng=None) -> bool:
    with write_transaction():
        return outbox.mark_failed(message, result, now, policy=policy, rng=rng or Highest())


def test_enqueue_inserts_once_per_key(ctx):
    assert add("k1") is True
    assert add("k1", payload={"subject": "other"}) is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1
    message = row("k1")
    assert message.payload == {"subject": "k1"}
    assert (message.state, message.attempts, message.next_attempt_at) == ("pending", 0, NOW)


def test_enqueue_belongs_to_the_callers_transaction(ctx):
    with pytest.raises(RuntimeError), write_transaction():
        outbox.enqueue(key="k1", channel="ops", kind="webhook", payload={}, now=NOW)
        raise RuntimeError("the event failed")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_claim_takes_only_due_pending_messages_oldest_first(ctx):
    add("later", now=NOW + timedelta(minutes=5))
    add("second", now=NOW - timedelta(seconds=1))
    add("first", now=NOW - timedelta(seconds=2))
    add("sent")
    with write_transaction():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.idempotency_key == "sent")
            .values(state="sent")
        )
    claimed = outbox.claim("w1", NOW, 10, LEASE)
    assert [m.idempotency_key for m in claimed] == ["first", "second"]


def test_claim_takes_at_most_the_batch_size(ctx):
    for index in range(5):
        add(f"k{index}")
    assert len(outbox.claim("w1", NOW, 3, LEASE)) == 3
    assert len(outbox.claim("w2", NOW, 3, LEASE)) == 2


def test_claim_leases_the_message_and_counts_the_attempt(ctx):
    add("k1")
    message = claim_one("w1")
    assert (message.claimed_by, message.lease_until, message.attempts) == ("w1", NOW + LEASE, 1)
    stored = row("k1")
    assert (stored.claimed_by, stored.lease_until, stored.attempts) == ("w1", NOW + LEASE, 1)


def test_a_leased_message_is_not_claimed_again_before_the_lease_ends(ctx):
    add("k1")
    claim_one("w1")
    assert outbox.claim("w2", NOW + LEASE - timedelta(seconds=1), 10, LEASE) == []


def test_a_crashed_workers_message_is_taken_over_after_the_lease(ctx):
    add("k1")
    claim_one("w1")  # ... and w1 dies without a word
    later = NOW + LEASE + timedelta(seconds=1)
    message = claim_one("w2", now=later)
    assert (message.claimed_by, message.attempts) == ("w2", 2)


def test_the_old_claimant_cannot_mark_a_message_taken_over(ctx):
    add("k1")
    stale = claim_one("w1")
    fresh = claim_one("w2", now=NOW + LEASE + timedelta(seconds=1))
    with write_transaction():
        assert outbox.mark_failed(stale, Result(Outcome.RETRY, error="late"), NOW) is False
    with write_transaction():
        assert outbox.mark_sent(fresh, NOW + LEASE + timedelta(seconds=2), status=200) is True
    assert row("k1").state == "sent"


def test_mark_sent_records_the_delivery(ctx):
    add("k1")
    message = claim_one()
    with write_transaction():
        assert outbox.mark_sent(message, NOW + timedelta(seconds=3), status=202)
    stored = row("k1")
    assert stored.state == "sent"
    assert stored.sent_at == NOW + timedelta(seconds=3)
    assert stored.last_status == 202
    assert stored.lease_until is None


@pytest.mark.parametrize(("attempts", "window"), [(1, 10), (2, 20), (3, 40), (4, 80)])
def test_backoff_doubles_from_the_base(attempts, window):
    assert POLICY.backoff(attempts, Highest()) == window


def test_backoff_is_capped_at_an_hour():
    assert POLICY.backoff(30, Highest()) == 3600


def test_backoff_is_full_jitter():
    import random

    picks = [POLICY.backoff(3, random.Random(seed)) for seed in range(200)]
    assert all(0 <= pick <= 40 for pick in picks)
    assert min(picks) < 5 and max(picks) > 35


def test_a_failure_schedules_the_next_attempt_and_keeps_the_error(ctx):
    add("k1")
    message = claim_one()
    assert fail(message, Result(Outcome.RETRY, status=500, error="HTTP 500: boom"))
    stored = row("k1")
    assert stored.state == "pending"
    assert stored.next_attempt_at == NOW + timedelta(seconds=10)
    assert (stored.last_status, stored.last_error) == (500, "HTTP 500: boom")
    assert stored.lease_until is None
    assert outbox.claim("w1", NOW + timedelta(seconds=9), 1, LEASE) == []
    assert len(outbox.claim("w1", NOW + timedelta(seconds=10), 1, LEASE)) == 1


def test_retry_after_is_a_floor_for_the_next_attempt(ctx):
    add("k1")
    message = claim_one()
    fail(message, Result(Outcome.RETRY, status=429, error="HTTP 429", retry_after=600))
    assert row("k1").next_attempt_at == NOW + timedelta(seconds=600)


def test_a_short_retry_after_does_not_shorten_the_backoff(ctx):
    add("k1")
    message = claim_one()
    fail(message, Result(Outcome.RETRY, status=429, error="HTTP 429", retry_after=1))
    assert row("k1").next_attempt_at == NOW + timedelta(seconds=10)


def test_a_permanent_error_is_dead_at_once(ctx):
    add("k1")
    message = claim_one()
    fail(message, Result(Outcome.PERMANENT, status=410, error="HTTP 410: channel_is_archived"))
    stored = row("k1")
    assert stored.state == "dead"
    assert stored.last_status == 410
    assert stored.last_error == "permanent error: HTTP 410: channel_is_archived"


def test_a_message_is_dead_after_max_attempts_with_its_last_error(ctx):
    add("k1")
    now = NOW
    for attempt in range(1, POLICY.max_attempts + 1):
        message = claim_one(now=now)
        assert message.attempts == attempt
        fail(message, Result(Outcome.RETRY, status=503, error=f"HTTP 503 #{attempt}"), now=now)
        now = row("k1").next_attempt_at
    stored = row("k1")
    assert stored.state == "dead"
    assert stored.last_error == "gave up after 5 attempts: HTTP 503 #5"
    assert outbox.claim("w1", now + timedelta(days=1), 1, LEASE) == []


def test_a_message_is_dead_when_too_old(ctx):
    add("k1")
    late = NOW + timedelta(hours=24)
    message = claim_one(now=late)
    fail(message, Result(Outcome.RETRY, error="timed out"), now=late)
    stored = row("k1")
    assert stored.state == "dead"
    assert stored.last_error == "gave up after 24 h: timed out"


def test_release_hands_a_message_back_without_counting_an_attempt(ctx):
    add("k1")
    message = claim_one()
    with write_transaction():
        assert outbox.release(message)
    stored = row("k1")
    assert (stored.attempts, stored.lease_until, stored.claimed_by) == (0, None, "")
    assert claim_one("w2").attempts == 1


def test_retry_dead_makes_a_dead_message_due_now_with_fresh_attempts(ctx):
    add("k1")
    fail(claim_one(), Result(Outcome.PERMANENT, status=410, error="HTTP 410"))
    later = NOW + timedelta(hours=30)
    with write_transaction():
        outbox.retry_dead(row("k1").id, later)
    stored = row("k1")
    assert (stored.state, stored.attempts, stored.next_attempt_at) == ("pending", 0, later)
    assert stored.last_error.endswith("HTTP 410")  # shown until the next attempt
    message = claim_one(now=later)
    fail(message, Result(Outcome.RETRY, error="timed out"), now=later)
    assert row("k1").state == "pending"  # the age limit counts from the retry


def test_retry_dead_refuses_a_message_that_is_not_dead(ctx):
    add("k1")
    with pytest.raises(Conflict):
        outbox.retry_dead(row("k1").id, NOW)
    with pytest.raises(NotFound):
        outbox.retry_dead(999_999, NOW)


def test_stats_count_messages_by_state(ctx):
    for key in ("a", "b", "c", "d"):
        add(key, now=NOW - timedelta(minutes=ord(key) - ord("a")))
    fail(claim_one(now=NOW), Result(Outcome.PERMANENT, error="HTTP 410"))  # d: dead
    message = claim_one(now=NOW)  # c: retrying
    fail(message, Result(Outcome.RETRY, error="HTTP 500"))
    with write_transaction():
        outbox.mark_sent(claim_one(now=NOW), NOW)  # b: sent
    stats = outbox.stats()
    assert (stats.pending, stats.retrying, stats.sent, stats.dead) == (2, 1, 1, 1)
    assert stats.oldest_pending == NOW - timedelta(minutes=2)


def test_recent_lists_newest_first_and_filters_by_state(ctx):
    for key in ("a", "b", "c"):
        add(key)
    fail(claim_one(), Result(Outcome.RETRY, error="HTTP 500"))
    assert [m.idempotency_key for m in outbox.recent()] == ["c", "b", "a"]
    assert [m.idempotency_key for m in outbox.recent("retrying")] == ["a"]
    assert [m.idempotency_key for m in outbox.recent("pending", limit=1)] == ["c"]
    assert outbox.recent("dead") == []
    with pytest.raises(NotFound):
        outbox.recent("lost")


def test_workers_claiming_at_the_same_moment_never_share_a_message(app):
    with app.app_context():
        for index in range(40):
            add(f"k{index:02}")
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        with app.app_context():
            barrier.wait()
            got = []
            for _ in range(40):  # bounded: a broken lease must fail the test, not hang it
                batch = outbox.claim(name, NOW, 3, LEASE)
                if not batch:
                    break
                got.extend(m.idempotency_key for m in batch)
            claimed[name] = got
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    keys = [key for got in claimed.values() for key in got]
    assert len(claimed) == 4
    assert sorted(keys) == [f"k{index:02}" for index in range(40)]


def test_claim_skips_rows_another_worker_has_locked(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite serialises claims")
        add("locked", now=NOW - timedelta(seconds=1))
        add("free")
        with db.engine.connect() as other:
            other.execute(
                sa.text("SELECT id FROM outbox WHERE idempotency_key = 'locked' FOR UPDATE")
            )
            claimed = outbox.claim("w1", NOW, 10, LEASE)
            other.rollback()
        assert [m.idempotency_key for m in claimed] == ["free"]


def test_on_postgresql_a_claim_reads_the_first_due_rows_from_the_index(ctx):
    """With many rows pending a claim reads the first ones in order, instead of sorting all."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's index carries the rowid: its plan never sorted")
    rows = [
        {
            "idempotency_key": f"many-{index}",
            "channel": "webhook:ops",
            "kind": "webhook",
            "payload": {},
            "next_attempt_at": NOW - timedelta(seconds=index % 7),
            "created_at": NOW,
        }
        for index in range(3000)
    ]
    with write_transaction():
        db.session.execute(sa.insert(OutboxMessage), rows)
        database.refresh_statistics(OutboxMessage.__tablename__)
    compiled = outbox.due_first(NOW, 100).compile(db.engine)
    with db.engine.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())
    assert "Index Scan using ix_outbox_due" in plan and "Sort" not in plan, plan
    claimed = outbox.claim("w1", NOW, 100, LEASE)
    oldest = sorted(rows, key=lambda r: (r["next_attempt_at"], int(r["idempotency_key"][5:])))
    assert [m.idempotency_key for m in claimed] == [r["idempotency_key"] for r in oldest[:100]]
