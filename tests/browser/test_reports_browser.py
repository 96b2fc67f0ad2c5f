"""A PM in a real browser with JavaScript off: sees an overdue action item on the dashboard, opens
Reports, reads last month's time to first update and the API's SLA, and downloads the CSV (issue
15's acceptance)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from statuspage.accounts import users
from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus as C
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.publishing import action_items
from statuspage.publishing import components as cs
from statuspage.reports import report as reports
from statuspage.web.admin.reports import last_month
from tests.support import PASSWORD
from tests.support.reports import incident

# "Last month" is read twice (by the test and by the page): a month must not end in between.
pytestmark = pytest.mark.usefixtures("frozen_clock")

SLA = {"api": {"components": ["API"], "target": 99.9}}


@pytest.fixture
def make_app(make_app):
    """The suite's app factory with an SLA on the API."""

    def factory(**sections):
        return make_app(**{"sla": SLA, **sections})

    return factory


@pytest.fixture
def site(live_server):
    """Last month: the API down for an hour, the first update 15 minutes after the alert."""
    app, base = live_server
    with app.app_context():
        settings = app.config["STATUSPAGE"]
        label = last_month(utcnow(), reports.site_zone(settings))
        period = reports.period_of(label, settings)
        down = period.start + timedelta(days=5)
        with write_transaction():
            api = cs.add_component("API", now=period.start - timedelta(days=30))
            cs.add_component("Website", now=period.start - timedelta(days=30))
            cs.set_status(api, C.MAJOR_OUTAGE, now=down)
            cs.set_status(api, C.OPERATIONAL, now=down + timedelta(hours=1))
            first = incident(
                "API unreachable",
                impact="major",
                started=down,
                detected=down,
                resolved=down + timedelta(hours=1),
                updates=[
                    (down + timedelta(minutes=15), "investigating"),
                    (down + timedelta(hours=1), "resolved"),
                ],
            )
            db.session.flush()
            users.create_user(
                "pm@example.com", password=PASSWORD, now=utcnow(), actor=audit.CLI, role="editor"
            )
        with write_transaction():
            # The postmortem's action item, due a week ago and still open.
            overdue = (utcnow() - timedelta(days=7)).date().isoformat()
            item = action_items.ItemInput(
                title="Alert on API error rate", owner="ops team", due_on=overdue
            )
            action_items.add(first.id, item, now=utcnow(), actor=audit.CLI)
    return app, base, label, period


def test_pm_reads_last_months_report_and_downloads_the_csv(browser, site, tmp_path: Path):
    from playwright.sync_api import expect

    app, base, label, period = site
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(base + "/admin/login")
        page.fill("#email", "pm@example.com")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/admin/")

        # The dashboard: the postmortem's overdue action item.
        expect(page.locator("main")).to_contain_text("Alert on API error rate")
        expect(page.get_by_role("heading", name="Action items overdue")).to_be_visible()

        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Reports").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Reliability report {label}")
        first = page.locator("#time-first-update")
        expect(first.locator("td").nth(1)).to_have_text("15 min 00 s")  # the mean
        sla = page.locator("#sla-1")
        expect(sla.get_by_role("rowheader")).to_have_text("api")
        expect(sla).to_contain_text("99.90 %")
        expect(sla).to_contain_text("missed")  # an hour down blows a 99.9 % month
        expect(page.get_by_role("img", name=f"Uptime per component, {label}")).to_be_visible()

        with page.expect_download() as caught:
            page.get_by_role("link", name="Download CSV").click()
        download = caught.value
        assert download.suggested_filename == f"report-{label}.csv"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        text = saved.read_bytes().decode("utf-8")
    finally:
        context.close()
    with app.app_context():
        expected = reports.as_csv(reports.build(period, app.config["STATUSPAGE"], utcnow()))
    assert text == expected
    assert text.startswith("period,period_start,") and ",sla,api,,API,99.9," in text


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_filled_report_fits_a_phone_and_passes_axe(browser, site, scheme):
    from tests.support.a11y import PHONE, axe_violations, describe, overflow

    _, base, label, _ = site
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(base + "/admin/login")
        page.fill("#email", "pm@example.com")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/admin/")
        found = []
        for query, status in ((f"?period={label}", 200), ("?period=June", 422)):
            response = page.goto(f"{base}/admin/reports{query}")
            assert response is not None and response.status == status
            page.wait_for_load_state("load")
            assert overflow(page) <= 0, query
            violations = axe_violations(page)
            if violations:
                found.append(f"{query}:\n{describe(violations)}")
    finally:
        context.close()
    assert not found, "\n".join(found)
