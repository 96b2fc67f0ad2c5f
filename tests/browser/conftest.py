"""Browser fixtures: the app served on 127.0.0.1 and Debian's Chromium driven by Playwright.

Without /usr/bin/chromium these tests skip, unless STATUSPAGE_REQUIRE_BROWSER is set (CI sets
it, after installing chromium), in which case they fail.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("STATUSPAGE_CHROMIUM", "/usr/bin/chromium")
# Closed network here: no background traffic, no component updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("STATUSPAGE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(make_app):
    """Serve a fresh app on an ephemeral port of 127.0.0.1; yield (app, base URL)."""
    apps = []

    def dispatch(environ, start_response):
        return apps[0](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    # The site URL is the served one, so links work and cookies are not marked Secure.
    apps.append(make_app(site={"url": base}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield apps[0], base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
