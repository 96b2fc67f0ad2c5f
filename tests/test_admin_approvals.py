"""Approval in the admin: compose's Request approval, the request's page (approve, return,
publish without approval, edit, withdraw), and drafts from alerts under a plan.

The plan (tests/support/plans.py) is for critical incidents: an admin approves the first update
and the resolve; its cadence is 30 minutes while investigating or identified, an hour while
monitoring; subscribers are not notified unless the PM says so.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from markupsafe import escape

from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Draft, Incident, IncidentUpdate
from statuspage.publishing import approvals, drafts
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import csrf_token, make_user, signed_in
from tests.support.drafts import RULES, am_payload, form_fields, prepare_site, send

NEW = "/admin/incidents/new"
TEXT = "We are looking into errors on the API.\n\nNext update within 30 minutes."
#: The plan does not notify subscribers on its own (the compose box starts unticked).
PLAN = plan_support.plan_text(rest="[audiences]\nsubscribers = false")


@pytest.fixture
def app(make_app):
    return make_app(intake=RULES)


@pytest.fixture
def site(ctx, client, people, tmp_path, frozen_clock):
    """Messages, the critical plan, the API (1) and Website (2) components, the `prom`
    integration (for drafts from alerts) and the admin, editor and viewer of `people`."""
    secret = prepare_site(ctx, NOW)
    plan_support.load(tmp_path, [PLAN])
    return {"secret": secret, "client": client}


def page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def public(app) -> str:
    """The public page, as a visitor reads it."""
    return page(app.test_client(), "/")


def stored(draft_id: int = 1) -> Draft:
    db.session.rollback()
    return db.session.get(Draft, draft_id)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def preview(client, url: str, **changes: str) -> str:
    """Fill the compose form at `url` with `changes`, press Preview; return the preview page."""
    action = urlsplit(url).path
    fields = form_fields(page(client, url), action)
    answer = client.post(action, data={**fields, **changes, "action": "preview"})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return page(client, answer.headers["Location"])


def request_first(client, body: str | None = None, action: str = "publish", **extra: str):
    """Open a critical incident on the API (its first update) and press the preview's primary
    button (or `action`), with the text edited to `body`; return the answer."""
    html = preview(client, NEW + "?message=outage-investigating", status_1="major_outage")
    fields = form_fields(html, NEW)
    if body is not None:
        fields["body"] = body
    return client.post(NEW, data={**fields, **extra, "action": action})


def approve(client, draft_id: int = 1, fingerprint: str | None = None):
    """Press "Approve and publish" on a request's page (optionally with an older fingerprint)."""
    path = f"/admin/drafts/{draft_id}"
    fields = form_fields(page(client, path), f"{path}/approve")
    assert "fingerprint" in fields, f"no approve form on {path}"
    if fingerprint is not None:
        fields["fingerprint"] = fingerprint
    return client.post(f"{path}/approve", data=fields)


def seen(draft_id: int = 1) -> str:
    row = stored(draft_id)
    return approvals.fingerprint(row, drafts.preview(row))


# -- compose: Request approval -------------------------------------------------------------------


def test_the_preview_says_who_approves_and_asks_for_it_instead_of_publishing(site, editor):
    html = preview(editor, NEW + "?message=outage-investigating", status_1="major_outage")
    assert "Approval needed" in html
    assert "Critical" in html and "critical v1" in html and "an admin" in html
    assert re.search(
        r'id="publish" class="primary big" autofocus formnovalidate>Request approval<', html
    )
    assert "Publish without approval" not in html  # editors cannot
    # Without the plan's approval rule (a minor incident), it is Publish as ever.
    minor = preview(
        editor, NEW + "?message=degraded-investigating", status_1="degraded_performance"
    )
    assert ">Publish</button>" in minor and "Approval needed" not in minor


def test_an_editor_requests_approval_and_nothing_is_public(app, site, editor):
    response = request_first(editor, TEXT)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    html = page(editor, "/admin/drafts/1")
    assert "Sent for approval to an admin. Nothing is public yet." in html
    assert "Waiting for approval" in html and "Editor" in html
    assert "critical v1 — Critical" in html and "0 of 1" in html
    assert 'id="approve"' not in html  # the author does not approve
    assert 'id="edit"' in html and 'id="withdraw"' in html
    assert "We are looking into errors on the API." in html  # the exact preview
    row = stored()
    assert (row.state, row.source, row.revision, row.body) == ("pending", "pm", 1, TEXT)
    assert count(Incident) == 0 and count(IncidentUpdate) == 0
    assert "API unavailable" not in public(app) and "looking into errors" not in public(app)


def test_an_admin_approves_and_exactly_that_text_is_public(app, site, editor, admin):
    request_first(editor, TEXT)
    html = page(admin, "/admin/drafts/1")
    assert re.search(r'id="approve" autofocus>Approve and publish<', html)
    assert "Return to the author" in html and "Publish without approval" in html
    assert 'id="withdraw"' in html and 'id="edit"' in html  # admins may, as the author
    response = approve(admin)
    assert response.status_code == 302
    assert re.fullmatch(r"/admin/incidents/1#update-\d+", response.headers["Location"])
    assert "Approved and published: API unavailable — Investigating" in page(
        admin, "/admin/incidents/1"
    )
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert update.body == TEXT and update.author.email == "editor@example.com"
    assert update.incident.impact == "critical" and update.incident.plan_slug == "critical"
    assert "We are looking into errors on the API." in public(app)
    assert stored().state == "published"
    decided = page(admin, "/admin/drafts/1")
    assert "Approved by Admin" in decided and 'id="update-link"' in decided


def test_the_author_cannot_approve_their_own_request(site, admin):
    assert request_first(admin).status_code == 303
    html = page(admin, "/admin/drafts/1")
    assert 'id="approve"' not in html and 'id="return"' not in html
    fields = {"csrf_token": csrf_token(admin, "/admin/drafts/1"), "fingerprint": seen()}
    response = admin.post("/admin/drafts/1/approve", data=fields)
    assert response.status_code == 403
    assert "you wrote this update" in response.get_data(as_text=True)
    assert stored().state == "pending" and count(IncidentUpdate) == 0


def test_editors_and_viewers_are_not_approvers(site, editor, viewer):
    other = make_user("other@example.com", "editor")
    assert other is not None
    request_first(editor)
    fields = {"csrf_token": csrf_token(viewer, "/admin/drafts/1"), "fingerprint": seen()}
    assert viewer.post("/admin/drafts/1/approve", data=fields).status_code == 403
    colleague = signed_in(editor.application, "other@example.com")
    assert 'id="approve"' not in page(colleague, "/admin/drafts/1")
    fields["csrf_token"] = csrf_token(colleague, "/admin/drafts/1")
    refused = colleague.post("/admin/drafts/1/approve", data=fields)
    assert refused.status_code == 403 and "an admin" in refused.get_data(as_text=True)
    assert stored().state == "pending"


@pytest.mark.parametrize("action", ["approve", "return", "publish-without-approval"])
def test_the_request_forms_need_the_csrf_token(site, editor, admin, action):
    request_first(editor)
    fields = form_fields(page(admin, "/admin/drafts/1"), f"/admin/drafts/1/{action}")
    assert fields.pop("csrf_token")
    fields.update(comment="x", reason="x")
    assert admin.post(f"/admin/drafts/1/{action}", data=fields).status_code == 400
    assert stored().state == "pending"


# -- stale approvals and revisions ---------------------------------------------------------------


def test_revising_through_compose_bumps_the_revision_and_a_stale_approval_is_refused(
    site, editor, admin
):
    request_first(editor, TEXT)
    old = form_fields(page(admin, "/admin/drafts/1"), "/admin/drafts/1/approve")["fingerprint"]
    html = page(editor, "/admin/drafts/1")
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1).replace("&amp;", "&")
    assert edit.startswith(NEW + "?") and "draft=1" in edit
    form = page(editor, edit)
    assert "Revising a request for approval" in form
    fields = form_fields(form, NEW)
    assert fields["revision"] == "1" and fields["draft"] == "1"
    assert fields["status_1"] == "major_outage" and fields["body"] == TEXT  # as requested
    answer = editor.post(NEW, data={**fields, "action": "preview"})
    fields = form_fields(page(editor, answer.headers["Location"]), NEW)
    fields["body"] = "The API is down; we are on it."
    response = editor.post(NEW, data={**fields, "action": "publish"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    row = stored()
    assert (row.revision, row.state, row.body) == (2, "pending", "The API is down; we are on it.")
    assert count(Draft) == 1

    stale = approve(admin, fingerprint=old)
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "changed since you read it" in html
    assert "The API is down; we are on it." in html  # the fresh preview
    assert count(IncidentUpdate) == 0
    assert approve(admin).status_code == 302
    assert db.session.scalars(sa.select(IncidentUpdate)).one().body == (
        "The API is down; we are on it."
    )


def test_only_the_author_or_an_admin_revises_or_withdraws(site, editor, admin):
    make_user("other@example.com", "editor")
    request_first(editor)
    colleague = signed_in(editor.application, "other@example.com")
    html = page(colleague, "/admin/drafts/1")
    assert 'id="edit"' not in html and 'id="withdraw"' not in html
    assert colleague.get(NEW + "?message=outage-investigating&draft=1").status_code == 403
    token = csrf_token(colleague, "/admin/drafts/1")
    refused = colleague.post("/admin/drafts/1/dismiss", data={"csrf_token": token})
    assert refused.status_code == 403 and stored().state == "pending"
    # Posting a revision of someone else's request is refused too.
    fields = form_fields(page(editor, NEW + "?message=outage-investigating&draft=1"), NEW)
    answer = colleague.post(NEW, data={**fields, "csrf_token": token, "action": "publish"})
    assert answer.status_code == 403 and stored().revision == 1
    # The author withdraws it.
    fields = form_fields(page(editor, "/admin/drafts/1"), "/admin/drafts/1/dismiss")
    response = editor.post("/admin/drafts/1/dismiss", data={**fields, "note": "wrong service"})
    assert response.status_code == 302
    assert stored().state == "dismissed"
    assert "withdrawn: nothing was published" in page(editor, "/admin/")
    assert "Withdrawn" in page(admin, "/admin/drafts/1")


# -- returning ------------------------------------------------------------------------------------


def test_an_approver_returns_it_with_a_comment_and_the_author_sends_it_again(site, editor, admin):
    request_first(editor)
    fields = form_fields(page(admin, "/admin/drafts/1"), "/admin/drafts/1/return")
    empty = admin.post("/admin/drafts/1/return", data={**fields, "comment": "  "})
    assert empty.status_code == 422
    assert "say what should change" in empty.get_data(as_text=True)
    assert stored().state == "pending"
    response = admin.post("/admin/drafts/1/return", data={**fields, "comment": "Name the region."})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    row = stored()
    assert (row.state, row.comment) == ("returned", "Name the region.")
    html = page(editor, "/admin/drafts/1")
    assert "Returned to its author" in html and "Name the region." in html
    assert 'id="approve"' not in page(admin, "/admin/drafts/1")  # nothing to approve now
    # The author revises it in compose: the comment is there, the request goes out again.
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1).replace("&amp;", "&")
    form = page(editor, edit)
    assert "Name the region." in form
    fields = form_fields(form, NEW)
    answer = editor.post(NEW, data={**fields, "var_component": "API (EU)", "action": "preview"})
    fields = form_fields(page(editor, answer.headers["Location"]), NEW)
    assert editor.post(NEW, data={**fields, "action": "publish"}).status_code == 303
    row = stored()
    assert (row.state, row.revision, row.comment) == ("pending", 2, "")
    assert row.variables["component"] == "API (EU)"


# -- publishing without approval ---------------------------------------------------------------


def test_an_admin_publishes_without_approval_only_giving_a_reason(app, site, editor, admin):
    request_first(editor)
    fields = form_fields(page(admin, "/admin/drafts/1"), "/admin/drafts/1/publish-without-approval")
    assert set(fields) == {"csrf_token", "fingerprint", "reason"}
    url = "/admin/drafts/1/publish-without-approval"
    empty = admin.post(url, data={**fields, "reason": " "})
    assert empty.status_code == 422 and "say why" in empty.get_data(as_text=True)
    assert count(IncidentUpdate) == 0
    token = csrf_token(editor, "/admin/drafts/1")
    by_editor = editor.post(url, data={**fields, "csrf_token": token, "reason": "urgent"})
    assert by_editor.status_code == 403 and count(IncidentUpdate) == 0
    response = admin.post(url, data={**fields, "reason": "no approver awake"})
    assert (
        response.status_code == 302 and "/admin/incidents/1#update-" in response.headers["Location"]
    )
    assert "Published without approval: API unavailable" in page(admin, "/admin/incidents/1")
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "draft.published_without_approval")
    )
    assert entry.after["reason"] == "no approver awake" and "admin@example.com" in entry.actor
    assert "API unavailable" in public(app)
    assert "no approver awake" in page(admin, "/admin/drafts/1")


def test_an_admin_publishes_from_the_preview_without_approval_giving_a_reason(
    app, site, admin, editor
):
    html = preview(admin, NEW + "?message=outage-investigating", status_1="major_outage")
    assert ">Request approval<" in html and 'id="publish-without-approval"' in html
    assert re.search(r'<textarea id="reason" name="reason"[^>]* required', html)
    assert '<label for="reason">' in html
    refused = request_first(admin, action="publish_without_approval", reason="")
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "say why" in body and ">Request approval<" in body  # the preview again
    assert count(IncidentUpdate) == 0 and count(Draft) == 0
    by_editor = request_first(editor, action="publish_without_approval", reason="in a hurry")
    assert by_editor.status_code == 403 and count(IncidentUpdate) == 0
    response = request_first(admin, action="publish_without_approval", reason="the CEO said so")
    assert response.status_code == 302
    assert "Published without approval: API unavailable" in page(admin, "/admin/incidents/1")
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "draft.published_without_approval")
    )
    assert entry.after["reason"] == "the CEO said so"
    assert "API unavailable" in public(app)


# -- the plan's defaults in compose ----------------------------------------------------------


def approved_incident(editor, admin) -> int:
    request_first(editor)
    approve(admin)
    return db.session.scalars(sa.select(Incident)).one().id


def test_the_picker_offers_the_plans_next_message_first(site, editor, admin):
    incident = approved_incident(editor, admin)
    html = page(editor, f"/admin/incidents/{incident}/update")
    assert "Suggested by the plan" in html
    first = re.search(r'class="pick" href="([^"]+)"', html).group(1)
    assert first.endswith("message=outage-identified")
    assert html.count(" autofocus") == 1
    assert html.index("Suggested by the plan") < html.index('id="h-identified"')


def test_the_form_defaults_to_the_plans_cadence_and_notify_setting(site, editor, admin):
    incident = approved_incident(editor, admin)
    url = f"/admin/incidents/{incident}/update?message=outage-monitoring"
    html = page(editor, url)
    fields = form_fields(html, urlsplit(url).path)
    # Monitoring: the plan's cadence is an hour (the message alone says 30 minutes).
    select = re.search(r'<select id="var_next_update".*?</select>', html, re.S).group(0)
    assert re.findall(r"<option selected>([^<]+)<", select) == ["1 hour"]
    assert "notify" not in fields  # the plan does not notify subscribers by default
    # The update in between goes out at once (the plan approves the first and the resolve).
    identified = f"/admin/incidents/{incident}/update?message=outage-identified"
    fields = form_fields(preview(editor, identified), urlsplit(identified).path)
    response = editor.post(urlsplit(identified).path, data={**fields, "action": "publish"})
    assert response.status_code == 302 and count(IncidentUpdate) == 2


#: A plan for major incidents, without approval: an update every hour while investigating.
MAJOR = """\
+++
id = "major"
title = "Major"
priority = 20

[match]
impact_in = ["major"]

[cadence]
investigating = 60
identified = 60
monitoring = 120
+++
Update every hour.
"""


def promise_offered(html: str) -> str:
    """The promise the compose form's select offers."""
    select = re.search(r'<select id="var_next_update".*?</select>', html, re.S).group(0)
    [chosen] = re.findall(r"<option selected>([^<]+)<", select)
    return chosen


@pytest.mark.parametrize(
    "changes",
    [{"status_1": "major_outage"}, {"impact": "critical", "var_component": "API"}],
    ids=["components", "impact"],
)
def test_a_promise_left_as_offered_follows_the_plan_the_preview_finds(
    site, editor, admin, tmp_path, changes
):
    plan_support.load(tmp_path, [MAJOR])
    url = NEW + "?message=outage-investigating"
    html = page(editor, url)
    # The message's impact (major) is the form's guess: the major plan, an update every hour.
    assert promise_offered(html) == "1 hour"
    assert form_fields(html, NEW)["next_update_offered"] == "1 hour"
    # A major outage (or the impact picked) makes it critical: the critical plan's promise.
    # (A browser sends the selected option's text; form_fields reads options by their value.)
    shown = preview(editor, url, var_next_update="1 hour", **changes)
    line = "The critical plan asks for an update every 30 minutes: the promise now says 30 minutes."
    assert line in shown and "Approval needed" in shown
    assert "within 30 minutes" in shown and "within 1 hour" not in shown
    fields = form_fields(shown, NEW)
    assert fields["var_next_update"] == fields["next_update_offered"] == "30 minutes"
    # "Change something" shows the promise the preview showed.
    edit = editor.post(NEW, data={**fields, "action": "edit"})
    assert promise_offered(page(editor, edit.headers["Location"])) == "30 minutes"
    # The preview is what goes for approval, then out: the dashboard counts 30 minutes.
    response = editor.post(NEW, data={**fields, "action": "publish"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    assert stored().variables["next_update"] == "30 minutes"
    assert approve(admin).status_code == 302
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert update.incident.plan_slug == "critical"
    assert (update.next_update_at - update.display_at).total_seconds() == 30 * 60


def test_a_promise_the_pm_chose_is_kept_with_a_warning_when_longer_than_the_cadence(
    site, editor, tmp_path
):
    plan_support.load(tmp_path, [MAJOR])
    url = NEW + "?message=outage-investigating"
    shown = preview(editor, url, status_1="major_outage", var_next_update="2 hours")
    assert "within 2 hours" in shown and "the promise now says" not in shown
    warning = re.search(
        r'<p class="flash flash-warn plan-promise" role="status">([^<]+)</p>', shown
    )
    assert warning is not None
    assert "The critical plan asks for an update every 30 minutes" in warning.group(1)
    assert "within 2 hours" in warning.group(1)
    assert "the dashboard will count from the promise" in warning.group(1)
    fields = form_fields(shown, NEW)
    assert fields["var_next_update"] == "2 hours"
    response = editor.post(NEW, data={**fields, "action": "publish"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    assert stored().variables["next_update"] == "2 hours"
    # A promise of the PM's own within the cadence: kept, and nothing to say.
    sooner = preview(editor, url, status_1="major_outage", var_next_update="15 minutes")
    assert "within 15 minutes" in sooner and "plan-promise" not in sooner
    assert form_fields(sooner, NEW)["var_next_update"] == "15 minutes"


# -- drafts from alerts under a plan ---------------------------------------------------------


def test_a_draft_from_alerts_is_sent_for_approval_by_its_publish_button(app, site, editor, admin):
    assert send(site["client"], site["secret"], am_payload()).status_code == 202
    html = page(editor, "/admin/drafts/1")
    assert re.search(r'id="publish" autofocus>Request approval<', html)
    assert "an admin" in html
    fields = form_fields(html, "/admin/drafts/1/publish")
    response = editor.post("/admin/drafts/1/publish", data=fields)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    row = stored()
    assert (row.state, row.source, row.author.email) == ("pending", "alert", "editor@example.com")
    assert count(Incident) == 0
    assert "Sent for approval to an admin" in page(editor, "/admin/drafts/1")
    assert approve(admin).status_code == 302
    incident = db.session.scalars(sa.select(Incident)).one()
    assert incident.detected_at.isoformat().startswith("2026-06-15T11:56")
    assert "API unavailable" in public(app)


def test_a_draft_from_alerts_edited_in_compose_becomes_the_request(site, editor):
    assert send(site["client"], site["secret"], am_payload()).status_code == 202
    html = page(editor, "/admin/drafts/1")
    edit = re.search(r'href="([^"]+)" id="edit"', html).group(1).replace("&amp;", "&")
    fields = form_fields(page(editor, edit), NEW)
    fields["title"] = "The API is down"
    answer = editor.post(NEW, data={**fields, "action": "preview"})
    shown = page(editor, answer.headers["Location"])
    assert ">Request approval<" in shown
    response = editor.post(NEW, data={**form_fields(shown, NEW), "action": "publish"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/drafts/1"
    row = stored()
    assert (row.state, row.title, row.author.email) == (
        "pending",
        "The API is down",
        "editor@example.com",
    )
    assert count(Draft) == 1 and count(Incident) == 0
    assert "<h1>The API is down</h1>" in page(editor, "/admin/drafts/1")


def test_request_text_is_shown_as_text(site, editor, admin):
    hostile = '<script>alert("x")</script>'
    request_first(editor)
    fields = form_fields(page(admin, "/admin/drafts/1"), "/admin/drafts/1/return")
    admin.post("/admin/drafts/1/return", data={**fields, "comment": hostile})
    html = page(editor, "/admin/drafts/1")
    assert "<script>alert" not in html and str(escape(hostile)) in html


def test_going_back_to_the_preview_after_requesting_sends_nothing_again(site, editor):
    url = NEW + "?message=outage-investigating"
    fields = form_fields(page(editor, url), NEW)
    answer = editor.post(NEW, data={**fields, "status_1": "major_outage", "action": "preview"})
    location = answer.headers["Location"]
    fields = form_fields(page(editor, location), NEW)
    assert editor.post(NEW, data={**fields, "action": "publish"}).status_code == 303
    back = page(editor, location)
    assert "Sent for approval" in back and 'href="/admin/drafts/1"' in back
    assert 'id="publish"' not in back
    again = editor.post(NEW, data={**fields, "action": "publish"})  # the form sent twice
    assert again.status_code == 303 and again.headers["Location"] == "/admin/drafts/1"
    assert count(Draft) == 1 and stored().revision == 1
