"""A PM in a real browser: sign in, open an incident from a canned message, update, resolve.

Counts the interactions of the fast path (clicks and fields typed): from the dashboard to the
first public update with a component changed, at most six; a resolve, at most three.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from statuspage.accounts import users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from tests.support import PASSWORD


@pytest.fixture
def site(live_server):
    app, base = live_server
    with app.app_context():
        now = utcnow()
        with write_transaction():
            lib.sync_directory(resource_dir("messages"), now=now)
            core = cs.get_or_create_group("Core")
            cs.add_component("API", group=core, now=now)
            cs.add_component("Website", group=core, now=now)
            users.create_user(
                "pm@example.com", password=PASSWORD, now=now, actor=audit.CLI, role="editor"
            )
    return base


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return response.read().decode()


def test_pm_opens_updates_and_resolves_an_incident(browser, site):
    from playwright.sync_api import expect

    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(site + "/admin/login")
    page.fill("#email", "pm@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site + "/admin/")

    # The first update, with a component changed: at most six interactions.
    interactions = 0
    page.click("text=New incident")
    interactions += 1
    page.click("text=Slow performance on [Affected service]")
    interactions += 1
    expect(page.locator("#var_component")).to_be_focused()
    page.keyboard.type("API")
    interactions += 1
    expect(page.locator("#status_1")).to_have_value("")  # "no change" until the PM says
    page.select_option("#status_1", "degraded_performance")
    interactions += 1
    page.click("#preview")
    interactions += 1
    # The preview is a screen of its own, reached by a GET: reloading it re-posts nothing.
    page.wait_for_url(re.compile(r".*\?preview=.*"))
    page.reload()
    expect(page.locator(".preview").first).to_contain_text("API")
    expect(page.locator("#publish")).to_be_focused()
    expect(page.locator("#publish")).to_be_in_viewport()  # no scrolling at 1280x900
    assert "Slow performance on API" not in fetch(site + "/")
    page.click("#publish")
    interactions += 1
    page.wait_for_url(re.compile(r".*/admin/incidents/\d+.*"))
    assert interactions <= 6

    incident_url = re.search(r"/admin/incidents/(\d+)", page.url)
    incident_id = incident_url.group(1)
    # Everything public shows it at once.
    assert "Slow performance on API" in fetch(site + "/")
    assert "Slow performance on API" in fetch(f"{site}/incidents/{incident_id}")
    assert "Slow performance on API" in fetch(site + "/history.rss")
    summary = json.loads(fetch(site + "/api/v2/summary.json"))
    assert [i["name"] for i in summary["incidents"]] == ["Slow performance on API"]
    assert summary["incidents"][0]["status"] == "investigating"
    expect(page.locator(".provenance").first).to_contain_text(
        "Slow performance on [Affected service] (v1)"
    )

    # Back after Publish: the preview says it went out, and nothing is sent again.
    page.go_back()
    expect(page.locator("#h-published")).to_be_visible()
    expect(page.locator("#publish")).to_have_count(0)
    page.reload()
    expect(page.locator("#h-published")).to_be_visible()
    assert len(json.loads(fetch(site + "/api/v2/summary.json"))["incidents"]) == 1
    page.goto(f"{site}/admin/incidents/{incident_id}")

    # Second update: identified, straight to the message that follows the first.
    page.get_by_role("link", name="Identified", exact=True).click()
    page.click("#preview")
    page.click("#publish")
    page.wait_for_url(re.compile(rf".*/admin/incidents/{incident_id}.*"))
    summary = json.loads(fetch(site + "/api/v2/summary.json"))
    assert summary["incidents"][0]["status"] == "identified"

    # Resolve in three: the time and the component's way back are already filled in.
    interactions = 0
    page.get_by_role("link", name="Resolve", exact=True).click()
    interactions += 1
    expect(page.locator("#var_resolved_at")).to_have_value(re.compile(r"\d\d:\d\d UTC"))
    expect(page.locator("#status_1")).to_have_value("operational")
    page.click("#preview")
    interactions += 1
    page.click("#publish")
    interactions += 1
    page.wait_for_url(re.compile(rf".*/admin/incidents/{incident_id}.*"))
    assert interactions <= 3
    summary = json.loads(fetch(site + "/api/v2/summary.json"))
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"
    assert "Resolved" in fetch(f"{site}/incidents/{incident_id}")
    # Resolved: reopening is offered, but it is not the page's primary action.
    expect(page.get_by_role("link", name="Reopen", exact=True)).not_to_have_class(
        re.compile(r"\bprimary\b")
    )
    context.close()
