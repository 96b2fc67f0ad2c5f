"""Brotli and gzip are negotiated on Accept-Encoding for text responses."""

from __future__ import annotations

import gzip

import brotli
import pytest

from statuspage.web.compression import accepts_gzip, negotiate


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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0.1", "gzip"),
        ("*;q=0.5", "br"),
        ("gzip;q=0, *", "br"),
        ("identity", None),
        ("br;q=abc, gzip", "gzip"),
        ("", None),
    ],
)
def test_coding_is_negotiated(header, expected):
    assert negotiate(header) == expected


@pytest.mark.parametrize("path", ["/", "/history.rss", "/api/v2/summary.json", "/static/style.css"])
def test_brotli_when_preferred_and_each_coding_has_its_own_etag(client, sample, path):
    plain = client.get(path, headers={"Accept-Encoding": ""})
    br = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert br.headers["Content-Encoding"] == "br"
    assert brotli.decompress(br.data) == plain.data == gzip.decompress(zipped.data)
    assert len({plain.headers.get("ETag"), br.headers.get("ETag"), zipped.headers.get("ETag")}) == 3
    again = client.get(path, headers={"If-None-Match": br.headers["ETag"], "Accept-Encoding": "br"})
    assert path.startswith("/static") or again.status_code == 304
    for response in (plain, br, zipped, again):
        response.close()  # a static file's body is a file
