"""Compose and publish from canned messages: provenance, edits, idempotency, hostile values."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import IncidentUpdate
from statuspage.errors import ValidationError
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.publishing.publish import Draft, correct_update, prepare, publish
from tests.support import NOW

MESSAGES = Path(__file__).resolve().parent.parent / "messages"


@pytest.fixture
def library_loaded(ctx):
    with write_transaction():
        lib.sync_directory(MESSAGES, now=NOW)
        api = cs.add_component("API", now=NOW - timedelta(days=10))
    return api


def do_publish(draft: Draft):
    with write_transaction():
        return publish(draft, now=NOW, actor=audit.CLI)


def test_new_incident_from_message_records_provenance(library_loaded):
    api = library_loaded
    update, created = do_publish(
        Draft(
            message="outage-investigating",
            variables={"component": "API"},
            component_statuses={api.id: "major_outage"},
        )
    )
    assert created
    incident = update.incident
    assert incident.name == "API unavailable"
    # The message suggests major; a component in major outage makes it critical (status rules).
    assert incident.status == "investigating" and incident.impact == "critical"
    assert (update.message_slug, update.message_version) == ("outage-investigating", 1)
    assert update.message_hash == lib.get_version("outage-investigating", 1).content_hash
    assert update.variables == {"component": "API", "next_update": "30 minutes"}
    assert update.text_edited is False
    assert api.status == "major_outage"


def test_edited_text_is_published_and_marked_edited(library_loaded):
    preview = prepare(Draft(message="outage-investigating", variables={"component": "API"}))
    body = preview.body + "\n\nWorkaround: use the EU endpoint."
    update, _ = do_publish(
        Draft(message="outage-investigating", variables={"component": "API"}, body=body)
    )
    assert update.text_edited is True and update.body.endswith("EU endpoint.")
    assert (
        prepare(
            Draft(message="outage-investigating", variables={"component": "API"}, body=body)
        ).provenance
        == "from outage-investigating v1, edited"
    )


def test_missing_required_variable_refuses_publish_naming_the_field(library_loaded):
    with pytest.raises(ValidationError) as info:
        do_publish(Draft(message="outage-investigating", variables={}))
    assert info.value.field == "var_component"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate)) == 0


@pytest.mark.parametrize("value", ["{{ config }}", "{{7*7}}", "${7*7}", "<script>x</script>"])
def test_hostile_values_are_published_as_literal_text(library_loaded, value):
    update, _ = do_publish(Draft(message="outage-investigating", variables={"component": value}))
    assert "<script>" not in update.body_html
    assert "49" not in update.body_html
    from statuspage.core.markup import plain_text

    assert value in plain_text(update.body_html)
    assert update.incident.name == f"{value} unavailable"


def test_value_with_line_break_cannot_inject_lines(library_loaded):
    update, _ = do_publish(
        Draft(message="outage-investigating", variables={"component": "API\r\n# Owned"})
    )
    assert "<h1>" not in update.body_html and "API # Owned" in update.incident.name


def test_same_idempotency_key_publishes_once(library_loaded):
    draft = Draft(
        message="outage-investigating", variables={"component": "API"}, idempotency_key="form-123"
    )
    first, created = do_publish(draft)
    second, created_again = do_publish(draft)
    assert created and not created_again and first.id == second.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate)) == 1


def test_update_keeps_the_reviewed_version_when_a_newer_one_lands(library_loaded):
    update, _ = do_publish(Draft(message="outage-investigating", variables={"component": "API"}))
    current = lib.current_version(lib.get_message("outage-identified"))
    with write_transaction():
        lib.edit(
            "outage-identified",
            title=current.title,
            body=current.body + " v2.",
            reason="r",
            now=NOW,
            actor=audit.CLI,
        )
    second, _ = do_publish(
        Draft(
            incident_id=update.incident_id,
            message="outage-identified",
            message_version=1,
            variables={"component": "API"},
        )
    )
    assert second.message_version == 1
    assert not second.body.endswith("v2.")


def test_maintenance_message_cannot_update_an_incident(library_loaded):
    update, _ = do_publish(Draft(message="outage-investigating", variables={"component": "API"}))
    with pytest.raises(ValidationError, match="for maintenances"):
        prepare(
            Draft(
                incident_id=update.incident_id,
                message="maintenance-started",
                variables={"component": "API"},
            )
        )


def test_correcting_an_update_keeps_the_original_in_the_audit_log(library_loaded):
    update, _ = do_publish(Draft(message="outage-investigating", variables={"component": "API"}))
    original = update.body
    with write_transaction():
        correct_update(update, body="Corrected text.", now=NOW, actor=audit.CLI)
    assert update.edited_at == NOW and update.body == "Corrected text."
    from statuspage.db.audit import entries

    [entry] = entries(action="update.corrected")
    assert entry.before == {"body": original}


# -- status rules applied by the publishing core (docs/status-rules.md) ------------------------


def test_an_unmarked_incident_follows_its_components_and_a_chosen_impact_stays(library_loaded):
    api = library_loaded
    update, _ = do_publish(
        Draft(title="API slow", body="Looking.", status="investigating", impact=None)
    )
    incident_id = update.incident_id
    assert update.incident.impact == "minor" and update.incident.impact_override is None
    update, _ = do_publish(
        Draft(
            incident_id=incident_id,
            body="Down now.",
            status="identified",
            component_statuses={api.id: "major_outage"},
        )
    )
    assert update.incident.impact == "critical"
    update, _ = do_publish(
        Draft(incident_id=incident_id, body="Only slow.", status="identified", impact="minor")
    )
    assert update.incident.impact == "minor" and update.incident.impact_override == "minor"
    update, _ = do_publish(
        Draft(
            incident_id=incident_id,
            body="Down again.",
            status="identified",
            component_statuses={api.id: "partial_outage"},
        )
    )
    assert update.incident.impact == "minor", "the PM's choice outlives component changes"


def test_the_next_update_promised_by_the_message_is_stored(library_loaded):
    update, _ = do_publish(
        Draft(
            message="outage-investigating",
            variables={"component": "API", "next_update": "1 hour"},
        )
    )
    assert update.next_update_at == NOW + timedelta(hours=1)
    free, _ = do_publish(Draft(title="Other", body="Text.", status="investigating"))
    assert free.next_update_at is None
    explicit, _ = do_publish(
        Draft(title="Third", body="Text.", status="investigating", next_update_minutes=20)
    )
    assert explicit.next_update_at == NOW + timedelta(minutes=20)


def test_an_incident_that_changes_a_component_sends_the_component_webhook(library_loaded):
    from statuspage.db.models import OutboxMessage, Subscriber

    api = library_loaded
    with write_transaction():
        db.session.add(
            Subscriber(
                kind="webhook",
                email="ops@example.com",
                url="https://hooks.example.com/x",
                secret="whsec_" + "A" * 32,
                created_at=NOW - timedelta(days=1),
                confirmed_at=NOW - timedelta(days=1),
            )
        )
    do_publish(
        Draft(
            title="API down",
            body="Down.",
            status="investigating",
            component_statuses={api.id: "major_outage"},
        )
    )
    purposes = sorted(
        row.payload["message"]["purpose"]
        for row in db.session.scalars(sa.select(OutboxMessage)).all()
    )
    assert purposes == ["component", "update"]
    do_publish(
        Draft(
            incident_id=quiet_id(),
            body="Back.",
            status="resolved",
            component_statuses={api.id: "operational"},
            notify=False,
        )
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 2


def quiet_id() -> int:
    return db.session.scalar(sa.select(IncidentUpdate.incident_id).limit(1))
