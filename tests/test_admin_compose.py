"""The compose screens: one status control per component ("no change" first), a resolve that
defaults to now, a preview that is a GET of its own (Back and reload are safe), the steps
counted right, one primary action per screen; and the pages around them.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate
from statuspage.publishing import components as component_service
from statuspage.publishing import library as library_service
from statuspage.publishing.publish import Draft, publish
from statuspage.web.admin.incidents import MAX_PREVIEW_URL
from tests.support import PASSWORD
from tests.support.auth import csrf_token, email_for, make_user, signed_in
from tests.support.drafts import form_fields

MESSAGES = Path(__file__).resolve().parent.parent / "messages"
NEW = "/admin/incidents/new"


@pytest.fixture
def site(ctx):
    """The starter library and two components, API (1) and Website (2)."""
    now = utcnow()
    with write_transaction():
        library_service.sync_directory(MESSAGES, now=now)
        component_service.add_component("API", now=now - timedelta(days=10))
        component_service.add_component("Website", now=now - timedelta(days=10))


def html_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def main_of(html: str) -> str:
    return html[html.index("<main") :]


def count_updates() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate))


def status_of(component_id: int) -> str:
    db.session.rollback()
    return db.session.get(Component, component_id).status


def preview(client, url: str = NEW + "?message=degraded-investigating", **changes: str):
    """Fill the form at `url` with `changes` and press Preview; return the POST's answer."""
    action = urlsplit(url).path
    fields = form_fields(html_of(client, url), action)
    return client.post(action, data={**fields, **changes, "action": "preview"})


def open_incident(status: str = "degraded_performance") -> Incident:
    with write_transaction():
        update = publish(
            Draft(
                message="degraded-investigating",
                variables={"component": "API"},
                component_statuses={1: status},
            ),
            now=utcnow(),
            actor=audit.CLI,
        ).update
        return update.incident


# -- one control per component -----------------------------------------------------------------


def test_every_component_starts_at_no_change_showing_its_status(site, editor):
    html = html_of(editor, NEW + "?message=degraded-investigating")
    for cid in (1, 2):
        select = re.search(rf'<select name="status_{cid}".*?</select>', html, re.S).group(0)
        first, *others = re.findall(r"<option[^>]*>[^<]*</option>", select)
        assert first == '<option value="">No change (now Operational)</option>'
        assert not any("selected" in option for option in others)
    assert 'type="checkbox" name="component"' not in html  # no tick box beside the select
    fields = form_fields(html, NEW)
    assert fields["status_1"] == fields["status_2"] == ""


def test_a_component_left_at_no_change_is_not_touched(site, editor):
    answer = preview(editor, var_component="Search")
    fields = form_fields(html_of(editor, answer.headers["Location"]), NEW)
    assert editor.post(NEW, data={**fields, "action": "publish"}).status_code == 302
    incident = db.session.scalars(sa.select(Incident)).one()
    assert incident.components == [] and status_of(1) == status_of(2) == "operational"


def test_an_update_keeps_the_incidents_components_at_no_change(site, editor):
    incident = open_incident()
    url = f"/admin/incidents/{incident.id}/update?message=degraded-identified"
    html = html_of(editor, url)
    assert "No change (now Degraded Performance)" in html
    fields = form_fields(html, urlsplit(url).path)
    assert fields["status_1"] == "" and fields["var_component"] == "API"


def test_a_resolve_defaults_to_now_in_the_site_time_zone(make_app, fast_hashing, frozen_clock):
    app = make_app(site={"time_zone": "Europe/Paris"})
    with app.app_context():
        now = utcnow()
        with write_transaction():
            library_service.sync_directory(MESSAGES, now=now)
            component_service.add_component("API", now=now)
        incident = open_incident()
        make_user(email_for("editor"), "editor")
        client = signed_in(app, "editor")
        url = f"/admin/incidents/{incident.id}/update?message=degraded-resolved"
        fields = form_fields(html_of(client, url), urlsplit(url).path)
    # NOW is 12:00 UTC on 15 June: 14:00 in Paris, summer time.
    assert fields["var_resolved_at"] == "14:00 CEST"
    assert fields["status_1"] == "operational"  # the affected component comes back


def test_a_resolve_in_utc_says_utc(site, editor, frozen_clock):
    incident = open_incident()
    url = f"/admin/incidents/{incident.id}/update?message=degraded-resolved"
    assert form_fields(html_of(editor, url), urlsplit(url).path)["var_resolved_at"] == "12:00 UTC"


# -- the preview: a GET of its own ------------------------------------------------------------


def test_preview_redirects_to_a_get_that_shows_it_and_offers_publish(site, editor):
    answer = preview(editor, var_component="API", status_1="major_outage")
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith(NEW + "?preview=") and len(location) <= MAX_PREVIEW_URL
    assert "csrf" not in location  # the token stays in the forms
    html = html_of(editor, location)
    assert "Slow performance on API" in html and "Major Outage" in html
    assert 'id="publish"' in html and 'name="fingerprint"' in html and 'name="csrf_token"' in html
    assert 'id="publish"' in html_of(editor, location)  # a reload shows it again
    assert count_updates() == 0


def test_the_preview_link_after_publishing_shows_the_published_update(site, editor):
    location = preview(editor, var_component="API").headers["Location"]
    fields = form_fields(html_of(editor, location), NEW)
    assert editor.post(NEW, data={**fields, "action": "publish"}).status_code == 302
    again = html_of(editor, location)  # Back, or a reload, after Publish
    assert '<h2 id="h-published">Published</h2>' in again
    assert 'id="publish"' not in again and "/admin/incidents/1#update-1" in again
    assert count_updates() == 1


def test_publish_still_needs_the_csrf_token_and_the_previewed_fingerprint(site, editor):
    location = preview(editor, var_component="API").headers["Location"]
    fields = form_fields(html_of(editor, location), NEW)
    no_token = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert editor.post(NEW, data={**no_token, "action": "publish"}).status_code == 400
    changed = editor.post(NEW, data={**fields, "var_component": "Billing", "action": "publish"})
    assert changed.status_code == 303 and "?preview=" in changed.headers["Location"]
    assert "Something changed since the preview" in html_of(editor, changed.headers["Location"])
    assert count_updates() == 0


def test_a_made_up_preview_link_is_refused(site, editor):
    location = preview(editor, var_component="API").headers["Location"]
    assert editor.get(location[:-4] + "AAAA").status_code == 404
    assert editor.get(NEW + "?preview=nonsense").status_code == 404


def test_change_something_goes_back_to_the_form_as_it_was(site, editor):
    location = preview(editor, var_component="API", status_2="partial_outage").headers["Location"]
    fields = form_fields(html_of(editor, location), NEW)
    back = editor.post(NEW, data={**fields, "action": "edit"})
    assert back.status_code == 303 and "?edit=" in back.headers["Location"]
    again = form_fields(html_of(editor, back.headers["Location"]), NEW)
    assert again["var_component"] == "API" and again["status_2"] == "partial_outage"
    assert again["key"] == fields["key"]  # still the same one-time key


def test_a_long_text_of_ones_own_is_previewed_in_the_answer(site, editor):
    url = NEW + "?free=1"
    body = secrets.token_urlsafe(9000)  # random: too long for an address, even compressed
    answer = preview(editor, url, title="Long story", body=body)
    assert answer.status_code == 200 and 'id="publish"' in answer.get_data(as_text=True)
    fields = form_fields(answer.get_data(as_text=True), NEW)
    assert editor.post(NEW, data={**fields, "action": "publish"}).status_code == 302
    assert count_updates() == 1


# -- screens: steps and primary actions -----------------------------------------------------------


def test_three_screens_counted_as_three_each_with_one_primary_action(site, editor):
    picker = main_of(html_of(editor, NEW))
    form = main_of(html_of(editor, NEW + "?message=degraded-investigating"))
    location = preview(editor, var_component="API").headers["Location"]
    shown = main_of(html_of(editor, location))
    for n, html in enumerate((picker, form, shown), start=1):
        assert f"Step {n} of 3" in html
        assert len(re.findall(r'class="[^"]*\bprimary\b', html)) <= 1
    assert 'value="preview"' not in shown  # no "Preview again" beside Publish
    assert re.search(r'id="publish" class="primary big" autofocus', shown)


def test_pickers_and_forms_name_messages_by_their_titles(site, editor):
    picker = main_of(html_of(editor, NEW))
    assert "Slow performance on [Affected service]" in picker
    assert "degraded-investigating</code>" not in picker and " v1" not in picker


def test_a_wrong_password_puts_the_cursor_in_the_password_field(site, client, people):
    token = csrf_token(client)
    data = {"email": email_for("editor"), "password": "wrong", "csrf_token": token}
    html = client.post("/admin/login", data=data).get_data(as_text=True)
    assert re.search(r'id="password"[^>]*autofocus', html)
    assert not re.search(r'id="email"[^>]*autofocus', html)
    assert PASSWORD not in html


# -- the incident page and the dashboard -------------------------------------------------------


def test_no_acknowledge_when_no_escalation_path_matched(site, editor):
    incident = open_incident()
    html = html_of(editor, f"/admin/incidents/{incident.id}")
    assert "No escalation path matched" in html and "Acknowledge" not in html


def test_after_a_resolve_reopen_is_offered_but_not_primary(site, editor):
    incident = open_incident()
    with write_transaction():
        publish(
            Draft(
                incident_id=incident.id,
                message="degraded-resolved",
                variables={"component": "API", "resolved_at": "12:00 UTC"},
                component_statuses={1: "operational"},
            ),
            now=utcnow(),
            actor=audit.CLI,
        )
    html = html_of(editor, f"/admin/incidents/{incident.id}")
    reopen = re.search(r'<a class="([^"]*)" href="[^"]*">Reopen</a>', html).group(1)
    assert "primary" not in reopen and "big" in reopen


def test_recent_activity_says_the_library_loaded_once_not_per_message(site, editor):
    html = html_of(editor, "/admin/")
    section = html[html.index("Recent activity") :]
    assert ": sync" not in section and "v1" not in section
    assert section.count("Message library loaded from its files") == 1
