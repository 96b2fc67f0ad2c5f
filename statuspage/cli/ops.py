"""Operations commands: `export` (a static copy of the public side), `backup` and `restore`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
import sqlalchemy as sa

from statuspage import backup as backups
from statuspage import export as exporter
from statuspage import logs
from statuspage.cli import app_context, config_option, require_current_schema
from statuspage.db.extensions import db
from statuspage.errors import StatuspageError

COMMANDS: list[click.Command] = []


def _describe(result: exporter.ExportResult) -> str:
    return (
        f"exported generation {result.generation} to {result.directory}: {result.files} files "
        f"({result.bytes / 1e6:.1f} MB), {result.history_pages} history pages, "
        f"{result.incidents} incidents ({result.reused} unchanged), in {result.seconds:.1f} s"
    )


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--months",
    type=click.IntRange(min=1),
    default=exporter.DEFAULT_MONTHS,
    show_default=True,
    help="History pages to write, in months; incidents linked from any written page follow.",
)
@click.option(
    "--on-publish",
    is_flag=True,
    help="Keep running: export again whenever something is published (and at midnight).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=exporter.DEFAULT_INTERVAL,
    show_default=True,
    help="With --on-publish: seconds between two looks at the database.",
)
@config_option
def export(
    directory: Path, months: int, on_publish: bool, interval: float, config_file: str | None
) -> None:
    """Write the public pages, feeds, JSON API, badges and assets as static files to DIRECTORY.

    The files keep the app's URLs (a path like /incidents/12 is incidents/12/index.html), so
    nginx, a CDN or an object store can serve them while the app is down. DIRECTORY is
    replaced in one swap; a folder that a previous export did not write is never replaced.
    """
    with app_context(config_file) as app:
        require_current_schema()
        if not on_publish:
            click.echo(_describe(exporter.export(app, directory, months=months)))
            return
        logs.configure(format=app.config["STATUSPAGE"].logging["format"])
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        click.echo(f"watching for publishes every {interval:g} s; Ctrl+C or SIGTERM stops")
        try:
            exporter.run_on_publish(
                app,
                directory,
                stop=stop,
                interval=interval,
                months=months,
                on_export=lambda number: click.echo(f"exported generation {number}"),
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        click.echo("stopped")


COMMANDS.append(export)


def _database_url() -> sa.URL:
    return db.engine.url


def _sqlite_or_advice(url: sa.URL, file: Path, command: str) -> Path:
    """The SQLite database file, or print the PostgreSQL commands and fail."""
    path = backups.sqlite_path(url)
    if path is not None:
        return path
    if url.get_backend_name() == "postgresql":
        click.echo(backups.postgres_advice(url, str(file)))
        raise StatuspageError(f"statuspage {command} handles SQLite only: use the commands above")
    raise StatuspageError(f"statuspage {command} handles SQLite only, not {url.get_backend_name()}")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@config_option
def backup(file: Path, force: bool, config_file: str | None) -> None:
    """Copy the SQLite database to FILE, consistently, while the site keeps running.

    The copy is checked (PRAGMA integrity_check, schema revision) before it is named FILE; one
    that fails is removed, and the command exits 1. For PostgreSQL it prints the pg_dump and
    pg_restore commands to use instead.
    """
    with app_context(config_file):
        url = _database_url()
    path = _sqlite_or_advice(url, file, "backup")
    info = backups.backup_sqlite(path, file, force=force)
    click.echo(
        f"backed up {path} to {info.path} ({info.bytes / 1e6:.1f} MB, "
        f"schema revision {info.revision or 'none'}, integrity checked)"
    )


COMMANDS.append(backup)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data already.")
@config_option
def restore(file: Path, force: bool, config_file: str | None) -> None:
    """Put a backup made by `statuspage backup` in place of the SQLite database.

    Refuses to replace a database that holds data unless --force. Running web processes
    pick the restored data up at their next request.
    """
    with app_context(config_file):
        url = _database_url()
    path = _sqlite_or_advice(url, file, "restore")
    info = backups.restore_sqlite(file, path, force=force)
    click.echo(f"restored {file} into {info.path} (schema revision {info.revision})")
    with app_context(config_file):
        try:
            require_current_schema()
        except StatuspageError as exc:
            click.echo(f"note: {exc}")


COMMANDS.append(restore)
