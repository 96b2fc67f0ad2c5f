"""Every public page in a real browser, on a phone and a desktop, light and dark: no sideways
scrolling and no serious or critical axe-core violation; the pages work without JavaScript, and
with it show times in the reader's zone; a first visit stays small."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import current_app

from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident, Subscriber
from statuspage.delivery import subscriber_common as common
from statuspage.delivery import subscribers as subs
from tests.support.a11y import DESKTOP, PHONE, axe_violations, describe, overflow

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
SCHEMES = ("light", "dark")


@pytest.fixture
def site(live_server, sample):
    """The served sample page (groups, one with a degraded component; an open and a resolved
    incident; a maintenance) with subscribers for the link pages; yield (base URL, paths)."""
    app, base = live_server
    with app.app_context():
        now = utcnow()
        with write_transaction():
            pending = subs.sign_up_email(
                "new@example.com",
                subs.Choice(),
                now=now,
                incident=db.session.get(Incident, sample["open"].id),
            )
            active = subs.sign_up_email("old@example.com", subs.Choice(), now=now)
            active.confirmed_at, active.token_version = now, active.token_version + 1
            leaving = subs.sign_up_email("leaving@example.com", subs.Choice(), now=now)
            leaving.confirmed_at, leaving.token_version = now, leaving.token_version + 1
            db.session.flush()

            def link(purpose: str, subscriber: Subscriber) -> str:
                token = common.make_token(current_app.config["SECRET_KEY"], purpose, subscriber)
                return f"/subscriptions/{purpose}/{token}"

            paths = {
                "confirm": link(common.CONFIRM, pending),
                "manage": link(common.MANAGE, active),
                "unsubscribe": link(common.UNSUBSCRIBE, leaving),
            }
    yield base, paths


def public_paths(sample, links) -> list[str]:
    """Every public page a reader can reach by a GET."""
    day = (utcnow() - timedelta(days=2)).date().isoformat()
    api, web = sample["api"].id, sample["web"].id
    return [
        "/",
        "/history",
        f"/history?component={api}",
        f"/history?day={day}",
        f"/history?day={day}&component={api}",
        f"/incidents/{sample['open'].id}",
        f"/incidents/{sample['resolved'].id}",
        f"/incidents/{sample['maintenance'].id}",
        f"/components/{web}",
        "/subscribe",
        "/subscribe/webhook",
        "/subscribe/slack",
        "/subscribe/sent",
        f"/incidents/{sample['open'].id}/subscribe",
        f"/incidents/{sample['open'].id}/subscribe/webhook",
        f"/incidents/{sample['resolved'].id}/subscribe",
        links["confirm"],
        links["manage"],
        links["unsubscribe"],
        "/subscriptions/confirm/not-a-token",
        "/no-such-page",
    ]


def check(page, name: str, problems: list[str]) -> None:
    """Note the page's sideways overflow and blocking axe violations, if any."""
    wide = overflow(page)
    if wide:
        problems.append(f"{name}: {wide} px wider than the window")
    found = axe_violations(page)
    if found:
        problems.append(f"{name}:\n{describe(found)}")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_public_page_fits_and_passes_axe(browser, site, sample, size, scheme):
    base, links = site
    context = browser.new_context(viewport=VIEWPORTS[size], color_scheme=scheme)
    page = context.new_page()
    problems: list[str] = []
    for path in public_paths(sample, links):
        page.goto(base + path)
        check(page, path, problems)

    # The pages a form leads to: a refused sign-up, a sent one, a confirmation, an unsubscribe.
    def submit() -> None:
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_load_state()

    page.goto(base + "/subscribe")
    page.fill("#email", "not an address")
    submit()
    assert page.locator(".field-error").count() == 1
    check(page, "/subscribe (refused)", problems)
    page.goto(base + f"/incidents/{sample['open'].id}/subscribe")
    page.fill("#email", "reader@example.com")
    submit()
    assert page.url.endswith("/subscribe/sent")
    check(page, "per-incident subscribe (sent)", problems)
    page.goto(base + links["confirm"])
    submit()
    assert "Subscription confirmed" in page.content()
    check(page, "confirm (done)", problems)
    page.goto(base + links["unsubscribe"])
    submit()
    assert "You are unsubscribed" in page.content()
    check(page, "unsubscribe (done)", problems)
    context.close()
    assert not problems, "\n".join(problems)


def test_the_pages_work_without_javascript(browser, site, sample):
    base, _links = site
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    page.goto(base + f"/incidents/{sample['open'].id}")
    started = page.locator(".facts time").first
    # As served: the absolute time in the site's zone (UTC here), no relative words.
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d UTC", started.inner_text())

    page.goto(base + "/")
    days = page.locator(".bar a")
    assert days.count() == 4 * 90
    assert (
        page.get_by_role("link", name=re.compile(r"^API, \d{1,2} [A-Z][a-z]{2} \d{4}: ")).count()
        == 90
    )
    edge = page.locator("details.group", has_text="Edge")
    assert edge.get_attribute("open") is None  # all operational: collapsed
    assert not page.get_by_text("CDN", exact=True).is_visible()
    edge.locator("summary").click()
    page.get_by_text("CDN", exact=True).wait_for(state="visible")
    core = page.locator("details.group", has_text="Core")
    assert core.get_attribute("open") == ""  # a degraded member: open

    troubled = page.get_by_role("link", name=re.compile(r"^API, .*, 1 incident$")).first
    troubled.click()
    page.wait_for_url(re.compile(r"/history\?day="))
    assert page.locator(".incident-row").count() == 1
    assert "Elevated API errors" in page.locator(".incident-row").inner_text()
    context.close()


def test_times_show_in_the_readers_zone_with_relative_words(browser, site, sample):
    base, _links = site
    context = browser.new_context(timezone_id="America/New_York", viewport=DESKTOP)
    page = context.new_page()
    page.goto(base + f"/incidents/{sample['open'].id}")
    started = page.locator(".facts time").first
    started.wait_for()
    page.wait_for_function("() => /E[SD]T/.test(document.querySelector('.facts time').textContent)")
    text = started.inner_text()
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d E[SD]T \((29|30|31) minutes ago\)", text)
    assert re.search(r"\d{4}, \d\d:\d\d E[SD]T$", started.get_attribute("title"))
    # Old times keep the date alone; the HTML itself is the same for every reader (cached).
    page.goto(base + f"/incidents/{sample['resolved'].id}")
    page.wait_for_function("() => /E[SD]T/.test(document.querySelector('.facts time').textContent)")
    assert "(2 days ago)" in page.locator(".facts time").first.inner_text()
    served = page.request.get(base + f"/incidents/{sample['open'].id}").text()
    assert " UTC</time>" in served and "EST" not in served and "EDT" not in served
    context.close()


def test_day_cells_are_reached_by_keyboard_and_by_touch(browser, site, sample):
    base, _links = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(base + "/")
    focused = "() => document.activeElement.getAttribute('aria-label') || ''"
    page.locator("a.name", has_text="Website").focus()
    page.keyboard.press("Tab")  # the bar is one stop: its today
    assert page.evaluate(focused).startswith("Website, ")
    assert page.evaluate(focused).endswith(", 1 incident")
    today = page.evaluate(focused)
    page.keyboard.press("ArrowLeft")
    yesterday = page.evaluate(focused)
    assert yesterday.startswith("Website, ") and yesterday != today
    page.keyboard.press("Home")
    first = (utcnow() - timedelta(days=89)).date()
    assert page.evaluate(focused).startswith(f"Website, {first.day} {first:%b %Y}: ")
    page.keyboard.press("Tab")  # out of the bar, to the next group (collapsed)
    assert page.evaluate("document.activeElement.textContent").startswith("Edge")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/history\?day=\d{4}-\d\d-\d\d&component=\d+$"))
    context.close()

    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(base + "/")
    page.get_by_role("link", name=re.compile(r"^Website, ")).last.tap()
    page.wait_for_url(re.compile(r"/history\?day=\d{4}-\d\d-\d\d&component=\d+$"))
    assert "Website slow to load" in page.locator(".incident-list").inner_text()
    context.close()


def test_the_first_visit_of_the_front_page_weighs_under_60_kb(browser, site):
    """HTML, CSS, script and icon, as they travel (compressed) with their headers."""
    base, _links = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(base + "/", wait_until="networkidle")
    sizes = {r.url: r.sizes() for r in finished}
    assert {url.split("?")[0].rsplit("/", 1)[-1] for url in sizes} == {
        "",
        "style.css",
        "page.js",
        "favicon.svg",
    }
    total = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes.values())
    assert total < 60 * 1024, sizes
    context.close()
