"""Commands: `statuspage intake check|create|list|revoke` and `statuspage drafts ...`.

`intake check` reads the `[intake.NAME]` rules as strictly as `escalation check` reads paths,
then (when the database is there) checks the messages and components they name. `drafts publish`
is the same act as the admin's one-click Publish: a draft whose update the incident's plan wants
approved is refused (approval is requested by a user, in the admin or through the API) unless
`--without-approval REASON` publishes it as an admin would.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from statuspage.cli import (
    _print_table,
    app_context,
    config_option,
    fail_with_problems,
    require_current_schema,
)
from statuspage.clock import utcnow
from statuspage.config import load_settings
from statuspage.core.intake.payloads import FORMATS
from statuspage.core.intake.rules import (
    NO_RULES,
    IntakeConfig,
    MessageFacts,
    Rule,
    check_references,
)
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import Component, Message
from statuspage.db.models import Draft as StoredDraft
from statuspage.errors import ConfigError, Conflict, PermissionDenied
from statuspage.intake import integrations
from statuspage.publishing import approvals, drafts, library

COMMANDS: list[click.Command] = []


@click.group("intake")
def intake() -> None:
    """Alert integrations and the rules that turn alerts into drafts."""


COMMANDS.append(intake)


@intake.command("check")
@click.option("--no-database", is_flag=True, help="Check the config file only.")
@config_option
def check(no_database: bool, config_file: str | None) -> None:
    """Check the [intake.NAME] rules; then the messages and components they name.

    One `file: key: problem` line per problem; exits 1 if there are any.
    """
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        fail_with_problems([str(exc)], "the intake rules")
    config: IntakeConfig = settings.intake
    problems: list[str] = []
    if not no_database:
        with app_context(config_file):
            require_current_schema()
            messages = {}
            for message in db.session.scalars(
                sa.select(Message).where(Message.archived_at.is_(None))
            ):
                parsed = library.as_message(library.current_version(message))
                messages[message.slug] = MessageFacts(
                    kind=parsed.kind.value,
                    status=parsed.status.value,
                    variables=tuple(parsed.variables),
                )
            components = list(db.session.scalars(sa.select(Component.name)))
            names = [row.name for row in integrations.listed() if row.revoked_at is None]
        problems = check_references(
            config,
            messages=messages,
            components=components,
            source=settings.source,
            integrations=names,
        )
    elif not config.rules:
        problems = [f"{settings.source}: {NO_RULES}"]
    if problems:
        fail_with_problems(problems, "the intake rules")
    count = len(config.rules)
    click.echo(f"{settings.source}: intake rules OK: {count} rule{'s' * (count != 1)}")
    for rule in config.ordered():
        click.echo(f"  {describe(rule)}")


def describe(rule: Rule) -> str:
    """One line saying what a rule does."""
    where = ", ".join(rule.components) or ""
    if rule.component_label:
        where += (", " if where else "") + f"label {rule.component_label!r}"
    terms = [f"{k}={v}" for k, v in rule.match.items()]
    terms += [f"{k}~{p.pattern}" for k, p in rule.match_re.items()]
    if rule.severities:
        terms.append(f"severity in {'/'.join(rule.severities)}")
    if rule.integrations:
        terms.append(f"from {'/'.join(rule.integrations)}")
    match = ", ".join(terms)
    text = f"{rule.name} (priority {rule.priority}): {match or 'every alert'} -> {rule.action}"
    text += f" on {where}"
    if rule.message:
        text += f" with {rule.message!r}, resolve {rule.resolve_message!r}"
    if rule.notify:
        text += f", tells path {rule.notify!r}"
    return text


@intake.command("create")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option(
    "--auth",
    type=click.Choice(integrations.AUTHS),
    default="bearer",
    show_default=True,
    help="bearer: the secret is sent as a token; hmac: the sender signs each body with it.",
)
@config_option
def create(name: str, fmt: str, auth: str, config_file: str | None) -> None:
    """Create an integration and print its URL path and secret (shown once)."""
    with app_context(config_file) as app:
        require_current_schema()
        with database.write_transaction():
            row, secret = integrations.create(
                name,
                fmt,
                auth=auth,
                secret_key=app.config["SECRET_KEY"],
                now=utcnow(),
                actor=audit.CLI,
            )
            url = f"{app.config['STATUSPAGE'].site['url'].rstrip('/')}/api/intake/{row.name}"
    click.echo(f"created integration {name!r} ({fmt}, {auth})")
    click.echo(f"URL:    {url}")
    click.echo(f"secret: {secret}")
    click.echo("The secret is shown once; store it in the sender's configuration now.", err=True)


@intake.command("list")
@config_option
def list_integrations(config_file: str | None) -> None:
    """List integrations: name, format, authentication, last use."""
    with app_context(config_file):
        require_current_schema()
        rows = [
            [
                row.name,
                row.format,
                row.auth,
                row.prefix + "...",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
                "revoked" if row.revoked_at else "live",
            ]
            for row in integrations.listed()
        ]
    if not rows:
        click.echo("no integrations: create one with `statuspage intake create NAME --format ...`")
        return
    _print_table(["NAME", "FORMAT", "AUTH", "SECRET", "LAST USED (UTC)", "STATE"], rows)


@intake.command("revoke")
@click.argument("name")
@config_option
def revoke(name: str, config_file: str | None) -> None:
    """Revoke an integration: its secret stops working at once."""
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            integrations.revoke(name, now=utcnow(), actor=audit.CLI)
    click.echo(f"revoked integration {name!r}")


@click.group("drafts")
def drafts_group() -> None:
    """Drafts monitoring prepared and updates waiting for approval: list, publish, dismiss."""


COMMANDS.append(drafts_group)


@drafts_group.command("list")
@click.option(
    "--all", "show_all", is_flag=True, help="Include returned, published and dismissed drafts."
)
@config_option
def drafts_list(show_all: bool, config_file: str | None) -> None:
    """List the drafts waiting for a PM and the updates waiting for approval (pending).

    With --all, every draft. FROM is the intake rule of a draft from alerts, or the author of an
    update sent for approval.
    """
    with app_context(config_file):
        require_current_schema()
        query = sa.select(StoredDraft).order_by(StoredDraft.id.desc()).limit(200)
        if not show_all:
            query = query.where(StoredDraft.state.in_([drafts.WAITING, drafts.PENDING]))
        rows = []
        for row in db.session.scalars(query):
            kind = row.kind or "incident"
            what = f"{kind} {row.incident_id}" if row.incident_id else f"new {kind}"
            origin = row.author.email if row.author is not None else (row.rule or row.source)
            state = row.state
            if row.state == drafts.PENDING:
                given = len([a for a in row.approvals if a.revision == row.revision])
                state += f" ({given}/{row.approvals_needed})"
            rows.append(
                [
                    str(row.id),
                    state,
                    origin,
                    what,
                    row.message_slug or "-",
                    f"{row.created_at:%Y-%m-%d %H:%M}",
                ]
            )
    if not rows:
        click.echo("no drafts waiting" if not show_all else "no drafts")
        return
    _print_table(["ID", "STATE", "FROM", "FOR", "MESSAGE", "CREATED (UTC)"], rows)


@drafts_group.command("publish")
@click.argument("draft_id", type=int)
@click.option(
    "--without-approval",
    metavar="REASON",
    help="Publish a draft the incident's plan wants approved (or one waiting for approval) "
    "without that approval, saying why (kept in the audit log).",
)
@config_option
def drafts_publish(draft_id: int, without_approval: str | None, config_file: str | None) -> None:
    """Publish a draft exactly as prepared (the admin's one-click Publish).

    When the incident's plan wants the update approved, approval is asked for in the admin or
    through the API (the command line has no user to ask as); here, --without-approval REASON
    publishes it without.
    """
    with app_context(config_file) as app:
        require_current_schema()
        notices = approvals.Notices.from_settings(app.config["STATUSPAGE"])

        def act() -> tuple[approvals.Outcome, bool]:
            row = drafts.get(draft_id, lock=True)
            if row.state == drafts.PUBLISHED:
                # Published before: the update it was published as (or why not).
                published = drafts.publish(draft_id, now=utcnow(), actor=audit.CLI)
                return approvals.Outcome(published=published), False
            needs_approval = row.state == drafts.PENDING or (
                row.state == drafts.WAITING and drafts.preview(row).approval is not None
            )
            if without_approval is not None and needs_approval:
                published = approvals.publish_without_approval(
                    draft_id, reason=without_approval, now=utcnow(), actor=audit.CLI
                )
                return approvals.Outcome(published=published, draft=row), True
            if row.state == drafts.PENDING:
                raise Conflict(
                    f"draft {draft_id} waits for approval: an approver approves it in the admin "
                    "or through the API, or add --without-approval REASON"
                )
            try:
                outcome = approvals.request(
                    draft_id, now=utcnow(), actor=audit.CLI, notices=notices
                )
            except PermissionDenied as exc:
                raise PermissionDenied(f"{exc.message}; or add --without-approval REASON") from None
            return outcome, False

        outcome, bypassed = database.run_write(act)
        assert outcome.published is not None  # the command line never waits for approval
        update = outcome.published.update
        word = "published" if outcome.published.created else "already published"
        if outcome.published.created and bypassed:
            word = "published without approval"
        click.echo(f"{word}: update {update.id} on incident {update.incident_id}")


@drafts_group.command("dismiss")
@click.argument("draft_id", type=int)
@click.option("--note", default="", help="Why (kept with the draft).")
@config_option
def drafts_dismiss(draft_id: int, note: str, config_file: str | None) -> None:
    """Set a draft aside without publishing it."""
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            approvals.withdraw(draft_id, now=utcnow(), actor=audit.CLI, note=note)
    click.echo(f"dismissed draft {draft_id}")
