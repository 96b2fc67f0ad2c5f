"""The real Prometheus Alertmanager sends to a real `statuspage serve`: an alert posted to
Alertmanager's API becomes a draft with the mapped component and canned message, and resolving
it in Alertmanager proposes the resolve of the incident the draft became.

Every wait is a bounded poll (no fixed sleeps), generous for a loaded machine.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident
from statuspage.publishing import drafts
from tests.support.intake import (
    alertmanager,
    alertmanager_binary,
    am_alert,
    drafts_of,
    intake_config,
    post_json,
    prepared_site,
    read,
    wait_for,
)
from tests.support.receivers import serving


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def served(ctx, db_url, tmp_path):
    """`statuspage serve` on the test's database, with the intake rules: (base URL, secrets)."""
    alertmanager_binary()  # skip before starting anything when it is missing
    secrets = prepared_site(ctx)
    with serving(intake_config(tmp_path, db_url), tmp_path) as base:
        yield base, secrets


def test_an_alert_fired_and_resolved_in_alertmanager_drafts_then_proposes_the_resolve(
    served, tmp_path
):
    base, secrets = served
    with alertmanager(tmp_path, f"{base}/api/intake/prom", secrets["prom"]) as am:
        started = utcnow() - timedelta(minutes=2)
        alert = am_alert(
            "ApiDown", starts_at=rfc3339(started), severity="critical", component="API"
        )
        status, _ = post_json(f"{am}/api/v2/alerts", [alert])
        assert status == 200

        first = wait_for(lambda: drafts_of("api-down"), "Alertmanager's alert to become a draft")
        assert len(first) == 1
        draft = first[0]
        api = read(lambda: db.session.query(Component).filter_by(name="API").one())
        assert draft.state == "waiting" and draft.incident_id is None
        assert draft.message_slug == "outage-investigating"
        assert draft.component_statuses == {str(api.id): "major_outage"}
        preview = read(lambda: drafts.preview(drafts.get(draft.id)))
        assert preview.title == "API unavailable"
        assert "API is unavailable" in preview.body

        with write_transaction():
            published = drafts.publish(draft.id, now=utcnow(), actor=audit.CLI)
            incident_id = published.update.incident_id

        # Resolved in Alertmanager: the same alert, ended a minute ago.
        ended = utcnow().replace(microsecond=0) - timedelta(minutes=1)
        alert["endsAt"] = rfc3339(ended)
        status, _ = post_json(f"{am}/api/v2/alerts", [alert])
        assert status == 200

        def resolve_draft():
            return [d for d in drafts_of("api-down") if d.id != draft.id]

        proposed = wait_for(resolve_draft, "the resolve to be proposed")
        assert len(proposed) == 1
        resolve = proposed[0]
        assert resolve.state == "waiting" and resolve.incident_id == incident_id
        assert resolve.message_slug == "outage-resolved"
        assert resolve.component_statuses == {str(api.id): "operational"}
        preview = read(lambda: drafts.preview(drafts.get(resolve.id)))
        assert preview.status.value == "resolved"
        assert f"working normally since {ended:%H:%M} UTC" in preview.body

        with write_transaction():
            drafts.publish(resolve.id, now=utcnow(), actor=audit.CLI)
        incident = read(lambda: db.session.get(Incident, incident_id))
        assert incident.status == "resolved"
        # Monitoring saw it first: the incident starts where Alertmanager's alert started.
        assert abs(incident.detected_at - started) < timedelta(seconds=1)


def test_the_receiver_in_the_docs_is_one_alertmanager_accepts(tmp_path):
    binary = alertmanager_binary()
    amtool = Path(binary).with_name("amtool")
    if not amtool.exists():
        pytest.skip("amtool is not installed next to Alertmanager")
    doc = (Path(__file__).resolve().parent.parent / "docs" / "integrations.md").read_text()
    section = doc.split("## Prometheus Alertmanager", 1)[1]
    config = tmp_path / "alertmanager.yml"
    config.write_text(section.split("```yaml", 1)[1].split("```", 1)[0])
    checked = subprocess.run(
        [str(amtool), "check-config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
