"""Fixtures: an app with a fresh, migrated database per test, on SQLite or PostgreSQL.

SQLite: the schema is migrated once into a template file that each test copies.
PostgreSQL (`STATUSPAGE_TEST_DATABASE_URL`): one database per run, created and dropped here,
migrated once; each test empties every table afterwards.

The helpers and fixtures the test modules share live in tests/support/; its fixtures are
loaded here as a plugin.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from statuspage import create_app
from statuspage.clock import utcnow
from statuspage.db.database import upgrade
from statuspage.db.extensions import db
from tests.support import NOW as NOW  # where some test modules still import it from

pytest_plugins = ["tests.support.fixtures"]

PG_URL = os.environ.get("STATUSPAGE_TEST_DATABASE_URL", "")


def _pg_admin_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this run: a template SQLite file, or a fresh PostgreSQL db."""
    if not PG_URL:
        template = tmp_path_factory.mktemp("db") / "template.db"
        app = create_app(_base_config(f"sqlite:///{template}"))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield f"sqlite:///{template}"
        return
    with _pg_database() as url:
        app = create_app(_base_config(url))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield url


@contextmanager
def _pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own, created here and dropped at the end; yield its URL."""
    admin_url = _pg_admin_url(PG_URL)
    name = f"statuspage_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def empty_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """An app on an empty database of its own, for migration tests that start from an old
    revision: a SQLite file, or a PostgreSQL database created and dropped for the test."""
    monkeypatch.chdir(tmp_path)
    with ExitStack() as stack:
        url = stack.enter_context(_pg_database()) if PG_URL else f"sqlite:///{tmp_path}/old.db"
        app = create_app(_base_config(url))
        yield app
        with app.app_context():
            db.engine.dispose()


class HttpsClient(FlaskClient):
    """A test client that speaks https, like the site URL in the tests (Secure cookies)."""

    def open(self, *args, **kwargs):
        if not (args and not isinstance(args[0], str)):
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


def _base_config(url: str) -> dict:
    return {
        "secret_key": "test-secret-key-not-for-production",
        "database": {"url": url},
        "site": {"name": "Acme Status", "url": "https://status.example.com"},
    }


@pytest.fixture
def db_url(database_url: str, tmp_path: Path) -> str:
    """This test's own database URL (a copy of the SQLite template, or the run's PG db)."""
    if database_url.startswith("sqlite:///"):
        target = tmp_path / "test.db"
        shutil.copyfile(database_url[len("sqlite:///") :], target)
        return f"sqlite:///{target}"
    return database_url


@pytest.fixture
def make_app(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Build an app on this test's database, with extra settings merged in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATUSPAGE_CONFIG", raising=False)
    apps = []

    def factory(**sections):
        config = _base_config(db_url)
        for key, value in sections.items():
            if isinstance(value, dict):
                config.setdefault(key, {}).update(value)
            else:
                config[key] = value
        app = create_app(config)
        app.config["TESTING"] = True
        app.test_client_class = HttpsClient
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                _empty_tables()
            db.session.remove()
            db.engine.dispose()


def _empty_tables() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def app(make_app):
    """The app with default test settings."""
    return make_app()


@pytest.fixture
def ctx(app):
    """An application context for service and query tests."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner bound to the app."""
    return app.test_cli_runner()


@pytest.fixture
def sample(ctx):
    """A small page: two groups, an ungrouped component, a resolved and an open incident,
    and an upcoming maintenance. Times are relative to `utcnow()` so pages show them (the
    `frozen_clock` fixture, requested first, pins them)."""
    from datetime import timedelta

    from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus
    from statuspage.db.database import write_transaction
    from statuspage.publishing import components as cs
    from statuspage.publishing import incidents as inc

    now = utcnow()
    data = {}
    with write_transaction():
        core = cs.get_or_create_group("Core")
        data["api"] = cs.add_component("API", group=core, now=now - timedelta(days=120))
        data["web"] = cs.add_component("Website", group=core, now=now - timedelta(days=120))
        edge = cs.get_or_create_group("Edge")
        data["cdn"] = cs.add_component("CDN", group=edge, now=now - timedelta(days=120))
        data["email"] = cs.add_component("Email delivery", now=now - timedelta(days=120))
        old = inc.open_incident(
            name="Elevated API errors",
            impact=Impact.MINOR,
            body="We are investigating elevated error rates on the API.",
            now=now - timedelta(days=2, hours=3),
            component_statuses={data["api"]: ComponentStatus.PARTIAL_OUTAGE},
        )
        inc.post_update(
            old,
            status=IncidentStatus.RESOLVED,
            body="The error rate is back to normal.",
            now=now - timedelta(days=2, hours=1),
            component_statuses={data["api"]: ComponentStatus.OPERATIONAL},
        )
        data["resolved"] = old
        data["open"] = inc.open_incident(
            name="Website slow to load",
            impact=Impact.MAJOR,
            body="Pages load slowly for some customers. We are **investigating**.",
            now=now - timedelta(minutes=30),
            component_statuses={data["web"]: ComponentStatus.DEGRADED_PERFORMANCE},
        )
        data["maintenance"] = inc.schedule_maintenance(
            name="Database upgrade",
            body="We will upgrade the primary database.",
            scheduled_for=now + timedelta(days=2),
            scheduled_until=now + timedelta(days=2, hours=2),
            now=now,
            components=[data["api"]],
        )
    return data
