"""The public page in a real browser: it renders, needs no JavaScript, and weighs little."""

from __future__ import annotations


def test_public_page_renders_without_javascript(browser, live_server, sample):
    _app, base = live_server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(base + "/", wait_until="networkidle")
    assert page.locator("h1").first.inner_text().strip() != ""
    assert page.get_by_text("Website slow to load").first.is_visible()
    assert page.locator("details").count() >= 2  # collapsible groups work without script
    # As it travels: compressed, with its headers.
    sizes = [r.sizes() for r in finished]
    assert sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes) < 60 * 1024
    context.close()
