"""Every size limit of what people send us, written once.

The publishing core checks them, the OpenAPI document states them, the templates' `maxlength`
attributes and the docs' table (docs/limits.md, kept in step by a test) read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from statuspage.core.text import clean_line, clean_text
from statuspage.errors import ValidationError

MAX_TITLE = 300
MAX_BODY = 20_000
MAX_MESSAGE_BODY = 20_000
MAX_VALUE = 500
MAX_MESSAGE_ID = 100
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_EMAIL = 254
MAX_ID = 2**31 - 1
MAX_IDEMPOTENCY_KEY = 80
MAX_FORM_KEY = 100
MAX_COMPONENTS = 200
MAX_SEARCH = 200
MAX_INTAKE_BYTES = 512 * 1024
MAX_ALERTS_PER_PAYLOAD = 1000
MAX_ALERT_LABELS = 64
MAX_LABEL_NAME = 128
MAX_LABEL_VALUE = 2000
MAX_FINGERPRINT = 200
MAX_INTEGRATION_NAME = 60
MAX_NOTE = 1000
MAX_OWNER = 254
MAX_LINK = 2000


@dataclass(frozen=True)
class Limit:
    """One documented limit: its name in code, its value and what it bounds."""

    name: str
    value: int
    what: str


#: The table docs/limits.md shows (a test compares the two).
LIMITS: tuple[Limit, ...] = (
    Limit("MAX_TITLE", MAX_TITLE, "characters in an incident or maintenance title"),
    Limit("MAX_BODY", MAX_BODY, "characters in an update, a correction or a postmortem"),
    Limit("MAX_MESSAGE_BODY", MAX_MESSAGE_BODY, "characters in a canned message's text"),
    Limit("MAX_VALUE", MAX_VALUE, "characters in one filled-in blank of a canned message"),
    Limit("MAX_MESSAGE_ID", MAX_MESSAGE_ID, "characters in a canned message's id"),
    Limit("MAX_NAME", MAX_NAME, "characters in a component or group name"),
    Limit("MAX_DESCRIPTION", MAX_DESCRIPTION, "characters in a component or group description"),
    Limit("MAX_EMAIL", MAX_EMAIL, "characters in an email address"),
    Limit("MAX_ID", MAX_ID, "the largest id a URL or a request may name"),
    Limit("MAX_IDEMPOTENCY_KEY", MAX_IDEMPOTENCY_KEY, "characters in an Idempotency-Key header"),
    Limit("MAX_COMPONENTS", MAX_COMPONENTS, "components named in one request"),
    Limit("MAX_SEARCH", MAX_SEARCH, "characters in an admin search"),
    Limit("MAX_INTAKE_BYTES", MAX_INTAKE_BYTES, "bytes in one alert webhook request"),
    Limit("MAX_ALERTS_PER_PAYLOAD", MAX_ALERTS_PER_PAYLOAD, "alerts in one alert webhook request"),
    Limit("MAX_ALERT_LABELS", MAX_ALERT_LABELS, "labels (or annotations) on one alert"),
    Limit("MAX_LABEL_NAME", MAX_LABEL_NAME, "characters in an alert's label name"),
    Limit("MAX_LABEL_VALUE", MAX_LABEL_VALUE, "characters in an alert's label or annotation value"),
    Limit("MAX_FINGERPRINT", MAX_FINGERPRINT, "characters in an alert's fingerprint"),
    Limit("MAX_NOTE", MAX_NOTE, "characters in a note on a dismissed draft"),
    Limit("MAX_INTEGRATION_NAME", MAX_INTEGRATION_NAME, "characters in an integration's name"),
    Limit("MAX_OWNER", MAX_OWNER, "characters in an action item's owner (a name or an address)"),
    Limit("MAX_LINK", MAX_LINK, "characters in an action item's link"),
)


def _too_long(what: str, limit: int, length: int, field: str) -> ValidationError:
    return ValidationError(
        f"{what} has at most {limit:,} characters (this one has {length:,})", field=field
    )


def title(text: str, *, field: str = "title") -> str:
    """A cleaned title within MAX_TITLE; raise ValidationError naming `field`."""
    cleaned = clean_line(text)
    if not cleaned:
        raise ValidationError("give it a title", field=field)
    if len(cleaned) > MAX_TITLE:
        raise _too_long("a title", MAX_TITLE, len(cleaned), field)
    return cleaned


def body(text: str, *, field: str = "body", limit: int = MAX_BODY) -> str:
    """A cleaned, non-empty Markdown body within `limit`; raise ValidationError naming `field`."""
    cleaned = clean_text(text).strip()
    if not cleaned:
        raise ValidationError("the update needs a message", field=field)
    if len(cleaned) > limit:
        raise _too_long("a message", limit, len(cleaned), field)
    return cleaned


def note(text: str, *, field: str = "note") -> str:
    """A cleaned, optional note within MAX_NOTE ("" when there is none)."""
    cleaned = clean_text(text).strip()
    if len(cleaned) > MAX_NOTE:
        raise _too_long("a note", MAX_NOTE, len(cleaned), field)
    return cleaned


def description(text: str, *, field: str = "description") -> str:
    """A cleaned, optional component or group description within MAX_DESCRIPTION."""
    cleaned = clean_text(text).strip()
    if len(cleaned) > MAX_DESCRIPTION:
        raise _too_long("a description", MAX_DESCRIPTION, len(cleaned), field)
    return cleaned


def name(text: str, *, field: str = "name", what: str = "a name") -> str:
    """A cleaned one-line name within MAX_NAME."""
    cleaned = clean_line(text)
    if not cleaned:
        raise ValidationError(f"{what} is required", field=field)
    if len(cleaned) > MAX_NAME:
        raise _too_long(what, MAX_NAME, len(cleaned), field)
    return cleaned
