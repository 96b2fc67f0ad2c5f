"""What an outside tester broke: a missing SQLite file, `next=` echoed raw, a reused key."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.db import health
from tests.support.cli import assert_one_line_error, write_config


def test_a_command_refuses_a_missing_sqlite_file_and_creates_none(tmp_path):
    target = tmp_path / "gone.db"
    config = write_config(tmp_path / "statuspage.toml", f"sqlite:///{target}")
    result = CliRunner().invoke(main, ["components", "list", "--config", str(config)])
    assert_one_line_error(result, "no database file at", "statuspage init")
    assert not target.exists() and not (tmp_path / "gone.db-wal").exists()


def test_readiness_is_red_while_the_sqlite_file_is_not_at_its_path(
    app, client, db_url, monkeypatch
):
    if not db_url.startswith("sqlite:///"):
        pytest.skip("PostgreSQL has no file to lose")
    monkeypatch.setattr(health, "READY_CACHE_SECONDS", 0)
    assert client.get("/readyz").status_code == 200
    path = db_url.removeprefix("sqlite:///")
    shutil.move(path, path + ".moved")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "no database file at" in response.get_json()["reason"]
    finally:
        shutil.move(path + ".moved", path)
    assert client.get("/readyz").status_code == 200


def test_the_login_form_keeps_no_next_it_would_not_follow(client):
    page = client.get("/admin/login?next=%00%0d%0a/admin/x").get_data(as_text=True)
    assert "\x00" not in page and "\r" not in page
    assert 'name="next" value=""' in page
    kept = client.get("/admin/login?next=/admin/incidents").get_data(as_text=True)
    assert 'name="next" value="/admin/incidents"' in kept


def test_the_cli_fills_an_empty_component_blank_from_the_marked_components(config_file, app):
    from statuspage.clock import utcnow
    from statuspage.db.database import write_transaction
    from statuspage.publishing import components as cs
    from statuspage.publishing import library as lib
    from statuspage.resources import resource_dir

    with app.app_context(), write_transaction():
        lib.sync_directory(resource_dir("messages"), now=utcnow())
        cs.add_component("Search", now=utcnow())
    args = ["publish", "--message", "outage-investigating", "--component", "Search=major_outage"]
    result = CliRunner().invoke(main, [*args, "--preview", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert "title: Search unavailable" in result.output
