"""Transports for notifications; the only package that touches the network.

Every outbox row names a transport (`kind`) and carries a channel-neutral payload, rendered when
the event happened:

    {
      "subject": "one line",                 # email subject, card title, PagerDuty summary
      "text": "plain text body",             # the filled internal message
      "event": "incident.escalation",        # webhook event type (optional)
      "action": "trigger" | "resolve",       # PagerDuty event_action (default trigger)
      "dedup_key": "...",                    # PagerDuty dedup_key (default: the row's key)
      "occurred_at": "2026-06-15T12:00:00Z", # when the event happened (ISO 8601)
      "severity": "error",                   # PagerDuty severity (default: from the impact)
      "fields": {"Impact": "Major", ...},    # labelled facts for cards (default: derived)
      "incident": {"id": 1, "name": "...", "impact": "major", "status": "investigating",
                   "components": ["API"], "url": "https://status.example.com/incidents/1"},
      "links": [{"label": "Acknowledge", "url": "https://..."}],   # built by us only
      "target": {...},                       # subscriber rows only: see resolve_channel
      "html": "<p>...</p>",                  # email: an HTML alternative part (optional)
      "headers": {"List-Unsubscribe": "<...>"},   # email: unsubscribe headers only
      "envelope": {...},                     # webhook: a ready-made body (subscriber webhooks)
      "guarded": true                        # webhook: re-check the URL with netguard, pin it
    }

Where a row goes is resolved at send time by `resolve_channel`, so a secret rotated in the
environment is picked up without touching queued rows.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import os
import smtplib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from statuspage import __version__
from statuspage.config import Settings
from statuspage.delivery.channels.dispatch import Dispatcher, Job
from statuspage.delivery.channels.smtp_pool import SmtpPool

__all__ = [
    "SENDERS",
    "ChannelSpec",
    "Delivery",
    "Outcome",
    "Result",
    "Session",
    "make_client",
    "resolve_channel",
]

#: Timeout of one HTTP request (connect, read, write and pool each).
HTTP_TIMEOUT_SECONDS = 10.0
#: The prefix of `OutboxMessage.channel` for rows that carry their own target.
SUBSCRIBER_PREFIX = "subscriber:"


class Outcome(enum.StrEnum):
    """What became of one attempt."""

    SENT = "sent"
    RETRY = "retry"  # try again later: 5xx, 408, 429, timeouts, refused connections
    PERMANENT = "permanent"  # do not try again: any other 4xx, a malformed target


@dataclass(frozen=True)
class Result:
    """The outcome of one attempt, with what the receiver said."""

    outcome: Outcome
    status: int | None = None
    error: str = ""
    #: Seconds the receiver asked us to wait (Retry-After); a floor for the next attempt.
    retry_after: float | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True)
class ChannelSpec:
    """Where and how to send, with secrets already read from the environment."""

    name: str
    type: str
    to: tuple[str, ...] = ()
    url: str = ""
    secret: str = ""
    routing_key: str = ""
    #: PagerDuty: impact -> severity overrides.
    severity: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One outbox row as a sender sees it."""

    key: str
    channel: str
    kind: str
    payload: Mapping[str, Any]


class Sender(Protocol):
    def __call__(self, delivery: Delivery, spec: ChannelSpec, session: Session) -> Result: ...


class ChannelError(Exception):
    """The channel cannot be used as configured; `outcome` says whether waiting can help."""

    def __init__(self, message: str, outcome: Outcome = Outcome.PERMANENT) -> None:
        super().__init__(message)
        self.outcome = outcome


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Labelled facts for cards: the payload's `fields`, else impact, status and components."""
    given = payload.get("fields")
    if isinstance(given, Mapping) and given:
        return [(str(label), str(value)) for label, value in given.items() if value]
    incident = payload.get("incident") or {}
    derived = [
        ("Impact", str(incident.get("impact") or "")),
        ("Status", str(incident.get("status") or "")),
        ("Components", ", ".join(map(str, incident.get("components") or []))),
    ]
    return [(label, value) for label, value in derived if value]


def make_client(
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    max_connections: int = 32,
) -> httpx.Client:
    """Return the HTTP client every channel shares; tests may pass a MockTransport.

    Connections are kept alive between requests (per host, up to `max_connections` in all),
    and HTTP/2 is offered when the `h2` package is installed.
    """
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        http2=transport is None and importlib.util.find_spec("h2") is not None,
        # Never route through proxies from the environment, never follow redirects: a webhook
        # URL is exactly where the operator said, and a 3xx is the operator's to fix.
        trust_env=False,
        follow_redirects=False,
        headers={"user-agent": f"statuspage/{__version__}"},
    )


def resolve_channel(
    channel: str,
    payload: Mapping[str, Any],
    escalation: Any,
    environ: Mapping[str, str] | None = None,
) -> ChannelSpec:
    """Find where a row goes: its own `target` (subscribers) or the configured channel."""
    environ = os.environ if environ is None else environ
    target = payload.get("target")
    if target is not None or channel.startswith(SUBSCRIBER_PREFIX):
        if not isinstance(target, Mapping):
            raise ChannelError(f"{channel}: the row carries no target")
        return _spec(channel, target, environ)
    channels = getattr(escalation, "channels", None)
    if channels is None and isinstance(escalation, Mapping):
        channels = escalation.get("channels")
    raw = (channels or {}).get(channel)
    if raw is None:
        known = ", ".join(sorted(channels or {})) or "none"
        raise ChannelError(f"unknown channel {channel!r} (known: {known})")
    return _spec(channel, _as_mapping(raw), environ)


def _as_mapping(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        return {f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)}
    return vars(raw)


def _spec(name: str, raw: Mapping[str, Any], environ: Mapping[str, str]) -> ChannelSpec:
    kind = str(raw.get("type") or raw.get("kind") or "")
    to = raw.get("to") or ()
    return ChannelSpec(
        name=name,
        type=kind,
        to=(to,) if isinstance(to, str) else tuple(to),
        url=_value(raw, "url", environ),
        secret=_value(raw, "secret", environ),
        routing_key=_value(raw, "routing_key", environ),
        severity=dict(raw.get("severity") or raw.get("severity_map") or {}),
    )


def _value(raw: Mapping[str, Any], key: str, environ: Mapping[str, str]) -> str:
    """A value given directly or by the name of an environment variable (`<key>_env`)."""
    env_name = raw.get(f"{key}_env")
    if env_name:
        value = environ.get(env_name, "")
        if not value:
            # The operator can set it and restart: keep the message rather than drop it.
            raise ChannelError(f"environment variable {env_name} is not set", Outcome.RETRY)
        return value
    return str(raw.get(key) or "")


class Session:
    """What one worker uses to send: the shared HTTP client, a pool of SMTP connections, and
    the threads that send a batch in parallel (within the limits of `[worker]` and `[smtp]`).

    `deliver` may be called from any thread: it reads nothing but settings and the network.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        worker, smtp = settings.worker, settings.smtp
        connections = int(smtp.get("connections", 1))
        http_concurrency = int(worker.get("http_concurrency", 1))
        self.http = client or make_client(max_connections=http_concurrency)
        self.environ = os.environ if environ is None else environ
        self._smtp_lock = threading.Lock()
        self._smtp_pool: SmtpPool | None = None
        self.dispatcher = Dispatcher(
            kind_limits={"smtp": connections},
            default_limit=http_concurrency,
            per_host=int(worker.get("per_host_concurrency", 1)),
        )

    def deliver(self, delivery: Delivery) -> Result:
        """Send one row and classify the outcome; never raises for a channel's fault."""
        sender = SENDERS.get(delivery.kind)
        if sender is None:
            return Result(Outcome.PERMANENT, error=f"unknown transport {delivery.kind!r}")
        try:
            spec = self.spec(delivery)
            return sender(delivery, spec, self)
        except ChannelError as exc:
            return Result(exc.outcome, error=str(exc))
        except Exception as exc:
            # A bug of ours for one odd payload must not stop the others; attempts are bounded.
            return Result(Outcome.RETRY, error=f"internal error: {type(exc).__name__}: {exc}")

    def spec(self, delivery: Delivery) -> ChannelSpec:
        """Where a row goes now, checked against the transport it was written for."""
        spec = resolve_channel(
            delivery.channel, delivery.payload, self.settings.escalation, self.environ
        )
        if spec.type and spec.type != delivery.kind:
            raise ChannelError(
                f"channel {spec.name!r} is now of type {spec.type!r}, "
                f"the message was written for {delivery.kind!r}"
            )
        return spec

    def host(self, delivery: Delivery) -> str:
        """The destination host a row counts against ("" for SMTP, bounded by its pool)."""
        if delivery.kind == "smtp":
            return ""
        try:
            return urlsplit(self.spec(delivery).url).hostname or ""
        except (ChannelError, ValueError):
            return ""  # `deliver` reports it, at once

    def deliver_many(
        self,
        deliveries: list[Delivery],
        *,
        deadline: float,
        stopped: Callable[[], bool] = lambda: False,
    ) -> list[Result | None]:
        """Send rows in parallel; each one's Result, None for those not started because
        `stopped()` or `deadline` (time.monotonic()) came first."""
        jobs = [
            Job(d.kind, self.host(d), lambda d=d: self.deliver(d))  # type: ignore[misc]
            for d in deliveries
        ]
        results: list[Result | None] = []
        for outcome in self.dispatcher.run(jobs, deadline=deadline, stopped=stopped):
            if outcome is None or isinstance(outcome, Result):
                results.append(outcome)
            else:
                error = f"internal error: {type(outcome).__name__}: {outcome}"
                results.append(Result(Outcome.RETRY, error=error))
        return results

    def smtp_pool(self, connect: Callable[[Session], smtplib.SMTP]) -> SmtpPool:
        """The SMTP connections, a pool made on first use that opens them with `connect`."""
        with self._smtp_lock:
            if self._smtp_pool is None:
                smtp = self.settings.smtp
                self._smtp_pool = SmtpPool(
                    lambda: connect(self),
                    size=int(smtp.get("connections", 1)),
                    max_messages=int(smtp.get("max_messages_per_connection", 100)),
                    rate=float(smtp.get("rate_per_second", 0)),
                )
            return self._smtp_pool

    def drop_smtp(self) -> None:
        """Close the idle SMTP connections (at the end of a batch, or when idle)."""
        if self._smtp_pool is not None:
            self._smtp_pool.close()

    def end_batch(self) -> None:
        self.drop_smtp()

    def close(self) -> None:
        self.dispatcher.close()
        self.drop_smtp()
        self.http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _senders() -> dict[str, Sender]:
    from statuspage.delivery.channels import pagerduty, slack, smtp, teams, webhook

    return {
        "smtp": smtp.send,
        "webhook": webhook.send,
        "slack": slack.send,
        "teams": teams.send,
        "pagerduty": pagerduty.send,
    }


#: kind -> sender; every sender takes (delivery, spec, session) and returns a Result.
SENDERS: dict[str, Sender] = _senders()
