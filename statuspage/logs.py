"""Logging for every process: chatty libraries quieted, secrets redacted from every record.

A webhook URL is a credential by its path (Slack, Teams, and any URL a subscriber typed), the
acknowledge links carry tokens, and a PagerDuty routing key or an API token may turn up in an
error message. `install` keeps them out of every line the root handlers write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: Libraries that log every request's full URL at INFO (httpx: "HTTP Request: POST <url>").
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "h11", "h2", "hpack")

FORMAT = "%(asctime)s %(levelname)s %(message)s"
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
            r"(\"?\s*[:=]\s*\"?(?:bearer\s+|basic\s+)?)[^\s\"',&;}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
)


def redact(text: str) -> str:
    """`text` with everything that looks like a secret replaced by REDACTED."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact`; drops nothing."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place, so every handler after this one sees it redacted too."""
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


def install(handlers: Iterable[logging.Handler] = ()) -> None:
    """Quiet QUIET_LOGGERS and redact what the root handlers (and `handlers`) write; idempotent."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    every = [*logging.getLogger().handlers, *handlers]
    if logging.lastResort is not None:
        every.append(logging.lastResort)  # what writes when nothing is configured
    for handler in every:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())


def configure(level: int = logging.INFO) -> None:
    """Log to stderr at `level` unless logging is set up already, then `install`."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format=FORMAT)
    install()
