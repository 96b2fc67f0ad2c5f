"""Liveness (/healthz) and readiness (/readyz) in one process, and what a PM is told when the
database's disk is full.

Real `statuspage serve` processes on a damaged file or a full disk: test_health_processes.py.
"""

from __future__ import annotations

import os
import pwd
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage import create_app
from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db import generation, health
from statuspage.db.database import head_revision, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident
from tests.support.auth import csrf_token
from tests.support.disks import small_disk

#: More text than fits in a page or compresses into one, so storing it needs new pages.
BIG_BODY = "\n\n".join(secrets.token_hex(60) for _ in range(110))


#: The `sample` fixture's resolved incident.
RESOLVED = "Elevated API errors"


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


@pytest.fixture
def always_check(monkeypatch):
    """Every /readyz checks the database afresh (no verdict is reused)."""
    monkeypatch.setattr(health, "READY_CACHE_SECONDS", 0)


@pytest.fixture
def token(people) -> str:
    with write_transaction():
        return tokens.create(people["editor"], "health test", now=utcnow())[1]


def dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_healthz_answers_without_the_database_and_readyz_says_why_not(make_app, tmp_path):
    unreachable = tmp_path / "a-directory-not-a-database"
    unreachable.mkdir()
    client = make_app(database={"url": f"sqlite:///{unreachable}"}).test_client()

    live = client.get("/healthz")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    assert live.headers["Cache-Control"] == "no-store"
    assert readyz(client) == (
        503,
        {"status": "unavailable", "reason": "the database cannot be reached"},
    )


def test_readyz_is_green_and_changes_nothing(ctx, client, sample):
    before = generation.read()

    assert readyz(client) == (200, {"status": "ok"})

    db.session.rollback()
    assert generation.read() == before
    rows = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert [row[0] for row in rows] == [head_revision()]


def test_neither_probe_is_answered_from_the_page_cache(app, client, sample, monkeypatch):
    fastpath = app.extensions["statuspage_fastpath"]
    inner = fastpath.wsgi_app
    reached: list[str] = []

    def counting(environ, start_response):
        reached.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(fastpath, "wsgi_app", counting)
    for path in ("/", "/", "/readyz", "/readyz", "/healthz", "/healthz"):
        assert client.get(path).status_code == 200
    assert reached == ["/", "/readyz", "/readyz", "/healthz", "/healthz"]


def test_readyz_is_red_while_the_schema_is_not_this_versions(ctx, client, always_check):
    head = head_revision()
    with write_transaction():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0010'"))
    try:
        status, body = readyz(client)
        assert status == 503
        assert body["reason"] == (
            f"the database schema is at revision 0010, this version needs {head}"
        )
    finally:
        with write_transaction():
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = :h"), {"h": head})
    assert readyz(client)[0] == 200


@pytest.fixture
def write_lock(ctx, db_url) -> Iterator[None]:
    """Another connection holds the lock every write needs, until the test ends."""
    if db.engine.dialect.name == "sqlite":
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
        holder.close()
        return
    engine = sa.create_engine(db.engine.url)
    with engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE alembic_version IN EXCLUSIVE MODE")
        yield
        holder.rollback()
    engine.dispose()


def test_readyz_is_red_while_writes_cannot_get_the_lock(client, write_lock, always_check):
    status, body = readyz(client)
    assert status == 503
    assert body["reason"].startswith("the database is locked")


@pytest.fixture
def read_only_url(db_url) -> Iterator[str]:
    """This test's database for a reader: SQLite opened read-only, a role with SELECT only."""
    if db_url.startswith("sqlite:///"):
        yield f"sqlite:///file:{db_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
        return
    url = sa.make_url(db_url).set(drivername="postgresql+psycopg")
    role = f"reader_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield url.set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_readyz_is_red_when_the_database_refuses_writes(read_only_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app(
        {
            "secret_key": "health-test",
            "site": {"url": "https://status.example.com"},
            "database": {"url": read_only_url},
        }
    )
    try:
        client = app.test_client()
        assert client.get("/").status_code == 200  # reading works
        status, body = readyz(client)
        assert status == 503
        assert body["reason"] == (
            "the database is read-only"
            if read_only_url.startswith("sqlite")
            else "the database refuses this user's writes"
        )
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_flood_of_probes_checks_the_database_once_per_period(app, client):
    probes = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO alembic_version"):
            probes.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", count)
    for _ in range(50):
        assert client.get("/readyz").status_code == 200
    assert len(probes) == 1

    app.extensions["statuspage_readiness"].ttl = 0  # the period is over
    client.get("/readyz")
    assert len(probes) == 2


# --- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def full_database(ctx, db_url) -> Iterator[None]:
    """The database has no room for new pages (SQLite: max_page_count; PostgreSQL: full disk)."""
    # PostgreSQL: the incident tables and temporary tables move to a tablespace on a full tmpfs,
    # which needs root and the server on this host.
    db.session.remove()
    if db.engine.dialect.name == "sqlite":
        yield from _capped_sqlite(db.engine, Path(db_url.removeprefix("sqlite:///")))
    else:
        yield from _full_tablespace(db.engine)


def _capped_sqlite(engine: sa.Engine, db_file: Path) -> Iterator[None]:
    engine.dispose()
    conn = sqlite3.connect(db_file, isolation_level=None)
    conn.execute("VACUUM")  # no free pages left to reuse: every new row needs a new page
    conn.close()

    def cap(dbapi_connection, _record) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    sa.event.listen(engine, "connect", cap)
    yield
    sa.event.remove(engine, "connect", cap)
    engine.dispose()


def _full_tablespace(engine: sa.Engine) -> Iterator[None]:
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    name = f"full_{secrets.token_hex(4)}"
    database = engine.url.database
    tables = ("incidents", "incident_updates")
    # Under /tmp itself: the PostgreSQL server's user must reach the folder.
    with small_disk(Path("/tmp"), 4 << 20) as disk, admin.connect() as conn:
        conn.exec_driver_sql("SET lock_timeout = '30s'")  # fail, never hang, on a lock
        folder = disk / "pg"
        folder.mkdir()
        postgres = pwd.getpwnam("postgres")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
        try:
            conn.exec_driver_sql(f"CREATE TABLESPACE {name} LOCATION '{folder}'")
        except sa.exc.DBAPIError as exc:
            pytest.skip(f"cannot make a tablespace: {exc.orig}")
        try:
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} SET TABLESPACE {name}")
            # Temporary tables too (the readiness probe's), as when one disk holds everything.
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET temp_tablespaces = {name}')
            engine.dispose()
            conn.exec_driver_sql(f"CREATE TABLE disk_filler (chunk text) TABLESPACE {name}")
            conn.exec_driver_sql("ALTER TABLE disk_filler ALTER chunk SET STORAGE EXTERNAL")
            for _ in range(100):
                try:
                    conn.exec_driver_sql(
                        "INSERT INTO disk_filler SELECT string_agg(md5(random()::text), '') "
                        "FROM generate_series(1, 4000)"
                    )
                except sa.exc.OperationalError as exc:
                    assert health.is_disk_full(exc), exc
                    break
            else:
                pytest.fail("the tablespace never filled up")
            yield
        finally:
            # The test's requests share its session, whose open reads would block the moves.
            db.session.remove()
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" RESET temp_tablespaces')
            engine.dispose()
            conn.exec_driver_sql("DROP TABLE IF EXISTS disk_filler")
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} SET TABLESPACE pg_default")
            conn.exec_driver_sql(f"DROP TABLESPACE {name}")
    admin.dispose()


def test_a_full_disk_turns_readyz_red_and_tells_the_pm(
    app, client, sample, token, editor, full_database, always_check
):
    assert client.get("/").status_code == 200

    status, body = readyz(client)
    assert (status, body["reason"]) == (503, "the database's disk is full")
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200  # reading needs no room

    response = client.post(
        "/api/v1/incidents",
        json={
            "title": "Payments failing",
            "status": "investigating",
            "impact": "major",
            "body": BIG_BODY,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 503
    assert response.headers["Cache-Control"] == "no-store"
    error = response.get_json()["error"]
    assert error["code"] == "database_disk_full"
    assert error["message"].startswith("The database's disk is full, so nothing was saved.")

    resolved = db.session.scalar(sa.select(Incident.id).where(Incident.name == RESOLVED))
    response = editor.post(
        f"/admin/incidents/{resolved}/postmortem",
        data={"body": BIG_BODY, "csrf_token": csrf_token(editor, "/admin/")},
    )
    assert response.status_code == 503
    assert "The database&#39;s disk is full" in response.get_data(as_text=True)
