"""Command-line commands: `statuspage escalation check|simulate` for the escalation config.

Neither needs a database: `check` reads the config file (and the environment, for secrets),
`simulate` plans a made-up incident with the same functions the worker runs.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click

from statuspage.cli import _print_table, config_option, fail_with_problems
from statuspage.clock import utcnow
from statuspage.config import load_settings
from statuspage.core.enums import Impact
from statuspage.core.escalation.config import (
    IMPACTS,
    EscalationConfig,
    check_escalation,
    matching_paths,
)
from statuspage.core.escalation.planner import Due, IncidentFacts, plan, snapshot
from statuspage.core.escalation.render import load_templates
from statuspage.core.library import LibraryError
from statuspage.errors import ConfigError

COMMANDS: list[click.Command] = []

#: The longest stretch `simulate` plans, so a typo cannot ask for years of reminders.
MAX_UNTIL = timedelta(days=30)
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_DURATION_HELP = "a duration after the start such as 20m, 1h30m, 2h or 1d"


@click.group("escalation")
def escalation() -> None:
    """Check the escalation config and rehearse it."""


COMMANDS.append(escalation)


@escalation.command("check")
@config_option
def check(config_file: str | None) -> None:
    """Check channels, windows and paths; no database needed.

    Reports what stops start-up (an unknown channel or window, a malformed key) and what cannot
    work as written (a secret missing from the environment, a window that never opens, a step
    or path that can never fire), one `file: key: problem` line each; exits 1 if there are any.
    """
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        fail_with_problems([str(exc)], "the escalation config")
    config: EscalationConfig = settings.escalation
    problems = check_escalation(config, os.environ)
    try:
        load_templates()
    except LibraryError as exc:
        problems += [str(problem) for problem in exc.problems]
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        fail_with_problems(problems, "the escalation config")
    click.echo(
        f"{settings.source}: escalation config OK: {_count(config.channels, 'channel')}, "
        f"{_count(config.windows, 'window')}, {_count(config.paths, 'path')}"
    )
    for path in config.ordered_paths():
        click.echo(f"  {_describe(path)}")


@escalation.command("simulate")
@click.option(
    "--impact",
    required=True,
    type=click.Choice([impact.value for impact in IMPACTS]),
    help="The incident's impact.",
)
@click.option(
    "--component",
    "components",
    multiple=True,
    metavar="NAME",
    help="An affected component, as the config names it (repeat for several).",
)
@click.option(
    "--start",
    metavar="TIME",
    help="When the incident opens, ISO 8601 with an offset (2026-01-05T03:00+01:00). "
    "[default: now, in the site's time zone]",
)
@click.option("--ack-at", metavar="DURATION", help="Acknowledged this long after the start.")
@click.option("--resolve-at", metavar="DURATION", help="Resolved this long after the start.")
@click.option(
    "--updates-at",
    metavar="DURATIONS",
    default="",
    help="Public updates this long after the start, comma-separated (10m,70m).",
)
@click.option(
    "--until",
    "until_text",
    metavar="DURATION",
    default="6h",
    show_default=True,
    help="Plan this far past the start (at most 30d).",
)
@config_option
def simulate(
    impact: str,
    components: tuple[str, ...],
    start: str | None,
    ack_at: str | None,
    resolve_at: str | None,
    updates_at: str,
    until_text: str,
    config_file: str | None,
) -> None:
    """Print the notifications a made-up incident would cause (a dry run).

    One line per notification: its time (in the start's offset), the path, the step (and
    repeat) or reminder, the channel and the kind. No database is needed and nothing is sent.
    """
    settings = load_settings(config_file)
    config: EscalationConfig = settings.escalation
    started = _start(start, settings.site["time_zone"])
    until = _after(started, until_text, "--until")
    if until - started > MAX_UNTIL:
        raise click.BadParameter("at most 30d", param_hint="'--until'")
    acked = _after(started, ack_at, "--ack-at") if ack_at else None
    resolved = _after(started, resolve_at, "--resolve-at") if resolve_at else None
    updates = [
        _after(started, item.strip(), "--updates-at") for item in updates_at.split(",") if item
    ]
    names = _component_names(config, components)
    paths = matching_paths(config, Impact(impact), names)
    what = f"impact {impact}, " + (f"components {', '.join(names)}" if names else "no components")
    click.echo(f"incident: {what}, opened {_time(started, started)}")
    for label, moment in (("acknowledged", acked), ("resolved", resolved)):
        if moment is not None:
            click.echo(f"{label}: {_time(moment, started)}")
    if updates:
        click.echo("public updates: " + ", ".join(_time(u, started) for u in sorted(updates)))
    if not paths:
        click.echo("matched paths: none: nothing would be sent")
        return
    click.echo("matched paths: " + ", ".join(_describe(path) for path in paths))
    facts = IncidentFacts(
        incident_id="simulated",
        started_at=started,
        acknowledged_at=acked,
        resolved_at=resolved,
        public_update_times=tuple(updates),
    )
    due: list[Due] = []
    upcoming: list[datetime] = []
    for path in paths:
        # Through the snapshot, exactly as a run stored by the worker would be planned.
        result = plan(snapshot(path, config.windows, config.channels), facts, until)
        due += result.due
        if result.next_at is not None:
            upcoming.append(result.next_at)
    order = {path.name: index for index, path in enumerate(paths)}
    due.sort(key=lambda d: (d.at, order[d.path]))
    if due:
        _print_table(
            ("TIME", "PATH", "WHAT", "CHANNEL", "KIND"),
            [(_time(d.at, started), d.path, _what(d), d.channel, d.kind) for d in due],
        )
    count = f"{len(due)} notification{'s' * (len(due) != 1)} up to {_time(until, started)}"
    if upcoming:
        click.echo(f"{count}; the next would be at {_time(min(upcoming), started)}")
    else:
        click.echo(f"{count}; nothing more would be sent")


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"


def _describe(path) -> str:
    flow = ", continue" if path.continue_ else ""
    return f"{path.name} (priority {path.priority}{flow})"


def _start(text: str | None, time_zone: str) -> datetime:
    if text is None:
        return utcnow().replace(second=0, microsecond=0).astimezone(ZoneInfo(time_zone))
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO 8601 time such as 2026-01-05T03:00+01:00, got {text!r}",
            param_hint="'--start'",
        ) from None
    if value.tzinfo is None:
        raise click.BadParameter(
            f"give the offset too, such as 2026-01-05T03:00+01:00 or ...Z, got {text!r}",
            param_hint="'--start'",
        )
    return value


def _after(start: datetime, text: str, option: str) -> datetime:
    """`start` plus a duration such as 90m or 1h30m."""
    found = _DURATION_RE.fullmatch(text.strip())
    if not text.strip() or not found:
        raise click.BadParameter(
            f"expected {_DURATION_HELP}, got {text!r}", param_hint=f"'{option}'"
        )
    days, hours, minutes = (int(part or 0) for part in found.groups())
    return start + timedelta(days=days, hours=hours, minutes=minutes)


def _component_names(config: EscalationConfig, given: tuple[str, ...]) -> list[str]:
    """The component names as the config spells them; an unknown one is a usage error."""
    known: dict[str, str] = {}
    for path in config.ordered_paths():
        for name in path.match.components:
            known.setdefault(name.casefold(), name)
    names = []
    for name in given:
        if name.casefold() not in known:
            listed = ", ".join(sorted(set(known.values()))) or "no path names components"
            raise click.BadParameter(
                f"unknown component {name!r} (known in the config: {listed})",
                param_hint="'--component'",
            )
        names.append(known[name.casefold()])
    return list(dict.fromkeys(names))


def _time(moment: datetime, start: datetime) -> str:
    return moment.astimezone(start.tzinfo).isoformat(timespec="minutes")


def _what(due: Due) -> str:
    if due.step is None:
        missed = f" ({due.missed} missed)" if due.kind == "missed_update_escalation" else ""
        return f"reminder {due.loop}{missed}"
    return f"step {due.step}" + (f" loop {due.loop}" if due.loop else "")
