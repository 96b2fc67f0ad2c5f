"""`statuspage import statuspage`: a Statuspage page brought over through its API v1 (served on
127.0.0.1 by tests/support/statuspage_source.py) or through a public /api/v2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.app import create_app
from statuspage.cli import main
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import (
    AuditEntry,
    Component,
    ComponentGroup,
    ComponentStatusChange,
    EscalationRun,
    ImportedObject,
    Incident,
    Message,
    OutboxMessage,
    Subscriber,
)
from statuspage.imports import statuspage as importer
from statuspage.publishing import history
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from tests.support import NOW
from tests.support.cli import write_config
from tests.support.receivers import serving
from tests.support.statuspage_source import (
    API,
    API_KEY,
    ERRORS,
    LOOPBACK_HOOK,
    OUTAGE,
    PAGE_ID,
    PUBLIC_HOOK,
    SLOW,
    _update,
    sample_documents,
    statuspage_server,
)

COMMAND = (sys.executable, "-c", "from statuspage.cli import main; main()")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run_import(server, **kwargs) -> importer.Report:
    """Import the served page in this process (the app context is the test's)."""
    source = importer.V1Source(PAGE_ID, API_KEY, base_url=server.url)
    try:
        return importer.run(importer.Importer(source, clock=lambda: NOW, **kwargs))
    finally:
        source.close()


def counts() -> dict[str, int]:
    tables = (ComponentGroup, Component, Incident, Message, Subscriber, ImportedObject)
    return {
        t.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in tables
    }


def by_name(model, name):
    return db.session.scalar(sa.select(model).filter_by(name=name))


def test_the_import_brings_groups_components_history_templates_and_subscribers(ctx):
    with statuspage_server() as server:
        report = run_import(server)
    # Every list was read page after page (two items a page here), with the OAuth key.
    asked = [(path, query.get("page")) for path, query, _ in server.requests]
    assert (f"/v1/pages/{PAGE_ID}/incidents", ["3"]) in asked
    assert {auth for *_, auth in server.requests} == {f"OAuth {API_KEY}"}

    core = by_name(ComponentGroup, "Core services")
    assert (core.description, core.position) == ("What the product runs on", 1)
    api = by_name(Component, "API")
    assert api.group is core and api.description == "The public REST API"
    assert [c.name for c in core.components] == ["API", "Website", "Database"]
    assert by_name(Component, "DNS").group is None
    assert by_name(Component, "CDN").group.name == "Edge"

    outage = by_name(Incident, "API outage")
    updates = sorted(outage.updates, key=lambda u: u.display_at)
    assert [(u.status, u.display_at) for u in updates] == [
        ("investigating", at("2025-03-01T10:00")),
        ("identified", at("2025-03-01T10:20")),
        ("monitoring", at("2025-03-01T10:40")),
        ("resolved", at("2025-03-01T11:00")),
    ]
    assert all(u.created_at == u.display_at and not u.deliver_notifications for u in updates)
    assert all(u.author is None for u in updates)
    assert "<strong>errors</strong>" in updates[0].body_html
    assert [
        (c.component_name, c.old_status, c.new_status) for c in updates[3].component_changes
    ] == [
        ("API", "degraded_performance", "operational"),
        ("Database", "degraded_performance", "operational"),
    ]
    assert (outage.status, outage.impact) == ("postmortem", "critical")
    assert outage.started_at == at("2025-03-01T10:00")
    assert outage.resolved_at == at("2025-03-01T11:00")
    assert outage.postmortem_published_at == at("2025-03-03T09:00")
    assert "A deploy broke the API" in outage.postmortem_html
    slow = by_name(Incident, "Website slow")
    assert slow.postmortem_html is None and slow.postmortem_draft == "Draft: the cache was cold."
    assert "<script>" not in slow.updates[-1].body_html
    upgrade = by_name(Incident, "Database upgrade")
    assert (upgrade.kind, upgrade.status) == ("maintenance", "completed")
    assert upgrade.scheduled_for == at("2025-06-01T02:00")
    assert upgrade.started_at == at("2025-06-01T02:00")

    # The history the uptime figures read, at the updates' times; current statuses unmoved.
    rows = db.session.execute(
        sa.select(ComponentStatusChange.status, ComponentStatusChange.started_at)
        .where(ComponentStatusChange.component_id == api.id)
        .order_by(ComponentStatusChange.started_at)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("operational", at("2024-01-10T09:00")),
        ("major_outage", at("2025-03-01T10:00")),
        ("degraded_performance", at("2025-03-01T10:40")),
        ("operational", at("2025-03-01T11:00")),
    ]
    assert {c.status for c in db.session.scalars(sa.select(Component))} == {"operational"}
    # History notifies no one and escalates nothing.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EscalationRun)) == 0
    assert not db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.update_id.is_not(None))
    ).all()

    message = db.session.scalar(sa.select(Message).filter_by(slug="statuspage-api-degraded"))
    assert message.current_version == 1
    assert message.versions[0].title == "Degraded API performance"

    ana = db.session.scalar(sa.select(Subscriber).filter_by(email="ana@example.org"))
    bo = db.session.scalar(sa.select(Subscriber).filter_by(email="bo@example.org"))
    assert ana.active and ana.all_components and ana.source == "import"
    assert sorted(c.name for c in bo.components) == ["API", "Website"]
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="subscribers.imported"))
    hook = db.session.scalar(sa.select(Subscriber).filter_by(url=PUBLIC_HOOK))
    assert hook.kind == "webhook" and hook.confirmed_at is None  # its contact confirms
    assert not db.session.scalar(sa.select(Subscriber).filter_by(url=LOOPBACK_HOOK))

    refused = {o.external_id: o.reason for o in report.of(importer.REFUSED)}
    assert list(refused) == ["s1w2"] and "127.0.0.1" in refused["s1w2"]
    assert [o.external_id for o in report.of(importer.SKIPPED)] == ["s1m1"]
    lines = importer.summary_lines(report)
    expected = (
        "incidents: 4 added, 0 already there, 0 brought up to date, 0 refused, 0 not carried over"
    )
    assert expected in lines
    assert any("s1m1" in line and "sms subscribers are not carried over" in line for line in lines)


def test_running_the_import_twice_adds_nothing(ctx):
    with statuspage_server() as server:
        run_import(server)
        before = counts()
        report = run_import(server)
    assert counts() == before
    assert report.count("incident", importer.EXISTING) == 4
    assert report.count("incident", importer.ADDED) == 0
    assert report.count("subscriber", importer.ADDED) == 0


def test_an_import_that_crashes_midway_completes_when_run_again(ctx, monkeypatch):
    real = history.record_incident
    calls = []

    def crash_on_the_third(past, **kwargs):
        calls.append(past.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill: nothing after this runs
        return real(past, **kwargs)

    with statuspage_server() as server:
        monkeypatch.setattr(history, "record_incident", crash_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            run_import(server)
        db.session.rollback()
        assert counts()["Incident"] == 2
        monkeypatch.setattr(history, "record_incident", real)
        report = run_import(server)
    assert counts()["Incident"] == 4
    assert report.count("incident", importer.EXISTING) == 2
    assert report.count("incident", importer.ADDED) == 2


def _cli(config: Path, base_url: str, *extra: str, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    env["STATUSPAGE_IMPORT_API_KEY"] = API_KEY
    command = [*COMMAND, "import", "statuspage", "--page-id", PAGE_ID, "--base-url", base_url]
    return subprocess.Popen(
        [*command, *extra, "--config", str(config)],
        env=env,
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_an_import_killed_with_kill_9_completes_when_run_again(config_file):
    with statuspage_server() as server:
        # The importer waits on the templates list: groups, components and incidents are in.
        server.hold("/incident_templates")
        process = _cli(config_file, server.url)
        assert server.waiting.wait(60), process.communicate(timeout=5)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        server.held = None
        done = _cli(config_file, server.url)
        out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "incidents: 0 added, 4 already there" in out
    assert "templates: 1 added" in out
    assert API_KEY not in out + err
    with _app_for(config_file):
        assert counts()["Incident"] == 4 and counts()["Component"] == 5


@contextmanager
def _app_for(config: Path) -> Iterator[None]:
    """An app context on the database of a config file, for checking what a process wrote."""
    with create_app(config_file=str(config)).app_context():
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_dry_run_prints_what_it_would_do_and_writes_nothing(app, config_file):
    with statuspage_server() as server:
        result = CliRunner().invoke(
            main,
            [
                *("import", "statuspage", "--api-key", API_KEY, "--page-id", PAGE_ID),
                *("--base-url", server.url, "--dry-run", "--config", str(config_file)),
            ],
        )
    assert result.exit_code == 0, result.output
    assert f"would add incident {OUTAGE} (API outage)" in result.stdout
    assert "would add component" in result.stdout
    assert "refused subscriber s1w2" in result.stdout
    assert "dry run: nothing was written" in result.stdout
    with app.app_context():
        assert set(counts().values()) == {0}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"api_key": "wrong"}, "refused the API key (HTTP 401)"),
        ({"page_id": "nosuchpage12"}, "no page nosuchpage12"),
        ({"base_url": "http://127.0.0.1:9"}, "cannot reach http://127.0.0.1:9"),
        ({"base_url": "file:///etc/passwd"}, "must start with https://"),
    ],
)
def test_a_source_that_cannot_be_read_is_one_line_and_exit_1(config_file, change, fragment):
    with statuspage_server() as server:
        options = {"api_key": API_KEY, "page_id": PAGE_ID, "base_url": server.url, **change}
        result = CliRunner().invoke(
            main,
            [
                *("import", "statuspage", "--api-key", options["api_key"]),
                *("--page-id", options["page_id"], "--base-url", options["base_url"]),
                *("--config", str(config_file)),
            ],
        )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output and "wrong" not in result.stderr


def test_busy_answers_are_asked_again_honouring_retry_after(ctx):
    waits: list[float] = []
    with statuspage_server() as server:
        server.answers[f"/v1/pages/{PAGE_ID}/components"] = [429, 503]
        source = importer.V1Source(PAGE_ID, API_KEY, base_url=server.url, sleep=waits.append)
        components = source.components()
        source.close()
    assert len(components) == 7
    assert waits == [0.0, 2.0]  # Retry-After: 0, then the backoff


def test_a_source_busy_for_good_gives_up_after_a_few_tries(ctx):
    waits: list[float] = []
    with statuspage_server() as server:
        server.answers[f"/v1/pages/{PAGE_ID}/components"] = [503] * 10
        source = importer.V1Source(PAGE_ID, API_KEY, base_url=server.url, sleep=waits.append)
        with pytest.raises(importer.SourceError, match="HTTP 503"):
            source.components()
        source.close()
    assert len(waits) == importer.RETRIES


def test_hostile_objects_are_refused_one_by_one_with_a_reason(ctx):
    documents = sample_documents()
    incidents = documents["incidents"]
    incidents[0]["name"] = "x" * 400
    incidents[1]["incident_updates"][0]["body"] = "a" * (10 * 1024 * 1024)
    incidents[2]["incident_updates"][0]["display_at"] = "yesterday-ish"
    incidents.append({**incidents[3], "id": "zz9nul0bytes", "name": "Night\x00 work"})
    documents["components"][1]["name"] = ""
    documents["incident_templates"][0]["body"] = "Hello {{ name }}"
    documents["subscribers"][0]["email"] = "not an address\x00"
    with statuspage_server(documents) as server:
        report = run_import(server)
    refused = {o.external_id: o.reason for o in report.of(importer.REFUSED)}
    assert "title has at most 300 characters" in refused[OUTAGE]
    assert "message has at most 20,000 characters" in refused[SLOW]
    assert "is not a date" in refused["m8yz4r1t6p0v"]
    assert API in refused and "required" in refused[API]
    assert "t0nq5x2k7v8m" in refused and "s1e1" in refused
    # The NUL byte is cleaned away, as anywhere else text comes in.
    assert by_name(Incident, "Night work") is not None
    # The incidents' changes to the refused component are left out, and said so.
    assert counts()["Incident"] == 2


def test_an_old_permalink_moves_to_the_imported_incident(app, client):
    with app.app_context(), statuspage_server() as server:
        report = run_import(server)
    local = next(o.local_id for o in report.outcomes if o.external_id == OUTAGE)
    response = client.get(f"/incidents/{OUTAGE}")
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/incidents/{local}")
    assert client.get(response.headers["Location"]).status_code == 200
    assert client.get("/incidents/a0a0a0a0a0a0").status_code == 404
    assert client.get("/incidents/123456789012").status_code == 404


def test_history_notes_the_components_status_the_source_recorded(ctx):
    with statuspage_server() as server:
        run_import(server)
    database = by_name(Component, "Database")
    assert database.status == "operational"
    rows = db.session.scalars(
        sa.select(ComponentStatusChange.status)
        .where(ComponentStatusChange.component_id == database.id)
        .order_by(ComponentStatusChange.started_at, ComponentStatusChange.id)
    ).all()
    assert rows == [
        "operational",
        "degraded_performance",
        "operational",
        "under_maintenance",
        "operational",
    ]


def _served_site(folder: Path, name: str) -> Path:
    """A SQLite site of its own with the demo page loaded; return its config file."""
    config = write_config(folder / f"{name}.toml", f"sqlite:///{folder / name}.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
    subprocess.run(
        [*COMMAND, "demo", "--config", str(config)],
        env=env,
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return config


def test_from_v2_brings_over_what_a_public_api_shows(app, client, config_file, tmp_path):
    source = _served_site(tmp_path, "source")
    with serving(source, tmp_path) as base:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
        command = [
            *COMMAND,
            "import",
            "statuspage",
            "--from-v2",
            base,
            "--config",
            str(config_file),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        theirs = json.loads(_get(f"{base}/api/v2/components.json"))
        their_incidents = json.loads(_get(f"{base}/api/v2/incidents.json"))
    assert done.returncode == 0, done.stderr
    assert "0 added" in again.stdout and "templates" not in again.stdout
    ours = client.get("/api/v2/components.json").get_json()
    assert _shape(ours["components"]) == _shape(theirs["components"])
    our_incidents = client.get("/api/v2/incidents.json").get_json()["incidents"]
    assert _timeline(our_incidents) == _timeline(their_incidents["incidents"])


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def _shape(components: list[dict]) -> list[tuple]:
    names = {c["id"]: c["name"] for c in components}
    return [
        (c["name"], c["status"], c["description"], c["group"], names.get(c["group_id"]))
        for c in components
    ]


def _timeline(incidents: list[dict]) -> list[tuple]:
    return sorted(
        (
            i["name"],
            i["status"],
            i["impact"],
            tuple(
                (u["status"], u["body"], u["display_at"], len(u["affected_components"] or []))
                for u in i["incident_updates"]
            ),
        )
        for i in incidents
    )


def _site_with_token(folder: Path) -> tuple[Path, str]:
    """A SQLite site of its own with an admin and an API token; return its config and token."""
    config = write_config(folder / "a.toml", f"sqlite:///{folder / 'a.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*COMMAND, *args, "--config", str(config)],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    cli("init", "--email", "admin@example.com")
    cli("messages", "sync")  # the starter library, which B has too
    out = cli("tokens", "create", "--user", "admin@example.com", "--name", "round trip")
    token = next(line.split(":", 1)[1].strip() for line in out.splitlines() if "token:" in line)
    return config, token


def _resolve_open_incident(base: str, token: str, page_id: str) -> None:
    """Resolve A's open incident through its compatible API, its component back to normal."""
    import httpx

    headers = {"Authorization": f"OAuth {token}"}
    prefix = f"{base}/v1/pages/{page_id}"
    (opened,) = httpx.get(f"{prefix}/incidents/unresolved", headers=headers).json()
    body = {
        "incident": {
            "status": "resolved",
            "body": "Fixed.",
            "components": {c["id"]: "operational" for c in opened["components"]},
        }
    }
    answer = httpx.patch(f"{prefix}/incidents/{opened['id']}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def _build_page(base: str, token: str) -> str:
    """A page built through instance A's Statuspage-compatible API; return its page id."""
    import httpx

    page_id = json.loads(_get(f"{base}/api/v2/summary.json"))["page"]["id"]
    with httpx.Client(
        base_url=f"{base}/v1/pages/{page_id}", headers={"Authorization": f"OAuth {token}"}
    ) as api:

        def send(method: str, path: str, body: dict) -> dict:
            answer = api.request(method, path, json=body)
            assert answer.status_code < 300, answer.text
            return answer.json()

        ids = [
            send("POST", "/components", {"component": {"name": name, "description": text}})["id"]
            for name, text in (("API", "The REST API"), ("Website", ""), ("Search", "Find"))
        ]
        send(
            "POST",
            "/component-groups",
            {"component_group": {"name": "Core", "components": ids[:2]}},
        )
        opened = send(
            "POST",
            "/incidents",
            {
                "incident": {
                    "name": "API errors",
                    "status": "investigating",
                    "body": "We are looking into **errors**.",
                    "components": {ids[0]: "major_outage"},
                    "component_ids": [ids[0]],
                }
            },
        )
        send(
            "PATCH",
            f"/incidents/{opened['id']}",
            {
                "incident": {
                    "status": "identified",
                    "body": "Found it.",
                    "components": {ids[0]: "partial_outage"},
                }
            },
        )
        send(
            "POST",
            "/incidents",
            {
                "incident": {
                    "name": "Search slow",
                    "status": "investigating",
                    "body": "Searches are slow.",
                    "components": {ids[2]: "degraded_performance"},
                }
            },
        )
        closing = api.get("/incidents/unresolved").json()
        search = next(i for i in closing if i["name"] == "Search slow")
        send(
            "PATCH",
            f"/incidents/{search['id']}",
            {
                "incident": {
                    "status": "resolved",
                    "body": "Fast again.",
                    "components": {ids[2]: "operational"},
                }
            },
        )
        send(
            "POST",
            "/incident_templates",
            {
                "template": {
                    "name": "API down",
                    "title": "API unavailable",
                    "body": "The API is down.",
                    "update_status": "investigating",
                }
            },
        )
        send(
            "POST",
            "/subscribers",
            {"subscriber": {"email": "ana@example.org", "skip_confirmation_notification": True}},
        )
    return page_id


def test_a_page_built_on_one_instance_is_the_same_on_another_after_the_import(
    app, client, config_file, tmp_path
):
    source, token = _site_with_token(tmp_path)
    with app.app_context(), write_transaction():
        lib.sync_directory(resource_dir("messages"), now=NOW)
    with serving(source, tmp_path) as base:
        page_id = _build_page(base, token)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSPAGE_")}
        env["STATUSPAGE_IMPORT_API_KEY"] = token
        command = [*COMMAND, "import", "statuspage", "--page-id", page_id, "--base-url", base]
        command += ["--config", str(config_file)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        # The day of the switch: A resolved its open incident since; running again brings it.
        _resolve_open_incident(base, token, page_id)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        theirs = json.loads(_get(f"{base}/api/v2/summary.json"))
        their_incidents = json.loads(_get(f"{base}/api/v2/incidents.json"))["incidents"]
        their_history = _get(f"{base}/history.rss")
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    assert " 0 refused" in done.stdout and "1 added" in done.stdout
    assert again.returncode == 0, again.stderr
    assert "incidents: 0 added, 1 already there, 1 brought up to date" in again.stdout
    assert "components: 0 added, 2 already there, 1 brought up to date" in again.stdout
    assert "incidents: 0 added, 2 already there, 0 brought up to date" in third.stdout
    ours = client.get("/api/v2/summary.json").get_json()
    assert _shape(ours["components"]) == _shape(theirs["components"])
    assert ours["status"] == theirs["status"]
    assert _timeline(ours["incidents"]) == _timeline(theirs["incidents"])
    our_incidents = client.get("/api/v2/incidents.json").get_json()["incidents"]
    assert _timeline(our_incidents) == _timeline(their_incidents)
    # The history feed tells the same story, entry by entry (links carry each side's ids).
    our_history = client.get("/history.rss").get_data(as_text=True)
    assert _entries(our_history) == _entries(their_history) != []
    # The template came over as a message; the library A started with did not come twice.
    with app.app_context():
        slugs = db.session.scalars(sa.select(Message.slug).where(Message.slug.like("statuspage-%")))
        assert list(slugs) == ["statuspage-api-down"]


def _entries(feed: str) -> list[tuple[str, str, str]]:
    parsed = feedparser.parse(feed)
    return [(e.title, e.summary, e.published) for e in parsed.entries]


def test_running_again_brings_what_changed_at_the_source_since(ctx):
    documents = sample_documents()
    with statuspage_server(documents) as server:
        run_import(server)
    errors = next(i for i in documents["incidents"] if i["id"] == ERRORS)
    later = "2025-05-06T09:00:00.000Z"
    errors["incident_updates"].insert(
        0, _update("u3a4", ERRORS, "resolved", "The provider sent its report.", later)
    )
    api = next(c for c in documents["components"] if c["id"] == API)
    api["status"], api["updated_at"] = "degraded_performance", "2026-11-30T10:00:00.000Z"
    with statuspage_server(documents) as server:
        before = counts()
        outbox = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        report = run_import(server)
        third = run_import(server)
    assert counts() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == outbox
    assert report.count("incident", importer.UPDATED) == 1, report.outcomes
    assert report.count("component", importer.UPDATED) == 1, report.outcomes
    assert third.count("incident", importer.UPDATED) == 0
    assert third.count("component", importer.UPDATED) == 0
    row = by_name(Incident, errors["name"])
    assert row.updates[0].body == "The provider sent its report."
    assert len(row.updates) == 4 and row.updates[0].deliver_notifications is False
    assert by_name(Component, "API").status == "degraded_performance"
