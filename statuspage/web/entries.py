"""The cache's rendered entries and the validators both ways of serving them share.

The cached views (cache.py) and the fast path in front of Flask (fastpath.py) both serve an
`Entry`, with the same content coding, ETag and 304 decision. What they share lives here, so
fastpath.py needs nothing from cache.py and the two do not import each other (cache.py imports
fastpath.py, one way, to install it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from werkzeug.http import parse_date, parse_etags

from statuspage.web.compression import ENCODERS, negotiate

MAX_ENTRIES = 2048
#: The WSGI environ key where a cached view tells the fast path what it served.
FASTPATH_KEY = "statuspage.served"
#: Marks an answer given from the last rendered bytes because the database cannot be reached.
STALE_HEADER = "X-Statuspage-Stale"


@dataclass(frozen=True)
class Entry:
    """One rendered representation, ready to serve."""

    body: bytes
    #: The content codings this body may be sent in, preferred first (none for a small body).
    codings: tuple[str, ...]
    etag: str
    last_modified: datetime
    mimetype: str
    charset: str | None
    # Compressed on first request for each coding: a render nobody asks gzip for costs none.
    _encoded: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def body_in(self, coding: str | None) -> bytes:
        """The body in `coding` (None: as rendered)."""
        if coding is None:
            return self.body
        encoded = self._encoded.get(coding)
        if encoded is None:
            # Two threads may both compress once; the results are the same bytes.
            encoded = self._encoded[coding] = ENCODERS[coding](self.body)
        return encoded


@dataclass(frozen=True)
class Served:
    """What the cached view served for a request: enough for the fast path to serve it next."""

    entry: Entry
    query_args: tuple[str, ...]
    arg_values: tuple[str, ...]
    generation: int
    today: date


class PageCache:
    """A small thread-safe LRU of rendered entries, one per process."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        # The fast path's ready-to-send answers, by path and query values (see fastpath.py).
        self.wires: dict[tuple, Any] = {}
        # The newest entry rendered for each view, arguments and query values, whatever its
        # generation and date: what is served while the database cannot be reached.
        self._newest: OrderedDict[tuple, tuple[int, Entry]] = OrderedDict()

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def remember(self, place: tuple, generation: int, entry: Entry) -> None:
        """Keep `entry` as the newest rendering of `place` (view, arguments, query values)."""
        with self._lock:
            self._newest[place] = (generation, entry)
            self._newest.move_to_end(place)
            while len(self._newest) > self.max_entries:
                self._newest.popitem(last=False)

    def newest(self, place: tuple) -> tuple[int, Entry] | None:
        """The generation and entry `remember` last kept for `place`, if any."""
        return self._newest.get(place)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.wires.clear()
            self._newest.clear()

    def get_wire(self, key: tuple) -> Any:
        return self.wires.get(key)

    def put_wire(self, key: tuple, wire: Any) -> None:
        with self._lock:
            self.wires[key] = wire
            if len(self.wires) > self.max_entries:
                # Oldest first: dicts keep insertion order.
                del self.wires[next(iter(self.wires))]


def cache_control_value(cfg: Mapping[str, Any]) -> str:
    """The Cache-Control value for the [cache] settings `cfg`."""
    return (
        f"public, max-age={cfg['max_age_seconds']}, "
        f"stale-while-revalidate={cfg['stale_while_revalidate_seconds']}, "
        f"stale-if-error={cfg['stale_if_error_seconds']}"
    )


def stale_headers(cfg: Mapping[str, Any], age: float) -> list[tuple[str, str]]:
    """The headers that replace Cache-Control on an answer given from the last rendered bytes
    `age` seconds after the database last confirmed them: no cache may keep it as fresh."""
    return [
        ("Cache-Control", f"public, max-age=0, stale-if-error={cfg['stale_if_error_seconds']}"),
        ("Age", str(int(age))),
        (STALE_HEADER, "1"),
    ]


def may_serve_stale(cfg: Mapping[str, Any], age: float) -> bool:
    """Whether bytes the database confirmed current `age` seconds ago may still be served."""
    return age < cfg["stale_if_error_seconds"]


def choose_coding(entry: Entry, accept_encoding: str) -> str | None:
    """The content coding to send `entry` in, for this Accept-Encoding header."""
    return negotiate(accept_encoding, entry.codings) if entry.codings else None


def coded_etag(entry: Entry, coding: str | None) -> str:
    """Each coding of a body is its own representation, with its own tag."""
    return f"{entry.etag}-{coding}" if coding else entry.etag


def not_modified(entry: Entry, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether a client with these validators has the entry (If-None-Match wins over the date)."""
    if if_none_match:
        tags = parse_etags(if_none_match)
        # If-None-Match uses the weak comparison (RFC 9110, 13.1.2).
        return tags.star_tag or any(
            tags.contains_weak(coded_etag(entry, coding)) for coding in (None, *entry.codings)
        )
    since = parse_date(if_modified_since) if if_modified_since else None
    return since is not None and entry.last_modified <= since
