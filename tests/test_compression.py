"""Gzip is negotiated on Accept-Encoding for text responses."""

from __future__ import annotations

import gzip

import pytest

from statuspage.web.compression import accepts_gzip


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("*", True),
    ],
)
def test_accept_encoding_is_parsed(header, expected):
    assert accepts_gzip(header) is expected


def test_page_is_gzipped_when_accepted(client, sample):
    plain = client.get("/")
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 4


def test_not_gzipped_without_accept_encoding(client, sample):
    response = client.get("/api/v2/summary.json")
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]


def test_first_visit_weighs_under_60_kb_transferred(client, sample):
    headers = {"Accept-Encoding": "gzip"}
    page = client.get("/", headers=headers)
    total = len(page.data)
    html = gzip.decompress(page.data).decode()
    import re

    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        total += len(client.get(asset, headers=headers).data)
    assert total < 60 * 1024
