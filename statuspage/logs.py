"""Logging for every process: chatty libraries quieted, secrets redacted from every record.

A webhook URL is a credential by its path (Slack, Teams, and any URL a subscriber typed), the
acknowledge links carry tokens, and a PagerDuty routing key or an API token may turn up in an
error message. `install` keeps them out of every line the root handlers write.

Every line written while a web request is handled carries its id (`REQUEST_ID`, set by
statuspage/web/observe.py); `configure` writes lines as text or as one JSON object each.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: Libraries that log every request's full URL at INFO (httpx: "HTTP Request: POST <url>").
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "h11", "h2", "hpack", "alembic")

#: Text lines; `request_tag` is "[<request id>] " while a request is handled, else empty.
FORMAT = "%(asctime)s %(levelname)s %(request_tag)s%(message)s"
FORMATS = ("text", "json")
#: The id of the web request this thread or task is handling ("" outside requests).
REQUEST_ID: ContextVar[str] = ContextVar("statuspage_request_id", default="")
REDACTED = "[redacted]"

_URL_CHARS = r"[^\s\"'<>`]"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in a URL.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@"), rf"\1{REDACTED}@"),
    # The path, query and fragment of any http(s) URL: webhook URLs are secret by their path,
    # and ours carry tokens. Only the origin is kept, which is what an operator needs.
    (
        re.compile(rf"(?i)\b(https?://[^/\s?#\"'<>`]+)(?:/{_URL_CHARS}+|[?#]{_URL_CHARS}*)"),
        rf"\1/{REDACTED}",
    ),
    # The same hosts written without a scheme.
    (
        re.compile(
            r"(?i)\b((?:hooks\.slack\.com|[\w-]+(?:\.[\w-]+)*\.webhook\.office\.com"
            r"|outlook\.office(?:365)?\.com|[\w-]+(?:\.[\w-]+)*\.logic\.azure\.com"
            r"|discord(?:app)?\.com|events\.pagerduty\.com)(?::\d+)?)"
            rf"/{_URL_CHARS}+"
        ),
        rf"\1/{REDACTED}",
    ),
    # Our own links that carry a token in their path, written without the origin (as the
    # access log has them): acknowledge links and the subscription links of emails.
    (
        re.compile(r"(/(?:ack|subscriptions/(?:confirm|manage|unsubscribe))/)[^/?#\s\"'<>`]+"),
        rf"\1{REDACTED}",
    ),
    # A Slack webhook path on its own (in a receiver's error message, say).
    (re.compile(r"/services/T\w+/B\w+/\w+"), f"/services/{REDACTED}"),
    # Standard Webhooks secrets and our API tokens.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), f"whsec_{REDACTED}"),
    (re.compile(r"\bsp_[A-Za-z0-9_-]{8,}"), f"sp_{REDACTED}"),
    # `name: value` or `name=value` for secret-bearing names, quoted or not (JSON, query strings,
    # headers): PagerDuty's routing_key in a payload, ?token=..., Authorization: Bearer ...
    (
        re.compile(
            r"(?i)\b((?:routing|integration|service|api|access|signing)_?key|token|secret"
            r"|password|passwd|signature|sig|authorization)"
            r"(\"?\s*[:=]\s*\"?(?:bearer\s+|basic\s+|oauth\s+)?)[^\s\"',&;}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic|oauth)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
)


def redact(text: str) -> str:
    """`text` with everything that looks like a secret replaced by REDACTED."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


#: Set (with `extra=`) on a record whose writer built its message and fields from redacted
#: parts, as the access log does for every request: they are not redacted a second time.
PRE_REDACTED = "pre_redacted"


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact`; drops nothing."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place, so every handler after this one sees it redacted too."""
        if getattr(record, PRE_REDACTED, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # the handler reports a malformed record itself
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RequestId(logging.Filter):
    """Stamps each record with the id of the request being handled (`request_id`, and
    `request_tag` for text lines); a record given its own `request_id` keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None)
        if request_id is None:
            request_id = record.request_id = REQUEST_ID.get()
        record.request_tag = f"[{request_id}] " if request_id else ""
        return True


class TextFormatter(logging.Formatter):
    """`FORMAT`, with no request tag on records that did not pass `RequestId`."""

    def __init__(self) -> None:
        super().__init__(FORMAT, defaults={"request_tag": ""})


#: LogRecord's own attributes; any other attribute came from `extra=` and is a field of its own.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_tag",
    PRE_REDACTED,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then the fields
    given with `extra=` (an access line's client, method, path, status...) and any traceback.
    Text is redacted here too, so a handler without `RedactSecrets` leaks nothing either."""

    def format(self, record: logging.LogRecord) -> str:
        clean = _as_is if getattr(record, PRE_REDACTED, False) else redact
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": clean(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get() or None,
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRS and name not in line:
                line[name] = clean(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def _as_is(text: str) -> str:
    return text


def formatter(format: str = "text") -> logging.Formatter:
    """The formatter of `[logging] format` ("text" or "json")."""
    if format not in FORMATS:
        raise ValueError(f"log format {format!r}: expected one of {', '.join(FORMATS)}")
    return JsonFormatter() if format == "json" else TextFormatter()


def install(handlers: Iterable[logging.Handler] = ()) -> None:
    """Quiet QUIET_LOGGERS; redact what the root handlers (and `handlers`) write and stamp it
    with the request id; idempotent."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    every = [*logging.getLogger().handlers, *handlers]
    if logging.lastResort is not None:
        every.append(logging.lastResort)  # what writes when nothing is configured
    for handler in every:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
        if not any(isinstance(f, RequestId) for f in handler.filters):
            handler.addFilter(RequestId())


#: Marks the root handler `configure` made, whose format it may change again.
_OURS = "_statuspage_handler"


def configure(level: int = logging.INFO, *, format: str = "text") -> None:
    """Log to stderr at `level` in `format` unless logging is set up already (by someone else:
    a test's capture, say), then `install`."""
    root = logging.getLogger()
    if not root.handlers:
        ours = logging.StreamHandler()
        setattr(ours, _OURS, True)
        root.addHandler(ours)
        root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, _OURS, False):
            handler.setFormatter(formatter(format))
    install()
