"""Command-line commands for accounts: users, API tokens and the audit log (see cli.py)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from statuspage.accounts import tokens, users
from statuspage.accounts.passwords import generate_password
from statuspage.cli import _print_table, app_context, config_option, require_current_schema
from statuspage.clock import utcnow
from statuspage.core.roles import parse_role
from statuspage.db import audit, database


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ") if value is not None else "-"


@click.group("users")
def users_commands() -> None:
    """Add, list and manage admin users."""


@users_commands.command("add")
@click.option("--email", required=True, help="The user's email address (the login).")
@click.option("--role", required=True, help="admin, editor or viewer.")
@click.option("--name", default="", help="The user's display name.")
@config_option
def users_add(email: str, role: str, name: str, config_file: str | None) -> None:
    """Add a user and print a generated password once."""
    email = users.normalize_email(email)
    parsed = parse_role(role)
    password = generate_password()
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            users.create_user(
                email, password=password, name=name, role=parsed, now=utcnow(), actor=audit.CLI
            )
    click.echo(f"Created {parsed.value} {email}")
    click.echo(f"  password: {password}")
    click.echo("This password is not shown again: pass it on safely.")


@users_commands.command("list")
@config_option
def users_list(config_file: str | None) -> None:
    """List users with their role and state."""
    with app_context(config_file):
        require_current_schema()
        signed_in = users.last_sign_ins()
        rows = [
            (
                str(u.id),
                u.email,
                u.name,
                u.role,
                "active" if u.active else "disabled",
                _when(u.created_at),
                _when(signed_in.get(u.id)),
            )
            for u in users.list_users()
        ]
    if not rows:
        click.echo("no users yet: add one with `statuspage users add --email EMAIL --role admin`")
        return
    _print_table(("ID", "EMAIL", "NAME", "ROLE", "STATE", "CREATED", "LAST SIGN-IN"), rows)


@users_commands.command("set-role")
@click.argument("email")
@click.argument("role")
@config_option
def users_set_role(email: str, role: str, config_file: str | None) -> None:
    """Change a user's role (it applies from their next request)."""
    parsed = parse_role(role)
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            user = users.find_user(email)
            old, address = user.role, user.email
            changed = users.set_role(user, parsed, now=utcnow(), actor=audit.CLI)
    if changed:
        click.echo(f"{address}: {old} -> {parsed.value}")
    else:
        click.echo(f"{address} is already {parsed.value}")


@users_commands.command("reset-password")
@click.argument("email")
@config_option
def users_reset_password(email: str, config_file: str | None) -> None:
    """Give a user a new generated password (printed once) and end their sessions."""
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            user = users.find_user(email)
            address = user.email
            password = users.reset_password(user, now=utcnow(), actor=audit.CLI)
    click.echo(f"New password for {address} (their sessions are ended)")
    click.echo(f"  password: {password}")
    click.echo("This password is not shown again: pass it on safely.")


def _set_active(email: str, active: bool, config_file: str | None) -> None:
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            user = users.find_user(email)
            address = user.email
            changed = users.set_active(user, active, now=utcnow(), actor=audit.CLI)
    state = "enabled" if active else "disabled"
    if not changed:
        click.echo(f"{address} is already {state}")
    elif active:
        click.echo(f"{address} is enabled")
    else:
        click.echo(f"{address} is disabled; their sessions and API tokens no longer work")


@users_commands.command("disable")
@click.argument("email")
@config_option
def users_disable(email: str, config_file: str | None) -> None:
    """Disable a user: they cannot sign in, and their sessions and tokens stop working."""
    _set_active(email, False, config_file)


@users_commands.command("enable")
@click.argument("email")
@config_option
def users_enable(email: str, config_file: str | None) -> None:
    """Enable a disabled user again."""
    _set_active(email, True, config_file)


@click.group("tokens")
def tokens_commands() -> None:
    """Create, list and revoke API tokens for /api/v1/."""


@tokens_commands.command("create")
@click.option("--user", "email", required=True, help="The email of the user the token acts as.")
@click.option("--name", required=True, help="What the token is for, e.g. 'deploy pipeline'.")
@config_option
def tokens_create(email: str, name: str, config_file: str | None) -> None:
    """Create an API token and print it once; it acts with the user's role."""
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            user = users.find_user(email)
            token, text = tokens.create(user, name, now=utcnow(), actor=audit.CLI)
            token_id, role, address = token.id, user.role, user.email
    click.echo(f"Created API token {token_id} for {address} (acts as {role})")
    click.echo(f"  token: {text}")
    click.echo("This token is not shown again: store it in your secret manager now.")


@tokens_commands.command("list")
@click.option("--user", "email", help="Only this user's tokens.")
@config_option
def tokens_list(email: str | None, config_file: str | None) -> None:
    """List API tokens (never their text), newest first."""
    with app_context(config_file):
        require_current_schema()
        owner = users.find_user(email) if email else None
        rows = [
            (
                str(t.id),
                t.user.email,
                t.name,
                t.prefix + "...",
                _when(t.created_at),
                _when(t.last_used_at),
                f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active",
            )
            for t in tokens.tokens_of(owner)
        ]
    if not rows:
        click.echo("no API tokens")
        return
    _print_table(("ID", "USER", "NAME", "PREFIX", "CREATED", "LAST USED", "STATE"), rows)


@tokens_commands.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(min=1))
@config_option
def tokens_revoke(token_id: int, config_file: str | None) -> None:
    """Revoke an API token: requests with it are refused from now on."""
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            already = tokens.get_token(token_id).revoked_at is not None
            token = tokens.revoke(token_id, now=utcnow(), actor=audit.CLI)
            name, address = token.name, token.user.email
    if already:
        click.echo(f"token {token_id} ({name}, {address}) was already revoked")
    else:
        click.echo(f"revoked token {token_id} ({name}, {address})")


@click.group("audit")
def audit_commands() -> None:
    """Read the audit log."""


@audit_commands.command("export")
@click.option(
    "--since",
    help="Only entries since a date (2026-01-01, midnight in the site's time zone), "
    "an ISO time, or an age (30m, 24h, 7d, 2w).",
)
@click.option("--action", help="Only entries with this action, e.g. user.role_changed.")
@config_option
def audit_export(since: str | None, action: str | None, config_file: str | None) -> None:
    """Print audit entries as JSON lines, oldest first."""
    with app_context(config_file) as app:
        tz = ZoneInfo(app.config["STATUSPAGE"].site["time_zone"])
        start = audit.parse_since(since, now=utcnow(), tz=tz) if since else None
        require_current_schema()
        for entry in audit.export(since=start, action=action):
            click.echo(json.dumps(audit.as_dict(entry), ensure_ascii=False))


COMMANDS: list[click.Command] = [users_commands, tokens_commands, audit_commands]
