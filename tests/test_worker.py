"""The worker loop: deliver due messages, retry failures later, run timed work, stop cleanly."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident, OutboxMessage
from statuspage.delivery import channels, outbox
from statuspage.delivery.worker import Stopper, deliver_batch, run_worker
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from tests.support.receivers import Reply, start_worker, write_worker_config

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw=="


@pytest.fixture
def worker_app(make_app, receiver, sink, monkeypatch):
    return app_with(
        make_app,
        receiver,
        monkeypatch,
        smtp={"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"},
        worker={"batch_size": 10, "max_attempts": 3},
    )


def app_with(make_app, receiver, monkeypatch, **sections):
    """An app whose `ops-hook` channel posts to `receiver` and `ops-mail` mails the on-call."""
    monkeypatch.setenv("OPS_HOOK_SECRET", SECRET)
    return make_app(
        channels={
            "ops-hook": {
                "type": "webhook",
                "url": receiver.url("/hook"),
                "secret_env": "OPS_HOOK_SECRET",
            },
            "ops-mail": {"type": "smtp", "to": ["oncall@example.com"]},
        },
        **sections,
    )


def enqueue(key: str, channel: str = "ops-hook", kind: str = "webhook", now=None) -> None:
    with write_transaction():
        outbox.enqueue(
            key=key,
            channel=channel,
            kind=kind,
            payload={"subject": f"Incident {key}", "text": "Details."},
            now=now or utcnow(),
        )


def states() -> dict[str, str]:
    db.session.rollback()  # a fresh snapshot: the worker committed in its own session
    rows = db.session.execute(sa.select(OutboxMessage.idempotency_key, OutboxMessage.state))
    return dict(rows.all())


def message(key: str) -> OutboxMessage:
    db.session.rollback()
    return db.session.scalars(sa.select(OutboxMessage).filter_by(idempotency_key=key)).one()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_once_delivers_every_due_message_and_exits(worker_app, receiver, sink):
    with worker_app.app_context():
        for key in ("a", "b", "c"):
            enqueue(key)
        enqueue("m", channel="ops-mail", kind="smtp")
        assert run_worker(worker_app, once=True) == 4
        assert states() == {"a": "sent", "b": "sent", "c": "sent", "m": "sent"}
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == ["a", "b", "c"]
    assert json.loads(receiver.requests[0].body)["data"]["text"] == "Details."
    assert [mail.rcpt_tos for mail in sink.messages] == [["oncall@example.com"]]


def test_once_leaves_messages_that_are_due_later(worker_app, receiver):
    with worker_app.app_context():
        enqueue("later", now=utcnow() + timedelta(minutes=5))
        started = time.monotonic()
        assert run_worker(worker_app, once=True) == 0
        assert time.monotonic() - started < 5
        assert states() == {"later": "pending"}
    assert receiver.requests == []


@pytest.mark.parametrize(
    "first",
    [Reply(500, b"boom"), Reply(hang_up=True), Reply(200, delay=1.0)],
    ids=["500", "hang-up", "timeout"],
)
def test_a_failed_delivery_is_retried_and_delivered_later(worker_app, receiver, first):
    replies = iter([first, Reply(200)])
    receiver.respond = lambda _request: next(replies)
    clock = Clock()
    session = channels.Session(
        worker_app.config["STATUSPAGE"], client=channels.make_client(timeout=0.3)
    )
    with worker_app.app_context():
        enqueue("k1", now=clock.now)
        run_worker(worker_app, once=True, clock=clock, session=session)
        failed = message("k1")
        assert (failed.state, failed.attempts) == ("pending", 1)
        assert failed.last_error
        clock.advance(10)  # the first retry comes within retry_base_seconds (10)
        run_worker(worker_app, once=True, clock=clock, session=session)
        assert message("k1").state == "sent"
    session.close()
    delivered = receiver.delivered()
    assert [r.headers["webhook-id"] for r in delivered] == ["k1"]


def test_retry_after_is_honoured(worker_app, receiver):
    replies = iter([Reply(429, headers={"retry-after": "120"}), Reply(200)])
    receiver.respond = lambda _request: next(replies)
    clock = Clock()
    with worker_app.app_context():
        enqueue("k1", now=clock.now)
        run_worker(worker_app, once=True, clock=clock)
        clock.advance(119)
        run_worker(worker_app, once=True, clock=clock)
        assert len(receiver.requests) == 1
        clock.advance(2)
        run_worker(worker_app, once=True, clock=clock)
        assert message("k1").state == "sent"
    assert len(receiver.requests) == 2


def test_a_gone_receiver_is_dead_at_once(worker_app, receiver):
    receiver.respond = lambda _request: Reply(410, b"channel_is_archived")
    clock = Clock()
    with worker_app.app_context():
        enqueue("k1", now=clock.now)
        run_worker(worker_app, once=True, clock=clock)
        dead = message("k1")
        assert dead.state == "dead"
        assert dead.last_status == 410
        assert "channel_is_archived" in dead.last_error
        clock.advance(86400)
        assert run_worker(worker_app, once=True, clock=clock) == 0
    assert len(receiver.requests) == 1


def test_a_failing_receiver_ends_dead_after_max_attempts(worker_app, receiver):
    receiver.respond = lambda _request: Reply(503, b"overloaded")
    clock = Clock()
    with worker_app.app_context():
        enqueue("k1", now=clock.now)
        for _ in range(5):
            run_worker(worker_app, once=True, clock=clock)
            clock.advance(3600)
        dead = message("k1")
        assert (dead.state, dead.attempts) == ("dead", 3)
        assert dead.last_error == "gave up after 3 attempts: HTTP 503: overloaded"
    assert len(receiver.requests) == 3


def test_a_batch_of_mail_shares_the_pooled_smtp_connections(worker_app, sink):
    with worker_app.app_context():
        for index in range(10):
            enqueue(f"m{index}", channel="ops-mail", kind="smtp")
        run_worker(worker_app, once=True)
    assert len(sink.messages) == 10
    # Ten messages, no more connections than [smtp] connections (4) open at once.
    assert 1 <= sink.connections <= worker_app.config["STATUSPAGE"].smtp["connections"]


def test_messages_with_too_little_lease_left_are_handed_back(worker_app, receiver):
    settings = worker_app.config["STATUSPAGE"]
    start = utcnow()
    times = iter([start, start + timedelta(seconds=119)])  # lease_seconds is 120
    with worker_app.app_context():
        enqueue("k1", now=start)
        session = channels.Session(settings)
        attempted = deliver_batch(settings, session, "w1", Stopper(), lambda: next(times))
        session.close()
        stored = message("k1")
        assert attempted == 0
        assert (stored.state, stored.claimed_by, stored.attempts) == ("pending", "", 0)
    assert receiver.requests == []


def test_escalation_runs_are_advanced_and_their_messages_delivered(
    worker_app, receiver, monkeypatch
):
    calls = []

    def advance_due_runs(now):
        calls.append(now)
        with write_transaction():
            return int(
                outbox.enqueue(key="run:1", channel="ops-hook", kind="webhook", payload={}, now=now)
            )

    from statuspage.delivery import escalation as runtime

    monkeypatch.setattr(runtime, "advance_due_runs", advance_due_runs)
    with worker_app.app_context():
        run_worker(worker_app, once=True)
        assert states() == {"run:1": "sent"}
    assert calls
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["run:1"]


def test_a_failing_escalation_step_does_not_hold_up_deliveries(worker_app, receiver, monkeypatch):
    from statuspage.delivery import escalation as runtime

    failed = []

    def failing(now):
        failed.append(now)
        raise ZeroDivisionError("broken step")

    monkeypatch.setattr(runtime, "advance_due_runs", failing)
    with worker_app.app_context():
        enqueue("k1")
        run_worker(worker_app, once=True)
        assert states() == {"k1": "sent"}
    assert failed  # the step did run, and fail


def test_due_maintenances_are_started(worker_app):
    now = utcnow()
    with worker_app.app_context():
        with write_transaction():
            api = component_service.add_component("API", now=now - timedelta(days=1))
            maintenance = incident_service.schedule_maintenance(
                name="Database upgrade",
                body="We will upgrade the database.",
                scheduled_for=now - timedelta(minutes=1),
                scheduled_until=now + timedelta(hours=1),
                now=now - timedelta(days=1),
                components=[api],
            )
            maintenance_id = maintenance.id
        run_worker(worker_app, once=True)
        db.session.rollback()
        assert db.session.get(Incident, maintenance_id).status == "in_progress"


def test_a_stop_event_ends_a_running_worker(worker_app, receiver):
    stop = threading.Event()
    done = []
    thread = threading.Thread(
        target=lambda: done.append(run_worker(worker_app, stop_event=stop)), daemon=True
    )
    thread.start()
    with worker_app.app_context():
        enqueue("k1")
    deadline = time.monotonic() + 10
    while not receiver.delivered() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert done == [1]


def test_a_busy_worker_does_its_timed_work_once_a_second_not_before_every_batch(
    worker_app, receiver, monkeypatch
):
    from statuspage.delivery import worker as worker_module

    ticks: list[float] = []
    monkeypatch.setattr(worker_module, "advance_runs", lambda now: ticks.append(time.monotonic()))
    # Long enough that the whole run is one interval, however slow the machine.
    monkeypatch.setattr(worker_module, "TIMED_WORK_EVERY", 3600.0)
    with worker_app.app_context():
        for n in range(30):  # three batches of 10
            enqueue(f"k{n}")
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(worker_app,), kwargs={"stop_event": stop})
    thread.start()
    deadline = time.monotonic() + 30
    while len(receiver.delivered()) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert len(receiver.delivered()) == 30
    assert len(ticks) == 1, f"timed work ran {len(ticks)} times in 3 batches"


def test_the_timed_work_a_busy_cycle_skipped_runs_when_it_falls_due_not_a_poll_later(
    make_app, receiver, monkeypatch
):
    from statuspage.delivery import worker as worker_module

    app = app_with(make_app, receiver, monkeypatch, worker={"batch_size": 10, "poll_seconds": 30})
    ticks: list[float] = []
    monkeypatch.setattr(worker_module, "advance_runs", lambda now: ticks.append(time.monotonic()))
    monkeypatch.setattr(worker_module, "TIMED_WORK_EVERY", 0.5)
    with app.app_context():
        for n in range(10):  # one batch: the cycle after it finds nothing and skips the timed work
            enqueue(f"k{n}")
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop_event": stop})
    thread.start()
    deadline = time.monotonic() + 25
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert len(receiver.delivered()) == 10
    # Due 0.5 s after the first (less the time from the mark to the call): well before the
    # 30 s poll.
    assert len(ticks) >= 2 and 0.4 <= ticks[1] - ticks[0] < 25, ticks


def test_the_cli_runs_the_worker_once(worker_app, db_url, tmp_path, receiver, monkeypatch):
    config = write_worker_config(tmp_path, db_url)
    with worker_app.app_context():
        enqueue("k1", channel="subscriber:1")
        with write_transaction():
            db.session.execute(
                sa.update(OutboxMessage).values(
                    payload={"subject": "s", "target": {"type": "webhook", "url": receiver.url()}}
                )
            )
    result = CliRunner().invoke(main, ["worker", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    with worker_app.app_context():
        assert states() == {"k1": "sent"}


def test_sigterm_finishes_the_message_in_hand_and_exits_cleanly(
    worker_app, db_url, tmp_path, receiver
):
    receiver.respond = lambda _request: Reply(200, delay=1.0)
    with worker_app.app_context():
        for index in range(5):
            enqueue(f"k{index}", channel="subscriber:1")
        with write_transaction():
            db.session.execute(
                sa.update(OutboxMessage).values(
                    payload={"subject": "s", "target": {"type": "webhook", "url": receiver.url()}}
                )
            )
    # One request at a time to the receiver's host, so exactly one send is in flight.
    config = write_worker_config(
        tmp_path, db_url, batch_size=5, lease_seconds=30, per_host_concurrency=1
    )
    process = start_worker(config, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 20
        while receiver.arrived == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.arrived == 1, (tmp_path / "worker.log").read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()
    assert len(receiver.delivered()) == 1
    with worker_app.app_context():
        assert sorted(states().values()) == ["pending"] * 4 + ["sent"]
        db.session.rollback()
        rest = db.session.scalars(sa.select(OutboxMessage).filter_by(state="pending")).all()
        # Handed back unattempted: the next worker takes them at once, with no attempt spent.
        assert {(m.claimed_by, m.attempts, m.lease_until) for m in rest} == {("", 0, None)}
