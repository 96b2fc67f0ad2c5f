"""Command-line commands: `statuspage messages check|sync|export|list` for the message library.

`check` needs no database and no config, so a message library's own CI can run it. Problems go
to stdout as `file:line: problem` (one per line, like a linter); the closing count goes to stderr.
"""

from __future__ import annotations

from pathlib import Path

import click

from statuspage.cli import (
    _print_table,
    app_context,
    config_option,
    directory_argument,
    echo_sync_report,
    fail_with_file_problems,
    require_current_schema,
)
from statuspage.clock import utcnow
from statuspage.core import library as library_format
from statuspage.db import database
from statuspage.publishing import library as library_service
from statuspage.resources import resource_dir

COMMANDS: list[click.Command] = []


def _directory(directory: Path | None) -> Path:
    """The directory named on the command line, or the starter library shipped with statuspage."""
    return directory if directory is not None else resource_dir("messages")


@click.group("messages")
def messages() -> None:
    """Check, load, export and list the canned-message library."""


COMMANDS.append(messages)


@messages.command("check")
@directory_argument
def check(directory: Path | None) -> None:
    """Check message files; no database or config needed.

    Checks every `*.md` file in DIR (default: the starter library shipped with statuspage).
    Prints `file:line: problem` for each problem and exits 1 if there are any.
    """
    path = _directory(directory)
    found, problems = library_format.check_directory(path)
    if problems:
        fail_with_file_problems(problems, "fix them and run the check again")
    click.echo(f"{len(found)} messages OK")


@messages.command("sync")
@directory_argument
@config_option
def sync(directory: Path | None, config_file: str | None) -> None:
    """Load message files into the database.

    Reads DIR (default: the starter library). A file whose content changed gets a new version;
    unchanged files create nothing; messages whose file is gone are archived. If any file has a
    problem, nothing is loaded.
    """
    path = _directory(directory)
    with app_context(config_file):
        require_current_schema()
        try:
            with database.write_transaction():
                report = library_service.sync_directory(path, now=utcnow())
        except library_format.LibraryError as exc:
            fail_with_file_problems(exc.problems, "nothing was loaded")
    echo_sync_report(report, "messages")


@messages.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@config_option
def export(directory: Path, config_file: str | None) -> None:
    """Write current versions to DIR as files.

    Each active message's current version goes to `DIR/<id>.md`, ready to review in git.
    """
    with app_context(config_file):
        require_current_schema()
        written = library_service.export_directory(directory)
    click.echo(f"wrote {len(written)} messages to {directory}")


@messages.command("list")
@click.option("--archived", is_flag=True, help="List archived messages instead.")
@config_option
def list_(archived: bool, config_file: str | None) -> None:
    """List messages with their current version."""
    with app_context(config_file):
        require_current_schema()
        rows = [
            (m.slug, f"v{v.number}", v.status, v.impact or "-", v.title)
            for m, v in library_service.list_messages(archived=archived)
        ]
    if not rows:
        if archived:
            click.echo("no archived messages")
        else:
            click.echo("no messages yet: load some with `statuspage messages sync [DIR]`")
        return
    _print_table(("ID", "VERSION", "STATUS", "IMPACT", "TITLE"), rows)
