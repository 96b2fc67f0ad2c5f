"""/healthz and /readyz of a real `statuspage serve` on a damaged SQLite file and on a full disk.

SQLite only: these break the file and the disk under it. (test_health.py covers PostgreSQL's
full disk, with a full tablespace.)
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from tests.support.cli import write_config
from tests.support.disks import damage_table, fill, small_disk
from tests.support.receivers import serving


@pytest.fixture(autouse=True)
def sqlite_only(db_url):
    if not db_url.startswith("sqlite:///"):
        pytest.skip("breaks an SQLite file and its disk")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def ready(base: str) -> tuple[int, dict]:
    status, body = get(f"{base}/readyz")
    return status, json.loads(body)


def wait_until_ready_is(base: str, status: int) -> dict:
    """Poll /readyz (each process reuses a verdict for 5 s) until it answers `status`."""
    deadline = time.monotonic() + 60
    while True:
        found, body = ready(base)
        if found == status:
            return body
        assert time.monotonic() < deadline, (found, body)
        time.sleep(0.5)


def copy(source: Path, target: Path) -> None:
    """Copy an SQLite database with what its WAL holds (SQLite's backup API)."""
    with sqlite3.connect(source) as conn, sqlite3.connect(target) as out:
        conn.backup(out)
    conn.close()
    out.close()


def publish(base: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/incidents",
        data=json.dumps(
            {"title": "Disk trouble", "status": "investigating", "impact": "minor", "body": "x"}
        ).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_damaged_database_file_turns_readyz_red_not_healthz(db_url, tmp_path):
    damage_table(Path(db_url.removeprefix("sqlite:///")), "components")
    config = write_config(tmp_path / "statuspage.toml", db_url)
    with serving(config, tmp_path) as base:
        assert get(f"{base}/healthz") == (200, b'{"status":"ok"}\n')
        status, body = ready(base)
        assert status == 503 and body["status"] == "unavailable"
        assert body["reason"].startswith("the database file is damaged")
        assert get(f"{base}/")[0] >= 500  # nothing cached to fall back on


def test_a_full_disk_turns_readyz_red_while_the_page_still_answers(ctx, people, db_url, tmp_path):
    with write_transaction():
        token = tokens.create(people["editor"], "disk test", now=utcnow())[1]
    db.session.remove()
    source = Path(db_url.removeprefix("sqlite:///"))
    with small_disk(tmp_path, source.stat().st_size + (8 << 20)) as disk:
        copy(source, disk / "site.db")
        config = write_config(tmp_path / "statuspage.toml", f"sqlite:///{disk / 'site.db'}")
        with serving(config, tmp_path) as base:
            assert get(f"{base}/")[0] == 200
            assert ready(base) == (200, {"status": "ok"})
            assert publish(base, token)[0] == 201  # the token's first use is written too

            filler = fill(disk)
            body = wait_until_ready_is(base, 503)
            assert body == {"status": "unavailable", "reason": "the database's disk is full"}
            assert get(f"{base}/healthz")[0] == 200
            assert get(f"{base}/")[0] == 200
            status, answer = publish(base, token)
            assert status == 503
            assert answer["error"]["code"] == "database_disk_full"
            assert "disk is full" in answer["error"]["message"]

            filler.unlink()
            wait_until_ready_is(base, 200)
            assert publish(base, token)[0] == 201
