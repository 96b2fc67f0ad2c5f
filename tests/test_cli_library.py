"""`statuspage messages check|sync|export|list`, and the starter library in `statuspage demo`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Message, MessageVersion

STARTER = Path(__file__).resolve().parent.parent / "messages"
NAMES = ("outage-investigating.md", "outage-resolved.md", "degraded-identified.md")


@pytest.fixture
def cli(config_file):
    """Run `statuspage messages ARGS --config FILE`."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, ["messages", *args, "--config", str(config_file)])

    return invoke


@pytest.fixture
def library(tmp_path) -> Path:
    """A small message directory copied from the starter library."""
    target = tmp_path / "library"
    target.mkdir()
    for name in NAMES:
        shutil.copy(STARTER / name, target / name)
    return target


def check(*args: str):
    # A config path that does not exist proves `check` reads no config and no database.
    return CliRunner().invoke(
        main, ["messages", "check", *args], env={"STATUSPAGE_CONFIG": "/nonexistent.toml"}
    )


def versions(app) -> list[tuple[str, int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.slug, MessageVersion.number)
            .join(MessageVersion.message)
            .order_by(Message.slug, MessageVersion.number)
        )
        return [tuple(row) for row in rows]


def test_check_passes_the_starter_library_without_config_or_database():
    result = check()
    assert result.exit_code == 0, result.output
    count = int(re.fullmatch(r"(\d+) messages OK\n", result.stdout).group(1))
    assert count == len(list(STARTER.glob("*.md"))) and count >= 20


def test_check_names_file_and_line_of_each_problem_and_exits_1(library):
    bad = library / "outage-investigating.md"
    lines = bad.read_text().splitlines()
    body_line = lines.index("+++", 1) + 2  # the first body line, 1-based
    lines[body_line - 1] += " {% if vip %}Hi{% endif %}"
    bad.write_text("\n".join(lines) + "\n")
    result = check(str(library))
    assert result.exit_code == 1
    assert f"{bad}:{body_line}: template tags" in result.stdout
    assert "outage-resolved" not in result.stdout
    assert "problem" in result.stderr and "OK" not in result.stdout


def test_check_reports_every_bad_file(library):
    (library / "a.md").write_text("no front matter\n")
    (library / "b.md").write_text(
        (STARTER / NAMES[0]).read_text().replace("{{ component }}", "{0}")
    )
    result = check(str(library))
    assert result.exit_code == 1
    assert re.search(rf"^{re.escape(str(library / 'a.md'))}:1: ", result.stdout, re.M)
    assert re.search(
        rf"^{re.escape(str(library / 'b.md'))}:\d+: .*format fields", result.stdout, re.M
    )


def test_check_of_a_missing_directory_is_a_one_line_error(tmp_path):
    result = check(str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "not a directory" in result.stderr and "Traceback" not in result.output


def test_first_sync_prints_each_new_message(cli, library, app):
    result = cli("sync", str(library))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "new      degraded-identified v1",
        "new      outage-investigating v1",
        "new      outage-resolved v1",
    ]
    assert len(versions(app)) == 3


def test_second_sync_says_nothing_changed(cli, library, app):
    cli("sync", str(library))
    result = cli("sync", str(library))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("nothing changed")
    assert len(versions(app)) == 3


def test_sync_of_a_changed_file_prints_its_new_version(cli, library, app):
    cli("sync", str(library))
    path = library / "outage-resolved.md"
    path.write_text(path.read_text().replace("We are sorry", "We apologise"))
    result = cli("sync", str(library))
    assert result.stdout.splitlines() == ["updated  outage-resolved v2"]
    assert ("outage-resolved", 2) in versions(app)


def test_sync_archives_a_message_whose_file_is_gone(cli, library, app):
    cli("sync", str(library))
    (library / "degraded-identified.md").unlink()
    result = cli("sync", str(library))
    assert result.stdout.splitlines() == ["archived degraded-identified (its file is gone)"]
    with app.app_context():
        archived = db.session.scalar(
            sa.select(Message.archived_at).where(Message.slug == "degraded-identified")
        )
    assert archived is not None
    assert "degraded-identified" not in cli("list").stdout
    assert "degraded-identified" in cli("list", "--archived").stdout


def test_sync_with_a_bad_file_prints_every_problem_and_loads_nothing(cli, library, app):
    (library / "zz-bad.md").write_text(
        (STARTER / NAMES[0]).read_text().replace("{{ next_update }}.", "{{ x.__class__ }}.")
    )
    (library / "zz-worse.md").write_text("+++\nid = 3\n")
    result = cli("sync", str(library))
    assert result.exit_code == 1
    problem_lines = [line for line in result.stdout.splitlines() if line]
    assert any(line.startswith(f"{library / 'zz-bad.md'}:") for line in problem_lines)
    assert any(line.startswith(f"{library / 'zz-worse.md'}:") for line in problem_lines)
    assert "nothing was loaded" in result.stderr
    assert versions(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_sync_without_a_directory_loads_the_starter_library(cli, app):
    result = cli("sync")
    assert result.exit_code == 0, result.output
    assert len(versions(app)) == len(list(STARTER.glob("*.md")))


def test_export_writes_current_versions_that_sync_back_unchanged(cli, library, tmp_path):
    cli("sync", str(library))
    path = library / "outage-resolved.md"
    path.write_text(path.read_text().replace("We are sorry", "We apologise"))
    cli("sync", str(library))
    out = tmp_path / "exported"
    result = cli("export", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 3 messages to {out}\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)
    assert "We apologise" in (out / "outage-resolved.md").read_text()
    assert check(str(out)).exit_code == 0
    assert cli("sync", str(out)).stdout.startswith("nothing changed")


def test_list_shows_id_version_status_impact_and_title(cli, library):
    cli("sync", str(library))
    lines = cli("list").stdout.splitlines()
    assert lines[0].split() == ["ID", "VERSION", "STATUS", "IMPACT", "TITLE"]
    assert lines[2].split() == [
        "outage-investigating",
        "v1",
        "investigating",
        "major",
        "{{",
        "component",
        "}}",
        "unavailable",
    ]


def test_list_of_an_empty_library_says_how_to_fill_it(cli):
    assert "statuspage messages sync" in cli("list").stdout


def test_demo_loads_the_starter_library_once(config_file, app):
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--config", str(config_file)])
    assert first.exit_code == 0, first.output
    count = len(list(STARTER.glob("*.md")))
    assert f"{count} canned messages" in first.stdout
    loaded = versions(app)
    assert len(loaded) == count
    second = runner.invoke(main, ["demo", "--config", str(config_file)])
    assert second.exit_code == 0, second.output
    assert versions(app) == loaded
