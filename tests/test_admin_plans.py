"""Communication plans in the admin: the plan pages, the plan on an incident's page, and the
dashboard's approval requests, due updates and postmortems."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import users as user_service
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident
from statuspage.publishing import approvals
from statuspage.publishing import components as component_service
from statuspage.publishing import plans as plan_service
from statuspage.publishing import publish as core
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import csrf_token, make_user

#: A plan for major incidents with a 30-minute cadence (the config's [cadence] says 60 for
#: major), so an overdue update on the dashboard can only come from the plan.
QUICK = plan_support.plan_text("quick").replace('impact_in = ["critical"]', 'impact_in = ["major"]')


@pytest.fixture
def api(ctx, people, tmp_path):
    """Messages, the critical plan and the quick one, and a component."""
    plan_support.load(tmp_path, [plan_support.plan_text(), QUICK])
    with write_transaction():
        return component_service.add_component("API", now=NOW - timedelta(days=1))


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def as_(user) -> audit.Actor:
    return audit.Actor.for_user(user)


def published_incident(outcome: approvals.Outcome) -> int:
    assert outcome.published is not None
    return outcome.published.update.incident_id


def rewrite(tmp_path, text: str) -> None:
    """Change a plan's file and sync again (a new version)."""
    slug = text.split('id = "', 1)[1].split('"', 1)[0]
    (tmp_path / "plans" / f"{slug}.md").write_text(text, encoding="utf-8")
    with write_transaction():
        plan_service.sync_directory(tmp_path / "plans", now=NOW, paths=[])


def section(html: str, heading: str) -> str:
    """The HTML from a heading to the end of its section."""
    start = html.index(heading)
    return html[start : html.index("</section>", start)]


# -- the plan pages ------------------------------------------------------------------------------


def test_the_plans_list_shows_each_plan_with_its_rules_in_words(viewer, api):
    html = page(viewer, "/admin/plans")
    assert 'href="/admin/plans/critical"' in html and 'href="/admin/plans/quick"' in html
    row = html[html.index('href="/admin/plans/critical"') :].split("</tr>")[0]
    assert "Incidents of critical impact, any component" in row
    assert "investigating 30 min · identified 30 min · monitoring 1 h" in row
    assert "the first update and the resolve, by an admin" in row
    assert 'href="/admin/plans/critical/v/1">v1<' in row
    assert 'href="/admin/plans?archived=1"' in html
    assert "no edit form" in html


def test_the_admin_menu_links_to_the_plans(viewer, api):
    assert re.search(
        r'<a href="/admin/plans" aria-current="page">Plans</a>', page(viewer, "/admin/plans")
    )
    assert '<a href="/admin/plans">Plans</a>' in page(viewer, "/admin/")


def test_a_plan_whose_file_is_gone_is_listed_as_archived(viewer, api, tmp_path):
    (tmp_path / "plans" / "quick.md").unlink()
    with write_transaction():
        plan_service.sync_directory(tmp_path / "plans", now=NOW, paths=[])
    assert 'href="/admin/plans/quick"' not in page(viewer, "/admin/plans")
    archived = page(viewer, "/admin/plans?archived=1")
    assert (
        'href="/admin/plans/quick"' in archived and 'href="/admin/plans/critical"' not in archived
    )
    assert "archived" in page(viewer, "/admin/plans/quick")


def test_the_plan_page_shows_the_rules_the_sequence_and_the_playbook(viewer, api):
    html = page(viewer, "/admin/plans/critical")
    cadence = section(html, 'id="h-cadence"')
    assert re.search(r"<td>Investigating</td><td class=\"num\">30 min</td>", cadence)
    assert re.search(r"<td>Monitoring</td><td class=\"num\">60 min</td>", cadence)
    assert 'href="/admin/library/outage-identified"' in cadence
    assert "an admin" in section(html, 'id="h-rules"')
    assert "Within 5 days of the resolve" in html
    assert "<p>Call the incident lead first.</p>" in section(html, 'id="h-playbook"')
    assert "Version history" in html and "sync" in section(html, 'id="h-history"')
    assert "statuspage plans sync" in html and "<textarea" not in html


def test_a_playbook_is_sanitised(viewer, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text() + '\n<script>alert("x")</script>\n')
    for path in ("/admin/plans/critical", "/admin/plans/critical/v/2"):
        html = page(viewer, path)
        assert "<script" not in html
        assert "&lt;script&gt;" in html


def test_an_unknown_plan_or_version_is_not_found(viewer, api):
    assert viewer.get("/admin/plans/nothing-here").status_code == 404
    assert viewer.get("/admin/plans/critical/v/9").status_code == 404
    assert viewer.get("/admin/plans/Not_An_Id").status_code == 404


def test_the_diff_shows_what_changed_between_two_versions(viewer, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text().replace("investigating = 30", "investigating = 20"))
    html = page(viewer, "/admin/plans/critical/diff?a=1&b=2")
    assert "Changes from v1 to v2" in html
    assert re.search(r'class="del">.*investigating = 30', html)
    assert re.search(r'class="add">.*investigating = 20', html)
    assert "+1" in html and "\u22121" in html
    # Without arguments: the last change.
    assert "Changes from v1 to v2" in page(viewer, "/admin/plans/critical/diff")


def test_a_viewer_cannot_revert(viewer, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text(updates='["every"]'))
    version = page(viewer, "/admin/plans/critical/v/1")
    assert "/admin/plans/critical/v/1/revert" not in version  # no form offered
    response = viewer.post(
        "/admin/plans/critical/v/1/revert",
        data={"csrf_token": csrf_token(viewer, "/admin/plans"), "reason": "no"},
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert plan_service.get_plan("critical").current_version == 2


def test_an_editor_cannot_revert_a_plan_which_says_who_approves(editor, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text(updates='["every"]'))
    assert 'name="reason"' not in page(editor, "/admin/plans/critical/v/1")
    response = editor.post(
        "/admin/plans/critical/v/1/revert",
        data={"csrf_token": csrf_token(editor, "/admin/plans"), "reason": "looser"},
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert plan_service.get_plan("critical").current_version == 2


def test_an_admin_reverts_with_a_reason_and_it_is_audited(admin, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text(updates='["every"]'))
    form = page(admin, "/admin/plans/critical/v/1")
    assert 'action="/admin/plans/critical/v/1/revert"' in form and 'name="reason"' in form
    refused = admin.post(
        "/admin/plans/critical/v/1/revert",
        data={"csrf_token": csrf_token(admin, "/admin/plans/critical/v/1"), "reason": " "},
        follow_redirects=True,
    )
    assert "Not reverted: say why you revert the plan" in refused.get_data(as_text=True)
    response = admin.post(
        "/admin/plans/critical/v/1/revert",
        data={
            "csrf_token": csrf_token(admin, "/admin/plans/critical/v/1"),
            "reason": "approval of every update was too slow",
        },
    )
    assert response.status_code == 302 and response.location.endswith("/admin/plans/critical")
    db.session.expire_all()
    plan = plan_service.get_plan("critical")
    current = plan_service.current_version(plan)
    assert current.number == 3
    assert current.source == plan_service.get_version("critical", 1).source
    assert current.reason == "revert to v1: approval of every update was too slow"
    assert current.author is not None and current.author.email == "admin@example.com"
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "plan.version").order_by(AuditEntry.id)
    ).all()[-1]
    assert entry.actor == "admin@example.com" and "revert to v1" in entry.summary
    html = page(admin, "/admin/plans/critical")
    assert "Saved v3 with the text of v1." in html
    assert "approval of every update was too slow" in section(html, 'id="h-history"')


def test_a_revert_without_csrf_is_refused(admin, api, tmp_path):
    rewrite(tmp_path, plan_support.plan_text(updates='["every"]'))
    response = admin.post("/admin/plans/critical/v/1/revert", data={"reason": "x"})
    assert response.status_code in (400, 403)
    db.session.expire_all()
    assert plan_service.get_plan("critical").current_version == 2


def test_reverting_to_the_current_text_changes_nothing(admin, api):
    response = admin.post(
        "/admin/plans/critical/v/1/revert",
        data={"csrf_token": csrf_token(admin, "/admin/plans"), "reason": "again"},
        follow_redirects=True,
    )
    assert "Nothing to revert" in response.get_data(as_text=True)
    db.session.expire_all()
    assert plan_service.get_plan("critical").current_version == 1


# -- the plan on the incident's page -------------------------------------------------------------


def test_the_incident_page_shows_the_plan_the_next_update_and_the_next_message(
    viewer, editor, api, people, frozen_clock
):
    incident_id = published_incident(
        plan_support.submit(
            plan_support.critical_draft(api),
            people["admin"],
            without_approval="the lead is on a call",
        )
    )
    frozen_clock.advance(minutes=10)
    html = page(editor, f"/admin/incidents/{incident_id}")
    panel = section(html, 'id="h-plan"')
    assert '<a href="/admin/plans/critical">Critical</a>' in panel and ">v1<" in panel
    assert "The first update and the resolve, by an admin" in panel
    assert "Next update due" in panel and "in 20 min" in panel and "overdue" not in panel
    # The sequence's next message, one click from the compose form.
    assert f'href="/admin/incidents/{incident_id}/update?message=outage-identified"' in panel
    assert "published without approval by admin@example.com" in panel
    assert "the lead is on a call" in panel
    assert re.search(r"<details class=\"playbook\">\s*<summary>Playbook</summary>", panel)
    # A viewer sees the suggestion but no compose link.
    viewing = section(page(viewer, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    assert "outage-identified" in viewing and "/update?message=" not in viewing
    frozen_clock.advance(minutes=25)
    late = section(page(editor, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    assert "overdue by 5 min" in late


def test_the_incident_page_lists_the_requests_waiting_and_their_history(editor, api, people):
    incident_id = published_incident(
        plan_support.submit(plan_support.critical_draft(api), people["admin"], without_approval="x")
    )
    resolve = plan_support.critical_draft(
        api,
        incident_id=incident_id,
        message="outage-resolved",
        variables={"component": "API", "resolved_at": "12:30 UTC"},
        component_statuses={api.id: "operational"},
    )
    asked = plan_support.submit(resolve, people["editor"])
    assert asked.pending
    panel = section(page(editor, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    waiting = panel[panel.index("Waiting for approval") :]
    assert f'href="/admin/drafts/{asked.draft.id}"' in waiting and "by Editor" in waiting
    with write_transaction():
        approvals.send_back(
            asked.draft.id, comment="Say since when", now=NOW, actor=as_(people["admin"])
        )
    panel = section(page(editor, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    assert "Waiting for approval" not in panel
    assert "returned by admin@example.com: <q>Say since when</q>" in panel


def test_an_incident_without_a_plan_says_so(editor, api):
    with write_transaction():
        published = core.publish(
            core.Draft(title="Slow search", body="Searching is slow.", status="investigating"),
            now=NOW,
            actor=audit.CLI,
        )
        incident_id = published.update.incident_id
    panel = section(page(editor, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    assert "No communication plan matches this incident" in panel
    assert 'href="/admin/plans"' in panel


# -- the dashboard ------------------------------------------------------------------------------


def quick_incident(api, people) -> int:
    """A major incident under the quick plan whose update promises nothing."""
    draft = core.Draft(
        title="Checkout slow",
        body="We are looking into slow checkouts.",
        status="investigating",
        impact="major",
        component_statuses={api.id: "partial_outage"},
    )
    incident_id = published_incident(
        plan_support.submit(draft, people["admin"], without_approval="test")
    )
    incident = db.session.get(Incident, incident_id)
    assert incident is not None and incident.plan_slug == "quick"
    assert incident.updates[-1].next_update_at is None
    return incident_id


def open_row(html: str, incident_id: int) -> str:
    start = html.rindex("<tr", 0, html.index(f'href="/admin/incidents/{incident_id}"'))
    return html[start : html.index("</tr>", start)]


def test_the_dashboard_marks_an_update_overdue_by_the_plans_cadence(
    editor, api, people, frozen_clock
):
    incident_id = quick_incident(api, people)
    frozen_clock.advance(minutes=29)
    row = open_row(page(editor, "/admin/"), incident_id)
    assert "overdue" not in row and "within 1 min" in row
    frozen_clock.advance(minutes=2)
    row = open_row(page(editor, "/admin/"), incident_id)
    assert 'class="overdue-row"' in row and "overdue" in row
    assert "the plan asks for news every 30 min while investigating" in row
    assert 'href="/admin/plans/quick"' in row


def test_open_incidents_are_sorted_by_when_their_next_update_is_due(
    editor, api, people, frozen_clock
):
    planned = quick_incident(api, people)  # due at NOW + 30 min (the plan)
    with write_transaction():
        other = core.publish(
            core.Draft(
                title="Slow search",
                body="Searching is slow.",
                status="investigating",
                impact="minor",
            ),
            now=NOW - timedelta(minutes=100),  # minor: 120 min, due at NOW + 20 min
            actor=audit.CLI,
        ).update.incident_id
    html = section(page(editor, "/admin/"), 'id="h-open"')
    assert html.index(f'/admin/incidents/{other}"') < html.index(f'/admin/incidents/{planned}"')
    frozen_clock.advance(minutes=35)  # both overdue: the plan's by 5 min, the other by 15
    html = section(page(editor, "/admin/"), 'id="h-open"')
    assert html.index(f'/admin/incidents/{other}"') < html.index(f'/admin/incidents/{planned}"')


def test_a_pending_request_waits_for_the_admin_not_for_its_author(
    admin, editor, api, people, frozen_clock
):
    asked = plan_support.submit(plan_support.critical_draft(api), people["editor"])
    assert asked.pending
    frozen_clock.advance(minutes=7)
    link = f'href="/admin/drafts/{asked.draft.id}"'
    mine = section(page(admin, "/admin/"), "Waiting for your approval")
    assert link in mine and "Editor" in mine and 'href="/admin/plans/critical"' in mine
    assert "7 min" in mine
    author = page(editor, "/admin/")
    assert "Waiting for your approval" not in author
    assert link in section(author, "Waiting for someone else")


def test_a_returned_request_is_listed_for_its_author_with_the_comment(admin, editor, api, people):
    asked = plan_support.submit(plan_support.critical_draft(api), people["editor"])
    with write_transaction():
        approvals.send_back(
            asked.draft.id, comment="Name the region", now=NOW, actor=as_(people["admin"])
        )
    returned = section(page(editor, "/admin/"), "Returned to you")
    assert f'href="/admin/drafts/{asked.draft.id}"' in returned
    assert "<q>Name the region</q>" in returned
    admin_view = page(admin, "/admin/")
    assert "Returned to you" not in admin_view and "Waiting for your approval" not in admin_view


def test_a_resolved_incident_whose_postmortem_is_due_is_listed(editor, api, people, frozen_clock):
    incident_id = published_incident(
        plan_support.submit(plan_support.critical_draft(api), people["admin"], without_approval="x")
    )
    resolve = plan_support.critical_draft(
        api,
        incident_id=incident_id,
        message="outage-resolved",
        variables={"component": "API", "resolved_at": "12:30 UTC"},
        component_statuses={api.id: "operational"},
    )
    plan_support.submit(
        resolve, people["admin"], when=NOW + timedelta(hours=1), without_approval="x"
    )
    frozen_clock.advance(days=2)
    due = section(page(editor, "/admin/"), "Postmortems due")
    assert f'href="/admin/incidents/{incident_id}#postmortem"' in due and "due " in due
    assert "overdue" not in due
    panel = section(page(editor, f"/admin/incidents/{incident_id}"), 'id="h-plan"')
    assert "Postmortem" in panel and "due " in panel
    # Decided requests are named by the incident and the status they published.
    assert "API unavailable — Resolved" in panel and "API unavailable — Investigating" in panel
    frozen_clock.advance(days=4)
    assert "overdue since" in section(page(editor, "/admin/"), "Postmortems due")


def test_a_revert_to_text_naming_an_approver_who_can_no_longer_approve_is_refused(
    admin, api, tmp_path
):
    make_user("lead@example.com", "editor")
    named = plan_support.plan_text(approval_extra='users = ["lead@example.com"]')
    rewrite(tmp_path, named)  # v2 names the lead
    rewrite(tmp_path, plan_support.plan_text())  # v3 does not
    with write_transaction():
        user_service.find_user("lead@example.com").role = "viewer"
    response = admin.post(
        "/admin/plans/critical/v/2/revert",
        data={"csrf_token": csrf_token(admin, "/admin/plans"), "reason": "bring the lead back"},
        follow_redirects=True,
    )
    assert "is a viewer and cannot publish" in response.get_data(as_text=True)
    db.session.expire_all()
    assert plan_service.get_plan("critical").current_version == 3
