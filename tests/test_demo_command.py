"""`statuspage demo` and `make demo`: links that name the address served, and a rerun that says
it rotated the demo admin's password."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage import server
from statuspage.cli import DEFAULT_SITE_URL, demo_site_url, main
from statuspage.db.extensions import db
from statuspage.db.models import User
from tests.support.auth import sign_in
from tests.support.cli import write_config
from tests.support.receivers import free_port, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
LOGIN = re.compile(r"Admin login: (\S+)/admin/login  email: admin@example.com  password: (\S+)")
ROTATED = "already existed: its password was rotated"


@pytest.fixture
def cli(config_file):
    """Run `statuspage ARGS --config FILE` with no site URL in the environment."""
    runner = CliRunner()

    def invoke(*args: str):
        env = {"STATUSPAGE_SITE_URL": None, "STATUSPAGE_SERVER_HOST": None}
        return runner.invoke(main, [*args, "--config", str(config_file)], env=env)

    return invoke


@pytest.fixture
def served(monkeypatch):
    """Calls to server.serve (none serves), each with the site URL its workers would read."""
    calls: list[dict] = []

    def serve(**kwargs):
        calls.append({**kwargs, "site_url": os.environ.get("STATUSPAGE_SITE_URL")})

    monkeypatch.setattr(server, "serve", serve)
    return calls


def test_demo_serve_prints_and_serves_the_port_it_listens_on(cli, served):
    port = free_port()
    result = cli("demo", "--serve", "--port", str(port))
    assert result.exit_code == 0, result.output
    assert LOGIN.search(result.stdout).group(1) == f"http://127.0.0.1:{port}"
    assert f"Serving http://127.0.0.1:{port}/" in result.stdout
    [call] = served
    assert (call["host"], call["port"]) == ("127.0.0.1", port)
    assert call["site_url"] == f"http://127.0.0.1:{port}"


def test_demo_serve_keeps_a_site_url_the_config_sets(cli, config_file, served):
    config_file.write_text(
        config_file.read_text().replace("[site]\n", '[site]\nurl = "https://status.example.com"\n')
    )
    result = cli("demo", "--serve", "--port", str(free_port()))
    assert result.exit_code == 0, result.output
    assert LOGIN.search(result.stdout).group(1) == "https://status.example.com"
    assert served[0]["site_url"] == "https://status.example.com"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:18101"),
        ("0.0.0.0", "http://127.0.0.1:18101"),
        ("::", "http://[::1]:18101"),
        ("::1", "http://[::1]:18101"),
        ("192.0.2.7", "http://192.0.2.7:18101"),
        ("localhost", "http://localhost:18101"),
    ],
)
def test_the_demo_site_url_is_where_a_browser_here_reaches_it(host, url):
    assert demo_site_url(DEFAULT_SITE_URL, host, 18101) == url
    assert demo_site_url("https://status.example.com", host, 18101) == "https://status.example.com"


def test_demo_serve_on_a_port_in_use_fails_before_writing_anything(cli, app, served):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = cli("demo", "--serve", "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1" in result.stderr
    assert "password" not in result.output and served == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_a_first_demo_says_nothing_of_a_rotation(cli):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert ROTATED not in result.stdout and LOGIN.search(result.stdout)


def test_a_second_demo_says_it_rotated_the_password_and_signed_sessions_out(cli, app):
    first = cli("demo")
    client = app.test_client()
    sign_in(client, "admin@example.com", LOGIN.search(first.stdout).group(2))
    assert client.get("/admin/").status_code == 200
    second = cli("demo")
    assert second.exit_code == 0, second.output
    assert (
        "admin@example.com already existed: its password was rotated (the old one no longer "
        "works) and its open sessions were signed out." in second.stdout
    )
    assert client.get("/admin/").status_code == 302  # the session from before ended
    assert sign_in(client, "admin@example.com", LOGIN.search(second.stdout).group(2)).status_code
    assert client.get("/admin/").status_code == 200


def test_make_demo_serves_through_the_demo_command_on_its_port():
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert "statuspage demo --serve --port $(PORT)" in recipe.group(1)
    assert "make demo PORT=" in (ROOT / "README.md").read_text().split("## ")[0]


def test_demo_serve_links_name_its_port_on_every_page(tmp_path):
    """End to end, as `make demo PORT=...` runs it: no link anywhere names another port."""
    port = free_port()
    config = write_config(
        tmp_path / "demo.toml", f"sqlite:///{tmp_path / 'demo.db'}", "[server]\nworkers = 1\n"
    )
    command = [sys.executable, "-c", "from statuspage.cli import main; main()", "demo"]
    command += ["--serve", "--port", str(port), "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log, seconds=60)
        pages = {}
        for path in (
            "/",
            "/history",
            "/history.rss",
            "/history.atom",
            "/api/v2/summary.json",
            "/api/v2/incidents.json",
            "/api/v2/scheduled-maintenances.json",
            "/api/v1/openapi.json",
            "/subscribe/webhook",
        ):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                pages[path] = response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=20)
    printed = log.read_text(errors="replace")
    assert f"Admin login: {base}/admin/login" in printed
    for path, text in pages.items():
        assert ":8080" not in text, path
    assert json.loads(pages["/api/v2/summary.json"])["page"]["url"] == base
    assert f'<guid isPermaLink="true">{base}/incidents/' in pages["/history.rss"]
    assert f"<id>{base}/incidents/" in pages["/history.atom"]
    assert f"{base}/subscriptions/unsubscribe/" in pages["/subscribe/webhook"]
