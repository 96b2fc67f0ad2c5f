"""The public page in a real browser: it renders, needs no JavaScript, and weighs little."""

from __future__ import annotations


def test_public_page_renders_without_javascript(browser, live_server, sample):
    _app, base = live_server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sizes = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    page.goto(base + "/")
    assert page.locator("h1").first.inner_text().strip() != ""
    assert page.get_by_text("Website slow to load").first.is_visible()
    assert page.locator("details").count() >= 2  # collapsible groups work without script
    assert sum(sizes) < 60 * 1024
    context.close()
