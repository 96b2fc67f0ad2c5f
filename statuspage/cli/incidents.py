"""Command-line commands: `statuspage tick` moves scheduled maintenances along at their times."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click

from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.clock import utcnow
from statuspage.db import database, rollup
from statuspage.publishing import maintenance

COMMANDS: list[click.Command] = []


@click.command("tick")
@config_option
def tick(config_file: str | None) -> None:
    """Start and complete scheduled maintenances whose time has come.

    Run it every minute (cron, a systemd timer) until the worker does it; running it again
    changes nothing.
    """
    with app_context(config_file) as app:
        require_current_schema()
        tz = ZoneInfo(app.config["STATUSPAGE"].site["time_zone"])
        with database.write_transaction():
            transitions = maintenance.tick(utcnow(), tz=tz)
            rollup.fill(utcnow(), tz)
            lines = [str(t) for t in transitions if t.published]
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("nothing to do")


COMMANDS.append(tick)
