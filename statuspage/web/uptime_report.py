"""The public uptime report (issue 15, opt-in with `reports.public`): each component's uptime per
month, with the figures of `statuspage report` (statuspage.reports.report.build), so the public
page and the admin's exports cannot disagree. SLA targets are internal and never shown.

The views (in web/public.py) are cached like the rest of the public side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from statuspage.config import Settings
from statuspage.core.reliability import Period
from statuspage.db import queries
from statuspage.db.extensions import db
from statuspage.db.models import Component
from statuspage.errors import NotFound
from statuspage.reports import report as reports
from statuspage.web.templating import format_percent

#: How many months /uptime lists (and how far back a month's page goes).
MONTHS_LISTED = 12

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def enabled(settings: Settings) -> bool:
    """Whether the public uptime report is on (`[reports] public`)."""
    return bool(settings.get("reports", "public"))


def _month_index(month: date) -> int:
    return month.year * 12 + month.month - 1


def _from_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _first_month(tz: ZoneInfo) -> date | None:
    """The month the oldest component with an uptime bar was created in, if any (one query)."""
    oldest = db.session.scalar(
        sa.select(sa.func.min(Component.created_at)).where(Component.showcase.is_(True))
    )
    return None if oldest is None else oldest.astimezone(tz).date().replace(day=1)


def months_with_data(now: datetime, tz: ZoneInfo) -> list[date]:
    """The months with data, newest (the current one) first, at most MONTHS_LISTED."""
    first = _first_month(tz)
    if first is None:
        return []
    current = _month_index(now.astimezone(tz).date().replace(day=1))
    oldest = max(_month_index(first), current - MONTHS_LISTED + 1)
    return [_from_index(i) for i in range(current, oldest - 1, -1)]


def parse_month(text: str, now: datetime, tz: ZoneInfo) -> date:
    """Read `YYYY-MM` (one spelling per month, so one cache entry) among the months listed;
    NotFound for anything else, a month that has not started or one without data."""
    if not _MONTH.fullmatch(text):
        raise NotFound("no such month")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12 or year < 1970:
        raise NotFound("no such month")
    wanted = date(year, month, 1)
    if wanted not in months_with_data(now, tz):
        raise NotFound("no uptime report for this month")
    return wanted


@dataclass(frozen=True)
class UptimeLine:
    """One component's line of the public report."""

    id: int
    name: str
    #: Unrounded, as in the report's JSON (`uptime_percent`); None without data.
    percent: float | None
    #: As the page shows it: two decimals at most, never "100" when there was downtime.
    percent_text: str
    downtime_seconds: float
    downtime_minutes: int


def _line(row: reports.ComponentRow) -> UptimeLine:
    uptime = row.uptime
    downtime = uptime.downtime_seconds
    return UptimeLine(
        id=row.id,
        name=row.name,
        percent=uptime.percent,
        percent_text=format_percent(uptime.percent, exact_hundred=downtime <= 0),
        downtime_seconds=downtime,
        downtime_minutes=round(downtime / 60),
    )


def index_context(now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """What /uptime shows: the months with data."""
    return {"now": now, "months": months_with_data(now, tz), "listed": MONTHS_LISTED}


def month_context(month: date, settings: Settings, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """What /uptime/YYYY-MM shows: each component's uptime that month, grouped as on the home
    page (components without an uptime bar are left out)."""
    period = Period.month(month.year, month.month, tz)
    report = reports.build(period, settings, now)
    lines = {row.id: _line(row) for row in report.components}
    tree = queries.component_tree()
    groups = []
    for group in tree.groups:
        members = [lines[c.id] for c in tree.members.get(group.id, []) if c.showcase]
        if members:
            groups.append((group, members))
    ungrouped = [lines[c.id] for c in tree.ungrouped if c.showcase]
    months = months_with_data(now, tz)
    at = months.index(month)
    return {
        "now": now,
        "month": month,
        "period": period,
        "ongoing": now < period.end,
        "groups": groups,
        "ungrouped": ungrouped,
        "newer": months[at - 1] if at > 0 else None,
        "older": months[at + 1] if at + 1 < len(months) else None,
    }
