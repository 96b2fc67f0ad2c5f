"""Approval in a real browser: an editor writes the first update of a critical incident, the
plan asks an admin to approve it; nothing is public until the admin, told through the plan's
path (a local receiver), opens the link and approves. Then the page, the feed and the JSON carry
exactly the approved text, and the audit log names who wrote it and who approved it."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta

import pytest

from statuspage.accounts import users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.publishing import components as component_service
from statuspage.publishing import drafts
from tests.support import PASSWORD
from tests.support import plans as plan_support

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw=="
NOWHERE = {"impact_in": ["none"], "components": ["(plan notices only)"]}


@pytest.fixture
def make_app(make_app, receiver, monkeypatch):
    """The suite's app factory with a path that tells the approvers (live_server uses it)."""
    monkeypatch.setenv("APPROVERS_HOOK_SECRET", SECRET)

    def factory(**sections):
        return make_app(
            channels={
                "approvers-hook": {
                    "type": "webhook",
                    "url": receiver.url("/approvers"),
                    "secret_env": "APPROVERS_HOOK_SECRET",
                }
            },
            paths={
                "approvers": {
                    "match": NOWHERE,
                    "steps": [{"after_minutes": 0, "notify": ["approvers-hook"]}],
                }
            },
            **sections,
        )

    return factory


@pytest.fixture
def site(live_server, tmp_path):
    app, base = live_server
    with app.app_context():
        now = utcnow()
        plan_support.load(
            tmp_path,
            [plan_support.plan_text(approval_extra='notify = "approvers"')],
            paths=["approvers"],
        )
        with write_transaction():
            component_service.add_component("API", now=now - timedelta(days=1))
            for email, role in (("pm@example.com", "editor"), ("boss@example.com", "admin")):
                users.create_user(email, password=PASSWORD, now=now, actor=audit.CLI, role=role)
    return app, base


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return response.read().decode()


def new_page(browser):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    return context, context.new_page()


def sign_in(page, base: str, email: str, start: str = "/admin/login") -> None:
    page.goto(base + start)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def run_worker_once(app) -> None:
    from statuspage.delivery.worker import run_worker

    run_worker(app, once=True)


def test_an_approved_first_update_is_public_exactly_as_approved(browser, site, receiver):
    from playwright.sync_api import expect

    app, base = site
    context, page = new_page(browser)
    sign_in(page, base, "pm@example.com")
    page.wait_for_url(base + "/admin/")
    page.click("text=New incident")
    page.click("text=[Affected service] unavailable")
    page.fill("#var_component", "API")
    page.select_option("#status_1", "major_outage")
    page.click("#preview")
    page.wait_for_url(re.compile(r".*\?preview=.*"))
    expect(page.locator("#h-approval")).to_be_visible()
    expect(page.locator("#publish")).to_have_text("Request approval")
    page.click("#publish")
    page.wait_for_url(re.compile(r".*/admin/drafts/\d+$"))
    draft_id = int(page.url.rsplit("/", 1)[1])
    context.close()

    # Nothing is public yet.
    assert "API unavailable" not in fetch(base + "/")
    assert json.loads(fetch(base + "/api/v2/summary.json"))["incidents"] == []
    with app.app_context():
        row = drafts.get(draft_id)
        expected = drafts.preview(row).body
        assert row.state == "pending"

    # The approvers' path is told, with the link to the request.
    with app.app_context():
        run_worker_once(app)
    [notice] = receiver.delivered()
    body = json.loads(notice.body)
    assert body["type"] == "draft.approval_requested"
    link = next(item["url"] for item in body["data"]["links"] if "/admin/drafts/" in item["url"])
    assert link == f"{base}/admin/drafts/{draft_id}"

    # The admin opens the link, signs in, reads it and approves.
    context, page = new_page(browser)
    sign_in(page, base, "boss@example.com", start=f"/admin/drafts/{draft_id}")
    page.wait_for_url(f"{base}/admin/drafts/{draft_id}")
    expect(page.locator("#h-request")).to_have_text("Waiting for approval")
    expect(page.locator("main")).to_contain_text(expected.split("\n")[0])
    page.click("#approve")
    page.wait_for_url(re.compile(r".*/admin/incidents/\d+.*"))
    incident_id = re.search(r"/admin/incidents/(\d+)", page.url).group(1)

    # Everything public carries exactly the approved text.
    summary = json.loads(fetch(base + "/api/v2/summary.json"))
    [incident] = summary["incidents"]
    assert incident["name"] == "API unavailable" and incident["impact"] == "critical"
    assert incident["incident_updates"][0]["body"] == expected
    assert expected.split("\n")[0] in fetch(base + "/")
    assert expected.split("\n")[0] in fetch(f"{base}/incidents/{incident_id}")
    assert "API unavailable" in fetch(base + "/history.rss")

    # The audit log: who wrote it, who approved it, and the incident opened by both.
    page.goto(base + "/admin/audit")
    log = page.locator("table.audit")
    requested = log.locator("tr", has_text="draft.requested")
    expect(requested.locator(".actor")).to_contain_text("pm@example.com")
    approved = log.locator("tr", has_text="draft.approved")
    expect(approved.locator(".actor")).to_contain_text("boss@example.com")
    opened = log.locator("tr", has_text="incident.opened")
    expect(opened.locator(".actor")).to_contain_text("approved by boss@example.com")
    context.close()
