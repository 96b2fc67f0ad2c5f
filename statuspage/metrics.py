"""Every metric the service exports: counters each process keeps, and families read from the
database when Prometheus scrapes (so every process reports the same numbers for them).

Counters and histograms live in this process's `REGISTRY`. `statuspage serve` runs several
worker processes: before it forks them, `use_multiprocess_dir` switches prometheus_client to
its multiprocess mode, in which each process writes its values to files in that folder and a
scrape (`render`) adds them up. Without it (the worker, tests) the values stay in memory.

A family read from the database is one function in `DATABASE_FAMILIES` (see
`database_family`): it takes `now` and yields prometheus_client metric families. While the
database cannot be reached they are left out and `statuspage_database_up` is 0; the scrape
itself still succeeds.
"""

from __future__ import annotations

import logging
import multiprocessing.util
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.metrics import disable_created_metrics
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from statuspage.clock import utcnow
from statuspage.db.availability import is_unreachable
from statuspage.db.extensions import db
from statuspage.db.models import Alert, Draft, EscalationRun, IncidentUpdate
from statuspage.delivery import outbox
from statuspage.publishing.drafts import STATES as DRAFT_STATES

log = logging.getLogger(__name__)

#: prometheus_client's switch to multiprocess mode: the folder every process writes to.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The text format all Prometheus versions read (what `generate_latest` writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Request durations, from a fast-path answer (well under a millisecond) to a slow render.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: HTTP methods counted by name; anything else is counted as "other" (bounded cardinality).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# `_created` series double the output and cannot be added up across processes.
disable_created_metrics()

#: This process's counters and histograms.
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "statuspage_http_requests",
    "HTTP requests answered, by route (the Flask endpoint; unmatched: no route), method and "
    "status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "statuspage_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer, by route.",
    ["route"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "statuspage_public_cache_lookups",
    "Cached public pages by who answered (layer: fastpath, flask) and how (result: hit, miss "
    "(rendered), stale (served while the database cannot be reached)).",
    ["layer", "result"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "statuspage_deliveries",
    "Outbox messages the worker attempted, by transport kind and result (sent, retry, dead, "
    "skipped: a subscriber row dropped because the subscriber may no longer get it).",
    ["kind", "result"],
    registry=REGISTRY,
)
#: Every metric of this module that keeps values in the process.
PROCESS_METRICS = (HTTP_REQUESTS, HTTP_DURATION, CACHE_LOOKUPS, DELIVERIES)

#: The results `DELIVERIES` counts.
DELIVERY_RESULTS = ("sent", "retry", "dead", "skipped")


#: Each request's series once looked up, by (route, method, status): `labels` checks and
#: converts its values under a lock every call, which cost as much as the counting itself on
#: the fast path. Emptied whenever the metrics are (`_forget_series`).
_REQUEST_SERIES: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_CACHE_SERIES: dict[tuple[str, str], Any] = {}
#: Routes, methods and statuses are bounded, so this is a backstop, not an eviction policy.
_MAX_SERIES = 4096


def observe_request(route: str, method: str, status: str, seconds: float) -> None:
    """Count one answered HTTP request and its duration."""
    method = method if method in METHODS else "other"
    key = (route, method, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        series = (HTTP_REQUESTS.labels(route, method, status), HTTP_DURATION.labels(route))
        if len(_REQUEST_SERIES) < _MAX_SERIES:
            _REQUEST_SERIES[key] = series
    series[0].inc()
    series[1].observe(seconds)


def count_cache(layer: str, result: str) -> None:
    """Count one cached public page answered by `layer` (fastpath, flask) with `result`."""
    key = (layer, result)
    series = _CACHE_SERIES.get(key)
    if series is None:
        series = _CACHE_SERIES[key] = CACHE_LOOKUPS.labels(layer, result)
    series.inc()


def _forget_series() -> None:
    """Drop the series kept above (their metrics were cleared: new ones must be made)."""
    _REQUEST_SERIES.clear()
    _CACHE_SERIES.clear()


def count_delivery(kind: str, result: str) -> None:
    """Count one settled delivery attempt."""
    DELIVERIES.labels(kind, result).inc()


def start_delivery_series(kinds: Iterable[str]) -> None:
    """Create the delivery series of `kinds` at 0, so a first failure shows as an increase."""
    for kind in kinds:
        for result in DELIVERY_RESULTS:
            DELIVERIES.labels(kind, result)


# -- several processes --------------------------------------------------------------------


def use_multiprocess_dir(directory: str) -> None:
    """Switch this process (and those it forks or spawns later) to multiprocess mode.

    prometheus_client chooses its mode when it is imported, which here is long before
    `statuspage serve` knows it will fork; so the choice is made again, and values made so
    far (in memory) are dropped: the master serves no requests.
    """
    for metric in PROCESS_METRICS:
        metric.clear()  # before the switch: prometheus_client warns about it in that mode
    _forget_series()
    os.environ[MULTIPROC_ENV] = directory
    values.ValueClass = values.get_value_class()


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, or None when this process keeps its values itself."""
    return os.environ.get(MULTIPROC_ENV) or None


def mark_dead_at_exit() -> None:
    """In a worker process of `statuspage serve`: do prometheus_client's bookkeeping for a dead
    process when this one exits (multiprocessing runs these finalizers, not atexit's)."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocessing.util.Finalize(
            None, mark_process_dead, args=(os.getpid(), directory), exitpriority=10
        )


# -- from the database --------------------------------------------------------------------

DatabaseFamily = Callable[[datetime], Iterable[Metric]]
#: The functions a scrape calls, in order, each in the scrape's database session.
DATABASE_FAMILIES: list[DatabaseFamily] = []


def database_family(function: DatabaseFamily) -> DatabaseFamily:
    """Register `function(now)` as a source of families read from the database at scrape time.

    Keep each to a few aggregate queries over indexed columns: Prometheus scrapes every few
    seconds, from every process.
    """
    DATABASE_FAMILIES.append(function)
    return function


@database_family
def outbox_families(now: datetime) -> Iterator[Metric]:
    """The outbox by state (dead letters are `state="dead"`) and its oldest waiting message."""
    stats = outbox.stats()
    messages = GaugeMetricFamily(
        "statuspage_outbox_messages",
        "Outbox messages by state: pending (not attempted yet), retrying (pending after a "
        "failed attempt), sent, dead (given up: the dead letters). Depth: pending + retrying.",
        labels=["state"],
    )
    messages.add_metric(["pending"], stats.pending - stats.retrying)
    messages.add_metric(["retrying"], stats.retrying)
    messages.add_metric(["sent"], stats.sent)
    messages.add_metric(["dead"], stats.dead)
    yield messages
    oldest = stats.oldest_pending
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    yield GaugeMetricFamily(
        "statuspage_outbox_oldest_pending_age_seconds",
        "Age of the oldest message waiting to be delivered; 0 when none waits.",
        value=age,
    )


@database_family
def escalation_families(now: datetime) -> Iterator[Metric]:
    """Escalation runs still running."""
    active = db.session.scalar(
        sa.select(sa.func.count()).select_from(EscalationRun).where(EscalationRun.active)
    )
    yield GaugeMetricFamily(
        "statuspage_escalation_runs_active",
        "Escalation runs still running (not stopped by acknowledgement, resolution or their end).",
        value=active or 0,
    )


@database_family
def publishing_families(now: datetime) -> Iterator[Metric]:
    """Public incident and maintenance updates published so far."""
    updates = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate))
    yield CounterMetricFamily(
        "statuspage_incident_updates_published",
        "Public updates of incidents and maintenances published (rows of incident_updates).",
        value=updates or 0,
    )


@database_family
def intake_families(now: datetime) -> Iterator[Metric]:
    """Alerts received, the repeats among them, those firing now, and drafts by state."""
    received, repeats = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Alert.received_count), 0),
            sa.func.coalesce(sa.func.sum(Alert.duplicate_count), 0),
        )
    ).one()
    alerts = CounterMetricFamily(
        "statuspage_alerts",
        "Alert notifications received from monitoring, and those that repeated what was known "
        "(deduplicated by fingerprint: counted, not acted on).",
        labels=["result"],
    )
    alerts.add_metric(["received"], received)
    alerts.add_metric(["deduplicated"], repeats)
    yield alerts
    firing = db.session.scalar(
        sa.select(sa.func.count()).select_from(Alert).where(Alert.status == "firing")
    )
    yield GaugeMetricFamily(
        "statuspage_alerts_firing", "Alerts firing now, as last received.", value=firing or 0
    )
    drafts = GaugeMetricFamily(
        "statuspage_drafts",
        "Drafts prepared from alerts, by state (waiting: for a PM to publish or dismiss).",
        labels=["state"],
    )
    counts = dict(
        db.session.execute(sa.select(Draft.state, sa.func.count()).group_by(Draft.state)).all()
    )
    for state in DRAFT_STATES:
        drafts.add_metric([state], counts.get(state, 0))
    yield drafts


class DatabaseCollector(Collector):
    """Reads `DATABASE_FAMILIES` at scrape time, in an app context and session of its own."""

    def __init__(self, app: Flask, clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = 1
        found: list[Metric] = []
        with self.app.app_context():
            now = self.clock()
            try:
                for family in DATABASE_FAMILIES:
                    try:
                        found.extend(family(now))
                    except Exception as exc:
                        _rollback()
                        if is_unreachable(exc):
                            log.warning("metrics: the database cannot be reached (%s)", exc)
                            up, found = 0, []
                            break
                        # A bug in one family must not hide the others (nor the HTTP ones).
                        log.exception("metrics: %s failed", family.__name__)
            finally:
                db.session.remove()
        yield from found
        yield GaugeMetricFamily(
            "statuspage_database_up",
            "1 if this scrape could read the database; 0 if not (its families are left out).",
            value=up,
        )


def _rollback() -> None:
    """End a failed scrape's transaction; with the connection gone that may fail too."""
    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a failed scrape failed", exc_info=True)


class _ThisProcess(Collector):
    """`REGISTRY`'s metrics, for a registry that is made per scrape."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def render(app: Flask, clock: Callable[[], datetime] = utcnow) -> bytes:
    """The text exposition of every metric: the processes' own, then the database's."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(app, clock))
    return generate_latest(registry)
