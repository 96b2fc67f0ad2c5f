"""Bring a page over from Atlassian Statuspage: its management API v1, or a public /api/v2.

Reading: `V1Source` and `V2Source` fetch the documents (httpx, pagination, bounded retries).
Parsing: each object becomes plain values, or a ValidationError that refuses that object only.
Writing: `Importer` writes one object per transaction through the publishing core, with its
row in the import map, so a second run adds nothing and a killed run resumes.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import IntegrityError

from statuspage.clock import utcnow
from statuspage.core import library, limits
from statuspage.core.enums import ComponentStatus, IncidentKind, IncidentStatus, MaintenanceStatus
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, Incident
from statuspage.delivery import subscriber_admin, subscribers
from statuspage.delivery.netguard import Resolver, check_url
from statuspage.delivery.subscriber_common import check_email, subscriber_settings
from statuspage.errors import StatuspageError, ValidationError
from statuspage.imports import idmap
from statuspage.publishing import components as component_service
from statuspage.publishing import history
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.statuspage.io"
PER_PAGE = 100
MAX_PAGES = 10_000
#: One answer larger than this is not a page's data: the import stops rather than fill memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
RETRIES = 4
RETRY_STATUSES = frozenset({420, 429, 500, 502, 503, 504})
MAX_WAIT_SECONDS = 120.0
TIMEOUT_SECONDS = 30.0
MAX_CODE = 100
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

#: The results an object can have.
ADDED, EXISTING, REFUSED, SKIPPED = "added", "already there", "refused", "not carried over"
#: An object imported before that changed at the source since (new updates, a new status).
UPDATED = "brought up to date"


class SourceError(StatuspageError):
    """The source cannot be read: a refused key, an unknown page, no answer, not JSON."""

    http_status = 502
    code = "import_source"


class _Missing(SourceError):
    """The source has no such document (HTTP 404)."""


def check_base_url(url: str) -> str:
    """An http(s) base URL without credentials, query or trailing slash; else SourceError."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise SourceError(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url!r}: the base URL must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None:
        raise SourceError("the base URL must not hold a user name or password")
    if parts.query or parts.fragment:
        raise SourceError("the base URL must not have a query or a fragment")
    return url.strip().rstrip("/")


def _wait(response: httpx.Response, attempt: int) -> float:
    """How long to wait before asking again: Retry-After when given, else a growing backoff."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return min(float(value), MAX_WAIT_SECONDS)
    if value:
        when = email.utils.parsedate_to_datetime(value) if "," in value else None
        if when is not None and when.tzinfo is not None:
            return max(0.0, min((when - datetime.now(UTC)).total_seconds(), MAX_WAIT_SECONDS))
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return float(min(2**attempt, 30))


class Reader:
    """GETs JSON documents from one base URL: retries, pagination, a size bound.

    The key travels in a header only; nothing here logs headers, so it never reaches a log.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = RETRIES,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"Accept": "application/json", **(headers or {})},
            transport=transport,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
        self.sleep = sleep
        self.retries = retries

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON document at `path`; SourceError says in one line why it cannot be had."""
        where = f"{self.base_url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                status, headers, body = self._fetch(path, params)
            except httpx.TransportError as exc:
                if last:
                    raise SourceError(f"cannot reach {where}: {_reason(exc)}") from None
                self.sleep(_backoff(attempt))
                continue
            if status in RETRY_STATUSES and not last:
                log.info("import: %s answered %s; asking again", path, status)
                self.sleep(_wait(httpx.Response(status, headers=headers), attempt))
                continue
            if status in (401, 403):
                raise SourceError(f"{where} refused the API key (HTTP {status})")
            if status == 404:
                raise _Missing(f"{where} was not found (HTTP 404)")
            if status >= 300:
                raise SourceError(f"{where} answered HTTP {status}")
            try:
                return json.loads(body)
            except ValueError:
                raise SourceError(f"{where} did not answer JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(
        self, path: str, params: Mapping[str, Any] | None
    ) -> tuple[int, httpx.Headers, bytes]:
        with self.client.stream("GET", path, params=params) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise SourceError(
                        f"{self.base_url}{path}: the answer is over {MAX_RESPONSE_BYTES:,} bytes"
                    )
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def pages(self, path: str, first: int = 1, **params: str) -> list[Any]:
        """Every item of a paginated list (`page`, `per_page`), page after page; `first` is the
        number of the first page (1, or 0 for the subscribers, as Statuspage documents)."""
        items: list[Any] = []
        seen: set[str] = set()
        for number in range(first, first + MAX_PAGES):
            asked = {"page": number, "per_page": PER_PAGE, "limit": PER_PAGE, **params}
            batch = self.get(path, asked)
            if not isinstance(batch, list):
                raise SourceError(f"{self.base_url}{path}: expected a list")
            fresh = [i for i in batch if not (isinstance(i, dict) and str(i.get("id")) in seen)]
            seen.update(str(i.get("id")) for i in batch if isinstance(i, dict))
            items.extend(fresh)
            # An empty page is the end (a server may give fewer than asked on every page);
            # a page of nothing new means the source ignores paging.
            if not batch or not fresh:
                break
        return items


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- the two sources ------------------------------------------------------------------------


class V1Source:
    """A page read through Statuspage's management API v1 (`Authorization: OAuth <key>`)."""

    has_private = True

    def __init__(
        self, page_id: str, api_key: str, *, base_url: str = DEFAULT_BASE_URL, **reader: Any
    ) -> None:
        if not _CODE.match(page_id or ""):
            raise SourceError("the page id is letters and digits, as Statuspage shows it")
        if not api_key or not api_key.isprintable() or len(api_key) > 200:
            raise SourceError("give the API key (--api-key or STATUSPAGE_IMPORT_API_KEY)")
        self.reader = Reader(base_url, headers={"Authorization": f"OAuth {api_key}"}, **reader)
        self.prefix = f"/v1/pages/{page_id}"
        self.page_id = page_id

    def page(self) -> dict[str, Any]:
        try:
            doc = self.reader.get(self.prefix)
        except _Missing:
            raise SourceError(f"no page {self.page_id} at {self.reader.base_url}") from None
        if not isinstance(doc, dict):
            raise SourceError(f"{self.reader.base_url}{self.prefix}: expected an object")
        return doc

    def components(self) -> list[Any]:
        return self.reader.pages(f"{self.prefix}/components")

    def groups(self) -> list[Any]:
        try:
            return self.reader.pages(f"{self.prefix}/component-groups")
        except _Missing:
            return []

    def incidents(self) -> list[Any]:
        return self.reader.pages(f"{self.prefix}/incidents")

    def templates(self) -> list[Any]:
        return self.reader.pages(f"{self.prefix}/incident_templates")

    def subscribers(self) -> list[Any]:
        # Confirmed and not quarantined: those are who get updates today.
        return self.reader.pages(f"{self.prefix}/subscribers", first=0, state="active")

    def close(self) -> None:
        self.reader.close()


class V2Source:
    """A page read through its public API v2: components and history, nothing private."""

    has_private = False

    def __init__(self, url: str, **reader: Any) -> None:
        base = check_base_url(url)
        if not base.endswith("/api/v2"):
            base += "/api/v2"
        self.reader = Reader(base, **reader)
        self._components: list[Any] | None = None

    def _list(self, path: str, key: str) -> list[Any]:
        doc = self.reader.get(path)
        items = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise SourceError(f"{self.reader.base_url}{path}: no {key} list")
        return items

    def page(self) -> dict[str, Any]:
        doc = self.reader.get("/summary.json")
        page = doc.get("page") if isinstance(doc, dict) else None
        if not isinstance(page, dict):
            raise SourceError(f"{self.reader.base_url}/summary.json: no page object")
        return page

    def components(self) -> list[Any]:
        if self._components is None:
            self._components = self._list("/components.json", "components")
        return self._components

    def groups(self) -> list[Any]:
        return [c for c in self.components() if isinstance(c, dict) and c.get("group") is True]

    def incidents(self) -> list[Any]:
        found = self._list("/incidents.json", "incidents")
        found += self._list("/scheduled-maintenances.json", "scheduled_maintenances")
        unique = {str(i.get("id")): i for i in found if isinstance(i, dict)}
        return list(unique.values())

    def templates(self) -> list[Any]:
        return []

    def subscribers(self) -> list[Any]:
        return []

    def close(self) -> None:
        self.reader.close()


Source = V1Source | V2Source


# -- parsing: each object to plain values, or a ValidationError --------------------------------


def _code(value: object, field: str = "id") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValidationError("a missing or malformed id", field=field)
    return value


def _text(doc: Mapping[str, Any], key: str, default: str = "") -> str:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValidationError("expected text", field=key)
    return value


def _time(value: object, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError("not a date", field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a date", field=field) from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{value!r} has no time zone", field=field)
    if not 2000 <= parsed.year <= 2199:
        raise ValidationError(f"{value!r} is not a plausible date", field=field)
    return parsed.astimezone(UTC)


def _position(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 1_000_000 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 7:
        return int(value)
    return None


def _label(doc: object) -> str:
    name = doc.get("name") if isinstance(doc, dict) else None
    text = name if isinstance(name, str) else ""
    text = " ".join(text.split())[:60]
    return text or "(no name)"


@dataclass(frozen=True)
class SourceGroup:
    id: str
    name: str
    description: str
    position: int | None
    members: tuple[str, ...]


@dataclass(frozen=True)
class SourceComponent:
    id: str
    name: str
    description: str
    position: int | None
    status: ComponentStatus
    group_id: str | None
    showcase: bool
    created_at: datetime | None
    updated_at: datetime | None
    start_date: date | None


@dataclass(frozen=True)
class SourceChange:
    code: str
    name: str
    new_status: str
    old_status: str | None


@dataclass(frozen=True)
class SourceUpdate:
    status: str
    body: str
    at: datetime
    changes: tuple[SourceChange, ...]


@dataclass(frozen=True)
class SourceIncident:
    id: str
    kind: IncidentKind
    name: str
    impact: str
    updates: tuple[SourceUpdate, ...]
    components: tuple[str, ...]
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    created_at: datetime | None
    postmortem: str | None
    postmortem_published_at: datetime | None
    postmortem_updated_at: datetime | None
    status: str


@dataclass(frozen=True)
class SourceTemplate:
    id: str
    name: str
    title: str
    body: str
    status: str


@dataclass(frozen=True)
class SourceSubscriber:
    id: str
    mode: str
    email: str
    endpoint: str
    components: tuple[str, ...]
    quarantined: bool


def parse_group(doc: Any) -> SourceGroup:
    if not isinstance(doc, dict):
        raise ValidationError("not an object")
    members = doc.get("components") or []
    if not isinstance(members, list):
        raise ValidationError("expected a list of component ids", field="components")
    return SourceGroup(
        id=_code(doc.get("id")),
        name=limits.name(_text(doc, "name"), what="a group name"),
        description=limits.description(_text(doc, "description")),
        position=_position(doc.get("position")),
        members=tuple(
            _code(m.get("id") if isinstance(m, dict) else m, "components") for m in members
        ),
    )


def parse_component(doc: Any) -> SourceComponent:
    if not isinstance(doc, dict):
        raise ValidationError("not an object")
    status = _text(doc, "status", "operational")
    try:
        parsed = ComponentStatus(status)
    except ValueError:
        raise ValidationError(f"unknown component status {status[:50]!r}", field="status") from None
    start = doc.get("start_date")
    start_date = None
    if isinstance(start, str) and start:
        try:
            start_date = date.fromisoformat(start[:10])
        except ValueError:
            raise ValidationError(f"{start[:40]!r} is not a date", field="start_date") from None
    group_id = doc.get("group_id")
    return SourceComponent(
        id=_code(doc.get("id")),
        name=limits.name(_text(doc, "name"), what="a component name"),
        description=limits.description(_text(doc, "description")),
        position=_position(doc.get("position")),
        status=parsed,
        group_id=None if group_id in (None, "") else _code(group_id, "group_id"),
        showcase=doc.get("showcase") is not False,
        created_at=_time(doc.get("created_at"), "created_at"),
        updated_at=_time(doc.get("updated_at"), "updated_at"),
        start_date=start_date,
    )


def _kind(doc: Mapping[str, Any]) -> IncidentKind:
    statuses = {doc.get("status")} | {
        u.get("status") for u in doc.get("incident_updates") or [] if isinstance(u, dict)
    }
    if statuses & {s.value for s in MaintenanceStatus} or doc.get("impact") == "maintenance":
        return IncidentKind.MAINTENANCE
    return IncidentKind.INCIDENT


def parse_incident(doc: Any) -> SourceIncident:
    if not isinstance(doc, dict):
        raise ValidationError("not an object")
    code = _code(doc.get("id"))
    kind = _kind(doc)
    raw_updates = doc.get("incident_updates") or []
    if not isinstance(raw_updates, list) or len(raw_updates) > history.MAX_UPDATES:
        raise ValidationError("expected a list of updates", field="incident_updates")
    updates = []
    for number, raw in enumerate(raw_updates, start=1):
        where = f"incident_updates[{number}]"
        if not isinstance(raw, dict):
            raise ValidationError("not an object", field=where)
        at = _time(raw.get("display_at"), f"{where}.display_at") or _time(
            raw.get("created_at"), f"{where}.created_at"
        )
        if at is None:
            raise ValidationError("an update without a time", field=where)
        changes = []
        affected = raw.get("affected_components") or []
        if not isinstance(affected, list) or len(affected) > limits.MAX_COMPONENTS:
            raise ValidationError("expected a list of components", field=where)
        for item in affected:
            if not isinstance(item, dict):
                raise ValidationError("not an object", field=f"{where}.affected_components")
            changes.append(
                SourceChange(
                    code=_code(item.get("code"), f"{where}.affected_components"),
                    name=_text(item, "name")[:200],
                    new_status=_text(item, "new_status"),
                    old_status=_text(item, "old_status") or None,
                )
            )
        updates.append(SourceUpdate(_text(raw, "status"), _text(raw, "body"), at, tuple(changes)))
    components = doc.get("components") or []
    if not isinstance(components, list):
        raise ValidationError("expected a list of components", field="components")
    published = doc.get("postmortem_published_at")
    written = _time(doc.get("postmortem_body_last_updated_at"), "postmortem_body_last_updated_at")
    if published is True:
        # The OpenAPI document calls it a boolean; the API sends the time. Take either.
        published_at = written or _time(doc.get("resolved_at"), "resolved_at")
    elif published in (None, False):
        published_at = None
    else:
        published_at = _time(published, "postmortem_published_at")
    impact = _text(doc, "impact_override") or _text(doc, "impact", "none")
    return SourceIncident(
        id=code,
        kind=kind,
        name=_text(doc, "name"),
        impact=impact,
        updates=tuple(updates),
        components=tuple(
            _code(c.get("id") if isinstance(c, dict) else c, "components") for c in components
        ),
        scheduled_for=_time(doc.get("scheduled_for"), "scheduled_for"),
        scheduled_until=_time(doc.get("scheduled_until"), "scheduled_until"),
        created_at=_time(doc.get("created_at"), "created_at"),
        postmortem=_text(doc, "postmortem_body") or None,
        postmortem_published_at=published_at,
        postmortem_updated_at=written,
        status=_text(doc, "status"),
    )


def parse_template(doc: Any) -> SourceTemplate:
    if not isinstance(doc, dict):
        raise ValidationError("not an object")
    name = limits.name(_text(doc, "name"), what="a template name")
    return SourceTemplate(
        id=_code(doc.get("id")),
        name=name,
        title=_text(doc, "title") or name,
        body=_text(doc, "body"),
        status=_text(doc, "update_status") or IncidentStatus.INVESTIGATING.value,
    )


def parse_subscriber(doc: Any) -> SourceSubscriber:
    if not isinstance(doc, dict):
        raise ValidationError("not an object")
    components = doc.get("components") or []
    if isinstance(components, str):
        components = [c for c in components.replace(",", " ").split() if c]
    if not isinstance(components, list):
        raise ValidationError("expected a list of component ids", field="components")
    return SourceSubscriber(
        id=_code(doc.get("id")),
        mode=(_text(doc, "mode") or _text(doc, "type") or "email").lower()[:20],
        email=_text(doc, "email")[: limits.MAX_EMAIL + 1],
        endpoint=_text(doc, "endpoint")[:2001],
        components=tuple(
            _code(c.get("id") if isinstance(c, dict) else c, "components") for c in components
        ),
        quarantined=doc.get("quarantined_at") not in (None, ""),
    )


# -- the import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one object of the source."""

    kind: str
    external_id: str
    label: str
    result: str
    reason: str = ""
    local_id: str = ""

    def line(self, dry_run: bool = False) -> str:
        """One line for the CLI: "added incident p31zjtct2jer (Database slow)"."""
        verb = {ADDED: "would add" if dry_run else "added"}.get(self.result, self.result)
        text = f"{verb} {self.kind} {self.external_id} ({self.label})"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class Report:
    """Every object's outcome, in the order they were met."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, kind: str, result: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind and o.result == result)

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(o.kind for o in self.outcomes))

    def of(self, result: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.result == result]


@dataclass
class Section:
    """One kind of object: its items, read from the source, and how to bring one over."""

    name: str
    items: list[Any]
    apply: Callable[[Any], Outcome]


#: Imported templates' message ids start with it (docs/migrating.md).
TEMPLATE_PREFIX = "statuspage-"


class Importer:
    """Brings one source page over, object by object; `sections()` reads each kind lazily."""

    def __init__(
        self,
        source: Source,
        *,
        actor: audit.Actor = audit.CLI,
        dry_run: bool = False,
        subscribers: bool = True,
        clock: Callable[[], datetime] = utcnow,
        resolve: Resolver | None = None,
    ) -> None:
        self.source = source
        self.actor = actor
        self.dry_run = dry_run
        self.with_subscribers = subscribers
        self.clock = clock
        self.resolve = resolve
        self.page_id = ""
        self.page_name = ""
        #: In a dry run, what would have been created, so later objects can refer to it.
        self._planned: dict[str, set[str]] = {}

    # -- reading ---------------------------------------------------------------------------

    def read_page(self) -> None:
        """Read the page itself: its id keys the import map."""
        page = self.source.page()
        self.page_id = _code(page.get("id"), "page.id") if page.get("id") else ""
        if not self.page_id:
            raise SourceError("the source page has no id")
        self.page_name = _label(page)

    def sections(self) -> Iterator[Section]:
        """Groups, components, incidents, templates, subscribers: each read when reached."""
        if not self.page_id:
            self.read_page()
        components = self.source.components()
        group_docs = {str(g.get("id")): g for g in self.source.groups() if isinstance(g, dict)}
        for doc in components:
            if isinstance(doc, dict) and doc.get("group") is True:
                group_docs.setdefault(str(doc.get("id")), doc)
        yield Section("group", list(group_docs.values()), self._group)
        members = {
            member: gid
            for gid, doc in group_docs.items()
            for member in (doc.get("components") or [])
            if isinstance(member, str)
        }
        self._members = members
        plain = [c for c in components if not (isinstance(c, dict) and c.get("group") is True)]
        yield Section("component", plain, self._component)
        incidents = self.source.incidents()
        yield Section("incident", sorted(incidents, key=_created), self._incident)
        if self.source.has_private:
            yield Section("template", self.source.templates(), self._template)
            if self.with_subscribers:
                yield Section("subscriber", self.source.subscribers(), self._subscriber)

    # -- one object --------------------------------------------------------------------------

    def _one(
        self,
        kind: str,
        doc: Any,
        parse: Callable[[Any], Any],
        write: Callable[[Any, datetime], tuple[str, str]],
        plan: Callable[[Any, datetime], str] | None = None,
        refresh: Callable[[Any, str, datetime], str] | None = None,
    ) -> Outcome:
        """Parse, then (in its own transaction, with its map row) write one object."""
        raw_id = doc.get("id") if isinstance(doc, dict) else None
        external = str(raw_id)[:MAX_CODE] if isinstance(raw_id, str | int) else "?"
        label = _label(doc)
        try:
            parsed = parse(doc)
        except ValidationError as exc:
            return Outcome(kind, external, label, REFUSED, _why(exc))
        now = self.clock()
        if self.dry_run:
            existing = idmap.find(self.page_id, kind, parsed.id)
            if existing is not None:
                return Outcome(kind, parsed.id, label, EXISTING, local_id=existing)
            try:
                note = plan(parsed, now) if plan is not None else ""
            except ValidationError as exc:
                return Outcome(kind, parsed.id, label, REFUSED, _why(exc))
            except _NotCarried as exc:
                return Outcome(kind, parsed.id, label, SKIPPED, str(exc))
            self._planned.setdefault(kind, set()).add(parsed.id)
            return Outcome(kind, parsed.id, label, ADDED, note)
        try:
            with database.write_transaction():
                existing = idmap.find(self.page_id, kind, parsed.id)
                if existing is not None:
                    # Run again on the day of the switch: what changed there since comes over.
                    changed = refresh(parsed, existing, now) if refresh is not None else ""
                    result = UPDATED if changed else EXISTING
                    return Outcome(kind, parsed.id, label, result, changed, local_id=existing)
                local, note = write(parsed, now)
                idmap.remember(self.page_id, kind, parsed.id, local, now=now)
        except ValidationError as exc:
            return Outcome(kind, parsed.id, label, REFUSED, _why(exc))
        except _NotCarried as exc:
            return Outcome(kind, parsed.id, label, SKIPPED, str(exc))
        except IntegrityError:
            # Another import of the same page wrote it first.
            db.session.rollback()
            return Outcome(kind, parsed.id, label, EXISTING)
        return Outcome(kind, parsed.id, label, ADDED, note, local_id=str(local))

    def _local(self, kind: str, external: str) -> str | None:
        found = idmap.find(self.page_id, kind, external)
        if found is None and self.dry_run and external in self._planned.get(kind, set()):
            return "0"
        return found

    # groups

    def _group(self, doc: Any) -> Outcome:
        return self._one("group", doc, parse_group, self._write_group, lambda g, now: "")

    def _write_group(self, group: SourceGroup, now: datetime) -> tuple[str, str]:
        created = component_service.create_group(
            group.name,
            now=now,
            actor=self.actor,
            description=group.description,
            position=group.position,
        )
        return str(created.id), ""

    # components

    def _component(self, doc: Any) -> Outcome:
        return self._one(
            "component",
            doc,
            parse_component,
            self._write_component,
            self._plan_component,
            self._refresh_component,
        )

    def _refresh_component(self, component: SourceComponent, local: str, now: datetime) -> str:
        """The component's current status, when it moved at the source since the last run."""
        row = db.session.get(Component, int(local))
        if row is None or row.status == component.status.value:
            return ""
        old = row.status
        since = min(component.updated_at or now, now)
        latest = history.latest_change(row)
        if latest is not None:
            since = max(since, latest)
        component_service.set_status(row, component.status, now=since)
        audit.record(
            self.actor,
            "component.imported",
            now=now,
            target_type="component",
            target_id=row.id,
            summary=f"{row.name}: {old} -> {row.status} at Statuspage page {self.page_id}",
            before={"status": old},
            after={"status": row.status, "external_id": component.id},
        )
        return f"status {old} -> {row.status}"

    def _group_of(self, component: SourceComponent) -> str | None:
        group_code = component.group_id or self._members.get(component.id)
        return self._local("group", group_code) if group_code else None

    def _plan_component(self, component: SourceComponent, now: datetime) -> str:
        if (component.group_id or self._members.get(component.id)) and not self._group_of(
            component
        ):
            return "its group was not brought over: it is put outside any group"
        return ""

    def _write_component(self, component: SourceComponent, now: datetime) -> tuple[str, str]:
        note = self._plan_component(component, now)
        local_group = self._group_of(component)
        group = db.session.get(ComponentGroup, int(local_group)) if local_group else None
        created = min(component.created_at or now, now)
        row = component_service.add_component(
            component.name,
            now=created,
            group=group,
            description=component.description,
            showcase=component.showcase,
            position=component.position,
        )
        if component.start_date is not None:
            row.start_date = min(component.start_date, created.date())
        if component.status is not ComponentStatus.OPERATIONAL:
            # Its current status, since it last changed: incidents fill in the history before.
            since = max(created, min(component.updated_at or now, now))
            component_service.set_status(row, component.status, now=since)
        row.updated_at = max(row.updated_at, min(component.updated_at or now, now))
        audit.record(
            self.actor,
            "component.imported",
            now=now,
            target_type="component",
            target_id=row.id,
            summary=f"imported component {row.name} from Statuspage page {self.page_id}",
            after={"name": row.name, "status": row.status, "external_id": component.id},
        )
        return str(row.id), note

    # incidents

    def _incident(self, doc: Any) -> Outcome:
        return self._one(
            "incident",
            doc,
            parse_incident,
            self._write_incident,
            self._plan_incident,
            self._refresh_incident,
        )

    def _refresh_incident(self, incident: SourceIncident, local: str, now: datetime) -> str:
        """The updates posted at the source since the last run."""
        row = db.session.get(Incident, int(local))
        if row is None:
            return ""
        past, _dropped = self._past(incident)
        added = history.extend_incident(row, past, actor=self.actor, now=now)
        return f"{added} later updates" if added else ""

    def _past(self, incident: SourceIncident) -> tuple[history.PastIncident, int]:
        """The incident in plain local values, and how many component changes were left out
        (components the source no longer has)."""
        dropped = 0
        updates = []
        for update in incident.updates:
            changes = []
            for change in update.changes:
                local = self._local("component", change.code)
                if local is None:
                    dropped += 1
                    continue
                changes.append(history.PastChange(int(local), change.new_status, change.old_status))
            updates.append(history.PastUpdate(update.status, update.body, update.at, changes))
        ids = [self._local("component", code) for code in incident.components]
        return (
            history.PastIncident(
                kind=incident.kind,
                name=incident.name,
                impact=incident.impact,
                updates=updates,
                component_ids=[int(i) for i in ids if i is not None],
                scheduled_for=incident.scheduled_for,
                scheduled_until=incident.scheduled_until,
                created_at=incident.created_at,
                postmortem=incident.postmortem,
                postmortem_published_at=incident.postmortem_published_at,
                postmortem_updated_at=incident.postmortem_updated_at,
                # A public API says "postmortem" without the postmortem: keep what it says.
                status="postmortem" if incident.status == "postmortem" else None,
            ),
            dropped,
        )

    @staticmethod
    def _dropped_note(dropped: int) -> str:
        if not dropped:
            return ""
        return f"{dropped} change(s) to components the source no longer has were left out"

    def _plan_incident(self, incident: SourceIncident, now: datetime) -> str:
        past, dropped = self._past(incident)
        history.check(past, now=now)
        return self._dropped_note(dropped)

    def _write_incident(self, incident: SourceIncident, now: datetime) -> tuple[str, str]:
        past, dropped = self._past(incident)
        row = history.record_incident(past, actor=self.actor, now=now)
        return str(row.id), self._dropped_note(dropped)

    # templates

    def _template(self, doc: Any) -> Outcome:
        return self._one("template", doc, parse_template, self._write_template, self._plan_template)

    def _message(self, template: SourceTemplate) -> library.Message:
        """The template as a library message (checked as a message file would be)."""
        kind = IncidentKind.INCIDENT
        if template.status in {s.value for s in MaintenanceStatus}:
            kind = IncidentKind.MAINTENANCE
        status = incident_service.parse_status(kind, template.status, "update_status").value
        return library.make_message(
            id=library_service.free_slug(template.name, prefix=TEMPLATE_PREFIX),
            title=template.title,
            status=status,
            impact=None,
            tags=("statuspage",),
            variables=(),
            body=template.body,
        )

    def _plan_template(self, template: SourceTemplate, now: datetime) -> str:
        self._same_in_library(template)
        self._message(template)
        return ""

    def _same_in_library(self, template: SourceTemplate) -> None:
        """A template whose text the library has already (the starter messages of another
        statuspage, a second import under another page id) is not added again."""
        found = library_service.versions_for_text(template.title, template.body, template.status)
        if found:
            slug, number = found[0]
            raise _NotCarried(f"the library has it already as {slug} v{number}")

    def _write_template(self, template: SourceTemplate, now: datetime) -> tuple[str, str]:
        self._same_in_library(template)
        message = self._message(template)
        slug = library_service.free_slug(template.name, prefix=TEMPLATE_PREFIX)
        version = library_service.create_message(
            slug,
            title=message.title,
            body=message.body,
            status=message.status.value,
            impact=None,
            tags=message.tags,
            now=now,
            actor=self.actor,
            reason=f"imported from Statuspage template {template.id}",
        )
        return version.message.slug, f"message {slug} v{version.number}"

    # subscribers

    def _subscriber(self, doc: Any) -> Outcome:
        return self._one(
            "subscriber", doc, parse_subscriber, self._write_subscriber, self._plan_subscriber
        )

    def _chosen(self, subscriber: SourceSubscriber) -> list[int] | None:
        ids = [self._local("component", code) for code in subscriber.components]
        chosen = sorted({int(i) for i in ids if i is not None and i != "0"})
        return chosen or None

    def _plan_subscriber(self, subscriber: SourceSubscriber, now: datetime) -> str:
        domains = subscriber_settings()["email_domains"]
        if subscriber.quarantined:
            raise _NotCarried("quarantined at the source (its deliveries kept failing)")
        if subscriber.mode == "email":
            check_email(subscriber.email, domains)
            return "confirmed"
        if subscriber.mode == "webhook":
            check_email(subscriber.email, domains)
            check_url(
                subscriber.endpoint,
                subscribers.webhook_policy(subscriber_settings()),
                resolve=self.resolve,
            )
            return "its contact gets a confirmation email"
        raise _NotCarried(f"{subscriber.mode} subscribers are not carried over")

    def _write_subscriber(self, subscriber: SourceSubscriber, now: datetime) -> tuple[str, str]:
        note = self._plan_subscriber(subscriber, now)
        chosen = self._chosen(subscriber)
        if subscriber.mode == "email":
            row = subscriber_admin.add_confirmed_email(
                subscriber.email, chosen, now=now, actor=self.actor
            )
            return str(row.id), note
        choice = subscribers.Choice(all=chosen is None, component_ids=chosen or [])
        row = subscribers.sign_up_webhook(
            subscriber.endpoint,
            subscriber.email,
            choice,
            now=now,
            source="import",
            resolve=self.resolve,
        )
        audit.record(
            self.actor,
            "subscriber.imported",
            now=now,
            target_type="subscriber",
            target_id=row.id,
            summary=f"imported webhook subscriber {row.email} (pending its contact's confirmation)",
        )
        return str(row.id), note


class _NotCarried(Exception):
    """An object this service has no counterpart for (SMS subscribers, ...)."""


def _why(exc: ValidationError) -> str:
    where = getattr(exc, "field", None)
    return f"{where}: {exc.message}" if where else str(exc.message)


def _created(doc: Any) -> tuple[int, str]:
    """Oldest first; an incident without a readable time goes last (and is refused there)."""
    if not isinstance(doc, dict):
        return (1, "")
    try:
        when = _time(doc.get("created_at"), "created_at")
    except ValidationError:
        when = None
    return (0, when.isoformat()) if when else (1, "")


def run(
    importer: Importer, *, on_section: Callable[[Section], Iterator[Any]] | None = None
) -> Report:
    """Bring everything over; `on_section` may wrap each section's items (a progress bar)."""
    report = Report()
    for section in importer.sections():
        items = on_section(section) if on_section is not None else iter(section.items)
        for item in items:
            report.outcomes.append(section.apply(item))
    return report


def summary_lines(report: Report, *, dry_run: bool = False) -> list[str]:
    """The end of an import: counts per kind, then each refused or left-out object with why."""
    lines = []
    added = "would add" if dry_run else "added"
    for kind in report.kinds:
        lines.append(
            f"{kind}s: {report.count(kind, ADDED)} {added}, "
            f"{report.count(kind, EXISTING)} already there, "
            f"{report.count(kind, UPDATED)} brought up to date, "
            f"{report.count(kind, REFUSED)} refused, {report.count(kind, SKIPPED)} not carried over"
        )
    for outcome in report.of(REFUSED) + report.of(SKIPPED):
        lines.append(f"  {outcome.line(dry_run)}")
    return lines
