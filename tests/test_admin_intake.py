"""The admin for alerts in: a draft's preview and its one-click Publish (on its page and on the
dashboard), Dismiss, editing it in the compose form, the alerts pages and the integrations."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from statuspage.db.extensions import db
from statuspage.db.models import Draft, Incident, Integration
from tests.support import NOW
from tests.support.auth import csrf_token, email_for, sign_in
from tests.support.drafts import RULES, am_payload, form_fields, prepare_site, send

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def app(make_app):
    return make_app(intake=RULES)


@pytest.fixture
def site(ctx, client, frozen_clock):
    """The site with the `prom` integration, and a waiting draft (id 1) from a firing alert."""
    secret = prepare_site(ctx, NOW)
    response = send(client, secret, am_payload())
    assert response.status_code == 202 and response.get_json()["drafts"] == [1]
    return {"secret": secret, "client": client}


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def draft(draft_id: int = 1) -> Draft:
    db.session.rollback()
    return db.session.get(Draft, draft_id)


def publish_from(client, path: str, draft_id: int = 1, **extra):
    """Press the Publish button of draft `draft_id` on the page at `path`."""
    action = f"/admin/drafts/{draft_id}/publish"
    fields = form_fields(page(client, path), action)
    assert "fingerprint" in fields, f"no Publish form for draft {draft_id} on {path}"
    return client.post(action, data={**fields, **extra})


# -- the draft page ----------------------------------------------------------------------------


def test_the_draft_page_previews_what_publishing_publishes(editor, site):
    html = page(editor, "/admin/drafts/1")
    assert "<h1>API unavailable</h1>" in html
    assert "We are investigating reports that API is unavailable" in html
    assert "Investigating" in html and "Major Outage" in html
    assert "[Acme Status] API unavailable — Investigating" in html  # the email subject
    assert "the message “[Affected service] unavailable” (v1)" in html
    # The alert behind it, and how long since it started firing (11:56, now 12:00).
    assert "ApiDown on prod" in html and "alertname=ApiDown" in html
    assert "4 min ago" in html
    assert 'href="/admin/alerts/1"' in html
    assert 'id="publish"' in html and 'id="edit"' in html and 'id="dismiss"' in html


def test_a_signed_out_pm_comes_back_to_the_draft_after_signing_in(client, site, people):
    response = client.get("/admin/drafts/1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/drafts/1"
    signed = sign_in(client, email_for("editor"), next_url="/admin/drafts/1")
    assert signed.status_code == 302 and signed.headers["Location"] == "/admin/drafts/1"
    assert 'id="publish"' in page(client, "/admin/drafts/1")


def test_publish_from_the_draft_page_opens_the_incident(editor, site):
    response = publish_from(editor, "/admin/drafts/1")
    assert response.status_code == 302
    assert re.fullmatch(r"/admin/incidents/1#update-\d+", response.headers["Location"])
    html = page(editor, "/admin/incidents/1")
    assert "Published: API unavailable — Investigating" in html
    row = draft()
    assert row.state == "published" and row.decided_by == "editor@example.com"
    incident = db.session.get(Incident, 1)
    assert incident.detected_at.isoformat().startswith("2026-06-15T11:56")
    assert "API unavailable" in page(editor, "/")


def test_publish_from_the_dashboard_in_one_click(editor, site):
    html = page(editor, "/admin/")
    # Drafts first: above the firing alerts and the open incidents.
    assert html.index('id="h-drafts"') < html.index('id="h-firing"') < html.index('id="h-open"')
    assert 'id="publish-draft-1" autofocus' in html
    response = publish_from(editor, "/admin/")
    assert response.status_code == 302 and "/admin/incidents/1" in response.headers["Location"]
    assert draft().state == "published"
    after = page(editor, "/admin/")
    assert 'id="h-drafts"' not in after
    assert "alert to first update: <strong>4 min</strong>" in after


def test_viewers_see_drafts_but_cannot_publish_or_dismiss(viewer, site):
    assert 'id="publish"' not in page(viewer, "/admin/drafts/1")
    assert 'id="publish-draft-1"' not in page(viewer, "/admin/")
    token = csrf_token(viewer, "/admin/drafts/1")
    for action in ("publish", "dismiss"):
        response = viewer.post(f"/admin/drafts/1/{action}", data={"csrf_token": token})
        assert response.status_code == 403
    assert draft().state == "waiting"


@pytest.mark.parametrize("action", ["publish", "dismiss"])
def test_publish_and_dismiss_need_the_csrf_token(editor, site, action):
    fields = form_fields(page(editor, "/admin/drafts/1"), f"/admin/drafts/1/{action}")
    del fields["csrf_token"]
    assert editor.post(f"/admin/drafts/1/{action}", data=fields).status_code == 400
    assert draft().state == "waiting"


def test_a_preview_that_changed_is_shown_again_not_published(editor, site):
    response = publish_from(editor, "/admin/drafts/1", fingerprint="an-older-preview")
    assert response.status_code == 409
    assert "changed since you saw it" in response.get_data(as_text=True)
    assert draft().state == "waiting"
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 0


def test_a_published_draft_cannot_be_published_again(editor, site):
    fields = form_fields(page(editor, "/admin/drafts/1"), "/admin/drafts/1/publish")
    assert editor.post("/admin/drafts/1/publish", data=fields).status_code == 302
    again = editor.post("/admin/drafts/1/publish", data=fields)
    assert again.status_code == 409
    html = again.get_data(as_text=True)
    assert "Draft 1 was already published by editor@example.com" in html
    assert 'id="update-link"' in html
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 1


def test_an_obsolete_draft_cannot_be_published(editor, site):
    fields = form_fields(page(editor, "/admin/drafts/1"), "/admin/drafts/1/publish")
    send(site["client"], site["secret"], am_payload("resolved"))
    assert draft().state == "obsolete"
    response = editor.post("/admin/drafts/1/publish", data=fields)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Not published: draft 1 was obsolete by intake" in html
    assert "every alert resolved before it was published" in html
    assert 'id="publish"' not in html
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 0


def test_dismiss_keeps_the_note_and_who_decided(editor, site):
    fields = form_fields(page(editor, "/admin/drafts/1"), "/admin/drafts/1/dismiss")
    response = editor.post("/admin/drafts/1/dismiss", data={**fields, "note": "a false alarm"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    row = draft()
    assert (row.state, row.note) == ("dismissed", "a false alarm")
    assert row.decided_by == email_for("editor")
    html = page(editor, "/admin/drafts/1")
    assert "Dismissed" in html and "a false alarm" in html and 'id="publish"' not in html
    again = editor.post("/admin/drafts/1/dismiss", data=fields)
    assert again.status_code == 409 and "was dismissed" in again.get_data(as_text=True)


def test_a_draft_that_cannot_be_published_says_why_and_offers_the_edit(editor, site):
    send(site["client"], site["secret"], am_payload(alertname="ProviderDown", fingerprint="p"))
    html = page(editor, "/admin/drafts/2")
    assert "cannot be published as it is" in html
    assert "provider" in html.lower()
    assert 'id="publish"' not in html
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1)
    assert edit.startswith("/admin/incidents/new?") and "draft=2" in edit
    dashboard = page(editor, "/admin/")
    assert "Needs editing" in dashboard and 'id="publish-draft-2"' not in dashboard
    assert 'id="publish-draft-1" autofocus' in dashboard
    refused = editor.post(
        "/admin/drafts/2/publish", data={"csrf_token": csrf_token(editor, "/admin/drafts/2")}
    )
    assert refused.status_code == 422 and "Not published" in refused.get_data(as_text=True)


def test_edit_before_publishing_prefills_compose_and_publishing_marks_the_draft(editor, site):
    html = page(editor, "/admin/drafts/1")
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1).replace("&amp;", "&")
    compose = page(editor, edit)
    assert 'name="draft" value="1"' in compose and "Editing" in compose
    fields = form_fields(compose, "/admin/incidents/new")
    api = db.session.scalar(sa.text("SELECT id FROM components WHERE name = 'API'"))
    assert fields[f"status_{api}"] == "major_outage"
    assert fields["message"] == "outage-investigating"
    fields["title"] = "The API is down"
    preview = editor.post("/admin/incidents/new", data={**fields, "action": "preview"})
    assert preview.status_code == 303  # to the preview screen, a GET
    fields = form_fields(page(editor, preview.headers["Location"]), "/admin/incidents/new")
    published = editor.post("/admin/incidents/new", data={**fields, "action": "publish"})
    assert published.status_code == 302, published.get_data(as_text=True)
    row = draft()
    assert row.state == "published" and row.update_id is not None
    incident = db.session.get(Incident, row.incident_id)
    assert incident.name == "The API is down" and incident.detected_at is not None
    # Its Publish button now says it went out, and publishes nothing more.
    again = editor.post(
        "/admin/drafts/1/publish", data={"csrf_token": csrf_token(editor, "/admin/drafts/1")}
    )
    assert again.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 1


def test_compose_refuses_to_publish_a_draft_that_was_decided_meanwhile(editor, site):
    edit = re.search(r'href="([^"]+)" id="edit"', page(editor, "/admin/drafts/1")).group(1)
    compose = page(editor, edit.replace("&amp;", "&"))
    fields = form_fields(compose, "/admin/incidents/new")
    preview = editor.post("/admin/incidents/new", data={**fields, "action": "preview"})
    fields = form_fields(page(editor, preview.headers["Location"]), "/admin/incidents/new")
    dismiss = form_fields(page(editor, "/admin/drafts/1"), "/admin/drafts/1/dismiss")
    editor.post("/admin/drafts/1/dismiss", data=dismiss)
    response = editor.post("/admin/incidents/new", data={**fields, "action": "publish"})
    assert response.status_code == 409
    assert "draft 1 was dismissed" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Incident.id))) == 0


# -- hostile alerts ----------------------------------------------------------------------------


def test_hostile_alert_text_is_shown_as_text_everywhere(editor, site):
    payload = am_payload(fingerprint="h", summary=HOSTILE, team=HOSTILE)
    payload["alerts"][0]["annotations"]["description"] = "</pre>" + HOSTILE
    assert send(site["client"], site["secret"], payload).status_code == 202
    alert_id = db.session.scalar(sa.text("SELECT id FROM alerts WHERE fingerprint = 'h'"))
    for path in ("/admin/", "/admin/alerts", f"/admin/alerts/{alert_id}", "/admin/drafts/1"):
        html = page(editor, path)
        assert "<script>" not in html and "<img src=x" not in html, path
        assert str(escape(HOSTILE)) in html, path
    raw = page(editor, f"/admin/alerts/{alert_id}")
    assert "&lt;/pre&gt;" in raw and raw.count("</pre>") == 1


# -- alerts ------------------------------------------------------------------------------------


def test_the_alerts_page_lists_and_filters(viewer, site):
    client, secret = site["client"], site["secret"]
    send(client, secret, am_payload(alertname="ProviderDown", fingerprint="p"))
    send(client, secret, am_payload("resolved", alertname="ProviderDown", fingerprint="p"))
    send(client, secret, am_payload())  # a duplicate
    html = page(viewer, "/admin/alerts")
    assert "ApiDown on prod" in html and "ProviderDown on prod" in html
    assert 'href="/admin/drafts/1"' in html and "drafted 1" in html
    assert '<td class="num">2</td>' in html  # received twice, once a duplicate
    firing = page(viewer, "/admin/alerts?status=firing")
    assert "ApiDown on prod" in firing and "ProviderDown on prod" not in firing
    resolved = page(viewer, "/admin/alerts?status=resolved&integration=prom")
    assert "ProviderDown on prod" in resolved and "ApiDown on prod" not in resolved
    assert viewer.get("/admin/alerts?status=maybe").status_code == 422
    assert viewer.get("/admin/alerts?integration=nobody").status_code == 404
    assert viewer.get("/admin/alerts/999").status_code == 404


# -- integrations ------------------------------------------------------------------------------


def test_integrations_are_for_admins(editor, viewer, site):
    for client in (editor, viewer):
        assert client.get("/admin/integrations").status_code == 403
        token = csrf_token(client, "/admin/alerts")
        response = client.post("/admin/integrations", data={"csrf_token": token, "name": "x"})
        assert response.status_code == 403
    assert "Integrations" not in page(editor, "/admin/alerts").split("</header>")[0]


def test_the_secret_is_shown_once_and_works(admin, client, site):
    assert '"/admin/integrations"' in page(admin, "/admin/").split("</header>")[0]
    token = csrf_token(admin, "/admin/integrations")
    response = admin.post(
        "/admin/integrations",
        data={"csrf_token": token, "name": "kuma", "format": "generic", "auth": "bearer"},
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = re.search(r'id="secret-value">([^<]+)<', html).group(1)
    assert "https://status.example.com/api/intake/kuma" in html
    assert f"Authorization: Bearer {secret}" in html  # the curl snippet
    sent = client.post(
        "/api/intake/kuma",
        json={"title": "Checkout down", "severity": "critical", "component": "API"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert sent.status_code == 202
    listed = page(admin, "/admin/integrations")
    assert secret not in listed and secret[:10] in listed


def test_the_alertmanager_snippet_carries_the_secret(admin, site):
    token = csrf_token(admin, "/admin/integrations")
    html = admin.post(
        "/admin/integrations",
        data={"csrf_token": token, "name": "am2", "format": "alertmanager", "auth": "bearer"},
    ).get_data(as_text=True)
    secret = re.search(r'id="secret-value">([^<]+)<', html).group(1)
    assert "webhook_configs:" in html
    assert "url: &#39;https://status.example.com/api/intake/am2&#39;" in html
    assert f"credentials: &#39;{secret}&#39;" in html and "type: Bearer" in html


def test_a_bad_integration_is_refused_with_the_reason(admin, site):
    token = csrf_token(admin, "/admin/integrations")
    response = admin.post(
        "/admin/integrations",
        data={"csrf_token": token, "name": "Bad Name", "format": "generic", "auth": "bearer"},
    )
    assert response.status_code == 422
    assert "lower-case letters" in response.get_data(as_text=True)
    taken = admin.post(
        "/admin/integrations",
        data={"csrf_token": token, "name": "prom", "format": "generic", "auth": "bearer"},
    )
    assert taken.status_code == 409


def test_revoking_an_integration_stops_its_secret(admin, client, site):
    action = "/admin/integrations/prom/revoke"
    fields = form_fields(page(admin, "/admin/integrations"), action)
    assert admin.post(action, data={}).status_code == 400  # no CSRF token
    response = admin.post(action, data=fields)
    assert response.status_code == 302
    assert "is revoked" in page(admin, "/admin/integrations")
    assert send(client, site["secret"], am_payload(fingerprint="after")).status_code == 401
    db.session.rollback()
    assert db.session.scalars(sa.select(Integration)).one().revoked_at is not None
    assert admin.post(action, data=fields).status_code == 404


def test_the_resolve_is_proposed_and_published_the_same_way(editor, site):
    assert publish_from(editor, "/admin/drafts/1").status_code == 302
    send(site["client"], site["secret"], am_payload("resolved"))
    html = page(editor, "/admin/drafts/2")
    assert 'updates <a href="/admin/incidents/1">API unavailable</a>' in html
    assert "Resolved" in html and "working normally since 12:30 UTC" in html
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1)
    assert edit.startswith("/admin/incidents/1/update?") and "message=outage-resolved" in edit
    compose = page(editor, edit.replace("&amp;", "&"))
    assert 'name="draft" value="2"' in compose
    response = publish_from(editor, "/admin/", draft_id=2)
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Incident, 1).status == "resolved"
    assert draft(2).state == "published"
