"""Every admin page on a phone and a desktop, in light and dark mode: no sideways scrolling and
no serious or critical axe-core violation; the menu on one row from 1024 px.

The site is filled first, so no table is empty: open, resolved and scheduled incidents, drafts
from alerts, subscribers, API tokens, message versions, escalation deliveries.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens, users
from statuspage.clock import utcnow
from statuspage.core.enums import IncidentKind
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident, Subscriber
from statuspage.publishing import approvals, library
from statuspage.publishing import components as cs
from statuspage.publishing import plans as plan_service
from statuspage.publishing.publish import Draft, publish
from tests.support import PASSWORD
from tests.support import plans as plan_support
from tests.support.a11y import DESKTOP, PHONE, axe_violations, describe, overflow
from tests.support.drafts import RULES, am_payload, prepare_site, send

ADMIN = "admin@example.com"
#: Escalation, so incident pages list runs and the delivery log has messages.
ESCALATION = {
    "channels": {
        "ops-hook": {
            "type": "webhook",
            "url": "https://hooks.example.com/a-rather-long/path",
            "secret_env": "ADMIN_RESPONSIVE_HOOK_SECRET",
        },
    },
    "paths": {
        "everything": {
            "match": {"any_component": True},
            "steps": [{"after_minutes": 0, "notify": ["ops-hook"]}],
            "stop_on": ["acknowledged", "resolved"],
        }
    },
}
LONG_LABEL = "a-very-long-label-value-without-any-space-" * 3


@pytest.fixture
def make_app(make_app):
    """The suite's app factory with intake rules and an escalation path."""

    def factory(**sections):
        return make_app(**{"intake": RULES, **ESCALATION, **sections})

    return factory


def _publish(draft: Draft, now, who):
    with write_transaction():
        return publish(draft, now=now, actor=who).update


@pytest.fixture
def admin_site(live_server, fast_hashing, tmp_path):
    """The served site, filled; yield (base URL, the admin paths to visit)."""
    app, base = live_server
    with app.app_context():
        now = utcnow()
        secret = prepare_site(app, now)  # the library, API and Website, the `prom` integration
        with write_transaction():
            core = cs.get_or_create_group("Core platform services")
            db_component = cs.add_component("Database", group=core, now=now)
            cs.add_component("Payments and invoicing (EU region)", group=core, now=now)
            admin = users.create_user(
                ADMIN, password=PASSWORD, now=now, actor=audit.CLI, role="admin", name="Ada"
            )
            tokens.create(admin, "deploy pipeline", now=now)
            library.edit(
                "degraded-investigating",
                title="Slower than usual: {{ component }}",
                body=(
                    "We are looking into slow responses on {{ component }}. {{ symptom }}"
                    " Next update within {{ next_update }}."
                ),
                reason="a shorter title",
                now=now,
                actor=audit.CLI,
            )
            for n in range(3):
                subscriber = Subscriber(
                    kind="email",
                    email=f"someone.with.a.long.address.{n}@customer-example.com",
                    created_at=now,
                    confirmed_at=now,
                    source="form",
                )
                db.session.add(subscriber)
            db.session.add(
                Subscriber(
                    kind="webhook",
                    email="ops@customer-example.com",
                    url="https://hooks.customer-example.com/statuspage/incoming/" + "x" * 40,
                    created_at=now,
                    confirmed_at=now,
                    all_components=False,
                    components=[db_component],
                    source="form",
                )
            )
        who = audit.CLI
        ids = {}
        opened = _publish(
            Draft(
                message="degraded-investigating",
                variables={"component": "Database", "symptom": "Searches time out."},
                component_statuses={db_component.id: "partial_outage"},
                impact="major",
            ),
            now - timedelta(minutes=30),
            who,
        )
        ids["open"] = opened.incident_id
        first = _publish(
            Draft(
                message="outage-investigating",
                variables={"component": "Website"},
                component_statuses={2: "major_outage"},
            ),
            now - timedelta(hours=3),
            who,
        )
        _publish(
            Draft(
                incident_id=first.incident_id,
                message="outage-resolved",
                variables={"component": "Website", "resolved_at": "10:20 UTC"},
                component_statuses={2: "operational"},
            ),
            now - timedelta(hours=2),
            who,
        )
        ids["resolved"] = first.incident_id
        maintenance = _publish(
            Draft(
                kind=IncidentKind.MAINTENANCE,
                message="maintenance-scheduled",
                variables={
                    "component": "Database",
                    "window_start": "Wednesday, 22:00 UTC",
                    "window_end": "Thursday, 00:00 UTC",
                },
                component_statuses={db_component.id: "operational"},
                scheduled_for=now + timedelta(days=2),
                scheduled_until=now + timedelta(days=2, hours=2),
            ),
            now,
            who,
        )
        ids["maintenance"] = maintenance.incident_id
        ids["request"] = _plans_and_a_request(app, db_component, now, tmp_path / "plans")
        client = app.test_client()
        assert send(client, secret, am_payload(team=LONG_LABEL)).status_code == 202
        provider = am_payload(alertname="ProviderDown", fingerprint="p1")
        assert send(client, secret, provider).status_code == 202
    paths = [
        "/admin/",
        "/admin/alerts",
        "/admin/alerts/1",
        "/admin/drafts/1",
        "/admin/drafts/2",
        "/admin/integrations",
        "/admin/incidents",
        f"/admin/incidents/{ids['open']}",
        f"/admin/incidents/{ids['resolved']}",
        "/admin/incidents/new",
        "/admin/incidents/new?message=degraded-investigating",
        "/admin/incidents/new?free=1",
        "/admin/incidents/new?draft=1&message=outage-investigating",
        f"/admin/incidents/{ids['open']}/update",
        f"/admin/incidents/{ids['open']}/update?message=degraded-identified",
        f"/admin/incidents/{ids['open']}/update?status=resolved",
        "/admin/maintenances",
        f"/admin/maintenances/{ids['maintenance']}",
        "/admin/maintenances/new",
        "/admin/maintenances/new?message=maintenance-scheduled",
        f"/admin/maintenances/{ids['maintenance']}/update?message=maintenance-started",
        "/admin/components",
        "/admin/library",
        "/admin/library?archived=1",
        "/admin/library/degraded-investigating",
        "/admin/library/degraded-investigating/v/1",
        "/admin/library/degraded-investigating/diff?a=1&b=2",
        "/admin/library/degraded-investigating/edit",
        f"/admin/drafts/{ids['request']}",
        "/admin/plans",
        "/admin/plans/critical",
        "/admin/plans/critical/v/1",
        "/admin/plans/critical/diff?a=1&b=1",
        "/admin/deliveries",
        "/admin/deliveries/1",
        "/admin/channels",
        "/admin/subscribers",
        "/admin/subscribers/deliveries",
        "/admin/reports",
        "/admin/audit",
        "/admin/users",
        "/admin/tokens",
        "/admin/password",
    ]
    return base, paths, ids


def _plans_and_a_request(app, component, now, folder: Path) -> int:
    """The starter plans but the major one (the compose screens below publish a major incident
    at once), the open incident following its plan, and a critical update waiting for approval;
    return the request's draft id."""
    shutil.copytree(plan_support.PLANS, folder)
    (folder / "major.md").unlink()
    with write_transaction():
        plan_service.sync_directory(folder, now=now, paths=())
        for incident in db.session.scalars(sa.select(Incident)):
            names = [c.name for c in incident.components]
            plan_service.follow(
                incident, plan_service.matching(incident.kind, incident.impact, names)
            )
    with write_transaction():
        # An editor writes the request, so the admin may approve it.
        author = users.create_user(
            "pm@example.com", password=PASSWORD, now=now, actor=audit.CLI, role="editor"
        )
        outcome = approvals.submit(
            Draft(
                message="outage-investigating",
                variables={"component": component.name},
                component_statuses={component.id: "major_outage"},
            ),
            now=now,
            actor=audit.Actor.for_user(author),
            notices=approvals.Notices.from_settings(app.config["STATUSPAGE"]),
        )
        assert outcome.pending
        return outcome.draft.id


def sign_in(page, base: str) -> None:
    page.goto(base + "/admin/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/admin/")


def problems(page, label: str) -> list[str]:
    """What is wrong with the page once loaded: overflow, then blocking axe violations."""
    page.wait_for_load_state("load")  # after a click, the stylesheets too
    found = []
    wider = overflow(page)
    if wider > 0:
        found.append(f"{label}: {wider} px too wide")
    violations = axe_violations(page)
    if violations:
        found.append(f"{label}:\n{describe(violations)}")
    return found


def compose_screens(page, base: str) -> list[str]:
    """Go through the compose screens a form leads to, checking each: an error, the preview,
    the form again ("Change something"), the published update, and the preview after Back."""
    found = []
    page.goto(base + "/admin/incidents/new?message=degraded-investigating")
    page.click("#preview")  # the affected service is missing
    found += problems(page, "compose with an error")
    page.fill("#var_component", "Database")
    page.select_option("#status_3", "partial_outage")
    page.click("#preview")
    page.wait_for_selector("#publish")
    found += problems(page, "preview")
    page.click("#edit")
    found += problems(page, "compose again (Change something)")
    page.click("#preview")
    page.click("#publish")
    page.wait_for_selector(".flash-ok")
    found += problems(page, "incident page after publishing")
    page.go_back()
    page.wait_for_selector("#h-published")
    found += problems(page, "preview after publishing (Back)")
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_admin_page_fits_and_passes_axe(browser, admin_site, viewport, scheme):
    base, paths, _ = admin_site
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    found: list[str] = []
    try:
        page.goto(base + "/admin/login")
        found += problems(page, "/admin/login")
        page.fill("#email", ADMIN)
        page.fill("#password", "not the password")
        page.click("button[type=submit]")
        found += problems(page, "/admin/login (wrong password)")
        sign_in(page, base)
        for path in paths:
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (path, response)
            found += problems(page, path)
        found += compose_screens(page, base)
    finally:
        context.close()
    assert not found, "\n".join(found)


def test_the_admin_menu_is_one_row_from_1024_px(browser, admin_site):
    base, _, _ = admin_site
    for width in (1024, 1280, 1920):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        sign_in(page, base)
        menu = page.get_by_role("navigation", name="Admin")  # the one shown at this width
        nav = menu.bounding_box()
        link = menu.get_by_role("link").first.bounding_box()
        context.close()
        assert nav is not None and link is not None
        assert nav["height"] < 2 * link["height"], (width, nav, link)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_publish_acknowledge_and_next_statuses_are_large_touch_targets(
    browser, admin_site, viewport
):
    base, _, ids = admin_site
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    sign_in(page, base)
    page.goto(f"{base}/admin/incidents/{ids['open']}")
    targets = [page.get_by_role("button", name="Acknowledge")]
    targets += [page.get_by_role("link", name=n, exact=True) for n in ("Identified", "Resolve")]
    heights = [t.bounding_box()["height"] for t in targets]
    page.get_by_role("link", name="Identified", exact=True).click()
    page.click("#preview")
    page.wait_for_load_state("load")
    heights.append(page.locator("#publish").bounding_box()["height"])
    context.close()
    assert min(heights) >= 44, heights
