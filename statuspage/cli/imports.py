"""`statuspage import statuspage`: bring a page over from Atlassian Statuspage."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.db import audit
from statuspage.imports import statuspage as importer

COMMANDS: list[click.Command] = []

ACTOR = audit.Actor(label="cli (import from Statuspage)")


@click.group("import")
def import_commands() -> None:
    """Bring a page over from another status page service."""


@import_commands.command("statuspage")
@click.option(
    "--api-key",
    envvar="STATUSPAGE_IMPORT_API_KEY",
    show_envvar=True,
    help="A Statuspage API key (Your profile > API info); not needed with --from-v2.",
)
@click.option("--page-id", help="The Statuspage page id (in the page's API info).")
@click.option(
    "--base-url",
    default=importer.DEFAULT_BASE_URL,
    show_default=True,
    help="The management API's address.",
)
@click.option(
    "--from-v2",
    "from_v2",
    metavar="URL",
    help="Read the page's public API instead (https://status.example.com): components and "
    "history only, no key needed.",
)
@click.option("--dry-run", is_flag=True, help="Print what it would do; write nothing.")
@click.option("--no-subscribers", is_flag=True, help="Leave the subscribers where they are.")
@config_option
def import_statuspage(
    api_key: str | None,
    page_id: str | None,
    base_url: str,
    from_v2: str | None,
    dry_run: bool,
    no_subscribers: bool,
    config_file: str | None,
) -> None:
    """Import components, incidents and maintenances with their history, templates and
    subscribers from a Statuspage page. Running it again adds only what is new."""
    source: importer.Source
    if from_v2:
        source = importer.V2Source(from_v2)
    else:
        if not page_id:
            raise click.UsageError("give --page-id (or --from-v2 URL)")
        source = importer.V1Source(page_id, api_key or "", base_url=base_url)
    try:
        with app_context(config_file):
            require_current_schema()
            run = importer.Importer(
                source, actor=ACTOR, dry_run=dry_run, subscribers=not no_subscribers
            )
            run.read_page()
            what = "Would import" if dry_run else "Importing"
            click.echo(f"{what} page {run.page_id} ({run.page_name})", err=True)
            report = importer.run(run, on_section=_progress)
    finally:
        source.close()
    if dry_run:
        for outcome in report.outcomes:
            click.echo(outcome.line(dry_run=True))
    for line in importer.summary_lines(report, dry_run=dry_run):
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")


def _progress(section: importer.Section) -> Iterator[Any]:
    """Each section's items behind a progress bar on stderr."""
    with click.progressbar(section.items, label=f"{section.name}s", file=sys.stderr) as bar:
        yield from bar


COMMANDS.append(import_commands)
