"""The `statuspage` command: schema upgrades, the first admin, demo data, components, serving."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from flask import Flask

from statuspage import __version__, server
from statuspage import demo as demo_data
from statuspage.accounts import users
from statuspage.accounts.passwords import generate_password
from statuspage.app import create_app
from statuspage.clock import utcnow
from statuspage.config import ENV_PREFIX, defaults
from statuspage.core.roles import Role
from statuspage.db import audit, database, queries
from statuspage.db.extensions import db
from statuspage.errors import ConfigError, Conflict, StatuspageError
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as publishing

DEMO_EMAIL = "admin@example.com"
#: `site.url` when neither the config file nor the environment sets it.
DEFAULT_SITE_URL: str = defaults()["site"]["url"]


class Cli(click.Group):
    """The command group; it turns every expected failure into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context):
        # Subcommands (and sub-groups) run inside this call, so this is the one handler.
        try:
            return super().invoke(ctx)
        except StatuspageError as exc:
            raise click.ClickException(str(exc)) from None
        except sa.exc.DBAPIError as exc:
            raise click.ClickException(f"database error: {_first_line(exc.orig)}") from None


def _first_line(exc: BaseException | None) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


config_option = click.option(
    "--config",
    "config_file",
    metavar="PATH",
    envvar=ENV_PREFIX + "CONFIG",
    show_envvar=True,
    help="The TOML configuration file.",
)


@contextmanager
def app_context(config_file: str | None) -> Iterator[Flask]:
    """Build the app from the config file and run the block in its context."""
    try:
        app = create_app(config_file=config_file)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database.url: {exc}") from None
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def require_current_schema() -> None:
    """Refuse to go on unless the database schema is at this version's newest migration."""
    missing = database.sqlite_file_missing(db.engine.url)
    if missing:
        # Opening it would create an empty file; only init, demo and db upgrade create one.
        raise Conflict(f"{missing}: run `statuspage init` or `statuspage db upgrade` to create it")
    current, head = database.current_revision(), database.head_revision()
    if current is None:
        raise Conflict("the database has no schema yet: run `statuspage db upgrade`")
    if current != head:
        raise Conflict(
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `statuspage db upgrade`"
        )


def describe_upgrade(before: str | None, after: str | None) -> str:
    """Say what a schema upgrade did, in one line."""
    if before == after:
        return f"database already up to date (revision {after})"
    return f"database at revision {after} (was {before or 'empty'})"


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="statuspage")
def main() -> None:
    """Run and manage a statuspage site."""


@main.group("db")
def db_commands() -> None:
    """Manage the database schema."""


@db_commands.command("upgrade")
@config_option
def db_upgrade(config_file: str | None) -> None:
    """Upgrade the database schema to this version (safe to run again)."""
    with app_context(config_file):
        before, after = database.upgrade()
    click.echo(describe_upgrade(before, after))


@main.command()
@click.option("--email", required=True, help="The admin's email address (the login).")
@click.option("--name", default="", help="The admin's display name.")
@config_option
def init(email: str, name: str, config_file: str | None) -> None:
    """Create the schema and the first admin user, and print its password once."""
    email = users.normalize_email(email)
    password = generate_password()
    with app_context(config_file):
        before, after = database.upgrade()
        with database.write_transaction():
            users.create_user(
                email, password=password, name=name, role=Role.ADMIN, now=utcnow(), actor=audit.CLI
            )
    click.echo(describe_upgrade(before, after))
    click.echo(f"Created admin user {email}")
    click.echo(f"  email:    {email}")
    click.echo(f"  password: {password}")
    click.echo("This password is not shown again: keep it somewhere safe.")


@main.command("demo")
@click.option("--email", default=DEMO_EMAIL, show_default=True, help="The demo admin's login.")
@click.option(
    "--serve", "then_serve", is_flag=True, help="Then serve the site, as `statuspage serve`."
)
@click.option("--host", help="With --serve: address to listen on.  [default: server.host]")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="With --serve: port.  [default: server.port]"
)
@config_option
def demo(
    email: str, then_serve: bool, host: str | None, port: int | None, config_file: str | None
) -> None:
    """Load sample components and incidents, and print a working demo admin login.

    With --serve, serve the site next; unless `site.url` names another address, every link it
    prints and serves (login, feeds, API, subscriber links) names the address it listens on.
    """
    email = users.normalize_email(email)
    password = generate_password()
    now = utcnow()
    address: tuple[str, int] | None = None
    with app_context(config_file) as app:
        settings = app.config["STATUSPAGE"]
        site_url = settings.site["url"]
        if then_serve:
            address = (host or settings.server["host"], port or settings.server["port"])
            # Before anything is written: a port in use fails without a new password.
            server.check_address(*address)
            site_url = demo_site_url(site_url, *address)
        before, after = database.upgrade()
        with database.write_transaction():
            summary = demo_data.load(now)
            user = users.get_user_by_email(email)
            if user is None:
                users.create_user(
                    email,
                    password=password,
                    name="Demo admin",
                    role=Role.ADMIN,
                    now=now,
                    actor=audit.CLI,
                )
            else:
                # Demo only: a rerun hands out a fresh password rather than a dead end.
                users.set_password(user, password, now=now, actor=audit.CLI)
                user.role = Role.ADMIN.value
                user.active = True
    click.echo(describe_upgrade(before, after))
    if summary is None:
        click.echo("demo data already loaded: nothing added")
    else:
        click.echo(
            f"loaded demo data: {summary.components} components in {summary.groups} groups, "
            f"{summary.incidents} incidents, {summary.maintenances} maintenances, "
            f"{summary.messages} canned messages, {summary.plans} communication plans"
        )
    if user is not None:
        click.echo(
            f"{email} already existed: its password was rotated (the old one no longer works) "
            "and its open sessions were signed out."
        )
    click.echo(f"Admin login: {site_url}/admin/login  email: {email}  password: {password}")
    if address is not None:
        # The workers build their app from the environment (the config file's path goes so too).
        os.environ[ENV_PREFIX + "SITE_URL"] = site_url
        _serve(*address, settings.server["workers"], config_file, settings.logging["format"])


def demo_site_url(configured: str, host: str, port: int) -> str:
    """The demo's site URL: the configured one if set, else where it listens (loopback for a
    wildcard address: a browser on this machine)."""
    if configured != DEFAULT_SITE_URL:
        return configured
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = "::1" if ":" in host else "127.0.0.1"
    except ValueError:
        pass  # a name, such as localhost
    return server.url_for(host, port).rstrip("/")


@main.command()
@click.option("--host", help="Address to listen on.  [default: server.host]")
@click.option("--port", type=click.IntRange(1, 65535), help="Port.  [default: server.port]")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes.  [default: server.workers]"
)
@config_option
def serve(host: str | None, port: int | None, workers: int | None, config_file: str | None) -> None:
    """Serve the site over HTTP until SIGTERM or Ctrl+C; requests in flight finish first."""
    with app_context(config_file) as app:
        require_current_schema()
        settings = app.config["STATUSPAGE"].server
        log_format = app.config["STATUSPAGE"].logging["format"]
    host = host or settings["host"]
    port = port or settings["port"]
    server.check_address(host, port)
    _serve(host, port, workers or settings["workers"], config_file, log_format)


def _serve(host: str, port: int, workers: int, config_file: str | None, log_format: str) -> None:
    click.echo(f"Serving {server.url_for(host, port)} with {workers} worker(s); Ctrl+C stops.")
    server.serve(
        host=host, port=port, workers=workers, config_file=config_file, log_format=log_format
    )


@main.group("components")
def components_commands() -> None:
    """List, add and change components."""


@components_commands.command("list")
@config_option
def components_list(config_file: str | None) -> None:
    """List components in display order."""
    with app_context(config_file):
        require_current_schema()
        tree = queries.component_tree()
        groups = {g.id: g.name for g in tree.groups}
        rows = [
            (str(c.id), groups[c.group_id] if c.group_id else "", c.name, c.status)
            for c in tree.components
        ]
    if not rows:
        click.echo("no components yet: add one with `statuspage components add NAME`")
        return
    _print_table(("ID", "GROUP", "NAME", "STATUS"), rows)


@components_commands.command("add")
@click.argument("name")
@click.option("--group", "group_name", help="Put it in this group (created if needed).")
@click.option("--description", default="", help="A short description shown on the page.")
@click.option("--status", default="operational", show_default=True, help="Its current status.")
@config_option
def components_add(
    name: str, group_name: str | None, description: str, status: str, config_file: str | None
) -> None:
    """Add a component."""
    parsed = component_service.parse_status(status)
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            group = component_service.get_or_create_group(group_name) if group_name else None
            component = component_service.create_component(
                name,
                group=group,
                description=description,
                status=parsed,
                now=utcnow(),
                actor=audit.CLI,
            )
            added = (component.id, component.name)
    click.echo(f"added component {added[0]}: {added[1]} ({parsed.value})")


@components_commands.command("set-status")
@click.argument("ref", metavar="ID_OR_NAME")
@click.argument("status")
@config_option
def components_set_status(ref: str, status: str, config_file: str | None) -> None:
    """Change a component's status (recorded in its uptime history)."""
    parsed = component_service.parse_status(status)
    with app_context(config_file):
        require_current_schema()
        with database.write_transaction():
            component = component_service.find_component(ref)
            old, name = component.status, component.name
            changed = publishing.set_component_status(
                component, parsed, now=utcnow(), actor=audit.CLI
            )
    if changed:
        click.echo(f"{name}: {old} -> {parsed.value}")
    else:
        click.echo(f"{name} is already {parsed.value}")


def fail_with_problems(problems: Sequence[str], where: str) -> NoReturn:
    """Print one problem per line, then "N problems in <where>" on stderr, and exit 1."""
    for problem in problems:
        click.echo(problem)
    counted = f"{len(problems)} problem{'s' * (len(problems) != 1)}"
    click.echo(f"{counted} in {where}", err=True)
    click.get_current_context().exit(1)


#: The folder of files a `check` or `sync` reads (default: what statuspage ships).
directory_argument = click.argument(
    "directory",
    metavar="[DIR]",
    required=False,
    type=click.Path(file_okay=False, path_type=Path),
)


def fail_with_file_problems(problems: Sequence[Any], what: str) -> NoReturn:
    """Print `file:line: problem` lines, then "N problems in M files: <what>" on stderr, and
    exit 1 (the linter-like output of `messages check` and `plans check`)."""
    files = len({p.path for p in problems})
    fail_with_problems([str(p) for p in problems], f"{files} file{'s' * (files != 1)}: {what}")


def echo_sync_report(report: Any, noun: str) -> None:
    """What a `sync` of files into the database changed, one line each, or that nothing did."""
    lines = report.lines()
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo(f"nothing changed ({len(report.unchanged)} {noun} up to date)")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


# Command groups that live in their own modules; each lists its commands in COMMANDS.
from statuspage.cli import accounts as cli_accounts  # noqa: E402
from statuspage.cli import escalation as cli_escalation  # noqa: E402
from statuspage.cli import imports as cli_imports  # noqa: E402
from statuspage.cli import incidents as cli_incidents  # noqa: E402
from statuspage.cli import intake as cli_intake  # noqa: E402
from statuspage.cli import library as cli_library  # noqa: E402
from statuspage.cli import ops as cli_ops  # noqa: E402
from statuspage.cli import plans as cli_plans  # noqa: E402
from statuspage.cli import reports as cli_reports  # noqa: E402
from statuspage.cli import worker as cli_worker  # noqa: E402

for _module in (
    cli_accounts,
    cli_escalation,
    cli_imports,
    cli_incidents,
    cli_intake,
    cli_library,
    cli_ops,
    cli_plans,
    cli_reports,
    cli_worker,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)
