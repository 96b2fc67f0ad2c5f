"""Parallel delivery: pooled SMTP connections within the server's limits, bounded requests per
host, and batched claims and settlements that lose nothing.

Waits are deadlines on conditions, not sleeps; the rate limit is checked on a fake clock.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import channels, outbox
from statuspage.delivery.channels import Delivery, smtp
from statuspage.delivery.channels.dispatch import Dispatcher, Job
from statuspage.delivery.channels.smtp_pool import SmtpPool
from statuspage.delivery.worker import run_worker
from tests.support.receivers import Reply, SmtpSink


def mail_app(make_app, sink, **limits):
    return make_app(
        smtp={
            "host": "127.0.0.1",
            "port": sink.port,
            "from_address": "status@example.com",
            **limits,
        },
        worker={"batch_size": 50},
    )


def enqueue_mail(count: int) -> list[str]:
    """One message per recipient, each naming its recipient in the subject."""
    recipients = [f"reader{n}@example.com" for n in range(count)]
    with write_transaction():
        for n, address in enumerate(recipients):
            outbox.enqueue(
                key=f"mail:{n}",
                channel="subscriber:bench",
                kind="smtp",
                payload={
                    "subject": f"For {address}",
                    "text": "Details.",
                    "target": {"type": "smtp", "to": [address]},
                },
                now=utcnow(),
            )
    return recipients


def enqueue_hooks(count: int, url: str) -> None:
    with write_transaction():
        for n in range(count):
            outbox.enqueue(
                key=f"hook:{n}",
                channel="subscriber:bench",
                kind="webhook",
                payload={"subject": "s", "target": {"type": "webhook", "url": url}},
                now=utcnow(),
            )


def states() -> dict[str, int]:
    db.session.rollback()
    rows = db.session.execute(
        sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)
    )
    return dict(rows.all())


def assert_each_got_only_their_own(sink: SmtpSink, recipients: list[str]) -> None:
    got = sorted(tuple(mail.rcpt_tos) for mail in sink.messages)
    assert got == sorted((address,) for address in recipients)
    for mail in sink.messages:
        (address,) = mail.rcpt_tos
        assert f"Subject: For {address}".encode() in mail.content


def test_pooled_smtp_reuses_one_connection_for_many_messages(make_app, sink):
    app = mail_app(make_app, sink, connections=1)
    with app.app_context():
        recipients = enqueue_mail(40)
        assert run_worker(app, once=True) == 40
        assert states() == {"sent": 40}
    assert sink.connections == 1
    assert_each_got_only_their_own(sink, recipients)


def test_smtp_connection_is_renewed_after_max_messages_per_connection(make_app, sink):
    app = mail_app(make_app, sink, connections=1, max_messages_per_connection=3)
    with app.app_context():
        recipients = enqueue_mail(7)
        run_worker(app, once=True)
        assert states() == {"sent": 7}
    assert sink.connections == 3  # 3 + 3 + 1
    assert_each_got_only_their_own(sink, recipients)


def test_a_421_mid_batch_reconnects_and_loses_nothing(make_app):
    answered = []

    def answer(_envelope):
        answered.append(1)
        # The fourth message meets a server that is closing the connection.
        return "421 4.7.0 Too many messages, closing connection" if len(answered) == 4 else None

    with SmtpSink(answer=answer) as sink:
        app = mail_app(make_app, sink, connections=1)
        with app.app_context():
            recipients = enqueue_mail(10)
            run_worker(app, once=True)
            assert states() == {"sent": 10}
    assert sink.connections == 2
    assert_each_got_only_their_own(sink, recipients)


def test_concurrent_smtp_stays_within_its_connections(make_app, sink):
    app = mail_app(make_app, sink, connections=3)
    with app.app_context():
        recipients = enqueue_mail(60)
        run_worker(app, once=True)
        assert states() == {"sent": 60}
    assert 1 <= sink.connections <= 3
    assert_each_got_only_their_own(sink, recipients)


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sends: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_smtp_rate_per_second_spaces_the_sends(make_app, sink):
    app = mail_app(make_app, sink, connections=1, rate_per_second=10)
    settings = app.config["STATUSPAGE"]
    clock = FakeClock()
    with channels.Session(settings) as session:
        pool = session.smtp_pool(smtp.connect)
        pool.clock, pool.sleep = clock, clock.sleep
        real_pace = pool.pace

        def pace() -> None:
            real_pace()
            clock.sends.append(clock.now)

        pool.pace = pace  # type: ignore[method-assign]
        for n in range(5):
            target = {"type": "smtp", "to": [f"r{n}@example.com"]}
            delivery = Delivery(f"k{n}", "subscriber:x", "smtp", {"subject": "s", "target": target})
            assert session.deliver(delivery).sent
    gaps = [b - a for a, b in zip(clock.sends, clock.sends[1:], strict=False)]
    assert gaps == pytest.approx([0.1] * 4)
    assert len(sink.messages) == 5


def test_smtp_pool_without_a_rate_never_sleeps():
    def sleep(_seconds: float) -> None:
        raise AssertionError("slept")

    pool = SmtpPool(lambda: None, size=1, max_messages=1, rate=0, sleep=sleep)  # type: ignore[arg-type,return-value]
    for _ in range(100):
        pool.pace()


def test_requests_per_host_never_exceed_the_bound(make_app, receiver):
    limit = 2
    lock = threading.Condition()
    in_flight = peak = 0

    def respond(_request) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            lock.notify_all()
            # Hold the first requests until the bound is reached (or a deadline passes), so
            # the test sees the bound rather than whatever overlap the machine's load allows.
            lock.wait_for(lambda: peak >= limit, timeout=5)
            in_flight -= 1
        return Reply(200, delay=0.01)

    receiver.respond = respond
    app = make_app(
        worker={"batch_size": 40, "http_concurrency": 8, "per_host_concurrency": limit},
    )
    with app.app_context():
        enqueue_hooks(40, receiver.url("/hook"))
        session = channels.Session(app.config["STATUSPAGE"])
        try:
            assert run_worker(app, once=True, session=session) == 40
        finally:
            session.close()
        assert states() == {"sent": 40}
    assert peak == limit
    assert session.dispatcher.peak_per_host["127.0.0.1"] == limit
    assert len(receiver.delivered()) == 40


def test_dispatcher_bounds_each_kind_and_hands_back_what_the_deadline_stops():
    lock = threading.Lock()
    running: dict[str, int] = {"smtp": 0, "webhook": 0}
    peaks: dict[str, int] = {"smtp": 0, "webhook": 0}
    release = threading.Event()

    def job(kind: str):
        def run() -> str:
            with lock:
                running[kind] += 1
                peaks[kind] = max(peaks[kind], running[kind])
            release.wait(0.01)
            with lock:
                running[kind] -= 1
            return kind

        return Job(kind, "" if kind == "smtp" else "hooks.example", run)

    dispatcher = Dispatcher(kind_limits={"smtp": 2}, default_limit=3, per_host=3)
    try:
        jobs = [job("smtp") for _ in range(20)] + [job("webhook") for _ in range(20)]
        results = dispatcher.run(jobs, deadline=time.monotonic() + 60)
        assert results == [j.kind for j in jobs]
        assert peaks["smtp"] <= 2 and peaks["webhook"] <= 3
        # Past the deadline nothing starts: every job is handed back (None).
        assert dispatcher.run(jobs[:5], deadline=time.monotonic() - 1) == [None] * 5
    finally:
        dispatcher.close()


def test_claim_and_settle_a_batch_in_one_statement_each(make_app):
    app = make_app()
    with app.app_context():
        enqueue_hooks(50, "http://127.0.0.1:9/hook")
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args) -> None:
            if "outbox" in statement.lower():
                statements.append(statement.split()[0].upper())

        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            batch = outbox.claim("w1", utcnow(), 50, outbox.Policy().max_age)
            assert statements == ["UPDATE"]
            statements.clear()
            with write_transaction():
                kept = outbox.mark_sent_many(batch, utcnow(), status=200)
            assert statements == ["UPDATE"]
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        assert kept == {m.id for m in batch}
        assert [m.id for m in batch] == sorted(m.id for m in batch)
        assert states() == {"sent": 50}


def test_a_settlement_of_a_message_taken_over_is_not_kept(make_app):
    app = make_app()
    with app.app_context():
        enqueue_hooks(3, "http://127.0.0.1:9/hook")
        now = utcnow()
        lease = outbox.Policy().max_age
        batch = outbox.claim("w1", now, 3, lease)
        with write_transaction():
            # Another worker took the first one over after w1's lease ran out.
            db.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == batch[0].id)
                .values(claimed_by="w2")
            )
        with write_transaction():
            kept = outbox.mark_sent_many(batch, now, status=200)
        assert kept == {batch[1].id, batch[2].id}
