"""The incident's admin page shows its figures (issue 15, item 1), the very numbers
/api/v1/incidents/<id> gives in `figures`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from tests.support.reports import incident

pytestmark = pytest.mark.usefixtures("frozen_clock")

FIGURE = re.compile(r'data-figure="([a-z_]+)" data-value="([^"]*)"')


def make_incident(
    *,
    started: datetime,
    updates: list[tuple[datetime, str, datetime | None]],
    detected: datetime | None = None,
    acknowledged: datetime | None = None,
    resolved: datetime | None = None,
) -> int:
    with write_transaction():
        item = incident(
            "API down",
            impact="major",
            started=started,
            resolved=resolved,
            updates=updates,
            detected=detected,
            acknowledged=acknowledged,
        )
        db.session.flush()
        return item.id


def panel_figures(client, incident_id: int) -> dict[str, float | int | None]:
    html = client.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert 'id="h-figures"' in html
    found: dict[str, float | int | None] = {}
    for key, value in FIGURE.findall(html):
        if value == "":
            found[key] = None
        elif key.startswith("promises_"):
            found[key] = int(value)
        else:
            found[key] = float(value)
    return found


def api_figures(app, people, incident_id: int) -> dict:
    with write_transaction():
        _, token = tokens.create(people["viewer"], "ci", now=utcnow())
    answer = app.test_client().get(
        f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    return answer.get_json()["figures"]


def scalars(figures: dict) -> dict:
    """The API's figures the panel shows as numbers (per-component times are shown apart)."""
    return {key: value for key, value in figures.items() if key != "components"}


def test_the_panel_shows_the_apis_figures_for_a_resolved_incident(app, people, viewer):
    now = utcnow()
    start = now - timedelta(hours=5)
    incident_id = make_incident(
        started=start,
        detected=start + timedelta(minutes=2),
        acknowledged=start + timedelta(minutes=5),
        resolved=start + timedelta(hours=1),
        updates=[
            (start + timedelta(minutes=12), "investigating", start + timedelta(minutes=42)),
            (start + timedelta(minutes=40), "identified", start + timedelta(minutes=50)),
            (start + timedelta(hours=1), "resolved", None),
        ],
    )
    shown = panel_figures(viewer, incident_id)
    expected = api_figures(app, people, incident_id)
    assert shown == scalars(expected)
    # Counted from the alert, not the start; one promise kept, one broken.
    assert shown["time_to_acknowledge_seconds"] == 180.0
    assert shown["time_to_first_update_seconds"] == 600.0
    assert shown["longest_gap_seconds"] == 1680.0
    assert (shown["promises_kept"], shown["promises_broken"]) == (1, 1)
    assert shown["time_to_resolve_seconds"] == 3600.0
    html = viewer.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert "10 min" in html and "1 broken" in html and "the first alert" in html


def test_an_open_incident_shows_what_has_not_happened_yet(app, people, viewer):
    now = utcnow()
    incident_id = make_incident(
        started=now - timedelta(minutes=30),
        updates=[(now - timedelta(minutes=20), "investigating", now + timedelta(minutes=10))],
    )
    shown = panel_figures(viewer, incident_id)
    assert shown == scalars(api_figures(app, people, incident_id))
    assert shown["time_to_acknowledge_seconds"] is None
    assert shown["time_to_resolve_seconds"] is None
    assert shown["longest_gap_seconds"] is None
    assert shown["promises_pending"] == 1
    html = viewer.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert "not resolved yet" in html and "the start" in html


def test_a_maintenance_has_no_figures_panel(viewer):
    now = utcnow()
    with write_transaction():
        item = Incident(
            kind="maintenance",
            name="Upgrade",
            status="scheduled",
            impact="maintenance",
            started_at=now,
            scheduled_for=now + timedelta(hours=1),
            scheduled_until=now + timedelta(hours=2),
            created_at=now,
            updated_at=now,
        )
        db.session.add(item)
        db.session.flush()
        maintenance_id = item.id
    html = viewer.get(f"/admin/maintenances/{maintenance_id}").get_data(as_text=True)
    assert 'id="h-figures"' not in html


def test_the_panel_shows_each_components_time_in_each_status_as_the_api(app, people, viewer):
    now = utcnow()
    with write_transaction():
        api = component_service.add_component("API", now=now - timedelta(days=1))
        incident = incident_service.open_incident(
            name="API down",
            impact=Impact.MAJOR,
            body="Looking.",
            now=now - timedelta(hours=2),
            component_statuses={api: ComponentStatus.MAJOR_OUTAGE},
        )
        incident_service.post_update(
            incident,
            status=IncidentStatus.RESOLVED,
            body="Fixed.",
            now=now - timedelta(hours=1, minutes=30),
            component_statuses={api: ComponentStatus.OPERATIONAL},
        )
        db.session.flush()
        incident_id = incident.id
    expected = api_figures(app, people, incident_id)["components"]
    html = viewer.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    shown = [float(v) for v in re.findall(r'data-seconds="([^"]+)"', html)]
    assert expected and shown == [s for c in expected for s in c["seconds"].values()]
    assert "API: major outage" in html and "30 min" in html
