"""A malformed escalation config does not take the public page down: `statuspage serve` and the
web app say what is wrong in one line and run with escalation off; the worker and
`statuspage escalation check` refuse it (exit 1)."""

from __future__ import annotations

import logging
import urllib.request

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.app import create_app
from statuspage.cli import main
from statuspage.db.extensions import db
from statuspage.db.models import EscalationRun
from statuspage.delivery.worker import run_worker
from statuspage.errors import ConfigError
from tests.support.cli import assert_one_line_error
from tests.support.receivers import serving
from tests.support.subscribers import post_update

#: A path that names a channel with a typo.
TYPO = """
[channels.ops]
type = "smtp"
to = ["ops@example.com"]

[paths.major]
match = { impact_at_least = "major", any_component = true }

[[paths.major.steps]]
after_minutes = 0
notify = ["opss"]
"""


@pytest.fixture
def bad_config(config_file):
    with config_file.open("a") as fh:
        fh.write(TYPO)
    return config_file


@pytest.fixture
def build(bad_config):
    """create_app from the bad config file; every app's connections are closed afterwards
    (a driver connection left to the garbage collector warns in whichever test comes next)."""
    apps = []

    def factory():
        app = create_app(config_file=bad_config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def problem(config) -> str:
    return f"{config}: paths.major.steps[0].notify[0]: unknown channel 'opss' (known: ops)"


def test_the_web_app_runs_with_escalation_off_and_says_why_once(bad_config, build, caplog):
    caplog.set_level(logging.WARNING)
    app = build()
    build()  # a second app in the same process says nothing more
    settings = app.config["STATUSPAGE"]
    assert settings.escalation is None and settings.escalation_error == problem(bad_config)
    lines = [r.getMessage() for r in caplog.records if "opss" in r.getMessage()]
    assert lines == [f"{problem(bad_config)} (escalation is off until it is fixed)"]
    assert app.test_client().get("/").status_code == 200
    with app.app_context():
        post_update({})  # a major incident: the path would have matched it
        assert db.session.scalars(sa.select(EscalationRun)).all() == []
        db.session.remove()


def test_the_worker_refuses_it(bad_config, build):
    result = CliRunner().invoke(main, ["worker", "--once", "--config", str(bad_config)])
    assert result.exit_code == 1
    assert_one_line_error(result, problem(bad_config))
    app = build()
    with pytest.raises(ConfigError, match="unknown channel 'opss'"):
        run_worker(app, once=True)


def test_escalation_check_refuses_it(bad_config):
    result = CliRunner().invoke(main, ["escalation", "check", "--config", str(bad_config)])
    assert result.exit_code == 1 and problem(bad_config) in result.output


def test_serve_serves_the_public_page_and_says_why_in_one_line(bad_config, tmp_path):
    output: list[str] = []
    with serving(bad_config, tmp_path, output) as base:
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/api/v2/status.json", timeout=10) as response:
            assert response.status == 200
    (written,) = output
    assert written.count("unknown channel 'opss'") == 1, written
    assert "Traceback" not in written
