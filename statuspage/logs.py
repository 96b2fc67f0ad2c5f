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
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Line:
    """What a pre-redacted record with no traceback holds: `created` as time.time() gives it,
    `level` its name, `logger` the logger's name, `fields` as given with `extra=`."""

    created: float
    level: str
    logger: str
    message: str
    request_id: str
    fields: Mapping[str, Any]


class LineFormatter(logging.Formatter):
    """A formatter that also makes the line of a record's parts, without the record."""

    def line(self, parts: Line) -> str:
        """The line `format` writes for a record of these parts."""
        raise NotImplementedError


class TextFormatter(LineFormatter):
    """`FORMAT`, with no request tag on records that did not pass `RequestId`."""

    def __init__(self) -> None:
        super().__init__(FORMAT, defaults={"request_tag": ""})
        #: (second, its local time stamp): every line of a second shares it, and strftime was
        #: a tenth of an access line's cost. One attribute, so threads never see a torn pair.
        self._stamp = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's local time as logging writes it by default, to the millisecond."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created)

    def _asctime(self, created: float) -> str:
        second = int(created)
        cached, stamp = self._stamp
        if cached != second:
            stamp = time.strftime(self.default_time_format, self.converter(created))
            self._stamp = (second, stamp)
        # logging's default_msec_format, and its formula for the milliseconds before 3.13.
        return f"{stamp},{int((created - second) * 1000):03d}"

    def line(self, parts: Line) -> str:
        values = {
            "asctime": self._asctime(parts.created),
            "levelname": parts.level,
            "request_tag": f"[{parts.request_id}] " if parts.request_id else "",
            "message": parts.message,
        }
        return FORMAT % values


#: LogRecord's own attributes; any other attribute came from `extra=` and is a field of its own.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_tag",
    PRE_REDACTED,
}


class JsonFormatter(LineFormatter):
    """One JSON object per line: time, level, logger, message, request_id, then the fields
    given with `extra=` (an access line's client, method, path, status...) and any traceback.
    Text is redacted here too, so a handler without `RedactSecrets` leaks nothing either."""

    def format(self, record: logging.LogRecord) -> str:
        clean = _as_is if getattr(record, PRE_REDACTED, False) else redact
        parts = Line(
            created=record.created,
            level=record.levelname,
            logger=record.name,
            message=clean(record.getMessage()),
            request_id=getattr(record, "request_id", None) or REQUEST_ID.get(),
            fields={k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS},
        )
        line = _json_object(parts, clean)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return _JSON.encode(line)

    def line(self, parts: Line) -> str:
        return _JSON.encode(_json_object(parts, _as_is))


def _json_object(parts: Line, clean: Callable[[str], str]) -> dict[str, Any]:
    """A JSON line's object: its fixed keys, then the fields (their text passed through
    `clean`; the message is clean already)."""
    line: dict[str, Any] = {
        "time": _utc_time(parts.created),
        "level": parts.level,
        "logger": parts.logger,
        "message": parts.message,
        "request_id": parts.request_id or None,
    }
    for name, value in parts.fields.items():
        if name not in line:
            line[name] = clean(value) if isinstance(value, str) else value
    return line


#: One encoder for every line: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
#: (second, its ISO 8601 UTC stamp), as TextFormatter keeps its local one.
_utc_stamp = (-1, "")


def _utc_time(created: float) -> str:
    """`created` in ISO 8601, UTC, to the millisecond ("2026-06-15T14:03:07.123+00:00")."""
    global _utc_stamp
    second = int(created)
    cached, stamp = _utc_stamp
    if cached != second:
        stamp = datetime.fromtimestamp(second, UTC).isoformat()[:19]
        _utc_stamp = (second, stamp)
    return f"{stamp}.{int((created - second) * 1000):03d}+00:00"


def _as_is(text: str) -> str:
    return text


def formatter(format: str = "text") -> LineFormatter:
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


class StderrHandler(logging.StreamHandler):
    """The root handler `configure` makes (whose format it may change again)."""

    def write_line(self, line: str) -> None:
        """Write a line formatted without a record, as `emit` writes a record's."""
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            try:
                self.stream.write(line + self.terminator)
                self.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": line}))


def configure(level: int = logging.INFO, *, format: str = "text") -> None:
    """Log to stderr at `level` in `format` unless logging is set up already (by someone else:
    a test's capture, say), then `install`."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(StderrHandler())
        root.setLevel(level)
    for handler in root.handlers:
        if isinstance(handler, StderrHandler):
            handler.setFormatter(formatter(format))
    install()


def log_redacted(
    logger: logging.Logger,
    level: int,
    message: str,
    *,
    request_id: str,
    fields: dict[str, Any],
    caller: tuple[str, int, str],
) -> None:
    """Log `message` and its `fields` (as `extra=`), built from redacted parts, when `logger`
    is enabled for `level` (the caller checks). `caller` is the (file, line, function) the
    record names: the walk up the stack that would find it costs a third of making one.

    When the line would reach the handler `configure` made and no other, it is written there
    without a record (the access log writes one per request, and a record, its filters and
    logging's generic formatting took half of a cached answer's time); the line is the one the
    record would have given.
    """
    handler = _direct_handler(logger, level)
    if handler is not None:
        line_formatter: LineFormatter = handler.formatter  # type: ignore[assignment]
        name = logging.getLevelName(level)
        parts = Line(time.time(), name, logger.name, message, request_id, fields)
        handler.write_line(line_formatter.line(parts))
        return
    extra = {PRE_REDACTED: True, "request_id": request_id, **fields}
    record = logger.makeRecord(logger.name, level, *caller[:2], message, (), None, caller[2], extra)
    logger.handle(record)


def _direct_handler(logger: logging.Logger, level: int) -> StderrHandler | None:
    """The handler a record of `logger` at `level` would reach, if that is ours alone, with our
    formatter and filters (which change nothing in a pre-redacted line), else None."""
    if logger.disabled or logger.filters:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        current = current.parent if current.propagate else None
    if (
        not isinstance(found, StderrHandler)
        or level < found.level
        or not isinstance(found.formatter, LineFormatter)
        or not all(isinstance(f, RedactSecrets | RequestId) for f in found.filters)
    ):
        return None
    return found
