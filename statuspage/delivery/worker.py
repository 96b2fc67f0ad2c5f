"""The worker loop: advance escalation runs, move maintenances, deliver the outbox.

Rows of email, webhook and Slack subscribers go through `services.subscriber_delivery`
(`handles`, `send`, `settle`), which resolves them against the subscriber at send time, and
expands a publish's one fan-out row into a row per subscriber when it settles it.

A batch is sent in parallel (`channels.Session.deliver_many`: bounded per transport and per
host) and its outcomes are committed together, in one transaction on the worker's thread, before
the next batch is claimed. A `kill -9` loses no message: those a dead worker had claimed are
taken over by another worker when their lease runs out (at-least-once delivery), so at most one
batch is sent twice per kill.

When the database cannot be reached, the worker waits for it with backoff (`Outage`) and then
hands back what it held: the outcomes of the messages it had sent are recorded (kept in
memory meanwhile, so they are not sent again) and the rest of its batch is released,
to be claimed at once rather than after the lease. Only if the worker stops or dies during
the outage, or another worker takes the messages over first (an outage longer than the
lease), are they sent again once their lease runs out.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from statuspage import logs, metrics
from statuspage.clock import utcnow
from statuspage.config import Settings
from statuspage.db import notify, rollup
from statuspage.db.availability import is_unreachable
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import channels, outbox, subscriber_delivery
from statuspage.delivery import escalation as runtime
from statuspage.errors import ConfigError
from statuspage.intake import receive
from statuspage.publishing import action_items, approvals, maintenance

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: Waits between tries while the database cannot be reached: the first, and the longest
#: (doubling in between), so a worker notices within seconds that the database is back.
OUTAGE_FIRST_WAIT = 0.5
OUTAGE_LONGEST_WAIT = 5.0
#: While deliveries keep it busy, a worker does its timed work (escalation steps, maintenances,
#: rollups, held intake changes, plan reminders) at most this often, not before every batch.
TIMED_WORK_EVERY = 1.0


class Stopper:
    """A stop request from a signal or from `stop_event`, and a sleep that it cuts short."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event
        self.requested = False

    @property
    def stopped(self) -> bool:
        return self.requested or (self.event is not None and self.event.is_set())

    def request(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag: the loop finishes the sends in flight, records them, and then stops.
        if not self.requested:
            log.info("%s: stopping after the sends in flight", signal.Signals(signum).name)
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


class Outage:
    """Waits with backoff while the database cannot be reached; logs its start and end once."""

    def __init__(self, stopper: Stopper, *, patient: bool = True) -> None:
        self.stopper = stopper
        #: Whether to wait for the database at all (not in a `--once` run, which exits).
        self.patient = patient
        self.since: float | None = None
        self.wait = OUTAGE_FIRST_WAIT

    def wait_after(self, exc: BaseException) -> None:
        """Note a failure for want of the database, then sleep before the next try."""
        if self.since is None:
            self.since = time.monotonic()
            self.wait = OUTAGE_FIRST_WAIT
            log.warning("the database cannot be reached (%s); waiting for it", _first_line(exc))
        # Jittered, so workers do not all come back at the same instant.
        self.stopper.sleep(random.uniform(self.wait / 2, self.wait))
        self.wait = min(self.wait * 2, OUTAGE_LONGEST_WAIT)

    def ended(self) -> None:
        """The database answered."""
        if self.since is not None:
            log.warning("the database answers again (after %.1f s)", time.monotonic() - self.since)
            self.since = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _reset_session() -> None:
    """Roll the session back (after a failure, or to end a read); with the connection gone
    that may fail too."""
    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a failure failed", exc_info=True)


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

    Returns how many messages were attempted. Refuses (ConfigError) an app whose escalation
    config was set aside as malformed: the web app runs without it, the worker must not.
    """
    loaded = app.config["STATUSPAGE"]
    for error in (loaded.escalation_error, loaded.intake_error):
        if error:
            raise ConfigError(error)
    # Webhook URLs are secrets and httpx logs each one it posts to: quiet it, redact the rest.
    logs.install()
    worker_id = worker_id or new_worker_id()
    stopper = Stopper(stop_event)
    attempted = 0
    with app.app_context(), stopper.signals():
        settings: Settings = app.config["STATUSPAGE"]
        own_session = session is None
        session = session or channels.Session(settings)
        outage = Outage(stopper, patient=not once)
        # An idle worker is woken by any commit that wrote outbox rows (NOTIFY on PostgreSQL,
        # the outbox's highest id probed every 50 ms on SQLite), so the first delivery leaves
        # at once; the timed work still runs at least every poll_seconds.
        doorbell = None
        if not once:
            doorbell = notify.Doorbell(
                db.engine,
                notify.OUTBOX,
                "SELECT max(id) FROM outbox",
                listen=settings.database["listen"],
            )
        log.info("worker %s started", worker_id)
        next_timed = 0.0
        try:
            while not stopper.stopped:
                if doorbell is not None:
                    doorbell.arm()  # before the claim: a commit during the cycle still rings
                timed = once or time.monotonic() >= next_timed
                if timed:
                    next_timed = time.monotonic() + TIMED_WORK_EVERY
                try:
                    sent = run_cycle(
                        settings, session, worker_id, stopper, clock, outage, timed=timed
                    )
                except Exception as exc:
                    if once:
                        raise
                    _reset_session()
                    if is_unreachable(exc):
                        outage.wait_after(exc)  # and try again, sooner than a poll if it is back
                        continue
                    # A bug: log it and try again after a pause. Claimed messages are safe:
                    # their leases run out and they are retried.
                    log.exception("worker cycle failed")
                    sent = 0
                else:
                    outage.ended()
                attempted += sent
                # Messages written by the timed work are delivered in the same cycle, so a
                # cycle that attempted nothing means nothing is due.
                if sent == 0:
                    if once or doorbell is None:
                        break
                    wait = float(settings.worker["poll_seconds"])
                    if not timed:  # the timed work this cycle skipped is due first
                        wait = min(wait, max(0.0, next_timed - time.monotonic()))
                    doorbell.wait(wait, lambda: stopper.stopped)
        finally:
            if doorbell is not None:
                doorbell.close()
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
    outage: Outage | None = None,
    *,
    timed: bool = True,
) -> int:
    """Advance runs, tick maintenances (with `timed`), then deliver one batch; return
    messages attempted."""
    if timed:
        now = clock()
        _isolated(advance_runs, now)
        _isolated(tick_maintenances, now, ZoneInfo(settings.site["time_zone"]))
        _isolated(rollup.tick, now, ZoneInfo(settings.site["time_zone"]))
        _isolated(tick_intake, now, settings)
        _isolated(tick_plans, now, settings)
        _isolated(tick_action_items, now, settings)
    return deliver_batch(settings, session, worker_id, stopper, clock, outage)


def _isolated(step: Callable[..., object], *args: Any) -> None:
    """Run one kind of timed work; its failure is logged and must not hold up deliveries."""
    try:
        step(*args)
    except Exception as exc:
        if is_unreachable(exc):
            raise  # nothing else can be done without the database: the cycle waits for it
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


def tick_intake(now: datetime, settings: Settings) -> None:
    """Apply the component changes intake's flap damping held back until now."""
    with write_transaction():
        changed = receive.tick(receive.Context.from_settings(settings, now))
    if changed:
        log.info("intake: %d held component change(s) applied", changed)


def tick_plans(now: datetime, settings: Settings) -> None:
    """Escalate approvals that waited too long; remind of updates overdue under a plan."""
    with write_transaction():
        added = approvals.tick(now, approvals.Notices.from_settings(settings))
    if added:
        log.info("plans: %d reminder(s) and approval escalation(s) queued", added)


def tick_action_items(now: datetime, settings: Settings) -> None:
    """Tell [reports] action_items_path of postmortem action items past their due date."""
    path = settings.get("reports", "action_items_path")
    if not path:
        return
    with write_transaction():
        added = action_items.remind_overdue(
            now,
            path=path,
            tz=ZoneInfo(settings.site["time_zone"]),
            notices=approvals.Notices.from_settings(settings),
        )
    if added:
        log.info("action items: %d overdue reminder(s) queued", added)


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
    outage: Outage | None = None,
) -> int:
    """Claim a batch, send it in parallel and record every outcome in one transaction; return
    how many were attempted.

    The database is read and written on this thread only (the session is per thread); the
    sending threads see settings and the network. Messages not started while the lease still
    had room for one more send (or before a stop) are handed back.
    """
    worker = settings.worker
    lease = timedelta(seconds=worker["lease_seconds"])
    batch = outbox.claim(worker_id, clock(), worker["batch_size"], lease)
    if not batch:
        # Idle: close the SMTP connections a server would time out before the next batch.
        session.end_batch()
        return 0
    policy = outbox.Policy.from_settings(worker)
    outage = outage or Outage(stopper)
    started = clock()
    lease_until = min(message.lease_until or started for message in batch)
    room = (lease_until - lease_margin(lease) - started).total_seconds()
    if stopper.stopped or room <= 0:
        # Stopping, or too little lease left to finish before someone takes it over:
        # hand them back rather than risk sending them twice.
        hand_back(batch, [], policy, None, outage)
        return 0
    try:
        ready = _resolve(batch, started)
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        hand_back(batch, [], policy, exc, outage)  # nothing was sent: all of it goes back
        return 0
    # End the reads' transaction before the sends: a snapshot held open through them keeps
    # PostgreSQL from pruning settled rows, which every claim then walks past.
    _reset_session()
    results: list[channels.Result | None] = [
        item if isinstance(item, channels.Result) else None for item in ready
    ]
    sending = [
        (index, item) for index, item in enumerate(ready) if isinstance(item, channels.Delivery)
    ]
    sent = session.deliver_many(
        [item for _index, item in sending],
        # A monotonic deadline: the sending threads never call `clock`, which may be a test's.
        deadline=time.monotonic() + room,
        stopped=lambda: stopper.stopped,
    )
    for (index, _item), result in zip(sending, sent, strict=True):
        results[index] = result
    at = clock()
    done = [Unsettled(m, r, at) for m, r in zip(batch, results, strict=True) if r is not None]
    rest = [m for m, r in zip(batch, results, strict=True) if r is None]
    # Sent, not yet recorded: if the database is gone they wait in memory for it to come back.
    hand_back(rest, done, policy, None, outage)
    if len(batch) < worker["batch_size"] or stopper.stopped:
        session.end_batch()
    return len(done)


def _resolve(batch: list[Any], now: datetime) -> list[channels.Delivery | channels.Result]:
    """Each claimed message as the delivery to send, or its Result already (subscriber rows
    dropped at send time, fan-out rows): the database reads of a batch, on this thread."""
    deliveries = [_delivery(message) for message in batch]
    ours = [
        index
        for index, message in enumerate(batch)
        if subscriber_delivery.handles(message.channel, message.payload)
    ]
    resolved: list[channels.Delivery | channels.Result] = list(deliveries)
    if ours:
        subscriber_rows = subscriber_delivery.resolve_many([deliveries[i] for i in ours], now=now)
        for index, item in zip(ours, subscriber_rows, strict=True):
            resolved[index] = item
    return resolved


def _delivery(message: Any) -> channels.Delivery:
    return channels.Delivery(
        key=message.idempotency_key,
        channel=message.channel,
        kind=message.kind,
        payload=message.payload,
    )


def settle_all(done: list[Unsettled], policy: outbox.Policy) -> None:
    """Record the outcomes of a batch in the current transaction: the sent ones with a
    statement per chunk, the rest (failures, skips, fan-outs) one by one."""
    plain: dict[tuple[bool, int | None], list[Unsettled]] = {}
    for unsettled in done:
        message, result = unsettled.message, unsettled.result
        ours = _subscriber_rows(message) is not None
        if result.sent and not (ours and message.kind == subscriber_delivery.FAN_OUT_KIND):
            plain.setdefault((ours, result.status), []).append(unsettled)
        else:
            unsettled.settle(policy)
    for (ours, status), group in plain.items():
        messages = [unsettled.message for unsettled in group]
        at = group[0].at
        if ours:
            kept = subscriber_delivery.settle_sent_many(messages, at, status=status)
        else:
            kept = outbox.mark_sent_many(messages, at, status=status)
        for unsettled in group:
            unsettled.noted(unsettled.message.id in kept)


@dataclass
class Unsettled:
    """A message attempted whose outcome is not committed yet: recorded, or retried later."""

    message: Any
    result: channels.Result
    at: datetime
    #: What `settle` recorded, for the deliveries metric once it is committed (None: nothing).
    recorded: str | None = None

    def settle(self, policy: outbox.Policy) -> None:
        """Record the outcome in the current transaction and log it."""
        message, result = self.message, self.result
        subscribers = _subscriber_rows(message)
        if subscribers is not None:
            # Counted against the subscriber as well: the subscribers service owns both halves.
            kept = subscribers[1](message, result, self.at, policy=policy)
        elif result.sent:
            kept = outbox.mark_sent(message, self.at, status=result.status)
        else:
            kept = outbox.mark_failed(message, result, self.at, policy=policy)
        self.recorded = _recorded(message, result, subscribers is not None) if kept else None
        self.noted(kept)

    def noted(self, kept: bool) -> None:
        """Log the outcome recorded (`kept`), or that another worker took the message over."""
        message, result = self.message, self.result
        if kept and result.sent:
            self.recorded = "sent"
        if not kept:
            self.recorded = None  # not ours to count (a try before it may have set it)
            log.warning("%s: another worker took the message over", message.idempotency_key)
        elif result.sent:
            # Subscriber messages come by the thousand: a line per batch says how many went.
            level = logging.DEBUG if self.bulk else logging.INFO
            log.log(
                level,
                "sent %s via %s (%s)",
                message.idempotency_key,
                message.channel,
                result.status,
            )
        else:
            log.warning(
                "%s via %s: %s (attempt %d): %s",
                message.idempotency_key,
                message.channel,
                result.outcome.value,
                message.attempts,
                result.error,
            )

    @property
    def bulk(self) -> bool:
        """Whether this is a message to one subscriber (not a fan-out row, not an escalation)."""
        return (
            _subscriber_rows(self.message) is not None
            and self.message.kind != subscriber_delivery.FAN_OUT_KIND
        )

    def count(self) -> None:
        """Count the outcome `settle` recorded, once its transaction has committed."""
        if self.recorded is not None:
            metrics.count_delivery(self.message.kind, self.recorded)
            self.recorded = None


def committed(done: list[Unsettled]) -> None:
    """Count the outcomes of a batch once committed, and say how many subscribers were told."""
    told: Counter[str] = Counter()
    for unsettled in done:
        if unsettled.recorded == "sent" and unsettled.bulk:
            told[unsettled.message.kind] += 1
        unsettled.count()
    if told:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(told.items()))
        log.info("sent %d subscriber messages (%s)", told.total(), kinds)


def _recorded(message: Any, result: channels.Result, subscriber_row: bool) -> str:
    """The result label of a settled message: sent, skipped, or what became of a failure."""
    if result.sent:
        return "sent"
    if subscriber_row and subscriber_delivery.is_skip(result):
        return "skipped"
    # Whether this failure was the last (dead) is decided by mark_failed: read it back.
    state = db.session.scalar(sa.select(OutboxMessage.state).where(OutboxMessage.id == message.id))
    return "dead" if state == outbox.DEAD else "retry"


def hand_back(
    rest: list[Any],
    unsettled: list[Unsettled],
    policy: outbox.Policy,
    failure: Exception | None,
    outage: Outage,
) -> None:
    """Record `unsettled` and release `rest` in one transaction, waiting for the database first
    if it failed (`failure`) and whenever it fails. Gives up only when the worker is stopping
    (or runs `--once`): then the messages wait for their lease, and those of `unsettled` may
    be sent again."""
    while True:
        if failure is not None:
            if outage.stopper.stopped or not outage.patient:
                log.warning(
                    "giving up on the database: %d claimed messages wait for their lease%s",
                    len(rest) + len(unsettled),
                    f"; {len(unsettled)} sent may be sent again" if unsettled else "",
                )
                return
            outage.wait_after(failure)
        try:
            with write_transaction():
                settle_all(unsettled, policy)
                for message in rest:
                    outbox.release(message)
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            _reset_session()
            failure = exc
            continue
        committed(unsettled)
        outage.ended()
        return


def attempt(session: channels.Session, message: Any, clock: Clock = utcnow) -> channels.Result:
    """Send one claimed message (subscriber rows are resolved against the database first)."""
    delivery = _delivery(message)
    subscribers = _subscriber_rows(message)
    if subscribers is not None:
        # Resolved against the subscriber as it is now (unsubscribed, disabled...).
        return subscribers[0](session, delivery, now=clock())
    return session.deliver(delivery)


def deliver_one(
    session: channels.Session,
    message: Any,
    policy: outbox.Policy,
    clock: Clock = utcnow,
) -> channels.Result:
    """Send one claimed message and commit what happened to it."""
    result = attempt(session, message, clock)
    unsettled = Unsettled(message, result, clock())
    with write_transaction():
        unsettled.settle(policy)
    unsettled.count()
    return result
