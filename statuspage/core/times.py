"""Time helpers: everything is stored and computed in UTC, shown in the site's zone."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def as_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; naive values are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    """Format like Statuspage does: ISO 8601 with milliseconds and a `Z`."""
    if value is None:
        return None
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def format_window_time(value: datetime, tz: tzinfo) -> str:
    """A time as messages say it to customers: "Tuesday 16 June, 22:00 CEST"."""
    local = as_utc(value).astimezone(tz)
    return f"{local:%A} {local.day} {local:%B}, {local:%H:%M %Z}"
