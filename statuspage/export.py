"""Write the public side as static files with the app's own URLs, and keep that copy current.

Every file is the body the app itself serves (rendered through its views with the test client),
so a static host or CDN can serve the status page while the app is down. The one difference:
history pages 2..N live at `/history/page/N`, and the later parts of a busy page at
`/history/page/P/part/N` (a query string cannot name a file); the exported pages link there and
the last exported page has no "older" link. The history's filtered views (a day, a component)
are not written: a day of an uptime bar links to its month on an exported history page, and a
link to one component's history keeps its text without the link.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from statuspage import __version__
from statuspage.clock import utcnow
from statuspage.core.times import isoformat
from statuspage.db import generation
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate, incident_components
from statuspage.errors import Conflict, StatuspageError
from statuspage.resources import PACKAGE_DIR, resource_dir
from statuspage.web.cache import PageCache
from statuspage.web.public import MONTHS_PER_PAGE, history_href

log = logging.getLogger(__name__)

#: Written last into every export: what it holds, so a later run knows it may replace it.
MARKER = ".statuspage-export.json"
DEFAULT_MONTHS = 12
DEFAULT_INTERVAL = 2.0
API_PATHS = (
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
)
SITE_PATHS = ("/", "/history.rss", "/history.atom", "/badge.svg", *API_PATHS)
COMPONENT_SUFFIXES = ("", "/history.rss", "/history.atom", "/badge.svg")
#: Template folders no public page uses; editing them leaves exported permalinks valid.
PRIVATE_TEMPLATES = ("admin", "email")

_INCIDENT_LINK = re.compile(r"/incidents/([0-9]{1,19})(?![0-9])")
_STATIC_LINK = re.compile(r'(?:href|src)="(/static/[^"?#]+)')
_HISTORY_LINK = re.compile(
    r'<a\b[^>]*\bhref="(/history\?page=([0-9]+)(?:&amp;part=([0-9]+))?)"[^>]*>.*?</a>', re.S
)
_FILTER_LINK = re.compile(
    r'<a\b[^>]*\bhref="(/history\?(?:day=([0-9]{4}-[0-9]{2})-[0-9]{2}|component=)[^"]*)"[^>]*>'
    r"(.*?)</a>",
    re.S,
)


class ExportError(StatuspageError):
    """The export could not be written: a page failed to render, or the folder is missing."""


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote."""

    directory: Path
    generation: int
    files: int
    bytes: int
    history_pages: int
    incidents: int
    #: Permalinks copied from the previous export because nothing they show had changed.
    reused: int
    seconds: float


def history_url(page: int, part: int = 1) -> str:
    """The exported URL of a history page: `/history`, then `/history/page/2`, ...; a later
    part of a busy page is `/history/page/P/part/N` (page 1 included, for nginx's try_files)."""
    if part > 1:
        return f"/history/page/{page}/part/{part}"
    return "/history" if page == 1 else f"/history/page/{page}"


def file_for(url_path: str) -> str:
    """The file that answers `url_path` on a static host (a path without a dot is a folder)."""
    path = url_path.strip("/")
    if not path:
        return "index.html"
    if "." in path.rsplit("/", 1)[-1]:
        return path
    return f"{path}/index.html"


def history_pages_for(months: int) -> int:
    """How many history pages cover `months` months."""
    return max(1, math.ceil(months / MONTHS_PER_PAGE))


def rewrite_history_links(html: str, pages: int) -> str:
    """Point `?page=N` links at exported history pages; drop links past the last one."""

    def replace(match: re.Match[str]) -> str:
        page, part = int(match.group(2)), int(match.group(3) or 1)
        if page > pages:
            return ""
        link = match.group(0)
        return link.replace(f'href="{match.group(1)}"', f'href="{history_url(page, part)}"', 1)

    return _HISTORY_LINK.sub(replace, html)


def rewrite_filter_links(html: str, pages: int, today: date) -> str:
    """Point each day's link at its month on an exported history page; a link to a month not
    exported, or to one component's history, keeps its text and loses the link."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2):
            month = date.fromisoformat(match.group(2) + "-01")
            behind = (today.year - month.year) * 12 + today.month - month.month
            page = behind // MONTHS_PER_PAGE + 1
            if 1 <= page <= pages:
                target = f'href="{history_url(page)}#m-{month.isoformat()}"'
                return match.group(0).replace(f'href="{match.group(1)}"', target, 1)
        return match.group(3)

    return _FILTER_LINK.sub(replace, html)


def _local_day(app: Flask) -> date:
    return utcnow().astimezone(ZoneInfo(app.config["STATUSPAGE"].site["time_zone"])).date()


class _Renderer:
    """Fetches URLs from the app and remembers the bodies, keyed by URL path."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.bodies: dict[str, bytes] = {}

    def fetch(self, path: str, *, url: str | None = None) -> bytes | None:
        """GET `url` (default `path`) and keep its body as `path`; None when it is a 404."""
        if path in self.bodies:
            return self.bodies[path]
        response = self.client.get(url or path)
        try:
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise ExportError(f"{url or path} answered HTTP {response.status_code}")
            body = response.get_data()
        finally:
            response.close()  # static files are streamed from an open file
        self.bodies[path] = body
        return body


@dataclass
class Site:
    """A rendered export: files by URL path, and what is needed to reuse its permalinks."""

    files: dict[str, bytes]
    history_pages: int
    fingerprint: str
    #: Incident id (as a string, for JSON) -> signature of what its permalink shows.
    incidents: dict[str, str]
    reused: int


def fingerprint(app: Flask) -> str:
    """A digest of everything a resolved incident's page depends on besides its own rows.

    The version, the public templates, the static files, the site settings and the component
    names: when any of these changes, every permalink is rendered again.
    """
    digest = hashlib.sha256(__version__.encode())
    templates = resource_dir("templates")
    for path in sorted(templates.rglob("*")):
        if path.is_file() and path.relative_to(templates).parts[0] not in PRIVATE_TEMPLATES:
            digest.update(str(path.relative_to(templates)).encode() + b"\0" + path.read_bytes())
    for path in sorted(Path(app.static_folder or PACKAGE_DIR / "static").glob("*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    settings = app.config["STATUSPAGE"]
    digest.update(json.dumps(settings.site, sort_keys=True, default=str).encode())
    with app.app_context():
        rows = db.session.execute(sa.select(Component.id, Component.name).order_by(Component.id))
        digest.update(json.dumps([list(row) for row in rows]).encode())
        db.session.remove()
    return digest.hexdigest()


def incident_signatures(ids: Iterable[int]) -> dict[int, str]:
    """For each existing incident, a signature that changes whenever its permalink would.

    Open incidents get an empty signature: their page shows a duration that grows.
    """
    ids = sorted(ids)
    result: dict[int, str] = {}
    updates = IncidentUpdate.__table__
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.session.execute(
            sa.select(
                Incident.id,
                Incident.updated_at,
                Incident.resolved_at,
                sa.func.count(updates.c.id),
                sa.func.max(updates.c.updated_at),
            )
            .outerjoin(updates, updates.c.incident_id == Incident.id)
            .where(Incident.id.in_(chunk))
            .group_by(Incident.id, Incident.updated_at, Incident.resolved_at)
        )
        members: dict[int, list[int]] = {}
        for incident_id, component_id in db.session.execute(
            sa.select(incident_components.c.incident_id, incident_components.c.component_id)
            .where(incident_components.c.incident_id.in_(chunk))
            .order_by(incident_components.c.component_id)
        ):
            members.setdefault(incident_id, []).append(component_id)
        for incident_id, updated_at, resolved_at, count, last_update in rows:
            if resolved_at is None:
                result[incident_id] = ""
                continue
            parts = [updated_at, resolved_at, count, last_update, members.get(incident_id, [])]
            result[incident_id] = json.dumps(parts, default=str)
    return result


def render_site(app: Flask, months: int = DEFAULT_MONTHS, previous: Path | None = None) -> Site:
    """Render the public side, reusing unchanged permalinks from the `previous` export.

    Incidents are those any written page, feed or JSON document links to, so every link
    inside the export resolves while old history stays bounded by `months`.
    """
    # A throwaway cache: thousands of permalinks would otherwise fill the app's own.
    saved = app.extensions["statuspage_cache"]
    app.extensions["statuspage_cache"] = PageCache(max_entries=64)
    try:
        return _render_site(app, months, previous)
    finally:
        app.extensions["statuspage_cache"] = saved


def _render_site(app: Flask, months: int, previous: Path | None) -> Site:
    renderer = _Renderer(app)
    digest = fingerprint(app)
    with app.app_context():
        component_ids = list(db.session.scalars(sa.select(Component.id).order_by(Component.id)))
        db.session.remove()
    for path in SITE_PATHS:
        if renderer.fetch(path) is None:
            raise ExportError(f"{path} answered HTTP 404")
    for component_id in component_ids:
        for suffix in COMPONENT_SUFFIXES:
            renderer.fetch(f"/components/{component_id}{suffix}")
    pages = 0
    for page in range(1, history_pages_for(months) + 1):
        if renderer.fetch(history_url(page), url=history_href(page)) is None:
            break  # no history that old
        pages = page
        part = 2
        while renderer.fetch(history_url(page, part), url=history_href(page, part)):
            part += 1  # a busy page's later parts, until one answers 404
    marker = read_marker(previous) if previous is not None else None
    old = marker.get("incidents", {}) if marker and marker.get("fingerprint") == digest else {}
    signatures: dict[str, str] = {}
    reused = 0
    pending = _incident_links(renderer.bodies.values())
    while pending:
        with app.app_context():
            batch = incident_signatures(pending)
            db.session.remove()
        found: set[int] = set()
        for incident_id in sorted(pending):
            key, path = str(incident_id), f"/incidents/{incident_id}"
            signatures[key] = batch.get(incident_id, "")
            body = None
            if batch.get(incident_id) and old.get(key) == batch[incident_id]:
                body = _read(previous / file_for(path))  # type: ignore[operator]
                if body is not None:
                    renderer.bodies[path] = body
                    reused += 1
            if body is None:
                body = renderer.fetch(path)
            if body is not None:
                found |= _incident_links([body])
        pending = found - {int(k) for k in signatures}
    files: dict[str, bytes] = {}
    today = _local_day(app)
    for path, body in renderer.bodies.items():
        if file_for(path).endswith(".html"):
            html = rewrite_history_links(body.decode(), pages)
            body = rewrite_filter_links(html, pages, today).encode()
        files[path] = body
    for path in sorted(_static_links(files)):
        body = renderer.fetch(path)
        if body is None:
            raise ExportError(f"{path} is linked from a page but answered HTTP 404")
        files[path] = body
    return Site(files, pages, digest, signatures, reused)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _incident_links(bodies: Iterable[bytes]) -> set[int]:
    found: set[int] = set()
    for body in bodies:
        found.update(int(m) for m in _INCIDENT_LINK.findall(body.decode(errors="replace")))
    return found


def _static_links(files: dict[str, bytes]) -> set[str]:
    found: set[str] = set()
    for path, body in files.items():
        if file_for(path).endswith(".html"):
            found.update(_STATIC_LINK.findall(body.decode()))
    return found


def read_marker(directory: Path) -> dict | None:
    """The marker of the export in `directory`, or None when there is none."""
    try:
        return json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None


def export(
    app: Flask, directory: str | os.PathLike[str], *, months: int = DEFAULT_MONTHS
) -> ExportResult:
    """Export the public side into `directory`, replacing a previous export in one swap."""
    started = time.perf_counter()
    target = Path(directory).absolute()
    parent = target.parent
    if not parent.is_dir():
        raise ExportError(f"{parent} is not a folder")
    with app.app_context():
        # Read before rendering: a publish during the export moves it, and the next poll redoes it.
        number, _ = generation.read()
        db.session.remove()
    with _locked(parent):
        _check_replaceable(target)
        _remove_leftovers(parent, target.name)
        site = render_site(app, months, target if read_marker(target) else None)
        staging = parent / f".{target.name}.tmp-{secrets.token_hex(4)}"
        try:
            staging.mkdir(mode=0o755)
            size = _write(staging, site.files)
            marker = {
                "generation": number,
                "day": _local_day(app).isoformat(),
                "exported_at": isoformat(utcnow()),
                "months": months,
                "history_pages": site.history_pages,
                "files": len(site.files),
                "fingerprint": site.fingerprint,
                "incidents": site.incidents,
            }
            (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
            _swap(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return ExportResult(
        directory=target,
        generation=number,
        files=len(site.files),
        bytes=size,
        history_pages=site.history_pages,
        incidents=len(site.incidents),
        reused=site.reused,
        seconds=time.perf_counter() - started,
    )


def export_if_changed(
    app: Flask,
    directory: str | os.PathLike[str],
    last_generation: int,
    *,
    months: int = DEFAULT_MONTHS,
) -> int:
    """Export again unless the export in `directory` is of `last_generation` and of today.

    Returns the generation now exported; pass -1 the first time, so a restart (perhaps
    with new templates) writes a fresh export once. The day matters: uptime bars move at
    midnight in the site's time zone.
    """
    with app.app_context():
        number, _ = generation.read()
        db.session.remove()
    marker = read_marker(Path(directory))
    if (
        number == last_generation
        and marker is not None
        and marker.get("generation") == number
        and marker.get("day") == _local_day(app).isoformat()
    ):
        return last_generation
    return export(app, directory, months=months).generation


def run_on_publish(
    app: Flask,
    directory: str | os.PathLike[str],
    *,
    stop: threading.Event,
    interval: float = DEFAULT_INTERVAL,
    months: int = DEFAULT_MONTHS,
    on_export: Callable[[int], None] | None = None,
) -> int:
    """Re-export whenever the generation moves, polling every `interval` s, until `stop` is set.

    A failing database or disk is logged and retried at the next poll; the previous export
    stays in place meanwhile. Returns the last generation exported.
    """
    last = -1
    while not stop.is_set():
        try:
            number = export_if_changed(app, directory, last, months=months)
        except (sa.exc.SQLAlchemyError, OSError, ExportError) as exc:
            log.warning("export failed, keeping the previous one: %s", exc)
        else:
            if number != last and on_export is not None:
                on_export(number)
            last = number
        stop.wait(interval)
    return last


class _locked:
    """Hold an exclusive lock on a folder: one export at a time writes beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> None:
        self.fd = os.open(self.folder, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _check_replaceable(target: Path) -> None:
    """Refuse to replace anything but a previous export or an empty folder."""
    if not target.exists():
        return
    if not target.is_dir() or target.is_symlink():
        raise Conflict(f"{target} exists and is not a folder: refusing to replace it")
    if any(target.iterdir()) and read_marker(target) is None:
        raise Conflict(
            f"{target} is not empty and holds no {MARKER}: "
            "refusing to replace a folder that statuspage export did not write"
        )


def _remove_leftovers(parent: Path, name: str) -> None:
    """Delete staging folders an interrupted export left (we hold the lock: none is live)."""
    for prefix in (f".{name}.tmp-", f".{name}.old-"):
        for leftover in parent.glob(prefix + "*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)


def _write(root: Path, files: dict[str, bytes]) -> int:
    size = 0
    for path, body in files.items():
        dest = root / file_for(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(body)
        size += len(body)
    return size


def _swap(staging: Path, target: Path) -> None:
    """Put `staging` in place of `target`: two renames, so no reader sees a half-written tree."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
        os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old)
