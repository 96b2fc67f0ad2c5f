"""`statuspage report`: a period's reliability report (docs/reports.md) on stdout."""

from __future__ import annotations

import json

import click
from flask import current_app

from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.clock import utcnow
from statuspage.reports import report as reports

COMMANDS: list[click.Command] = []
FORMATS = ("csv", "json", "md")


@click.command("report")
@click.option(
    "--period",
    required=True,
    metavar="PERIOD",
    help="2026-11 (a month), 2026-Q4 (a quarter) or 2026-11-01..2026-11-15 (days, both "
    "included), in the site's time zone.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(FORMATS),
    default="md",
    show_default=True,
    help="CSV (a row per component and SLA), JSON (everything) or Markdown.",
)
@config_option
def report(period: str, output: str, config_file: str | None) -> None:
    """Print the reliability report of a period: uptime, SLAs, incident figures."""
    with app_context(config_file):
        require_current_schema()
        settings = current_app.config["STATUSPAGE"]
        built = reports.build(reports.period_of(period, settings), settings, utcnow())
        if output == "json":
            click.echo(json.dumps(reports.as_json(built), indent=2, ensure_ascii=False))
        elif output == "csv":
            click.echo(reports.as_csv(built), nl=False)
        else:
            click.echo(reports.as_markdown(built), nl=False)


COMMANDS.append(report)
