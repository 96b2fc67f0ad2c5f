"""What the test modules share. A test module imports helpers from here (or gets fixtures from
tests/conftest.py), never from another test module; tests/test_layout.py checks that.

- `tests.support` (this file): the constants, such as the fixed `NOW` and the test `PASSWORD`.
- `tests.support.auth`: users, the one way to sign in (`sign_in`) and the one CSRF scraper.
- `tests.support.clock`: a frozen `statuspage.clock` for tests whose outcome depends on "now".
- `tests.support.fixtures`: the shared fixtures (role users and clients, receivers, the clock),
  loaded by tests/conftest.py as a plugin.
- `tests.support.cli`: config files for the command line and its one-line errors.
- `tests.support.receivers`: real local HTTP and SMTP receivers, worker and server processes.
- `tests.support.subscribers`: the end-to-end subscriber helpers, Statuspage's field lists.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: A fixed "now" for tests that need a clock; services take `now` as a parameter, and the
#: `frozen_clock` fixture makes `statuspage.clock.utcnow()` answer it.
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

#: Every test user's password.
PASSWORD = "correct horse battery"

#: The site URL of the test configuration (tests/conftest.py).
SITE_URL = "https://status.example.com"
