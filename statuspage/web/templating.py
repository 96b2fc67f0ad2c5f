"""Template globals and filters: settings, enums, times shown in the site's time zone."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, has_request_context, request, url_for
from markupsafe import Markup, escape

from statuspage.core import limits
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentStatus,
    Indicator,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.times import as_utc, isoformat
from statuspage.core.uptime import DayUptime
from statuspage.db.queries import ClosedDays, ComponentUptime

#: The colour family ("tone") of every status word; CSS classes `t-<tone>` and icons follow it.
#: Keyed by enum class first: `Impact.NONE == Indicator.NONE == "none"` as string enums.
TONES: dict[type[StrEnum], dict[str, str]] = {
    ComponentStatus: {
        ComponentStatus.OPERATIONAL: "ok",
        ComponentStatus.DEGRADED_PERFORMANCE: "minor",
        ComponentStatus.PARTIAL_OUTAGE: "major",
        ComponentStatus.MAJOR_OUTAGE: "critical",
        ComponentStatus.UNDER_MAINTENANCE: "maint",
    },
    Impact: {
        Impact.NONE: "none",
        Impact.MINOR: "minor",
        Impact.MAJOR: "major",
        Impact.CRITICAL: "critical",
        Impact.MAINTENANCE: "maint",
    },
    Indicator: {
        Indicator.NONE: "ok",
        Indicator.MINOR: "minor",
        Indicator.MAJOR: "major",
        Indicator.CRITICAL: "critical",
        Indicator.MAINTENANCE: "maint",
    },
}


def tone(value: StrEnum | str | None) -> str:
    """Return the colour family of a status, impact or indicator ("ok", "minor", ...).

    A plain string is read as a component status, else as an impact (stored values).
    """
    if isinstance(value, Enum):
        return TONES.get(type(value), {}).get(value, "none")
    for enum in (ComponentStatus, Impact):
        if value in TONES[enum]:
            return TONES[enum][value]
    return "none"


def component_status(value: ComponentStatus | str) -> ComponentStatus:
    """Parse a stored component status string."""
    return ComponentStatus(value)


def worst_status(statuses) -> ComponentStatus:
    """Return the most severe of some component statuses (operational when there are none)."""
    parsed = [ComponentStatus(s) for s in statuses]
    return max(parsed, key=lambda s: s.severity, default=ComponentStatus.OPERATIONAL)


def format_duration(value: timedelta | float | int) -> str:
    """Format a length of time for people: "2 h 10 min", "3 d 4 h", "45 s" under a minute."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def format_percent(value: float | None, *, exact_hundred: bool = True) -> str:
    """Format an uptime percentage with up to two decimals: "99.1", "100", "—" without data.

    A figure that rounds to 100 while there was some downtime (`exact_hundred` false) shows
    as 99.99, so a bad day never reads as a perfect one.
    """
    if value is None:
        return "—"
    text = f"{value:.2f}"
    if text == "100.00" and not exact_hundred:
        text = "99.99"
    return text.rstrip("0").rstrip(".")


#: What a day's tooltip names, worst first, with the wording used there.
_DAY_STATUSES = (
    ComponentStatus.MAJOR_OUTAGE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.UNDER_MAINTENANCE,
)


def format_day(day: date) -> str:
    """Format a calendar day of the bar: "12 Nov 2026"."""
    return f"{day.day} {day:%b %Y}"


#: A component's incidents and maintenances on one day, as (incidents, maintenances).
DayCount = tuple[int, int]
NO_INCIDENTS: DayCount = (0, 0)


def _counted(number: int, word: str) -> str:
    if number == 0:
        return f"no {word}s"
    return f"{number} {word}{'s' if number > 1 else ''}"


def count_words(count: DayCount) -> str:
    """Say a day's count: "no incidents", "1 incident", "2 incidents, 1 maintenance"."""
    incidents, maintenances = count
    words = [_counted(incidents, "incident")] if incidents or not maintenances else []
    if maintenances:
        words.append(_counted(maintenances, "maintenance"))
    return ", ".join(words)


def day_label(name: str, day: DayUptime, count: DayCount = NO_INCIDENTS) -> str:
    """Name a day of a component's bar, as its link reads it and its tooltip shows it:
    "API, 12 Nov 2026: 97.29 % up (partial outage 2 h 10 min), 1 incident"."""
    label = f"{name}, {format_day(day.day)}"
    if not day.has_data:
        return f"{label}: no data"
    parts = [
        f"{status.label.lower()} {format_duration(day.seconds_in(status))}"
        for status in _DAY_STATUSES
        if day.seconds_in(status) >= 1
    ]
    uptime = 100.0 * (day.uptime if day.uptime is not None else 1.0)
    percent = format_percent(uptime, exact_hundred=day.downtime_seconds == 0)
    trouble = f" ({', '.join(parts)})" if parts else ""
    return f"{label}: {percent}\u202f% up{trouble}, {count_words(count)}"


def day_tone(day: DayUptime) -> str:
    """The colour family of one day of the bar ("nodata" before the component existed)."""
    worst = day.worst
    return "nodata" if worst is None else tone(worst)


def day_href(day: date, component_id: int) -> str:
    """Where a day of a component's bar leads: that day's incidents of the component."""
    return f"/history?day={day.isoformat()}&component={component_id}"


def day_cell(day: DayUptime, name: str, component_id: int, count: DayCount) -> Markup:
    """One cell of the bar, a link to the day's incidents named by `day_label`: no end tag
    (valid HTML) and no class on a good day (the CSS default)."""
    # f-strings with `escape` rather than Markup.format: a page builds hundreds of these.
    t = day_tone(day)
    cls = "" if t == "ok" else f' class="{t}"'
    href = escape(day_href(day.day, component_id))
    label = escape(day_label(name, day, count))
    return Markup(f'<li{cls}><a href="{href}" aria-label="{label}"></a>')  # noqa: S704 (escaped)


#: What a bar's closed days are rendered from: their uptime, the component's id and name, and
#: their incident counts.
CellsKey = tuple[ClosedDays, int, str, tuple[tuple[date, DayCount], ...]]


class _CellMemo:
    """The rendered cells of closed days, per `ClosedDays` object, component and incident
    counts (a bounded LRU)."""

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: OrderedDict[CellsKey, Markup] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def cells(self, key: CellsKey, counts: Mapping[date, DayCount]) -> Markup:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        closed, component_id, name, _ = key
        html = Markup("").join(
            day_cell(day, name, component_id, counts.get(day.day, NO_INCIDENTS))
            for day in closed.days
        )
        with self._lock:
            self._entries[key] = html
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return html


_CELLS = _CellMemo()


def uptime_cells(
    up: ComponentUptime, component_id: int, name: str, counts: Mapping[date, DayCount]
) -> Markup:
    """All cells of a bar, oldest first: closed days rendered once per rollup state (and
    incident counts), today live."""
    if up.closed is None or len(up.closed.days) != len(up.days) - 1:
        return Markup("").join(
            day_cell(day, name, component_id, counts.get(day.day, NO_INCIDENTS)) for day in up.days
        )
    today = up.days[-1]
    closed_counts = tuple(sorted((d, c) for d, c in counts.items() if d < today.day))
    key = (up.closed, component_id, name, closed_counts)
    today_cell = day_cell(today, name, component_id, counts.get(today.day, NO_INCIDENTS))
    return _CELLS.cells(key, counts) + today_cell


#: The icon of each tone (a `<use>` of the page's sprite), built once.
_ICON = Markup('<svg class="i" aria-hidden="true" focusable="false"><use href="#i-{}"/></svg>')
ICONS = {t: _ICON.format(t) for t in ("ok", "none", "minor", "major", "critical", "maint")}


def icon(t: str) -> Markup:
    """The icon of a tone."""
    found = ICONS.get(t)
    if found is None:
        found = _ICON.format(t)
    return found


#: The status words that have a `label` to show (Indicator has none).
LabelledStatus = ComponentStatus | Impact | IncidentStatus | MaintenanceStatus


# Typed: string enums of different classes compare equal (Impact.NONE == Indicator.NONE).
@functools.lru_cache(maxsize=64, typed=True)
def _status_tag(value: LabelledStatus) -> Markup:
    t = tone(value)
    return Markup('<span class="st t-{}">{}{}</span>').format(t, icon(t), value.label)


def status_tag(value: LabelledStatus | Indicator, text: str | None = None) -> Markup:
    """A status word with its icon and colour: component statuses, impacts, indicators."""
    if text:
        t = tone(value)
        return Markup('<span class="st t-{}">{}{}</span>').format(t, icon(t), text)
    if isinstance(value, Indicator):
        raise TypeError("an indicator has no label of its own: pass the text to show")
    return _status_tag(value)


def uptime_bar(
    up: ComponentUptime,
    component: Any,
    counts: Mapping[date, DayCount] | None = None,
) -> Markup:
    """The 90-day bar: one cell per day, oldest first, each a link to the day's incidents of
    `component` (named by its accessible name and shown as its tooltip, with `counts`, the
    component's incidents and maintenances by day).

    A page may carry thousands of cells, so the bar is built here rather than in a template,
    and the closed days' cells are rendered once per state of the uptime rollup.
    """
    p90, p30 = escape(format_percent(up.percent_90)), escape(format_percent(up.percent_30))
    cells = uptime_cells(up, component.id, component.name, counts or {})
    label = escape(f"{component.name}: uptime by day")
    return Markup(  # noqa: S704 (the cells are Markup, the rest escaped or numbers)
        f'\n<div class="uptime">\n<ol class="bar" aria-label="{label}">{cells}</ol>\n'
        f'<p class="legend"><span class="far"><span class="d90">'
        f"{len(up.days)} days ago</span>"
        '<span class="d30">30 days ago</span></span><span class="pct">'
        f'<span class="d90">{p90}&#8239;% uptime</span><span class="d30">{p30}&#8239;% uptime'
        "</span></span><span>Today</span></p>\n</div>\n"
    )


class TimeFormatter:
    """Formats aware datetimes in one time zone for display."""

    def __init__(self, time_zone: str) -> None:
        self.tz = ZoneInfo(time_zone)

    def local(self, value: datetime) -> datetime:
        """Convert to the display time zone."""
        return as_utc(value).astimezone(self.tz)

    def short(self, value: datetime | None) -> str:
        """Format as "Nov 12, 14:05 CET"."""
        if value is None:
            return ""
        local = self.local(value)
        return f"{local:%b} {local.day}, {local:%H:%M %Z}"

    def full(self, value: datetime | None) -> str:
        """Format as "Nov 12, 2026, 14:05 CET"."""
        if value is None:
            return ""
        local = self.local(value)
        return f"{local:%b} {local.day}, {local:%Y, %H:%M %Z}"

    def clock(self, value: datetime | None) -> str:
        """Format as "14:05 CET", for the end of a range on the same day."""
        return "" if value is None else f"{self.local(value):%H:%M %Z}"

    def day(self, value: datetime | date | None) -> str:
        """Format a day (or a datetime's local day) for headings: "Nov 12, 2026"."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self.local(value).date()
        return f"{value:%b} {value.day}, {value:%Y}"

    def same_day(self, a: datetime, b: datetime) -> bool:
        """Whether two instants fall on the same local day."""
        return self.local(a).date() == self.local(b).date()

    def time_tag(self, value: datetime | None) -> Markup:
        """A `<time>` with the instant, its full local form as a title and its short form."""
        return Markup(  # noqa: S704 (escaped)
            f'<time datetime="{escape(isoformat(value))}" title="{escape(self.full(value))}">'
            f"{escape(self.short(value))}</time>"
        )


def _static_versions(app: Flask) -> dict[str, str]:
    """Hash each static file once, so its URL changes when its content does."""
    versions: dict[str, str] = {}
    folder = app.static_folder
    if folder is None:
        return versions
    for path in Path(folder).iterdir():
        if path.is_file():
            versions[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return versions


def init_app(app: Flask) -> None:
    """Register the template helpers."""
    settings = app.config["STATUSPAGE"]
    times = TimeFormatter(settings.site["time_zone"])
    versions = _static_versions(app)

    @functools.lru_cache(maxsize=64)
    def request_static_url(name: str, script_root: str) -> str:
        return url_for("static", filename=name, v=versions.get(name))

    def static_url(name: str) -> str:
        """URL of a static file with a content hash, so it can be cached for a long time."""
        if has_request_context():
            # Within a request the URL depends only on where the app is mounted: built once.
            return request_static_url(name, request.script_root)
        return url_for("static", filename=name, v=versions.get(name))

    app.jinja_env.globals.update(
        site=settings.site,
        static_url=static_url,
        status_for=status_for,
        worst_status=worst_status,
        icon_tag=icon,
        status_tag=status_tag,
        time_tag=times.time_tag,
        uptime_bar=uptime_bar,
        limits=limits,
    )
    filters = {
        "isotime": isoformat,
        "localtime": times.short,
        "localtime_full": times.full,
        "localclock": times.clock,
        "localday": times.day,
        "duration": format_duration,
        "percent": format_percent,
        "tone": tone,
        "component_status": component_status,
        "impact": Impact,
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.tests["same_local_day"] = times.same_day
