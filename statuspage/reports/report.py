"""A period's reliability report, built once and written as JSON, CSV or Markdown.

The three serializers read the same `Report`, so the CLI, the API and the exports cannot
disagree on a figure. Durations are seconds and percentages unrounded in JSON and CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from statuspage.config import Settings
from statuspage.core.enums import ComponentStatus, Impact
from statuspage.core.reliability import (
    Counting,
    IncidentFigures,
    IncidentStats,
    Period,
    PeriodUptime,
    SlaFigures,
    SlaTarget,
    Summary,
    component_uptime,
    incident_figures,
    incident_stats,
    parse_period,
    sla_figures,
)
from statuspage.core.times import as_utc, isoformat
from statuspage.reports import facts

__all__ = [
    "CSV_COLUMNS",
    "ComponentRow",
    "IncidentRow",
    "Report",
    "as_csv",
    "as_json",
    "as_markdown",
    "build",
    "figures_json",
    "period_of",
]

#: The CSV's columns, in order (docs/reports.md explains each; keep the two in step).
CSV_COLUMNS = (
    "period",
    "period_start",
    "period_end",
    "row",
    "name",
    "group",
    "components",
    "target_percent",
    "uptime_percent",
    "met",
    "binding_component",
    "known_seconds",
    "downtime_seconds",
    "budget_allowed_seconds",
    "budget_left_seconds",
    "count_degraded",
    "count_partial",
    "exclude_maintenance",
)
#: The impacts incident counts are kept by, in order.
IMPACTS = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)


@dataclass(frozen=True)
class ComponentRow:
    """A component's uptime over the period, by the default counting."""

    id: int
    name: str
    group: str | None
    uptime: PeriodUptime


@dataclass(frozen=True)
class IncidentRow:
    """An incident that touched the period, with its figures at the report's `now`."""

    id: int
    title: str
    impact: Impact
    started_at: datetime
    resolved_at: datetime | None
    figures: IncidentFigures


@dataclass(frozen=True)
class Report:
    """Everything a report shows: uptime, SLAs, incident stats and the incidents themselves."""

    period: Period
    time_zone: str
    generated_at: datetime
    counting: Counting
    components: tuple[ComponentRow, ...]
    slas: tuple[SlaFigures, ...]
    stats: IncidentStats
    incidents: tuple[IncidentRow, ...]


def site_zone(settings: Settings) -> ZoneInfo:
    """The site's time zone, in which periods are read."""
    return ZoneInfo(settings.site["time_zone"])


def period_of(text: str, settings: Settings) -> Period:
    """Read a period (`2026-11`, `2026-Q4`, `2026-11-01..2026-11-15`) in the site's time zone."""
    return parse_period(text, site_zone(settings))


def build(period: Period, settings: Settings, now: datetime) -> Report:
    """Read the period's history and compute its report as it stands at `now`."""
    counting = Counting()
    # A component added after the period had no part in it.
    refs = [ref for ref in facts.components() if as_utc(ref.created_at) < period.end]
    histories = facts.component_histories(refs, period, now=now)
    rows = tuple(
        ComponentRow(
            ref.id,
            ref.name,
            ref.group,
            component_uptime(
                histories[ref.id].changes,
                period,
                now=now,
                created_at=ref.created_at,
                counting=counting,
            ),
        )
        for ref in refs
    )
    by_name = {ref.name: histories[ref.id] for ref in refs}
    targets: Mapping[str, SlaTarget] = settings.sla
    slas = tuple(sla_figures(targets[name], period, by_name, now=now) for name in sorted(targets))
    found = facts.incidents(period, now=now)
    all_facts = [facts.incident_facts(incident) for incident in found]
    incidents = tuple(
        IncidentRow(
            incident.id,
            incident.name,
            incident_facts.impact,
            incident.started_at,
            incident.resolved_at,
            incident_figures(incident_facts, now=now),
        )
        for incident, incident_facts in zip(found, all_facts, strict=True)
    )
    return Report(
        period=period,
        time_zone=settings.site["time_zone"],
        generated_at=now,
        counting=counting,
        components=rows,
        slas=slas,
        stats=incident_stats(all_facts, period, now=now),
        incidents=incidents,
    )


# -- JSON ----------------------------------------------------------------------------------------


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def figures_json(figures: IncidentFigures) -> dict[str, Any]:
    """One incident's figures: durations in seconds, None where the event has not happened."""
    return {
        "time_to_acknowledge_seconds": _seconds(figures.time_to_acknowledge),
        "time_to_first_update_seconds": _seconds(figures.time_to_first_update),
        "longest_gap_seconds": _seconds(figures.longest_gap),
        "promises_kept": figures.promises_kept,
        "promises_broken": figures.promises_broken,
        "promises_pending": figures.promises_pending,
        "time_to_resolve_seconds": _seconds(figures.time_to_resolve),
        # Per component the incident's updates changed: seconds in each status it gave it.
        "components": [
            {
                "component_id": component,
                "seconds": {s.value: spent.total_seconds() for s, spent in by_status.items()},
            }
            for component, by_status in figures.component_durations.items()
        ],
    }


def _counting_json(counting: Counting) -> dict[str, Any]:
    return {
        "count_degraded": counting.count_degraded,
        "count_partial": counting.count_partial,
        "exclude_maintenance": counting.exclude_maintenance,
    }


def _uptime_json(uptime: PeriodUptime) -> dict[str, Any]:
    return {
        "uptime_percent": uptime.percent,
        "known_seconds": uptime.known_seconds,
        "downtime_seconds": uptime.downtime_seconds,
        # Every status, so the object's keys are stable (zero where it never was).
        "seconds": {s.value: uptime.seconds.get(s, 0.0) for s in ComponentStatus},
    }


def _sla_json(figures: SlaFigures) -> dict[str, Any]:
    sla = figures.sla
    return {
        "name": sla.name,
        "components": list(sla.components),
        "target_percent": sla.target,
        "counting": _counting_json(sla.counting),
        "achieved_percent": figures.achieved,
        "met": figures.met,
        "binding_component": figures.binding,
        "budget_allowed_seconds": figures.budget_allowed,
        "budget_left_seconds": figures.budget_left,
        "missing_components": list(figures.missing),
        "uptimes": [
            {"component": name, **_uptime_json(uptime)} for name, uptime in figures.uptimes.items()
        ],
    }


def _summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "count": summary.count,
        "mean_seconds": _seconds(summary.mean),
        "p90_seconds": _seconds(summary.p90),
    }


def as_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict (the API's answer and `--format json`)."""
    stats = report.stats
    return {
        "period": {
            "label": report.period.label,
            "start": isoformat(report.period.start),
            "end": isoformat(report.period.end),
            "time_zone": report.time_zone,
        },
        "generated_at": isoformat(report.generated_at),
        "counting": _counting_json(report.counting),
        "components": [
            {"id": row.id, "name": row.name, "group": row.group, **_uptime_json(row.uptime)}
            for row in report.components
        ],
        "slas": [_sla_json(figures) for figures in report.slas],
        "incident_stats": {
            "total": stats.total,
            "by_impact": {impact.value: stats.counts.get(impact, 0) for impact in IMPACTS},
            "time_to_first_update": _summary_json(stats.time_to_first_update),
            "time_to_resolve": _summary_json(stats.time_to_resolve),
        },
        "incidents": [
            {
                "id": row.id,
                "title": row.title,
                "impact": row.impact.value,
                "started_at": isoformat(row.started_at),
                "resolved_at": isoformat(row.resolved_at),
                "figures": figures_json(row.figures),
            }
            for row in report.incidents
        ],
    }


# -- CSV -----------------------------------------------------------------------------------------


#: What a spreadsheet reads as the start of a formula in a cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        # repr of a float reads back as the same float: the CSV carries the exact figures.
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    # A name like "=cmd|..." would run as a formula where the CSV is opened (OWASP's advice).
    return "'" + text if text.startswith(_FORMULA_START) else text


def as_csv(report: Report) -> str:
    """One row per component, then one per SLA, under CSV_COLUMNS."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    period = report.period
    head = (period.label, isoformat(period.start), isoformat(period.end))
    for row in report.components:
        uptime = row.uptime
        writer.writerow(
            _cell(v)
            for v in (
                *head,
                "component",
                row.name,
                row.group,
                row.name,
                None,
                uptime.percent,
                None,
                None,
                uptime.known_seconds,
                uptime.downtime_seconds,
                None,
                None,
                *_counting_json(report.counting).values(),
            )
        )
    for figures in report.slas:
        binding = figures.uptimes.get(figures.binding) if figures.binding else None
        writer.writerow(
            _cell(v)
            for v in (
                *head,
                "sla",
                figures.sla.name,
                None,
                ";".join(figures.sla.components),
                figures.sla.target,
                figures.achieved,
                figures.met,
                figures.binding,
                None if binding is None else binding.known_seconds,
                None if binding is None else binding.downtime_seconds,
                figures.budget_allowed,
                figures.budget_left,
                *_counting_json(figures.sla.counting).values(),
            )
        )
    return out.getvalue()


# -- Markdown ------------------------------------------------------------------------------------


def percent(value: float | None, digits: int = 3) -> str:
    """99.304 %, or "no data"."""
    return "no data" if value is None else f"{value:.{digits}f} %"


def duration(value: timedelta | float | None) -> str:
    """2 h 05 min, 12 min 30 s, 40 s (negative for a blown budget); "-" for none."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    sign, whole = ("-" if seconds < 0 else ""), abs(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours:02d} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def _escape(text: str) -> str:
    """A name as a Markdown table cell shows it: no HTML, no column break."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_markdown(report: Report) -> str:
    """The report as a Markdown document (tables), for pasting into a review."""
    period, stats = report.period, report.stats
    lines = [
        f"# Reliability report {period.label}",
        "",
        f"{isoformat(period.start)} to {isoformat(period.end)} (periods in {report.time_zone}); "
        f"generated {isoformat(report.generated_at)}.",
        "",
        "## SLAs",
        "",
    ]
    if report.slas:
        lines += [
            "| SLA | target | achieved | met | decided by | budget allowed | budget left |",
            "| --- | ---: | ---: | --- | --- | ---: | ---: |",
        ]
        for f in report.slas:
            met = "-" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(
                f"| {_escape(f.sla.name)} | {f.sla.target} % | {percent(f.achieved)} | {met} "
                f"| {_escape(f.binding or '-')} | {duration(f.budget_allowed)} "
                f"| {duration(f.budget_left)} |"
            )
        for f in report.slas:
            if f.missing:
                names = ", ".join(_escape(name) for name in f.missing)
                lines.append(f"\n{_escape(f.sla.name)}: not found, so not judged: {names}")
    else:
        lines.append("No SLA is configured ([sla.NAME] in the config).")
    lines += [
        "",
        "## Uptime",
        "",
        "| component | group | uptime | downtime |",
        "| --- | --- | ---: | ---: |",
    ]
    for row in report.components:
        lines.append(
            f"| {_escape(row.name)} | {_escape(row.group or '')} | "
            f"{percent(row.uptime.percent)} | {duration(row.uptime.downtime_seconds)} |"
        )
    counts = ", ".join(f"{impact.value} {stats.counts.get(impact, 0)}" for impact in IMPACTS)
    lines += [
        "",
        "## Incidents",
        "",
        f"{stats.total} incidents touched the period ({counts}).",
        "",
        "| figure | count | mean | p90 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, summary in (
        ("time to first update", stats.time_to_first_update),
        ("time to resolve", stats.time_to_resolve),
    ):
        lines.append(
            f"| {label} | {summary.count} | {duration(summary.mean)} | {duration(summary.p90)} |"
        )
    if report.incidents:
        lines += [
            "",
            "| # | incident | impact | acknowledged | first update | longest gap "
            "| promises kept / broken | resolved after |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for item in report.incidents:
            fig = item.figures
            lines.append(
                f"| {item.id} | {_escape(item.title)} | {item.impact.value} "
                f"| {duration(fig.time_to_acknowledge)} | {duration(fig.time_to_first_update)} "
                f"| {duration(fig.longest_gap)} | {fig.promises_kept} / {fig.promises_broken} "
                f"| {duration(fig.time_to_resolve)} |"
            )
    return "\n".join(lines) + "\n"
