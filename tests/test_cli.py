"""The `statuspage` command: each command's output, and one-line errors instead of tracebacks."""

import json
import re
import socket
import urllib.request

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage import server
from statuspage.accounts.passwords import verify_password
from statuspage.cli import main
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, ComponentStatusChange, Incident, User
from tests.support.cli import assert_one_line_error, write_config
from tests.support.receivers import serving


@pytest.fixture
def cli(config_file):
    """Run `statuspage ARGS --config FILE`."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--config", str(config_file)])

    return invoke


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_db_upgrade_creates_the_schema_then_says_up_to_date(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "fresh.toml", f"sqlite:///{tmp_path / 'fresh.db'}")
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
    second = runner.invoke(main, ["db", "upgrade", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert re.fullmatch(r"database at revision \w+ \(was empty\)\n", first.stdout)
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("database already up to date")


def test_config_can_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "env.toml", f"sqlite:///{tmp_path / 'env.db'}")
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"STATUSPAGE_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_init_creates_an_admin_and_prints_the_password(cli, app):
    result = cli("init", "--email", "Ann@Example.com", "--name", "Ann")
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.stdout).group(1)
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert (user.email, user.name, user.role) == ("ann@example.com", "Ann", "admin")
        assert verify_password(user.password_hash, password)


def test_init_with_an_existing_email_fails_and_keeps_the_password(cli, app):
    first = cli("init", "--email", "ann@example.com")
    password = re.search(r"password: (\S+)", first.stdout).group(1)
    second = cli("init", "--email", "ann@example.com")
    assert_one_line_error(second, "ann@example.com", "already exists")
    assert "password" not in second.stdout
    with app.app_context():
        assert verify_password(db.session.scalar(sa.select(User.password_hash)), password)


def test_init_refuses_an_email_with_a_line_break(cli, app):
    result = cli("init", "--email", "ann@example.com\r\nBcc: eve@example.com")
    assert_one_line_error(result, "line breaks")
    assert count(app, User) == 0


def test_demo_twice_adds_nothing_and_prints_a_working_login_each_time(cli, app):
    first = cli("demo")
    second = cli("demo")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "loaded demo data: 12 components in 3 groups" in first.stdout
    assert "already loaded" in second.stdout
    assert count(app, Component) == 12
    assert count(app, ComponentGroup) == 3
    assert count(app, User) == 1
    login = re.compile(
        r"Admin login: https?://\S+/admin/login  email: admin@example.com  password: (\S+)"
    )
    first_password = login.search(first.stdout).group(1)
    second_password = login.search(second.stdout).group(1)
    assert first_password != second_password
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.role == "admin"
        assert verify_password(user.password_hash, second_password)
        assert not verify_password(user.password_hash, first_password)


def test_demo_counts_are_the_same_after_a_second_run(cli, app):
    cli("demo")
    counts = [count(app, m) for m in (Incident, ComponentStatusChange)]
    cli("demo")
    assert [count(app, m) for m in (Incident, ComponentStatusChange)] == counts


def test_components_add_then_list_shows_it_in_its_group(cli):
    added = cli("components", "add", "Billing", "--group", "Payments", "--status", "major_outage")
    listed = cli("components", "list")
    assert added.exit_code == 0, added.output
    assert re.fullmatch(r"added component \d+: Billing \(major_outage\)\n", added.stdout)
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "GROUP", "NAME", "STATUS"]
    assert row.split()[1:] == ["Payments", "Billing", "major_outage"]


def test_components_list_without_components_says_so(cli):
    result = cli("components", "list")
    assert result.exit_code == 0
    assert result.stdout.startswith("no components yet")


def test_components_set_status_by_name_records_the_change(cli, app):
    cli("components", "add", "Billing")
    result = cli("components", "set-status", "billing", "partial_outage")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Billing: operational -> partial_outage\n"
    with app.app_context():
        assert db.session.scalar(sa.select(Component.status)) == "partial_outage"
        [entry] = audit.entries(action="component.status")
        assert (entry.actor, entry.before, entry.after) == (
            "cli",
            {"status": "operational"},
            {"status": "partial_outage"},
        )
    assert count(app, ComponentStatusChange) == 2


def test_components_set_status_by_id(cli, app):
    added = cli("components", "add", "Billing")
    component_id = re.search(r"component (\d+)", added.stdout).group(1)
    result = cli("components", "set-status", component_id, "degraded_performance")
    assert result.stdout == "Billing: operational -> degraded_performance\n"


def test_components_set_status_to_the_same_status_changes_nothing(cli, app):
    cli("components", "add", "Billing")
    result = cli("components", "set-status", "Billing", "operational")
    assert result.stdout == "Billing is already operational\n"
    assert count(app, ComponentStatusChange) == 1


def test_unknown_status_fails_with_the_choices(cli):
    cli("components", "add", "Billing")
    result = cli("components", "set-status", "Billing", "broken")
    assert_one_line_error(result, "'broken'", "operational", "major_outage", "under_maintenance")


def test_unknown_status_on_add_creates_nothing(cli, app):
    result = cli("components", "add", "Billing", "--status", "down")
    assert_one_line_error(result, "'down'")
    assert count(app, Component) == 0


def test_unknown_component_fails_cleanly(cli):
    result = cli("components", "set-status", "Nope", "operational")
    assert_one_line_error(result, "no component", "'Nope'")


def test_missing_config_file_fails_cleanly(tmp_path):
    result = CliRunner().invoke(
        main, ["components", "list", "--config", str(tmp_path / "absent.toml")]
    )
    assert_one_line_error(result, "absent.toml", "not found")


def test_bad_config_value_names_the_file_and_the_key(tmp_path):
    config = write_config(tmp_path / "bad.toml", "sqlite:///x.db", extra="[server]\nport = true")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert_one_line_error(result, "bad.toml", "server.port", "expected an integer")


def test_unparseable_database_url_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "bad.toml", "nosuchdb://localhost/x")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert_one_line_error(result, "database.url")


def test_unreachable_database_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Port 1 is never a PostgreSQL server: the connection is refused at once.
    config = write_config(tmp_path / "pg.toml", "postgresql://postgres@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert_one_line_error(result, "database error")


def test_serve_refuses_a_database_without_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(server, "serve", lambda **kwargs: pytest.fail("served"))
    config = write_config(tmp_path / "empty.toml", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert_one_line_error(result, "statuspage db upgrade")


def test_serve_uses_the_configured_address_and_passes_the_config_on(cli, config_file, monkeypatch):
    calls = []
    monkeypatch.setattr(server, "serve", lambda **kwargs: calls.append(kwargs))
    config_file.write_text(config_file.read_text() + "[server]\nport = 9123\nworkers = 3\n")
    result = cli("serve", "--host", "127.0.0.2")
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "host": "127.0.0.2",
            "port": 9123,
            "workers": 3,
            "config_file": str(config_file),
            "log_format": "text",
        }
    ]
    assert "http://127.0.0.2:9123/" in result.stdout


def test_serve_refuses_a_port_in_use(cli, monkeypatch):
    monkeypatch.setattr(server, "serve", lambda **kwargs: pytest.fail("served"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = cli("serve", "--port", str(busy.getsockname()[1]))
    assert_one_line_error(result, "cannot listen on 127.0.0.1")


def test_serve_answers_http_with_the_configured_site(cli, config_file, tmp_path):
    with (
        serving(config_file, tmp_path) as base,
        urllib.request.urlopen(f"{base}/api/v2/status.json", timeout=5) as response,
    ):
        body = json.load(response)
    assert body["page"]["name"] == "CLI Status"
