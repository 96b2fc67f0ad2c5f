"""The shared fixtures, loaded by tests/conftest.py (`pytest_plugins`).

Role users and clients: `people` holds an admin, an editor and a viewer
(`<role>@example.com`, password `PASSWORD`); `admin`, `editor` and `viewer` are clients of
the `app` signed in as them. A module that needs more (a message library, components) adds its
own fixture next to these rather than redefining them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from statuspage.accounts import passwords
from statuspage.cli import main
from statuspage.db.models import User
from tests.support.auth import ROLES, email_for, make_user, signed_in
from tests.support.cli import write_config
from tests.support.clock import FrozenClock, freeze
from tests.support.dbproxy import TcpProxy
from tests.support.receivers import HttpReceiver, SmtpSink


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters, for tests that sign in often and are not about hashing."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


@pytest.fixture
def people(ctx, fast_hashing) -> dict[str, User]:
    """An admin, an editor and a viewer, by role, named after it (Admin, Editor, Viewer)."""
    return {role: make_user(email_for(role), role, name=role.title()) for role in ROLES}


@pytest.fixture
def admin(app, people) -> FlaskClient:
    """A client signed in as the admin of `people`."""
    return signed_in(app, "admin")


@pytest.fixture
def editor(app, people) -> FlaskClient:
    """A client signed in as the editor of `people`."""
    return signed_in(app, "editor")


@pytest.fixture
def viewer(app, people) -> FlaskClient:
    """A client signed in as the viewer of `people`."""
    return signed_in(app, "viewer")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """`statuspage.clock.utcnow()` answers `NOW` until the test moves the clock on."""
    return freeze(monkeypatch)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """An HTTP receiver on 127.0.0.1 answering 200 (set `receiver.respond` to change that)."""
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 keeping every message it accepts."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def config_file(app, db_url: str, tmp_path: Path) -> Path:
    """A config file for this test's database (the `app` fixture cleans the database up)."""
    return write_config(tmp_path / "statuspage.toml", db_url)


@pytest.fixture
def sqlite_site(tmp_path, monkeypatch) -> Callable[..., Result]:
    """Run `statuspage ARGS --config FILE` on a migrated SQLite database of this test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATUSPAGE_CONFIG", raising=False)
    config = write_config(tmp_path / "site.toml", f"sqlite:///{tmp_path / 'site.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, [*args, "--config", str(config)])

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


@pytest.fixture(scope="module")
def pg_proxy(database_url: str) -> Iterator[TcpProxy | None]:
    """A TCP proxy in front of the run's PostgreSQL database that a test can cut and restore
    (None on SQLite); it outlives every app of the module, whose clean-up goes through it."""
    if not database_url.startswith("postgresql"):
        yield None
        return
    parsed = sa.make_url(database_url)
    with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        yield proxy
