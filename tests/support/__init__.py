"""What the test modules share. A test module imports helpers from here (and gets the shared
fixtures from tests/conftest.py), never from another test module: tests/test_layout.py checks.

- `tests.support` (this file): constants, such as the fixed `NOW` and the users' `PASSWORD`.
- `tests.support.auth`: test users, the one sign-in helper and the one CSRF-token scraper.
- `tests.support.fixtures`: the shared fixtures, loaded by tests/conftest.py as a plugin: the
  role users and clients (`people`, `admin`, `editor`, `viewer`), `fast_hashing`,
  `frozen_clock`, the `receiver` and `sink` servers, `config_file`.
- `tests.support.clock`: the frozen `statuspage.clock` behind `frozen_clock`.
- `tests.support.cli`: config files for the command line, and its one-line errors.
- `tests.support.receivers`: local HTTP and SMTP receivers; worker and server processes.
- `tests.support.dbproxy`: a TCP proxy in front of PostgreSQL that outage tests cut.
- `tests.support.prometheus`: the real Prometheus server and promtool, for the metrics tests.
- `tests.support.intake`: alert intake end to end: a served site with rules, Alertmanager.
- `tests.support.drafts`: drafts from alerts for the admin, API and browser tests.
- `tests.support.sample`: changes to the `sample` page of tests/conftest.py.
- `tests.support.subscribers`: subscribers end to end (an app, publishing, the mail).
- `tests.support.statuspage_fields`: the fields of Statuspage's webhook payloads.
- `tests.support.plans`: communication plans loaded, and updates sent for approval.
- `tests.support.openapi`: the OpenAPI document's schemas as a checker of real answers.
- `tests.support.reports`: incidents written as they were, for the reports' tests.
- `tests.support.statuspage_source`: a Statuspage page's API v1, served to import from.
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
