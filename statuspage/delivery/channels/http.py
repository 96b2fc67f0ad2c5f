"""POST a JSON body and classify the answer: sent, retry later, or give up."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from statuspage.clock import utcnow
from statuspage.core.times import as_utc
from statuspage.delivery.channels import Outcome, Result

#: Statuses worth trying again besides 5xx: the receiver was busy, not the request wrong.
RETRY_STATUSES = frozenset({408, 429})
#: How much of an error response body to keep in `last_error`.
ERROR_BODY_CHARS = 200
REDACTED = "[redacted]"


def encode(body: Any) -> bytes:
    """Serialise a JSON body once, so the bytes signed are the bytes sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def post(
    client: httpx.Client,
    url: str,
    content: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> Result:
    """POST `content` as JSON to `url` and classify what happened.

    The error kept (logged, stored, shown in the admin) never quotes `url`, its path or
    `secrets`: a receiver's error page may echo them, and a webhook URL is a credential.
    """
    if not url.startswith(("http://", "https://")):
        return Result(Outcome.PERMANENT, error="not an http(s) URL")
    sent_headers = {"content-type": "application/json", **(headers or {})}
    try:
        response = client.post(
            url, content=content, headers=sent_headers, extensions=dict(extensions or {})
        )
    except httpx.TimeoutException as exc:
        return Result(Outcome.RETRY, error=f"timed out: {type(exc).__name__}")
    except httpx.TransportError as exc:
        error = f"connection failed: {type(exc).__name__}: {exc}"
        return Result(Outcome.RETRY, error=scrub(error, url, secrets))
    result = classify(response)
    return dataclasses.replace(result, error=scrub(result.error, url, secrets))


def scrub(text: str, url: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without `url`, its path and query, or any of `secrets`."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    for value in sorted({url, path, parts.path, *secrets}, key=len, reverse=True):
        if len(value) > 1:
            text = text.replace(value, REDACTED)
    return text


def classify(response: httpx.Response, now: datetime | None = None) -> Result:
    """Sort a response into sent (2xx), retry (5xx, 408, 429) or permanent (anything else)."""
    status = response.status_code
    if 200 <= status < 300:
        return Result(Outcome.SENT, status=status)
    error = f"HTTP {status}"
    detail = _body_excerpt(response)
    if detail:
        error = f"{error}: {detail}"
    if status >= 500 or status in RETRY_STATUSES:
        after = retry_after(response.headers.get("retry-after"), now or utcnow())
        return Result(Outcome.RETRY, status=status, error=error, retry_after=after)
    if 300 <= status < 400:
        error = f"{error} (redirects are not followed: use the final URL)"
    return Result(Outcome.PERMANENT, status=status, error=error)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (as_utc(when) - now).total_seconds())


def _body_excerpt(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return ""
    text = " ".join(text.split())
    return text[:ERROR_BODY_CHARS]
