"""The worker loop: advance escalation runs, move maintenances, deliver the outbox.

Rows of email, webhook and Slack subscribers go through `services.subscriber_delivery`
(`handles`, `send`, `settle`), which resolves them against the subscriber at send time, and
expands a publish's one fan-out row into a row per subscriber when it settles it.

It keeps nothing in memory that a `kill -9` could lose: every message is committed as sent or
failed before the next one starts, and the messages a dead worker had claimed are taken over
by another worker when their lease runs out (at-least-once delivery).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from statuspage.clock import utcnow
from statuspage.config import Settings
from statuspage.db import rollup
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.delivery import channels, outbox, subscriber_delivery
from statuspage.delivery import escalation as runtime
from statuspage.publishing import maintenance

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Stopper:
    """A stop request from a signal or from `stop_event`, and a sleep that it cuts short."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event
        self.requested = False

    @property
    def stopped(self) -> bool:
        return self.requested or (self.event is not None and self.event.is_set())

    def request(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag: the loop finishes the message in hand and then stops.
        if not self.requested:
            log.info("%s: stopping after the message in hand", signal.Signals(signum).name)
        self.requested = True

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    @contextmanager
    def signals(self) -> Iterator[None]:
        """Turn SIGTERM and SIGINT into stop requests (only the main thread may do that)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.request) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def new_worker_id() -> str:
    """A name for this worker in `claimed_by`: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:100]


def run_worker(
    app: Flask,
    *,
    once: bool = False,
    stop_event: threading.Event | None = None,
    session: channels.Session | None = None,
    clock: Clock = utcnow,
    worker_id: str | None = None,
) -> int:
    """Run cycles until stopped, or with `once` until a cycle finds nothing to do.

    Returns how many messages were attempted.
    """
    worker_id = worker_id or new_worker_id()
    stopper = Stopper(stop_event)
    attempted = 0
    with app.app_context(), stopper.signals():
        settings: Settings = app.config["STATUSPAGE"]
        own_session = session is None
        session = session or channels.Session(settings)
        log.info("worker %s started", worker_id)
        try:
            while not stopper.stopped:
                try:
                    sent = run_cycle(settings, session, worker_id, stopper, clock)
                except Exception:
                    if once:
                        raise
                    # The database went away, or a bug: log it and try again after a pause.
                    # Claimed messages are safe: their leases run out and they are retried.
                    log.exception("worker cycle failed")
                    db.session.rollback()
                    sent = 0
                attempted += sent
                # Messages written by the timed work are delivered in the same cycle, so a
                # cycle that attempted nothing means nothing is due.
                if sent == 0:
                    if once:
                        break
                    stopper.sleep(settings.worker["poll_seconds"])
        finally:
            if own_session:
                session.close()
            db.session.remove()
        log.info("worker %s stopped (%d messages attempted)", worker_id, attempted)
    return attempted


def run_cycle(
    settings: Settings,
    session: channels.Session,
    worker_id: str,
    stopper: Stopper,
    clock: Clock = utcnow,
) -> int:
    """Advance runs, tick maintenances, then deliver one batch; return messages attempted."""
    now = clock()
    _isolated(advance_runs, now)
    _isolated(tick_maintenances, now, ZoneInfo(settings.site["time_zone"]))
    _isolated(rollup.tick, now, ZoneInfo(settings.site["time_zone"]))
    return deliver_batch(settings, session, worker_id, stopper, clock)


def _isolated(step: Callable[..., object], *args: Any) -> None:
    """Run one kind of timed work; its failure is logged and must not hold up deliveries."""
    try:
        step(*args)
    except Exception:
        log.exception("%s failed", step.__name__)
        db.session.rollback()


def advance_runs(now: datetime) -> None:
    """Let escalation runs whose next step is due write their notifications to the outbox."""
    # It takes one write transaction per run itself; end whatever read it left open.
    runtime.advance_due_runs(now)
    db.session.commit()


def tick_maintenances(now: datetime, tz: ZoneInfo) -> None:
    """Start and complete the scheduled maintenances whose time has come."""
    with write_transaction():
        transitions = maintenance.tick(now, tz=tz)
    for transition in transitions:
        log.info("%s", transition)


def _subscriber_rows(message: Any) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """The subscriber delivery's (send, settle) if this row is one of its own, else None."""
    if not subscriber_delivery.handles(message.channel, message.payload):
        return None
    return subscriber_delivery.send, subscriber_delivery.settle


def lease_margin(lease: timedelta) -> timedelta:
    """How much lease must be left to start a message: one HTTP timeout, or half a short lease."""
    return min(timedelta(seconds=channels.HTTP_TIMEOUT_SECONDS), lease / 2)


def deliver_batch(
    settings: Settings,
    session: channels.Session,
    worker_id: str,
    stopper: Stopper,
    clock: Clock = utcnow,
) -> int:
    """Claim a batch and deliver it, committing each outcome; return how many were attempted."""
    worker = settings.worker
    lease = timedelta(seconds=worker["lease_seconds"])
    batch = outbox.claim(worker_id, clock(), worker["batch_size"], lease)
    if not batch:
        return 0
    policy = outbox.Policy.from_settings(worker)
    margin = lease_margin(lease)
    attempted = 0
    try:
        for index, message in enumerate(batch):
            assert message.lease_until is not None
            if stopper.stopped or clock() > message.lease_until - margin:
                # Stopping, or too little lease left to finish before someone takes it over:
                # hand the rest back rather than risk sending them twice.
                with write_transaction():
                    for rest in batch[index:]:
                        outbox.release(rest)
                break
            deliver_one(session, message, policy, clock)
            attempted += 1
    finally:
        session.end_batch()
    return attempted


def deliver_one(
    session: channels.Session,
    message: Any,
    policy: outbox.Policy,
    clock: Clock = utcnow,
) -> channels.Result:
    """Send one claimed message and commit what happened to it."""
    delivery = channels.Delivery(
        key=message.idempotency_key,
        channel=message.channel,
        kind=message.kind,
        payload=message.payload,
    )
    subscribers = _subscriber_rows(message)
    if subscribers is not None:
        # Resolved against the subscriber as it is now (unsubscribed, disabled...), and its
        # outcome counted against it: the subscribers service owns both halves.
        send, settle = subscribers
        result = send(session, delivery, now=clock())
        with write_transaction():
            kept = settle(message, result, clock(), policy=policy)
    else:
        result = session.deliver(delivery)
        with write_transaction():
            now = clock()
            if result.sent:
                kept = outbox.mark_sent(message, now, status=result.status)
            else:
                kept = outbox.mark_failed(message, result, now, policy=policy)
    if not kept:
        log.warning("%s: another worker took the message over", message.idempotency_key)
    elif result.sent:
        log.info("sent %s via %s (%s)", message.idempotency_key, message.channel, result.status)
    else:
        log.warning(
            "%s via %s: %s (attempt %d): %s",
            message.idempotency_key,
            message.channel,
            result.outcome.value,
            message.attempts,
            result.error,
        )
    return result
