"""Command-line command: `statuspage worker` delivers notifications and runs timed work."""

from __future__ import annotations

import click

from statuspage import logs, metrics
from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.config import load_settings
from statuspage.delivery import channels
from statuspage.delivery.subscriber_delivery import FAN_OUT_KIND
from statuspage.delivery.worker import run_worker
from statuspage.web.metrics import worker_listener

COMMANDS: list[click.Command] = []


@click.command("worker")
@click.option(
    "--once",
    is_flag=True,
    help="Work until nothing is due, then exit (for cron or a systemd timer).",
)
@config_option
def worker(once: bool, config_file: str | None) -> None:
    """Advance escalations, move maintenances and deliver notifications.

    Run one or more of these next to the web processes. SIGTERM or Ctrl+C finishes the
    message in hand and exits; a worker killed outright loses nothing: its messages are
    taken over by another worker after `worker.lease_seconds`.

    With `[metrics] worker_listen` set (and without --once), it also serves its /metrics there.
    """
    # The web app runs without a malformed escalation config; the worker refuses it (one line).
    settings = load_settings(config_file)
    logs.configure(format=settings.logging["format"])
    with app_context(config_file) as app:
        require_current_schema()
        if once:
            run_worker(app, once=True)
            return
        metrics.start_delivery_series([*channels.SENDERS, FAN_OUT_KIND])
        with worker_listener(app):
            run_worker(app)


COMMANDS.append(worker)
