"""Two `statuspage serve` processes on one database: a publish through one shows in the other
at once, warm caches and fast paths included."""

from __future__ import annotations

import json
import urllib.request
from email.message import Message

import pytest

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from tests.support.cli import write_config
from tests.support.receivers import serving


def get(url: str, headers: dict | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (names in any case) and body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # a 304 arrives as an "error"
        return error.code, error.headers, error.read()


def post_json(url: str, token: str, body: dict) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture
def token(people) -> str:
    """An API token of the editor of `people`."""
    with write_transaction():
        return tokens.create(people["editor"], "processes test", now=utcnow())[1]


def test_a_publish_in_one_process_shows_in_the_other_at_once(ctx, sample, db_url, token, tmp_path):
    config = write_config(tmp_path / "statuspage.toml", db_url)
    with serving(config, tmp_path) as first, serving(config, tmp_path) as second:
        paths = ("/", "/api/v2/summary.json", "/history.rss")
        before = {}
        for base in (first, second):
            for path in paths:
                for _ in range(2):  # the second answer comes from the fast path
                    status, headers, body = get(base + path)
                    assert status == 200
                before[base, path] = (headers["ETag"], body)
        title = "Payments failing for some cards"
        created = post_json(
            f"{first}/api/v1/incidents",
            token,
            {"title": title, "status": "investigating", "impact": "major", "body": "Looking."},
        )
        assert created == 201
        for base in (second, first):
            for path in paths:
                etag, old = before[base, path]
                status, headers, body = get(base + path, {"If-None-Match": etag})
                assert status == 200, (base, path)
                assert headers["ETag"] != etag and title.encode() in body and body != old
