"""`statuspage plans check|sync|export|list`, `publish --without-approval`, `drafts` with
approval requests, and docs/plans.md against the plan format's keys."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.core import plans as plan_format
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident, IncidentUpdate, Plan, PlanVersion
from statuspage.publishing import approvals
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as core
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import make_user
from tests.support.cli import assert_one_line_error, write_config

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "messages"
DOC = ROOT / "docs" / "plans.md"

PATHS = """
[channels.ops-email]
type = "smtp"
to = ["ops@example.com"]

[paths.oncall]
match = { impact_at_least = "major", any_component = true }

[[paths.oncall.steps]]
after_minutes = 0
notify = ["ops-email"]
"""


def check(*args: str):
    """`statuspage plans check ARGS` with no config anywhere."""
    return CliRunner().invoke(main, ["plans", "check", *args], env={"STATUSPAGE_CONFIG": None})


@pytest.fixture
def library(tmp_path) -> Path:
    """A message library (the starter messages) with an empty `plans/` folder in it."""
    target = tmp_path / "library"
    target.mkdir()
    for file in STARTER.glob("*.md"):
        shutil.copy(file, target / file.name)
    (target / "plans").mkdir()
    return target / "plans"


@pytest.fixture
def cli(config_file):
    """Run `statuspage ARGS --config FILE` on this test's database."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--config", str(config_file)])

    return invoke


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the first line of `text` holding `fragment`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def write_plan(folder: Path, text: str) -> Path:
    slug = re.search(r'^id = "([^"]+)"', text, re.M).group(1)
    path = folder / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


# -- check ------------------------------------------------------------------------------------


def test_check_passes_the_starter_plans_without_config_or_database():
    result = check()
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{len(list((STARTER / 'plans').glob('*.md')))} plans OK\n"
    assert "no escalation paths" in result.stderr


def test_a_plan_naming_an_unknown_message_fails_at_its_line(library):
    text = plan_support.plan_text().replace('"outage-identified"', '"outage-identifed"')
    path = write_plan(library, text)
    result = check(str(library))
    assert result.exit_code == 1
    line = line_of(text, "messages = [")
    assert result.stdout == (
        f"{path}:{line}: sequence.messages[1]: unknown message 'outage-identifed'\n"
    )
    assert result.stderr.startswith("1 problem in 1 file")


def test_a_plan_naming_an_unknown_role_fails_at_its_line(library):
    text = plan_support.plan_text().replace('role = "admin"', 'role = "owner"')
    path = write_plan(library, text)
    result = check(str(library))
    assert result.exit_code == 1
    line = line_of(text, 'role = "owner"')
    assert result.stdout.startswith(f"{path}:{line}: unknown role 'owner' (allowed: ")


def test_a_viewer_cannot_be_the_approving_role(library):
    text = plan_support.plan_text().replace('role = "admin"', 'role = "viewer"')
    path = write_plan(library, text)
    result = check(str(library))
    assert result.exit_code == 1
    assert f"{path}:{line_of(text, 'role = ')}: a viewer cannot publish" in result.stdout


def test_a_plan_naming_an_unknown_path_fails_at_its_line_without_config(library):
    text = plan_support.plan_text(rest='[reminders]\npath = "oncall"')
    path = write_plan(library, text)
    result = check(str(library))
    assert result.exit_code == 1
    line = line_of(text, 'path = "oncall"')
    assert result.stdout == (
        f"{path}:{line}: reminders.path: unknown escalation path 'oncall' "
        "(known: none: add [paths.*] to the config)\n"
    )


def test_the_paths_come_from_the_config(library, config_file, cli):
    config_file.write_text(config_file.read_text() + PATHS)
    write_plan(library, plan_support.plan_text(rest='[reminders]\npath = "oncall"'))
    # The database has no messages yet: a plan is checked against what `sync` would see.
    unsynced = cli("plans", "check", str(library))
    assert unsynced.exit_code == 1
    assert "unknown message 'outage-investigating'" in unsynced.stdout
    assert "unknown escalation path" not in unsynced.stdout
    assert cli("messages", "sync").exit_code == 0
    result = cli("plans", "check", str(library))
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 plans OK\n"
    assert "messages and users in the database, 1 escalation path from" in result.stderr
    files_only = cli("plans", "check", str(library), "--no-database")
    assert files_only.exit_code == 0, files_only.output
    assert f"messages in {library.parent}" in files_only.stderr
    text = plan_support.plan_text(rest='[reminders]\npath = "pager"')
    path = write_plan(library, text)
    wrong = cli("plans", "check", str(library))
    assert wrong.stdout == (
        f"{path}:{line_of(text, 'pager')}: reminders.path: unknown escalation path 'pager' "
        "(known: oncall)\n"
    )


def test_named_approvers_are_checked_against_the_users(library, config_file, cli):
    assert cli("messages", "sync").exit_code == 0
    text = plan_support.plan_text(approval_extra='users = ["nobody@example.com"]')
    path = write_plan(library, text)
    result = cli("plans", "check", str(library))
    assert result.exit_code == 1
    line = line_of(text, "users = ")
    assert result.stdout == f"{path}:{line}: approval.users: no user 'nobody@example.com'\n"


def test_an_unreachable_database_falls_back_to_the_files(library, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Port 1 is never a PostgreSQL server: the connection is refused at once.
    config = write_config(tmp_path / "pg.toml", "postgresql://postgres@127.0.0.1:1/none")
    write_plan(library, plan_support.plan_text())
    result = CliRunner().invoke(main, ["plans", "check", str(library), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "the database cannot be used" in result.stderr
    assert f"messages in {library.parent}, 0 escalation paths" in result.stderr


def test_check_reports_every_problem_of_every_file(library):
    write_plan(library, plan_support.plan_text(id="a", updates='["sometimes"]'))
    write_plan(library, plan_support.plan_text(id="b", rest='[audiences]\ninternal = "ops"'))
    result = check(str(library))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert "a.md:" in result.stdout and "b.md:" in result.stdout
    assert result.stderr.startswith("2 problems in 2 files")


# -- sync, list, export -----------------------------------------------------------------------


def test_sync_then_sync_again_changes_nothing(cli, app):
    assert cli("messages", "sync").exit_code == 0
    first = cli("plans", "sync")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "new      critical v1",
        "new      maintenance v1",
        "new      major v1",
        "new      minor v1",
    ]
    second = cli("plans", "sync")
    assert second.exit_code == 0, second.output
    assert second.stdout == "nothing changed (4 plans up to date)\n"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PlanVersion)) == 4


def test_sync_refuses_everything_when_one_plan_is_wrong(cli, app, library):
    assert cli("messages", "sync").exit_code == 0
    write_plan(library, plan_support.plan_text(id="good"))
    bad = plan_support.plan_text(id="bad").replace('"outage-resolved"', '"gone"')
    path = write_plan(library, bad)
    result = cli("plans", "sync", str(library))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:{line_of(bad, 'messages = [')}: sequence.messages[3]: unknown message 'gone'\n"
    )
    assert "nothing was loaded" in result.stderr
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Plan)) == 0


def test_list_and_export(cli, tmp_path):
    assert cli("plans", "list").stdout.startswith("no plans yet")
    cli("messages", "sync")
    cli("plans", "sync")
    listed = cli("plans", "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:5] == ["ID", "VERSION", "KIND", "PRIORITY", "APPROVAL"]
    # In the order incidents are matched: by priority.
    assert [row.split()[0] for row in rows] == ["critical", "major", "minor", "maintenance"]
    assert rows[0].split()[1:5] == ["v1", "incident", "10", "an"]
    exported = cli("plans", "export", str(tmp_path / "out"))
    assert exported.stdout == f"wrote 4 plans to {tmp_path / 'out'}\n"
    for file in (STARTER / "plans").glob("*.md"):
        assert (tmp_path / "out" / file.name).read_text() == file.read_text()
    assert cli("plans", "list", "--archived").stdout == "no archived plans\n"


# -- publishing under a plan at the command line ----------------------------------------------


@pytest.fixture
def planned(cli, app, tmp_path):
    """The messages, the critical plan and an API component in the CLI's database."""
    with app.app_context():
        plan_support.load(tmp_path, [plan_support.plan_text()])
        with write_transaction():
            component_service.add_component("API", now=NOW - timedelta(days=1))
    return cli


OPEN = ("publish", "--message", "outage-investigating", "--var", "component=API")


def test_publish_needing_approval_fails_with_the_plans_message(planned, app):
    result = planned(*OPEN, "--component", "API=major_outage")
    assert_one_line_error(result, "the plan 'critical' needs approval from an admin")
    assert "--without-approval REASON" in result.stderr
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_publish_preview_says_approval_is_needed(planned):
    result = planned(*OPEN, "--component", "API=major_outage", "--preview")
    assert result.exit_code == 0, result.output
    assert "plan: critical v1" in result.stdout
    assert "approval: needed from an admin" in result.stdout


def test_publish_without_approval_publishes_and_is_audited(planned, app):
    result = planned(
        *OPEN, "--component", "API=major_outage", "--without-approval", "approvers unreachable"
    )
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"published without approval: update \d+ of incident \d+\n", result.stdout)
    with app.app_context():
        [entry] = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "draft.published_without_approval")
        ).all()
        assert entry.actor == "cli"
        assert entry.after["reason"] == "approvers unreachable"
        incident = db.session.scalar(sa.select(Incident))
        assert incident.impact == "critical" and incident.plan_slug == "critical"


def test_publish_without_approval_needs_a_reason(planned, app):
    result = planned(*OPEN, "--component", "API=major_outage", "--without-approval", " ")
    assert_one_line_error(result, "say why")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate)) == 0


def test_an_update_the_plan_does_not_cover_publishes_as_before(planned):
    result = planned(*OPEN, "--component", "API=degraded_performance")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("published: update")


def test_drafts_list_shows_pending_requests_and_publish_refuses_them(planned, app):
    with app.app_context():
        author = make_user("author@example.com", "editor")
        with write_transaction():
            api = component_service.find_component("API")
            outcome = approvals.submit(
                core.Draft(
                    message="outage-investigating",
                    variables={"component": "API"},
                    component_statuses={api.id: "major_outage"},
                ),
                now=NOW,
                actor=audit.Actor.for_user(author),
                notices=plan_support.site_notices(),
            )
            draft_id = outcome.draft.id
    listed = planned("drafts", "list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "FROM"]
    assert row.split()[:4] == [str(draft_id), "pending", "(0/1)", "author@example.com"]
    refused = planned("drafts", "publish", str(draft_id))
    assert_one_line_error(refused, "waits for approval", "--without-approval REASON")
    done = planned("drafts", "publish", str(draft_id), "--without-approval", "lead asleep")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("published without approval: update")
    assert planned("drafts", "list").stdout == "no drafts waiting\n"


# -- the reference ----------------------------------------------------------------------------


def documented_keys() -> set[str]:
    """Every key the reference tables of docs/plans.md name, as `section.key`."""
    text = DOC.read_text()
    section = text.split("\n## The plan file", 1)[1].split("\n## What `plans check` reports")[0]
    return set(re.findall(r"^\| `([a-z_.<>]+)` \|", section, re.M))


def test_the_reference_documents_every_key_of_the_format_and_no_other():
    tables = {"match", "cadence", "sequence", "approval", "reminders", "audiences"}
    keys = set(plan_format.PLAN_KEYS) - tables
    keys |= {f"match.{k}" for k in plan_format.MATCH_KEYS}
    keys |= {f"sequence.{k}" for k in plan_format.SEQUENCE_KEYS}
    keys |= {f"approval.{k}" for k in plan_format.APPROVAL_KEYS}
    keys |= {f"reminders.{k}" for k in plan_format.REMINDER_KEYS}
    keys |= {f"audiences.{k}" for k in plan_format.AUDIENCE_KEYS}
    keys |= {"cadence.<status>"}
    assert documented_keys() == keys


def test_the_reference_quotes_the_limits_the_format_applies():
    text = DOC.read_text()
    for value in (
        plan_format.MAX_CADENCE_MINUTES,
        plan_format.MAX_APPROVERS,
        plan_format.MAX_POSTMORTEM_DAYS,
        plan_format.MAX_SEQUENCE,
        plan_format.DEFAULT_PRIORITY,
    ):
        assert f"{value:,}" in text or str(value) in text, value
