"""With the database unreachable, the public side answers from the bytes it last rendered
(marked stale, for `cache.stale_if_error_seconds`), anything else answers 503 with Retry-After
naming the database, and everything works again once it is back, without a restart.

The database is taken away for real. PostgreSQL: a TCP proxy (tests/support/dbproxy.py) in
front of it is cut. SQLite: a running process keeps reading a file it has open even when the
file is moved away or made unreadable, so the outage here is the one a process meets when it
opens connections while the file is gone: the app's connections are closed and the path it
opens is removed (a symlink to the test's folder) until the test puts it back.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.availability import is_unreachable
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import outbox
from statuspage.delivery.worker import run_worker
from statuspage.errors import DatabaseUnavailable
from tests.support.auth import signed_in
from tests.support.dbproxy import TcpProxy
from tests.support.receivers import HttpReceiver, Reply, free_port
from tests.support.sample import resolve_open_incident

PAGES = ("/", "/history.rss", "/api/v2/summary.json")
STALE = "X-Statuspage-Stale"
#: How long a test waits for the app to notice the database is back (it retries once a second).
CONVERGE_SECONDS = 10


class Outage:
    """An app on a database the test can take away (`cut`) and give back (`restore`)."""

    def __init__(self, url: str, make_app: Callable, cut: Callable, restore: Callable) -> None:
        self.url = url
        self._make_app = make_app
        self._cut = cut
        self._restore = restore
        self.apps: list = []
        self.is_cut = False

    def app(self, **sections):
        app = self._make_app(database={"url": self.url}, **sections)
        self.apps.append(app)
        return app

    def cut(self) -> None:
        self.is_cut = True
        self._cut(self.apps)

    def restore(self) -> None:
        self._restore()
        self.is_cut = False


@pytest.fixture
def outage(make_app, db_url: str, tmp_path: Path, pg_proxy: TcpProxy | None) -> Iterator[Outage]:
    if pg_proxy is not None:
        url = sa.make_url(db_url).set(host="127.0.0.1", port=pg_proxy.port)
        outage = Outage(
            url.render_as_string(hide_password=False),
            make_app,
            lambda _apps: pg_proxy.cut(),
            pg_proxy.restore,
        )
        outage.proxy = pg_proxy  # type: ignore[attr-defined]
        yield outage
        pg_proxy.restore()
        return
    target = Path(db_url[len("sqlite:///") :])
    link = tmp_path / "data"
    link.symlink_to(target.parent, target_is_directory=True)

    def cut(apps) -> None:
        # Close what the apps hold open (pools and generation readers), then the path goes.
        for app in apps:
            with app.app_context():
                db.engine.dispose()
        link.unlink()

    def restore() -> None:
        if not link.exists():
            link.symlink_to(target.parent, target_is_directory=True)

    yield Outage(f"sqlite:///{link / target.name}", make_app, cut, restore)
    restore()


def warm(client, path: str):
    """Render `path` and serve it once from the fast path; return the second answer."""
    client.get(path)
    response = client.get(path)
    assert response.status_code == 200, path
    return response


def until(condition: Callable[[], object], seconds: float = CONVERGE_SECONDS):
    """Wait for `condition` to hold (polling); return its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def assert_stale_copy_of(response, before, limit: int = 86400) -> None:
    assert response.status_code == before.status_code
    assert response.headers[STALE] == "1"
    assert response.headers["Cache-Control"] == f"public, max-age=0, stale-if-error={limit}"
    assert int(response.headers["Age"]) >= 0
    assert response.headers["ETag"] == before.headers["ETag"]
    assert response.data == before.data


def test_pages_rendered_before_the_outage_are_served_marked_stale(sample, outage):
    app = outage.app()
    client = app.test_client()
    before = {path: warm(client, path) for path in PAGES}
    permalink = f"/incidents/{sample['open'].id}"
    before[permalink] = warm(client, permalink)
    assert STALE not in before["/"].headers
    outage.cut()
    for path in PAGES:
        assert_stale_copy_of(client.get(path), before[path])  # the fast path
    # Another spelling of the permalink: not learned by the fast path, so Flask's cached view
    # answers it, from the same entry.
    assert_stale_copy_of(client.get(f"/incidents/000{sample['open'].id}"), before[permalink])
    unchanged = client.get("/", headers={"If-None-Match": before["/"].headers["ETag"]})
    assert unchanged.status_code == 304
    assert unchanged.headers[STALE] == "1"
    outage.restore()
    fresh = until(lambda: STALE not in (answer := client.get("/")).headers and answer)
    assert fresh and fresh.status_code == 200
    assert fresh.headers["Cache-Control"].startswith("public, max-age=10,")
    assert fresh.data == before["/"].data


def test_a_render_that_fails_for_want_of_the_database_serves_the_last_one(
    sample, outage, monkeypatch
):
    # With a staleness bound the generation is not read again, so the midnight re-render is
    # the first thing to meet the outage.
    app = outage.app(cache={"max_staleness_seconds": 3600})
    client = app.test_client()
    before = warm(client, "/")
    outage.cut()
    local_date = app.extensions["statuspage_fastpath"].local_date
    monkeypatch.setattr(local_date, "today", lambda: date.today() + timedelta(days=1))
    assert_stale_copy_of(client.get("/"), before)


def test_a_url_never_rendered_answers_503_naming_the_database(sample, outage):
    app = outage.app()
    client = app.test_client()
    warm(client, "/")
    outage.cut()
    page = client.get(f"/incidents/{sample['resolved'].id}")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert page.mimetype == "text/html"
    assert "database cannot be reached" in page.get_data(as_text=True)
    document = client.get("/api/v2/incidents.json")
    assert document.status_code == 503
    assert document.headers["Retry-After"] == "5"
    assert document.json["error"]["code"] == "database_unavailable"


def test_stale_answers_end_after_stale_if_error_seconds(sample, outage):
    app = outage.app(cache={"stale_if_error_seconds": 2})
    client = app.test_client()
    before = warm(client, "/")
    outage.cut()
    assert_stale_copy_of(client.get("/"), before, limit=2)
    time.sleep(2.1)
    late = client.get("/")
    assert late.status_code == 503
    assert late.headers["Retry-After"] == "5"


def test_zero_stale_if_error_seconds_answers_503_at_once(sample, outage):
    app = outage.app(cache={"stale_if_error_seconds": 0})
    client = app.test_client()
    warm(client, "/")
    outage.cut()
    assert client.get("/").status_code == 503


def test_bytes_known_to_be_outdated_are_not_served(ctx, sample, outage):
    app = outage.app()
    client = app.test_client()
    warm(client, "/")
    resolve_open_incident(sample)  # a publish this process learns of...
    warm(client, "/history.rss")  # ...here, before it could render / again
    outage.cut()
    # A 503, so that nginx falls back to its own copy or the static export.
    assert client.get("/").status_code == 503


def test_admin_and_api_answer_503_and_work_again_once_the_database_is_back(
    ctx, sample, people, outage
):
    app = outage.app()
    with write_transaction():
        token = tokens.create(people["editor"], "outage", now=utcnow())[1]
    bearer = {"Authorization": f"Bearer {token}"}
    editor = signed_in(app, "editor")
    client = app.test_client()
    warm(client, "/")
    outage.cut()
    page = editor.get("/admin/")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "database cannot be reached" in page.get_data(as_text=True)
    listing = client.get("/api/v1/incidents", headers=bearer)
    assert (listing.status_code, listing.headers["Retry-After"]) == (503, "5")
    assert listing.json["error"]["code"] == "database_unavailable"
    assert "database" in listing.json["error"]["message"]
    incident = {"title": "Checkout errors", "status": "investigating", "impact": "major"}
    incident["body"] = "Looking into it."
    refused = client.post("/api/v1/incidents", json=incident, headers=bearer)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "5")
    outage.restore()
    created = until(
        lambda: (
            (answer := client.post("/api/v1/incidents", json=incident, headers=bearer)).status_code
            == 201
            and answer
        )
    )
    assert created, "the API did not recover"
    shown = until(lambda: b"Checkout errors" in client.get("/").data)
    assert shown
    assert editor.get("/admin/").status_code == 200


def test_an_outage_costs_a_connection_attempt_a_second_not_one_a_request(sample, outage):
    if not hasattr(outage, "proxy"):
        pytest.skip("counts connections through the PostgreSQL proxy")
    app = outage.app()
    client = app.test_client()
    warm(client, "/")
    outage.cut()
    knocked = outage.proxy.accepted
    started = time.monotonic()
    for _ in range(50):
        assert client.get("/").headers[STALE] == "1"
    elapsed = time.monotonic() - started
    # One attempt per started second (the reader's retry interval), however many requests.
    assert outage.proxy.accepted - knocked <= int(elapsed) + 1


def test_a_dropped_connection_is_replaced_without_a_stale_answer(sample, outage):
    if not hasattr(outage, "proxy"):
        pytest.skip("drops connections through the PostgreSQL proxy")
    app = outage.app()
    client = app.test_client()
    warm(client, "/")
    outage.proxy.drop()  # an idle timeout or a failover: the database itself is fine
    again = client.get("/")
    assert again.status_code == 200
    assert STALE not in again.headers


# -- what counts as an outage ---------------------------------------------------------------


def test_unreachable_errors_are_told_from_other_database_errors(tmp_path, db_url):
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(tmp_path / "missing" / "x.db")
    assert is_unreachable(cannot_open.value)
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(path, timeout=0.05, isolation_level=None).execute("BEGIN IMMEDIATE")
    assert is_unreachable(locked.value)
    holder.execute("ROLLBACK")
    with pytest.raises(sqlite3.OperationalError) as no_table:
        holder.execute("SELECT * FROM nowhere")
    assert not is_unreachable(no_table.value)
    holder.close()
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/test", connect_timeout=5)
    assert is_unreachable(refused.value)
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    with pytest.raises(sa.exc.OperationalError) as wrapped:
        engine.connect()
    engine.dispose()
    assert is_unreachable(wrapped.value)
    assert is_unreachable(DatabaseUnavailable())
    assert not is_unreachable(ValueError("not a database error"))
    if db_url.startswith("postgresql"):
        with (
            psycopg.connect(
                sa.make_url(db_url)
                .set(drivername="postgresql")
                .render_as_string(hide_password=False)
            ) as conn,
            pytest.raises(psycopg.errors.UndefinedTable) as undefined,
        ):
            conn.execute("SELECT * FROM nowhere")
        assert not is_unreachable(undefined.value)


# -- the worker -----------------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"outage-test-signing-key").decode()


def queue_webhooks(keys: list[str], url: str) -> None:
    with write_transaction():
        for key in keys:
            outbox.enqueue(
                key=key,
                channel="subscriber:outage",
                kind="webhook",
                payload={
                    "subject": key,
                    "text": "outage test",
                    "target": {"type": "webhook", "url": url, "secret_env": "OUTAGE_SECRET"},
                },
                now=utcnow(),
            )


def outbox_rows(app) -> dict[str, OutboxMessage]:
    with app.app_context():
        messages = db.session.scalars(sa.select(OutboxMessage)).all()
        return {m.idempotency_key: m for m in messages}


@pytest.fixture
def cut_on_first_send(ctx, outage, monkeypatch):
    """A worker app and a receiver that takes the database away when the first message
    arrives, then answers 200: the worker has sent it and cannot record it."""
    monkeypatch.setenv("OUTAGE_SECRET", SECRET)
    app = outage.app(worker={"batch_size": 5, "lease_seconds": 120, "poll_seconds": 1})

    def respond(_request) -> Reply:
        if not outage.is_cut:
            outage.cut()
        return Reply(200)

    with HttpReceiver(respond) as receiver:
        keys = [f"batch:{index}" for index in range(3)]
        queue_webhooks(keys, receiver.url("/hook"))
        yield app, receiver, keys


def test_a_once_run_gives_up_on_the_database_and_leaves_its_claims_to_the_lease(
    cut_on_first_send, outage
):
    app, receiver, keys = cut_on_first_send
    stop, failures = threading.Event(), []

    def run() -> None:
        try:
            run_worker(app, once=True, stop_event=stop)
        except Exception as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    waited = thread.is_alive()
    stop.set()  # a run that waits for the database would end here
    thread.join(30)
    # A cron run exits (failing) instead of waiting for the database.
    assert not waited
    assert len(failures) == 1 and is_unreachable(failures[0])
    outage.restore()
    rows = outbox_rows(app)
    # The batch is sent (in parallel) before its outcomes are recorded: each once.
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == keys
    # At least once: sent but not recorded, they go again when their lease runs out.
    assert all(rows[key].state == "pending" and rows[key].claimed_by for key in keys)


def test_a_worker_stopped_during_the_outage_stops(cut_on_first_send, outage, caplog):
    app, receiver, keys = cut_on_first_send
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop_event": stop})
    thread.start()
    try:
        assert until(lambda: "the database cannot be reached" in caplog.text, 30)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == keys
    given_up = f"giving up on the database: {len(keys)} claimed messages wait for their lease"
    assert given_up in caplog.text
    assert f"{len(keys)} sent may be sent again" in caplog.text
