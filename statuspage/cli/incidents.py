"""Commands: `statuspage publish` posts an update, `statuspage tick` moves maintenances on.

`publish` is the same act as the admin's Publish and the API's POST: it builds a Draft and calls
the publishing core; `--preview` runs the same checks and prints what would be published. An
update the incident's communication plan wants approved is refused here (the command line has no
user to ask for approval), unless `--without-approval REASON` publishes it as an admin would,
the reason kept in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

import click

from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.clock import utcnow
from statuspage.core.enums import IncidentKind
from statuspage.db import audit, database, rollup
from statuspage.errors import Conflict, ValidationError
from statuspage.publishing import approvals
from statuspage.publishing import components as component_service
from statuspage.publishing import maintenance as maintenances
from statuspage.publishing import publish as publishing

COMMANDS: list[click.Command] = []


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """NAME=VALUE options as a mapping; raise ValidationError naming the option."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"{option} takes NAME=VALUE, not {value!r}", field=option)
        pairs[name.strip()] = rest
    return pairs


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{option}: an ISO 8601 time, e.g. 2026-06-20T22:00Z") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{option}: give a time zone, e.g. 2026-06-20T22:00+02:00")
    return parsed


@click.command("publish")
@click.option("--incident", "incident_id", type=int, help="Post to this incident or maintenance.")
@click.option("--maintenance", is_flag=True, help="Schedule a new maintenance (not an incident).")
@click.option("--message", metavar="ID", help="The canned message to fill in.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A blank's value.")
@click.option("--title", help="The title of a new incident (default: the message's).")
@click.option("--body", help="The text (Markdown); with --message, replaces the filled text.")
@click.option("--body-file", type=click.File("r", encoding="utf-8"), help="Read the text here.")
@click.option("--status", help="The status this update moves to (default: the message's).")
@click.option("--impact", help="Set the impact yourself (default: follow the components).")
@click.option(
    "--component", "components", multiple=True, metavar="ID_OR_NAME=STATUS", help="Mark one."
)
@click.option("--starts", help="A new maintenance's start (ISO 8601 with a zone).")
@click.option("--ends", help="A new maintenance's end (ISO 8601 with a zone).")
@click.option("--next-update", type=int, metavar="MINUTES", help="When customers hear next.")
@click.option("--no-notify", is_flag=True, help="Do not notify subscribers.")
@click.option("--key", help="A one-time key: running the command again publishes once.")
@click.option("--preview", is_flag=True, help="Check and print what would be published; no write.")
@click.option(
    "--without-approval",
    metavar="REASON",
    help="Publish an update the incident's plan wants approved without that approval, saying "
    "why (kept in the audit log).",
)
@config_option
def publish(
    incident_id: int | None,
    maintenance: bool,
    message: str | None,
    variables: Sequence[str],
    title: str | None,
    body: str | None,
    body_file: TextIO | None,
    status: str | None,
    impact: str | None,
    components: Sequence[str],
    starts: str | None,
    ends: str | None,
    next_update: int | None,
    no_notify: bool,
    key: str | None,
    preview: bool,
    without_approval: str | None,
    config_file: str | None,
) -> None:
    """Publish an update: open an incident, post to one, resolve it, or schedule a maintenance."""
    if body_file is not None:
        if body is not None:
            raise ValidationError("give --body or --body-file, not both", field="body")
        body = body_file.read()
    with app_context(config_file) as app:
        require_current_schema()
        statuses = {
            component_service.find_component(ref).id: value
            for ref, value in _pairs(components, "--component").items()
        }
        draft = publishing.Draft(
            incident_id=incident_id,
            kind=IncidentKind.MAINTENANCE if maintenance else IncidentKind.INCIDENT,
            message=message,
            variables=_pairs(variables, "--var"),
            title=title,
            body=body,
            status=status,
            impact=impact,
            component_statuses=statuses,
            notify=not no_notify,
            idempotency_key=f"cli:{key}" if key else None,
            scheduled_for=_when(starts, "--starts"),
            scheduled_until=_when(ends, "--ends"),
            next_update_minutes=next_update,
        )
        if preview:
            # A preview writes nothing; a publish is one write transaction, like every way in.
            lines = _describe(publishing.prepare(draft))
        elif without_approval is not None:
            notices = approvals.Notices.from_settings(app.config["STATUSPAGE"])
            outcome = database.run_write(
                lambda: approvals.submit(
                    draft,
                    now=utcnow(),
                    actor=audit.CLI,
                    notices=notices,
                    without_approval=without_approval,
                )
            )
            assert outcome.published is not None  # the command line never waits for approval
            lines = [_done(outcome.published, bypassed=outcome.draft is not None)]
        else:
            try:
                result = database.run_write(
                    lambda: publishing.publish(draft, now=utcnow(), actor=audit.CLI)
                )
            except publishing.ApprovalRequired as exc:
                raise Conflict(f"{exc.message}: add --without-approval REASON") from None
            lines = [_done(result, bypassed=False)]
    for line in lines:
        click.echo(line)


def _done(result: publishing.Published, *, bypassed: bool) -> str:
    update = result.update
    if not result.created:
        done = "already published (same --key)"
    else:
        done = "published without approval" if bypassed else "published"
    return f"{done}: update {update.id} of incident {update.incident_id}"


def _describe(prepared: publishing.Prepared) -> list[str]:
    """What a preview shows, as lines of text."""
    lines = [
        f"title: {prepared.title}",
        f"status: {prepared.status.value}",
        f"impact: {prepared.impact.value}" + ("" if prepared.impact_chosen else " (follows)"),
        f"source: {prepared.provenance}",
    ]
    lines += [
        f"component: {c.component.name}: {c.old.value} -> {c.new.value}" for c in prepared.changes
    ]
    if prepared.next_update is not None:
        lines.append(f"next update within: {int(prepared.next_update.total_seconds() // 60)} min")
    if prepared.plan is not None:
        lines.append(f"plan: {prepared.plan.slug} v{prepared.plan.number}")
    if prepared.approval is not None:
        lines.append(
            f"approval: needed from {prepared.approval.approvers} (here: --without-approval REASON)"
        )
    lines += ["", prepared.body, "", "(preview: nothing was published)"]
    return lines


COMMANDS.append(publish)


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
            transitions = maintenances.tick(utcnow(), tz=tz)
            rollup.fill(utcnow(), tz)
            lines = [str(t) for t in transitions if t.published]
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("nothing to do")


COMMANDS.append(tick)
