"""From a fired alert to a published first update in a real browser, in at most three
interactions after sign-in; then the dashboard shows how long that took from the first alert.

The alert goes over HTTP to /api/intake/prom as Alertmanager sends it; the PM signs in and
publishes the draft it prepared, from the dashboard or from the notification's link.
"""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

import pytest

from statuspage.accounts import users
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from tests.support import PASSWORD
from tests.support.drafts import RULES, am_payload, prepare_site
from tests.support.intake import post_json

#: The product promise: alert to published first update in at most this many interactions.
MAX_INTERACTIONS = 3


@pytest.fixture
def make_app(make_app):
    """The suite's app factory with the intake rules (live_server builds its app with it)."""

    def factory(**sections):
        return make_app(**{"intake": RULES, **sections})

    return factory


@pytest.fixture
def site(live_server):
    """The served site with its `prom` integration and an editor; a firing alert sent to it
    over HTTP, started four minutes ago."""
    app, base = live_server
    with app.app_context():
        now = utcnow()
        secret = prepare_site(app, now)
        with write_transaction():
            users.create_user(
                "pm@example.com", password=PASSWORD, now=now, actor=audit.CLI, role="editor"
            )
    started = (utcnow() - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, answer = post_json(
        f"{base}/api/intake/prom", am_payload(starts_at=started), secret=secret
    )
    assert status == 202 and answer["drafts"] == [1], answer
    return base


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return response.read().decode()


def sign_in(page, base: str, start: str = "/admin/login") -> None:
    page.goto(base + start)
    page.fill("#email", "pm@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


@pytest.fixture
def page(browser):
    """A page without JavaScript: the admin works without it."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    yield context.new_page()
    context.close()


def test_from_a_fired_alert_to_a_published_first_update_in_one_click(page, site):
    from playwright.sync_api import expect

    assert "API unavailable" not in fetch(site + "/")
    sign_in(page, site)
    page.wait_for_url(site + "/admin/")
    # Drafts first: the draft is at the top of the dashboard, its Publish button in reach.
    expect(page.locator("#h-drafts")).to_be_visible()
    expect(page.locator("#draft-1")).to_contain_text("API unavailable")
    expect(page.locator("#publish-draft-1")).to_be_focused()

    interactions = 0
    page.click("#publish-draft-1")
    interactions += 1
    page.wait_for_url(re.compile(r".*/admin/incidents/\d+.*"))
    assert interactions <= MAX_INTERACTIONS
    expect(page.get_by_text("Published: API unavailable — Investigating")).to_be_visible()
    expect(page.locator(".provenance").first).to_contain_text("[Affected service] unavailable (v1)")

    # Customers see it at once.
    public = fetch(site + "/")
    assert "API unavailable" in public
    assert "We are investigating reports that API is unavailable" in public

    # The dashboard: no draft waits any more, and it says how long customers waited.
    page.goto(site + "/admin/")
    expect(page.locator("#h-drafts")).to_have_count(0)
    expect(page.locator("#h-detected")).to_be_visible()
    timing = page.locator(".detected li").first
    expect(timing).to_contain_text("API unavailable")
    expect(timing).to_contain_text(re.compile(r"alert to first update: [45] min"))


def test_the_notification_link_publishes_in_one_click_after_sign_in(page, site):
    from playwright.sync_api import expect

    # The link in the PM's notification, opened signed out: sign in, land on the draft.
    sign_in(page, site, "/admin/drafts/1")
    page.wait_for_url(site + "/admin/drafts/1")
    expect(page.locator("h1")).to_have_text("API unavailable")
    expect(page.locator(".preview-col")).to_contain_text("[Acme Status] API unavailable")

    interactions = 0
    page.click("#publish")
    interactions += 1
    page.wait_for_url(re.compile(r".*/admin/incidents/\d+.*"))
    assert interactions <= MAX_INTERACTIONS
    assert "API unavailable" in fetch(site + "/")
