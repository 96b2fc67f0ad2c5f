"""Page checks for the browser tests: horizontal overflow, and axe-core's accessibility rules.

axe-core comes from npm (`.ci/ensure-axe` installs it into tests/browser/.axe); it is injected
into the page under test, never served by the app. Without it the axe checks skip, unless
STATUSPAGE_REQUIRE_BROWSER is set (CI), where they fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parent.parent / "browser" / ".axe" / "node_modules" / "axe-core"
#: What a page may not have: axe's two worst impact levels.
BLOCKING = ("serious", "critical")
#: Phone and desktop, as the issue measures them.
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def axe_source() -> str:
    """axe.min.js, or a skip (a failure under STATUSPAGE_REQUIRE_BROWSER) when it is missing."""
    path = AXE / "axe.min.js"
    if not path.exists():
        message = f"{path} not found (bash .ci/ensure-axe installs it with npm)"
        if os.environ.get("STATUSPAGE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; return the violations of those impacts."""
    # Evaluated by the browser's debugger protocol, not as a <script>: the site's
    # Content-Security-Policy (script-src 'self') stays in force for the page itself.
    page.evaluate(axe_source() + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as an assertion message: rule, impact, and the first nodes' selectors."""
    lines = []
    for v in violations:
        targets = [json.dumps(node.get("target")) for node in v.get("nodes", [])[:3]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(targets)}")
    return "\n".join(lines)


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))
