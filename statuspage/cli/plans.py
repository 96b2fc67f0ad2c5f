"""Command-line commands: `statuspage plans check|sync|export|list` for communication plans.

`check` needs no database and no config, so a plan library's own CI can run it: without them,
the messages a plan names are looked up in the message library the plans folder sits in and no
escalation path exists (a plan naming one fails). With `--config`, the paths are the config's
`[paths.*]` and, when its database is reachable, the messages and approvers are the database's.
Problems go to stdout as `file:line: problem`, the closing count to stderr, as `messages check`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from statuspage.cli import (
    _print_table,
    app_context,
    config_option,
    directory_argument,
    echo_sync_report,
    fail_with_file_problems,
    fail_with_problems,
    require_current_schema,
)
from statuspage.clock import utcnow
from statuspage.config import load_settings
from statuspage.core import plans as plan_format
from statuspage.db import database
from statuspage.errors import ConfigError, Conflict
from statuspage.publishing import plans as plan_service
from statuspage.resources import resource_dir

COMMANDS: list[click.Command] = []


def _directory(directory: Path | None) -> Path:
    """The directory named on the command line, or the starter plans shipped with statuspage."""
    if directory is not None:
        return directory
    return resource_dir("messages") / plan_service.PLANS_FOLDER


def path_names(settings: Any) -> list[str]:
    """The escalation paths a plan may name: the config's `[paths.*]` (none when escalation is
    off or was set aside, which is said on stderr)."""
    error = getattr(settings, "escalation_error", None)
    if error:
        click.echo(f"{error}: no escalation path is known, a plan naming one fails", err=True)
    return plan_service.known_paths(settings.escalation)


@click.group("plans")
def plans() -> None:
    """Check, load, export and list the communication plans."""


COMMANDS.append(plans)


@plans.command("check")
@directory_argument
@click.option(
    "--no-database", is_flag=True, help="With --config: read the paths only, not the database."
)
@config_option
def check(directory: Path | None, no_database: bool, config_file: str | None) -> None:
    """Check plan files and what they name; no database or config needed.

    Checks every `*.md` file in DIR (default: the starter plans shipped with statuspage): the
    format, then the messages, escalation paths, roles and users each plan names. Messages come
    from the database when the config's database is reachable, else from the message library
    the plans folder sits in; escalation paths from the config's [paths.*] (without a config
    there are none). Prints `file:line: problem` for each problem and exits 1 if there are any.
    """
    path = _directory(directory)
    if not path.is_dir():
        fail_with_problems([f"{path}: not a directory"], "the plans")
    # The database named by the environment alone counts as a config: `sync` would use it.
    if config_file is None and not os.environ.get("STATUSPAGE_DATABASE_URL"):
        found, problems = plan_service.check(path, paths=[], with_database=False)
        where = f"messages in {path.resolve().parent}, no escalation paths (no config)"
    else:
        try:
            settings = load_settings(config_file, escalation_optional=True)
        except ConfigError as exc:
            fail_with_problems([str(exc)], "the config")
        paths = path_names(settings)
        found, problems, where = _check_with_config(path, paths, config_file, no_database)
    if problems:
        fail_with_file_problems(problems, "fix them and run the check again")
    click.echo(f"{len(found)} plans OK")
    click.echo(f"checked against: {where}", err=True)


def _check_with_config(
    path: Path, paths: list[str], config_file: str | None, no_database: bool
) -> tuple[list[plan_format.Plan], list[plan_format.Problem], str]:
    """Check against the config's paths and, when it can be reached, its database."""
    source = config_file or "the environment"
    named = f"{len(paths)} escalation path{'s' * (len(paths) != 1)} from {source}"
    if not no_database:
        with app_context(config_file):
            try:
                require_current_schema()
            except (Conflict, sa.exc.DBAPIError) as exc:
                reason = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc)
                click.echo(
                    f"the database cannot be used ({reason.strip().splitlines()[0]})", err=True
                )
            else:
                found, problems = plan_service.check(path, paths=paths, with_database=True)
                return found, problems, f"messages and users in the database, {named}"
    found, problems = plan_service.check(path, paths=paths, with_database=False)
    return found, problems, f"messages in {path.resolve().parent}, {named}"


@plans.command("sync")
@directory_argument
@config_option
def sync(directory: Path | None, config_file: str | None) -> None:
    """Load plan files into the database.

    Reads DIR (default: the starter plans). A file whose content changed gets a new version
    (incidents already following a plan keep the version they started with); unchanged files
    create nothing; plans whose file is gone are archived. If any plan has a problem, including
    a message, escalation path or user it names that does not exist, nothing is loaded.
    """
    path = _directory(directory)
    with app_context(config_file) as app:
        require_current_schema()
        paths = path_names(app.config["STATUSPAGE"])
        try:
            with database.write_transaction():
                report = plan_service.sync_directory(path, now=utcnow(), paths=paths)
        except plan_format.PlanError as exc:
            fail_with_file_problems(exc.problems, "nothing was loaded")
    echo_sync_report(report, "plans")


@plans.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@config_option
def export(directory: Path, config_file: str | None) -> None:
    """Write current versions to DIR as files.

    Each active plan's current version goes to `DIR/<id>.md`, ready to review in git.
    """
    with app_context(config_file):
        require_current_schema()
        current = [(p.slug, v.source) for p, v in plan_service.list_plans()]
    directory.mkdir(parents=True, exist_ok=True)
    for slug, source in current:
        (directory / f"{slug}.md").write_text(source, encoding="utf-8")
    click.echo(f"wrote {len(current)} plans to {directory}")


@plans.command("list")
@click.option("--archived", is_flag=True, help="List archived plans instead.")
@config_option
def list_(archived: bool, config_file: str | None) -> None:
    """List plans with their current version, in the order incidents are matched."""
    with app_context(config_file):
        require_current_schema()
        found = [
            (p.slug, v.number, plan_service.as_plan(v))
            for p, v in plan_service.list_plans(archived=archived)
        ]
    rows = [
        (
            slug,
            f"v{number}",
            plan.kind.value,
            str(plan.priority),
            plan.approval.approvers if plan.approval is not None else "-",
            plan.title,
        )
        for slug, number, plan in sorted(found, key=lambda f: (f[2].priority, f[0]))
    ]
    if not rows:
        if archived:
            click.echo("no archived plans")
        else:
            click.echo("no plans yet: load some with `statuspage plans sync [DIR]`")
        return
    _print_table(("ID", "VERSION", "KIND", "PRIORITY", "APPROVAL", "TITLE"), rows)
