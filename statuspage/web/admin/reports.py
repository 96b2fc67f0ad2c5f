"""The Reports page: a period's reliability report with server-rendered SVG charts, and its
CSV and JSON exports (the same `reports.build` as the CLI and the API, so no figure differs).

The charts are geometry computed here from numbers (`uptime_chart`, `wait_chart`); the
template draws them, so every text in them goes through Jinja's escaping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, url_for

from statuspage.clock import utcnow
from statuspage.config import Settings
from statuspage.core.reliability import PERIOD_FORMS, Period
from statuspage.core.roles import Permission
from statuspage.errors import ValidationError
from statuspage.reports import report as reports
from statuspage.reports.report import duration, percent
from statuspage.web.admin import bp
from statuspage.web.auth import requires

#: A period as typed is at most this long (the longest valid one is 22 characters).
MAX_PERIOD_TEXT = 40
#: At most this many incidents get a bar of their own (the longest waits first).
MAX_WAIT_BARS = 30
#: The uptime axis starts at the highest of these that leaves every bar and target visible.
UPTIME_FLOORS = (99.9, 99.5, 99.0, 98.0, 95.0, 90.0, 50.0, 0.0)
#: Chart geometry, in SVG user units (the SVG scales to its box).
CHART_WIDTH = 480
LABEL_WIDTH = 150
VALUE_WIDTH = 80
ROW = 22
BAR = 14
TOP = 8
AXIS = 26
#: Labels longer than this are cut in the chart (the table beside it has them whole).
LABEL_CHARS = 22


# -- numbers as words ----------------------------------------------------------------------------


def _cut(text: str, size: int = LABEL_CHARS) -> str:
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


# -- charts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart."""

    y: float
    label: str
    name: str
    width: float
    value: str
    target_x: float | None = None
    target: str = ""
    below: bool = False


@dataclass(frozen=True)
class Tick:
    """An axis mark: a vertical grid line with its label."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart's geometry: bars start at `x0` and are at most `span` long."""

    width: int
    height: int
    x0: int
    span: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]

    @property
    def value_x(self) -> int:
        """Where the value texts start."""
        return self.x0 + self.span + 6

    @property
    def axis_y(self) -> int:
        """The baseline under the last bar."""
        return TOP + ROW * len(self.bars)


def _chart(bars: list[Bar], ticks: list[Tick]) -> Chart:
    return Chart(
        width=CHART_WIDTH,
        height=TOP + ROW * len(bars) + AXIS,
        x0=LABEL_WIDTH,
        span=CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH,
        bars=tuple(bars),
        ticks=tuple(ticks),
    )


def component_targets(report: reports.Report) -> dict[str, float]:
    """Each covered component's SLA target (the strictest, when several SLAs cover it)."""
    targets: dict[str, float] = {}
    for figures in report.slas:
        for name in figures.sla.components:
            targets[name] = max(targets.get(name, 0.0), figures.sla.target)
    return targets


def uptime_floor(values: list[float]) -> float:
    """The axis start: the highest floor below every value (so each bar shows)."""
    low = min(values, default=100.0)
    return next((floor for floor in UPTIME_FLOORS if floor < low), 0.0)


def uptime_chart(report: reports.Report) -> Chart:
    """A bar per component's uptime, with a mark at its SLA target if one covers it."""
    targets = component_targets(report)
    known = [row.uptime.percent for row in report.components if row.uptime.percent is not None]
    floor = uptime_floor(
        known + [targets[row.name] for row in report.components if row.name in targets]
    )
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH

    def x(value: float) -> float:
        return round(LABEL_WIDTH + span * (value - floor) / (100.0 - floor), 2)

    bars = []
    for n, row in enumerate(report.components):
        value = row.uptime.percent
        target = targets.get(row.name)
        bars.append(
            Bar(
                y=TOP + ROW * n,
                label=_cut(row.name),
                name=row.name,
                width=0.0 if value is None else round(x(value) - LABEL_WIDTH, 2),
                value=percent(value),
                target_x=None if target is None else x(target),
                target="" if target is None else percent(target, 2),
                below=value is not None and target is not None and value < target,
            )
        )
    middle = round((floor + 100.0) / 2, 3)
    ticks = [Tick(x(v), f"{v:g} %") for v in (floor, middle, 100.0)]
    return _chart(bars, ticks)


def started_in(report: reports.Report) -> list[reports.IncidentRow]:
    """The incidents that started in the period (those the means and p90s are taken over)."""
    return [row for row in report.incidents if report.period.contains(row.started_at)]


def waits(report: reports.Report) -> list[reports.IncidentRow]:
    """The incidents of the wait chart: started in the period, with a first update; the
    longest waits first, at most MAX_WAIT_BARS."""
    told = [row for row in started_in(report) if row.figures.time_to_first_update is not None]
    told.sort(key=lambda row: (-_wait(row), row.started_at, row.id))
    return told[:MAX_WAIT_BARS]


def _wait(row: reports.IncidentRow) -> float:
    wait = row.figures.time_to_first_update
    return 0.0 if wait is None else wait.total_seconds()


def wait_chart(rows: list[reports.IncidentRow]) -> Chart:
    """A bar per incident: the time from its detection to its first public update."""
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    longest = max((_wait(row) for row in rows), default=0.0) or 60.0
    bars = [
        Bar(
            y=TOP + ROW * n,
            label=_cut(f"#{row.id} {row.title}"),
            name=f"#{row.id} {row.title}",
            width=round(span * _wait(row) / longest, 2),
            value=duration(row.figures.time_to_first_update),
        )
        for n, row in enumerate(rows)
    ]
    ticks = [Tick(round(LABEL_WIDTH + span * f, 2), duration(longest * f)) for f in (0, 0.5, 1)]
    return _chart(bars, ticks)


# -- views ---------------------------------------------------------------------------------------


def last_month(now: datetime, tz: ZoneInfo) -> str:
    """The calendar month before `now`'s, in `tz` (the page's default period)."""
    local = now.astimezone(tz)
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{year:04d}-{month:02d}"


def _settings() -> Settings:
    settings: Settings = current_app.config["STATUSPAGE"]
    return settings


def _period_text(now: datetime) -> str:
    text = request.args.get("period", "").strip()[:MAX_PERIOD_TEXT]
    return text or last_month(now, reports.site_zone(_settings()))


def _period(text: str) -> Period:
    return reports.period_of(text, _settings())


def _filename(report: reports.Report, extension: str) -> str:
    """report-2026-11.csv: only letters, digits, dots and hyphens from the label."""
    label = "".join(
        c if c.isascii() and (c.isalnum() or c in "-.") else "_" for c in report.period.label
    )
    return f"report-{label}.{extension}"


@bp.get("/reports")
@requires(Permission.READ)
def reports_page():
    """A period picker, then the period's figures with charts and tables."""
    now = utcnow()
    text = _period_text(now)
    try:
        period = _period(text)
    except ValidationError as exc:
        page = render_template(
            "admin/reports/report.html",
            period_text=text,
            period_error=exc.message,
            forms=PERIOD_FORMS,
            report=None,
        )
        return page, 422
    report = reports.build(period, _settings(), now)
    rows = waits(report)
    return render_template(
        "admin/reports/report.html",
        period_text=text,
        period_error=None,
        forms=PERIOD_FORMS,
        report=report,
        impacts=reports.IMPACTS,
        targets=component_targets(report),
        uptime=uptime_chart(report),
        wait_rows=rows,
        waits=wait_chart(rows),
        started=len(started_in(report)),
        percent=percent,
        duration=duration,
        csv_url=url_for("admin.reports_csv", period=report.period.label),
        json_url=url_for("admin.reports_json", period=report.period.label),
    )


def _attachment(body: str, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/reports.csv")
@requires(Permission.READ)
def reports_csv() -> Response:
    """The period's report as CSV (docs/reports.md lists the columns)."""
    now = utcnow()
    report = reports.build(_period(_period_text(now)), _settings(), now)
    return _attachment(reports.as_csv(report), "text/csv", _filename(report, "csv"))


@bp.get("/reports.json")
@requires(Permission.READ)
def reports_json() -> Response:
    """The period's report as the API's JSON document."""
    now = utcnow()
    report = reports.build(_period(_period_text(now)), _settings(), now)
    body = json.dumps(reports.as_json(report), indent=2, ensure_ascii=False)
    return _attachment(body, "application/json", _filename(report, "json"))
