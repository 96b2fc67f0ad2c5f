"""What subscribers receive, built without an app: Statuspage's webhook envelope field by field,
the personalised email, and the one-click unsubscribe headers.

The field lists (tests/support/statuspage_fields.py) are Atlassian Statuspage's webhook payloads as
documented ("Enable webhook notifications": an incident payload and a component payload; the
same shapes appear in integrations that parse them, e.g. Zulip's Statuspage fixtures).
"""

from __future__ import annotations

from datetime import timedelta

from statuspage.core import notifications
from statuspage.core.enums import ComponentStatus
from statuspage.core.serializers import Site
from statuspage.db.models import Component, Incident, IncidentUpdate, UpdateComponentChange
from tests.support import NOW
from tests.support.statuspage_fields import (
    STATUSPAGE_AFFECTED,
    STATUSPAGE_COMPONENT,
    STATUSPAGE_COMPONENT_UPDATE,
    STATUSPAGE_INCIDENT,
    STATUSPAGE_INCIDENT_UPDATE,
    STATUSPAGE_META,
    STATUSPAGE_PAGE,
)

SITE = Site(name="Acme Status", url="https://status.example.com", time_zone="UTC")


def component(**kw) -> Component:
    values = {
        "id": 7,
        "name": "API",
        "status": "partial_outage",
        "position": 1,
        "description": "",
        "showcase": True,
        "created_at": NOW - timedelta(days=3),
        "updated_at": NOW,
    }
    values.update(kw)
    return Component(**values)


def incident(**kw) -> Incident:
    api = component()
    update = IncidentUpdate(
        id=31,
        incident_id=12,
        status="identified",
        body="We found the **cause**.",
        body_html="<p>We found the <strong>cause</strong>.</p>",
        display_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        deliver_notifications=True,
        component_changes=[
            UpdateComponentChange(
                component_id=7,
                component_name="API",
                old_status="operational",
                new_status="partial_outage",
            )
        ],
    )
    values = {
        "id": 12,
        "kind": "incident",
        "name": "API errors",
        "status": "identified",
        "impact": "major",
        "started_at": NOW - timedelta(minutes=20),
        "created_at": NOW - timedelta(minutes=20),
        "updated_at": NOW,
        "components": [api],
        "updates": [update],
    }
    values.update(kw)
    return Incident(**values)


def incident_envelope() -> dict:
    return notifications.envelope(
        site=SITE,
        unsubscribe_url="https://status.example.com/subscriptions/unsubscribe/t",
        generated_at="2026-06-15T12:00:00.000Z",
        page=notifications.page_status(SITE, "major", "Partial System Outage"),
        body={"incident": notifications.webhook_incident(incident(), SITE)},
    )


def test_the_envelope_has_statuspages_top_level_keys_in_order():
    assert list(incident_envelope()) == ["meta", "page", "incident"]


def test_meta_and_page_have_statuspages_fields():
    body = incident_envelope()
    assert set(body["meta"]) == STATUSPAGE_META
    assert set(body["page"]) == STATUSPAGE_PAGE
    assert body["page"]["id"] == SITE.page_id
    assert body["meta"]["documentation"] == "https://status.example.com/subscribe/webhook"


def test_the_incident_has_every_field_statuspage_documents():
    data = incident_envelope()["incident"]
    assert set(data) >= STATUSPAGE_INCIDENT
    assert data["id"] == "12" and data["shortlink"] == "https://status.example.com/incidents/12"


def test_each_incident_update_has_every_field_statuspage_documents():
    (update,) = incident_envelope()["incident"]["incident_updates"]
    assert set(update) >= STATUSPAGE_INCIDENT_UPDATE
    assert set(update["affected_components"][0]) == STATUSPAGE_AFFECTED
    assert update["wants_twitter_update"] is False and update["twitter_updated_at"] is None


def test_the_incidents_components_have_every_field_statuspage_documents():
    (item,) = incident_envelope()["incident"]["components"]
    assert set(item) >= STATUSPAGE_COMPONENT


def test_an_incident_has_null_schedule_fields_and_a_maintenance_its_window():
    plain = notifications.webhook_incident(incident(), SITE)
    assert plain["scheduled_for"] is None and plain["scheduled_remind_prior"] is False
    window = incident(
        kind="maintenance",
        status="scheduled",
        impact="maintenance",
        scheduled_for=NOW + timedelta(hours=2),
        scheduled_until=NOW + timedelta(hours=3),
    )
    data = notifications.webhook_incident(window, SITE, reminded_at=NOW)
    assert data["scheduled_for"] == "2026-06-15T14:00:00.000Z"
    assert data["scheduled_reminded_at"] == "2026-06-15T12:00:00.000Z"
    assert data["scheduled_remind_prior"] is True


def test_a_component_update_envelope_has_statuspages_fields():
    body = notifications.envelope(
        site=SITE,
        unsubscribe_url="u",
        generated_at="g",
        page=notifications.page_status(SITE, "minor", "Minor Service Outage"),
        body={
            "component_update": notifications.component_update(
                change_id=5,
                component_id=7,
                old="operational",
                new="degraded_performance",
                created_at=NOW,
            ),
            "component": notifications.webhook_component(component(), SITE),
        },
    )
    assert list(body) == ["meta", "page", "component_update", "component"]
    assert set(body["component_update"]) == STATUSPAGE_COMPONENT_UPDATE
    assert body["component_update"]["component_type"] == "Component"
    assert body["component_update"]["component_id"] == "7"
    assert set(body["component"]) >= STATUSPAGE_COMPONENT


def email_with_placeholders() -> notifications.Email:
    stand_in = notifications.placeholder_links()
    return notifications.Email(
        subject="s",
        text=f"Manage: {stand_in.manage}\nLeave: {stand_in.unsubscribe}\n",
        html=f'<a href="{stand_in.manage}">m</a> <a href="{stand_in.unsubscribe}">u</a>',
        placeholders=stand_in,
    )


def test_personalise_puts_the_subscribers_links_in_text_and_html():
    links = notifications.Links(manage="https://s/manage/a&b", unsubscribe="https://s/unsub/c")
    email = notifications.personalise(email_with_placeholders(), links)
    assert "Manage: https://s/manage/a&b" in email.text
    assert 'href="https://s/manage/a&amp;b"' in email.html
    assert "x-manage-" not in email.text + email.html and email.placeholders is None


def test_personalise_adds_the_one_click_unsubscribe_headers():
    links = notifications.Links(manage="m", unsubscribe="https://s/subscriptions/unsubscribe/t")
    email = notifications.personalise(email_with_placeholders(), links)
    assert email.headers == {
        "List-Unsubscribe": "<https://s/subscriptions/unsubscribe/t>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_placeholders_differ_per_render_so_no_update_text_can_contain_them():
    assert notifications.placeholder_links() != notifications.placeholder_links()


def test_the_update_subject_names_the_site_the_incident_and_the_status():
    item = incident()
    assert (
        notifications.update_subject("Acme", item, item.updates[0])
        == "[Acme] API errors — Identified"
    )


def test_a_subject_is_one_line_and_bounded():
    text = notifications.subject("Acme", "line one\r\nBcc: x@example.com " + "y" * 300)
    assert "\n" not in text and "\r" not in text
    assert len(text) == notifications.SUBJECT_CHARS


def test_affected_components_list_changes_first_then_the_others():
    web = component(id=8, name="Website", status="operational")
    item = incident(components=[component(), web])
    lines = notifications.affected_components(item, item.updates[0])
    assert [(line.name, line.status, line.old) for line in lines] == [
        ("API", ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.OPERATIONAL),
        ("Website", ComponentStatus.OPERATIONAL, None),
    ]
