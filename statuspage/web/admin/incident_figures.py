"""The "Figures" panel of an incident's admin page (issue 15, item 1): a template global,
`incident_figures_panel`, that gives the figures the API's /api/v1/incidents/<id> gives.

Both read `reports.figures_json` of `incident_figures(report_facts.incident_facts(...))` at the
request's `now`, so the page and the API cannot disagree; the panel only words the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus
from statuspage.core.reliability import incident_figures
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident
from statuspage.reports import facts as report_facts
from statuspage.reports import report as reports
from statuspage.web.admin import bp


@dataclass(frozen=True)
class FiguresPanel:
    """An incident's figures as the API gives them (`figures`: seconds, None where the event
    has not happened) and whether reaction times run from an alert."""

    figures: dict[str, Any]
    from_alert: bool
    #: Per component the updates changed: its name and (status label, seconds) in each status.
    components: list[tuple[str, list[tuple[str, float]]]]

    def seconds(self, key: str) -> float | None:
        """A duration of `figures` in seconds (None when the event has not happened)."""
        value = self.figures[f"{key}_seconds"]
        return None if value is None else float(value)


@bp.app_template_global()
def incident_figures_panel(incident: Incident) -> FiguresPanel:
    """The incident's figures, computed as the API computes them."""
    figures = reports.figures_json(
        incident_figures(report_facts.incident_facts(incident), now=utcnow())
    )
    rows = []
    for entry in figures.get("components", []):
        component = db.session.get(Component, entry["component_id"])
        name = component.name if component is not None else f"component {entry['component_id']}"
        spent = [(ComponentStatus(s).label, seconds) for s, seconds in entry["seconds"].items()]
        rows.append((name, spent))
    return FiguresPanel(
        figures=figures, from_alert=incident.detected_at is not None, components=rows
    )
