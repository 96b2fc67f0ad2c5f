"""Read-side queries for the public page, API and feeds: bounded, indexed, eager where needed."""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.clock import utcnow
from statuspage.core import status as status_rules
from statuspage.core import uptime
from statuspage.core.enums import (
    ComponentStatus,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.db.extensions import db
from statuspage.db.models import (
    ROLLUP_NOT_QUIET,
    Component,
    ComponentGroup,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    UptimeRollup,
    incident_components,
)

CLOSED_INCIDENT = (IncidentStatus.RESOLVED.value, IncidentStatus.POSTMORTEM.value)
UPTIME_DAYS = 90


def _with_timeline():
    return (
        selectinload(Incident.updates).selectinload(IncidentUpdate.component_changes),
        selectinload(Incident.components),
    )


#: What a tree holds: the ORM's objects (`component_tree`) or plain rows (`component_rows`).
GroupT = TypeVar("GroupT", "ComponentGroup", "GroupRow")
ComponentT = TypeVar("ComponentT", "Component", "ComponentRow")


@dataclass
class ComponentTree(Generic[GroupT, ComponentT]):
    """Components in display order: groups with their members, then ungrouped ones."""

    groups: list[GroupT]
    members: dict[int, list[ComponentT]]
    ungrouped: list[ComponentT]

    @property
    def components(self) -> list[ComponentT]:
        """Every component in display order."""
        ordered = [c for g in self.groups for c in self.members.get(g.id, [])]
        return ordered + self.ungrouped


def component_tree() -> ComponentTree[ComponentGroup, Component]:
    """Load all groups and components in display order (two queries)."""
    groups = db.session.scalars(
        sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)
    ).all()
    components = db.session.scalars(
        sa.select(Component).order_by(Component.position, Component.id)
    ).all()
    return _tree(list(groups), list(components))


def _tree(groups: list[GroupT], components: list[ComponentT]) -> ComponentTree[GroupT, ComponentT]:
    """Sort components (in display order) under their groups."""
    members: dict[int, list[ComponentT]] = defaultdict(list)
    ungrouped: list[ComponentT] = []
    for component in components:
        if component.group_id is None:
            ungrouped.append(component)
        else:
            members[component.group_id].append(component)
    return ComponentTree(groups=groups, members=dict(members), ungrouped=ungrouped)


# The front page reads with Core into the small rows below: it only shows, so it needs no
# identity map, change tracking or relationship loaders (most of its cost through the ORM).


@dataclass(slots=True, eq=False)
class GroupRow:
    """A component group as a page shows it."""

    id: int
    name: str
    description: str


@dataclass(slots=True, eq=False)
class ComponentRow:
    """A component as a page shows it."""

    id: int
    group_id: int | None
    name: str
    description: str
    status: str
    showcase: bool
    created_at: datetime

    @property
    def status_enum(self) -> ComponentStatus:
        return ComponentStatus(self.status)


@dataclass(slots=True, eq=False)
class UpdateRow:
    """An update as the front page shows it (no component changes: the page does not list them)."""

    id: int
    incident_id: int
    status: str
    body_html: str
    display_at: datetime
    edited_at: datetime | None


@dataclass(slots=True, eq=False)
class IncidentRow:
    """An incident or maintenance as the front page shows it, newest update first."""

    id: int
    kind: str
    name: str
    status: str
    impact: str
    started_at: datetime
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    updates: list[UpdateRow] = field(default_factory=list)
    components: list[ComponentRow] = field(default_factory=list)

    @property
    def is_maintenance(self) -> bool:
        return self.kind == IncidentKind.MAINTENANCE.value

    @property
    def is_upcoming_maintenance(self) -> bool:
        return self.is_maintenance and self.status == MaintenanceStatus.SCHEDULED.value

    @property
    def status_enum(self):
        return status_for(self.kind, self.status)


@dataclass
class FrontPage:
    """What the front page lists: components, open incidents, maintenances, recent incidents."""

    tree: ComponentTree[GroupRow, ComponentRow]
    open_incidents: list[IncidentRow]
    active_maintenances: list[IncidentRow]
    upcoming_maintenances: list[IncidentRow]
    #: Incidents and maintenances that started or ended since `since`, newest first.
    recent: list[IncidentRow]


_GROUPS = ComponentGroup.__table__
_COMPONENTS = Component.__table__
_INCIDENTS = Incident.__table__
_UPDATES = IncidentUpdate.__table__
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)

# Built once: a statement reused as is also reuses its cache key (no per-request compile work).
_GROUP_ROWS = sa.select(_GROUPS.c.id, _GROUPS.c.name, _GROUPS.c.description).order_by(
    _GROUPS.c.position, _GROUPS.c.id
)
_COMPONENT_ROWS = sa.select(
    *(
        _COMPONENTS.c[name]
        for name in ("id", "group_id", "name", "description", "status", "showcase", "created_at")
    )
).order_by(_COMPONENTS.c.position, _COMPONENTS.c.id)
_RECENT_IDS = (
    sa.select(_INCIDENTS.c.id)
    .where(
        _INCIDENTS.c.id.in_(
            # A union of two index ranges: with OR, SQLite walks the whole started_at index.
            sa.union(
                sa.select(_INCIDENTS.c.id).where(_INCIDENTS.c.started_at >= sa.bindparam("since")),
                sa.select(_INCIDENTS.c.id).where(_INCIDENTS.c.resolved_at >= sa.bindparam("since")),
            )
        )
    )
    .order_by(_INCIDENTS.c.started_at.desc(), _INCIDENTS.c.id.desc())
    .limit(sa.bindparam("limit"))
)
_FRONT_INCIDENTS = (
    sa.select(
        *(
            _INCIDENTS.c[name]
            for name in (
                "id",
                "kind",
                "name",
                "status",
                "impact",
                "started_at",
                "resolved_at",
                "scheduled_for",
                "scheduled_until",
            )
        )
    )
    # Open ones (resolved_at is empty exactly while open; an index finds those) and recent ones.
    .where(sa.or_(_INCIDENTS.c.resolved_at.is_(None), _INCIDENTS.c.id.in_(_RECENT_IDS)))
    .order_by(_INCIDENTS.c.started_at.desc(), _INCIDENTS.c.id.desc())
)
_FRONT_UPDATES = (
    sa.select(
        *(
            _UPDATES.c[name]
            for name in ("id", "incident_id", "status", "body_html", "display_at", "edited_at")
        )
    )
    .where(_UPDATES.c.incident_id.in_(_IDS))
    .order_by(_UPDATES.c.display_at.desc(), _UPDATES.c.id.desc())
)
_FRONT_LINKS = sa.select(
    incident_components.c.incident_id, incident_components.c.component_id
).where(incident_components.c.incident_id.in_(_IDS))


def component_rows() -> ComponentTree[GroupRow, ComponentRow]:
    """Load all groups and components in display order as plain rows (two queries)."""
    groups = [GroupRow(*row) for row in db.session.execute(_GROUP_ROWS).all()]
    components = [ComponentRow(*row) for row in db.session.execute(_COMPONENT_ROWS).all()]
    return _tree(groups, components)


def _soonest_first(incident: IncidentRow) -> tuple:
    # A maintenance always has a window (publishing requires one); an empty one sorts first,
    # as SQLite orders NULLs.
    at = incident.scheduled_for
    return (at is not None, at or incident.started_at, incident.id)


def front_page(*, since: datetime, limit: int = 50) -> FrontPage:
    """Everything the front page lists, in five queries whatever the history holds.

    The same sets as `unresolved_incidents`, `active_maintenances`, `upcoming_maintenances`
    and `recent_incidents(since=since, limit=limit)`, read at once and split here.
    """
    tree = component_rows()
    incidents = [
        IncidentRow(*row)
        for row in db.session.execute(_FRONT_INCIDENTS, {"since": since, "limit": limit}).all()
    ]
    open_incidents: list[IncidentRow] = []
    active: list[IncidentRow] = []
    upcoming: list[IncidentRow] = []
    recent: list[IncidentRow] = []
    for incident in incidents:
        if incident.resolved_at is None:
            if incident.kind == IncidentKind.INCIDENT.value:
                if incident.status not in CLOSED_INCIDENT:
                    open_incidents.append(incident)
            elif incident.status in (
                MaintenanceStatus.IN_PROGRESS.value,
                MaintenanceStatus.VERIFYING.value,
            ):
                active.append(incident)
            elif incident.status == MaintenanceStatus.SCHEDULED.value:
                upcoming.append(incident)
        # Every incident the limited subquery chose is here, so the first `limit` that match
        # are the ones it chose (open ones that match may be among them).
        if len(recent) < limit and (
            incident.started_at >= since
            or (incident.resolved_at is not None and incident.resolved_at >= since)
        ):
            recent.append(incident)
    if incidents:
        by_id = {incident.id: incident for incident in incidents}
        for row in db.session.execute(_FRONT_UPDATES, {"ids": list(by_id)}).all():
            update = UpdateRow(*row)
            by_id[update.incident_id].updates.append(update)
    cards = {i.id: i for i in (*open_incidents, *active, *upcoming)}
    if cards:
        # Only the cards name what an incident affects; in display order, like the relationship.
        components = tree.components
        component_by_id = {c.id: c for c in components}
        order = {c.id: n for n, c in enumerate(components)}
        for incident_id, component_id in db.session.execute(
            _FRONT_LINKS, {"ids": list(cards)}
        ).all():
            cards[incident_id].components.append(component_by_id[component_id])
        for incident in cards.values():
            incident.components.sort(key=lambda c: order[c.id])
    active.sort(key=_soonest_first)
    upcoming.sort(key=_soonest_first)
    return FrontPage(tree, open_incidents, active, upcoming, recent)


def unresolved_incidents() -> list[Incident]:
    """Open incidents, newest first, with their timelines."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            # resolved_at is empty exactly while an incident is open; the index finds those.
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.INCIDENT.value)
            .where(Incident.status.not_in(CLOSED_INCIDENT))
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .options(*_with_timeline())
        )
    )


def active_maintenances() -> list[Incident]:
    """Maintenances in progress or being verified, soonest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.MAINTENANCE.value)
            .where(
                Incident.status.in_(
                    (MaintenanceStatus.IN_PROGRESS.value, MaintenanceStatus.VERIFYING.value)
                )
            )
            .order_by(Incident.scheduled_for, Incident.id)
            .options(*_with_timeline())
        )
    )


def upcoming_maintenances() -> list[Incident]:
    """Maintenances still scheduled, soonest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.resolved_at.is_(None))
            .where(Incident.kind == IncidentKind.MAINTENANCE.value)
            .where(Incident.status == MaintenanceStatus.SCHEDULED.value)
            .order_by(Incident.scheduled_for, Incident.id)
            .options(*_with_timeline())
        )
    )


def recent_incidents(
    *, since: datetime, kind: IncidentKind | None = None, limit: int = 50
) -> list[Incident]:
    """Incidents (and maintenances) that started or ended since `since`, newest first."""
    # A union of two index ranges: with OR, SQLite walks the whole started_at index.
    recent = sa.union(
        sa.select(Incident.id).where(Incident.started_at >= since),
        sa.select(Incident.id).where(Incident.resolved_at >= since),
    )
    query = (
        sa.select(Incident)
        .where(Incident.id.in_(recent))
        .order_by(Incident.started_at.desc(), Incident.id.desc())
        .limit(limit)
        .options(*_with_timeline())
    )
    if kind is not None:
        query = query.where(Incident.kind == kind.value)
    return list(db.session.scalars(query))


def latest_incidents(
    limit: int = 50, *, kind: IncidentKind = IncidentKind.INCIDENT
) -> list[Incident]:
    """The newest incidents (or maintenances), open or not."""
    order: tuple[sa.UnaryExpression[Any], ...] = (Incident.started_at.desc(), Incident.id.desc())
    if kind is IncidentKind.MAINTENANCE:
        order = (Incident.scheduled_for.desc(), Incident.id.desc())
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.kind == kind.value)
            .order_by(*order)
            .limit(limit)
            .options(*_with_timeline())
        )
    )


def _touching(component_id: int | None) -> sa.ColumnElement[bool]:
    """Incidents that affect a component (every incident when `component_id` is None)."""
    if component_id is None:
        return sa.true()
    return (
        sa.select(incident_components.c.incident_id)
        .where(
            incident_components.c.incident_id == Incident.id,
            incident_components.c.component_id == component_id,
        )
        .exists()
    )


def incidents_between(
    start: datetime,
    end: datetime,
    *,
    limit: int | None = None,
    offset: int = 0,
    component_id: int | None = None,
) -> list[Incident]:
    """Incidents and maintenances that started in [start, end), newest first (a history page),
    of one component if `component_id` is given."""
    query = (
        sa.select(Incident)
        .where(Incident.started_at >= start, Incident.started_at < end, _touching(component_id))
        .order_by(Incident.started_at.desc(), Incident.id.desc())
        .offset(offset)
        .options(*_with_timeline())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def count_incidents_between(
    start: datetime, end: datetime, *, component_id: int | None = None
) -> int:
    """How many incidents and maintenances started in [start, end) (from the start index)."""
    return db.session.execute(
        sa.select(sa.func.count())
        .select_from(Incident)
        .where(Incident.started_at >= start, Incident.started_at < end, _touching(component_id))
    ).scalar_one()


def first_incident_start(*, component_id: int | None = None) -> datetime | None:
    """When the oldest incident (of a component) started, to bound history pagination."""
    return db.session.scalar(
        sa.select(sa.func.min(Incident.started_at)).where(_touching(component_id))
    )


#: How long before a period an incident going on in it may have started, when it has been
#: resolved since: keeps "what was going on that day" a bounded read (open incidents are found
#: whatever their age). A longer incident is listed on its first days only.
LONGEST_INCIDENT = timedelta(days=92)


def _going_on(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """Incidents and maintenances going on at some moment of [start, end)."""
    return sa.and_(
        Incident.started_at < end,
        sa.or_(
            Incident.resolved_at.is_(None),
            sa.and_(Incident.resolved_at >= start, Incident.started_at >= start - LONGEST_INCIDENT),
        ),
    )


def incidents_going_on(
    start: datetime, end: datetime, *, limit: int, component_id: int | None = None
) -> list[Incident]:
    """Incidents and maintenances going on during [start, end) (a day of the history), of one
    component if `component_id` is given, newest first."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(_going_on(start, end), _touching(component_id))
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .limit(limit)
            .options(*_with_timeline())
        )
    )


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    """When an incident or maintenance affecting a component went on."""

    component_id: int
    kind: str
    status: str
    started_at: datetime
    resolved_at: datetime | None

    @property
    def is_upcoming_maintenance(self) -> bool:
        return (
            self.kind == IncidentKind.MAINTENANCE.value
            and self.status == MaintenanceStatus.SCHEDULED.value
        )


def incident_spans(component_ids: list[int], start: datetime, end: datetime) -> list[IncidentSpan]:
    """The incidents and maintenances going on during [start, end) per component, in one
    query (the uptime bars count them by day)."""
    if not component_ids:
        return []
    link = incident_components
    rows = db.session.execute(
        sa.select(
            link.c.component_id,
            Incident.kind,
            Incident.status,
            Incident.started_at,
            Incident.resolved_at,
        )
        .join(link, link.c.incident_id == Incident.id)
        .where(_going_on(start, end), link.c.component_id.in_(component_ids))
    ).all()
    return [IncidentSpan(*row) for row in rows]


#: Lower bounds tried in turn by the per-component lists. Within a window the newest rows are
#: walked by their time index and kept when the component is among theirs (no sort, it stops at
#: `limit`); a component quiet for the whole last window is read through its own index instead,
#: and sorted (a quiet component has few rows).
COMPONENT_WINDOWS = (timedelta(days=30), timedelta(days=365))


def _newest_for_component(
    query: sa.Select, model, column, incident_id, component_id: int, limit: int, now
) -> list:
    """The first `limit` rows of `query` (newest first by `column`) touching a component.

    Ids are found first and the rows (with what they load eagerly) fetched once.
    """
    now = now or utcnow()
    order = (column.desc(), model.id.desc())
    ids = sa.select(model.id).order_by(*order).limit(limit)
    touches = sa.exists().where(
        incident_components.c.incident_id == incident_id,
        incident_components.c.component_id == component_id,
    )
    found: list[int] = []
    for window in COMPONENT_WINDOWS:
        found = list(db.session.scalars(ids.where(column >= now - window, touches)))
        if len(found) >= limit:
            break
    else:
        found = list(
            db.session.scalars(
                ids.join(
                    incident_components, incident_components.c.incident_id == incident_id
                ).where(incident_components.c.component_id == component_id)
            )
        )
    if not found:
        return []
    return list(db.session.scalars(query.where(model.id.in_(found)).order_by(*order)))


def incidents_for_component(
    component_id: int, limit: int = 20, *, now: datetime | None = None
) -> list[Incident]:
    """The newest incidents and maintenances that affected a component."""
    query = sa.select(Incident).options(*_with_timeline())
    return _newest_for_component(
        query, Incident, Incident.started_at, Incident.id, component_id, limit, now
    )


def incident_with_timeline(incident_id: int) -> Incident | None:
    """One incident with its updates and components, or None."""
    return db.session.scalar(
        sa.select(Incident).where(Incident.id == incident_id).options(*_with_timeline())
    )


def feed_updates(
    limit: int = 50, *, component_id: int | None = None, now: datetime | None = None
) -> list[IncidentUpdate]:
    """The newest updates for a feed, optionally only for incidents touching one component."""
    query = sa.select(IncidentUpdate).options(
        selectinload(IncidentUpdate.incident).selectinload(Incident.components),
        selectinload(IncidentUpdate.component_changes),
    )
    if component_id is not None:
        return _newest_for_component(
            query,
            IncidentUpdate,
            IncidentUpdate.display_at,
            IncidentUpdate.incident_id,
            component_id,
            limit,
            now,
        )
    return list(
        db.session.scalars(
            query.order_by(IncidentUpdate.display_at.desc(), IncidentUpdate.id.desc()).limit(limit)
        )
    )


def feed_postmortems(limit: int = 50, *, component_id: int | None = None) -> list[Incident]:
    """The newest published postmortems, optionally of incidents touching one component."""
    query = (
        sa.select(Incident)
        .where(Incident.postmortem_published_at.is_not(None))
        .order_by(Incident.postmortem_published_at.desc(), Incident.id.desc())
        .limit(limit)
        .options(selectinload(Incident.components))
    )
    if component_id is not None:
        query = query.join(
            incident_components, incident_components.c.incident_id == Incident.id
        ).where(incident_components.c.component_id == component_id)
    return list(db.session.scalars(query))


_CHANGES = ComponentStatusChange.__table__
# The change in force when the window opens: one indexed lookup per component
# (component_id, started_at), so the cost does not grow with the history.
_IN_FORCE = (
    sa.select(_CHANGES.c.id)
    .where(
        _CHANGES.c.component_id == _COMPONENTS.c.id,
        _CHANGES.c.started_at <= sa.bindparam("since"),
    )
    .order_by(_CHANGES.c.started_at.desc(), _CHANGES.c.id.desc())
    .limit(1)
    .correlate(_COMPONENTS)
    .scalar_subquery()
)
_STATUS_CHANGES = (
    sa.select(_CHANGES.c.component_id, _CHANGES.c.started_at, _CHANGES.c.status)
    .where(
        sa.or_(
            sa.and_(
                _CHANGES.c.component_id.in_(_IDS), _CHANGES.c.started_at > sa.bindparam("since")
            ),
            _CHANGES.c.id.in_(sa.select(_IN_FORCE).where(_COMPONENTS.c.id.in_(_IDS))),
        )
    )
    .order_by(_CHANGES.c.component_id, _CHANGES.c.started_at, _CHANGES.c.id)
)


def status_changes(component_ids: list[int], since: datetime) -> dict[int, list[uptime.Change]]:
    """Each component's status changes since `since`, plus the one in force at `since`."""
    if not component_ids:
        return {}
    rows = db.session.execute(_STATUS_CHANGES, {"ids": component_ids, "since": since}).all()
    result: dict[int, list[uptime.Change]] = {cid: [] for cid in component_ids}
    for component_id, at, status in rows:
        result[component_id].append(uptime.Change(at=at, status=ComponentStatus(status)))
    return result


@dataclass(eq=False)
class ClosedDays:
    """A component's closed days of the window (all but today), shared while unchanged.

    Kept in `_CLOSED_DAYS` keyed by their values, so one object stands for one state of the
    rollup: templates memoise its rendered cells on it. Treat it as read-only.
    """

    days: tuple[uptime.DayUptime, ...]
    #: Totals over all of them, and over the last days of the 30-day window.
    all_totals: uptime.Totals
    tail_totals: uptime.Totals


@dataclass
class ComponentUptime:
    """A component's recent days and its uptime percentages."""

    days: list[uptime.DayUptime]
    percent_90: float | None
    percent_30: float | None
    closed: ClosedDays | None = None
    extra: dict = field(default_factory=dict)


#: Closed days by (time zone, component, first day, values of the days that are not quiet);
#: bounded: about one entry per component and day.
_CLOSED_DAYS: OrderedDict[tuple, ClosedDays] = OrderedDict()
_CLOSED_DAYS_MAX = 512
_CLOSED_DAYS_LOCK = threading.Lock()
SHORT_WINDOW = 30


#: The values of a rolled-up day known throughout with no problem: (known seconds, then
#: `uptime.problem_seconds`). Most days are like that, so pages count them instead of reading
#: them; every other day is read (or computed) with its values.
QUIET_DAY = (86400.0, 0.0, 0.0, 0.0, 0.0)


def _closed_days(key: tuple, closed_days: list[date], noisy: tuple[tuple, ...]) -> ClosedDays:
    """The ClosedDays of these days, quiet but for `noisy` ((day, known, problems...) each)."""
    with _CLOSED_DAYS_LOCK:
        found = _CLOSED_DAYS.get(key)
        if found is not None:
            _CLOSED_DAYS.move_to_end(key)
            return found
    values = {row[0]: row[1:] for row in noisy}
    computed = []
    for day in closed_days:
        known, *problems = values.get(day, QUIET_DAY)
        computed.append(uptime.day_from_seconds(day, known, problems))
    days = tuple(computed)
    closed = ClosedDays(
        days=days,
        all_totals=uptime.totals(days),
        tail_totals=uptime.totals(days[len(days) - (SHORT_WINDOW - 1) :]),
    )
    with _CLOSED_DAYS_LOCK:
        _CLOSED_DAYS[key] = closed
        while len(_CLOSED_DAYS) > _CLOSED_DAYS_MAX:
            _CLOSED_DAYS.popitem(last=False)
    return closed


_ROLLUP = UptimeRollup.__table__
_ROLLUP_VALUES = (
    _ROLLUP.c.known_seconds,
    _ROLLUP.c.major_outage_seconds,
    _ROLLUP.c.partial_outage_seconds,
    _ROLLUP.c.degraded_seconds,
    _ROLLUP.c.maintenance_seconds,
)
_ROLLUP_WINDOW = (
    _ROLLUP.c.component_id.in_(_IDS),
    _ROLLUP.c.time_zone == sa.bindparam("zone"),
    _ROLLUP.c.day >= sa.bindparam("first_day"),
    _ROLLUP.c.day < sa.bindparam("today"),
)
# Spelled as the partial index spells it, so the database reads the index of those days only.
_NOT_QUIET = sa.text(ROLLUP_NOT_QUIET)

# The days that are not quiet (marked 0), then per component (marked 1) its newest day and
# how many days it has, in the `known_seconds` column.
_ROLLUP_READ = sa.union_all(
    sa.select(_ROLLUP.c.component_id, _ROLLUP.c.day, *_ROLLUP_VALUES, sa.literal_column("0")).where(
        *_ROLLUP_WINDOW, _NOT_QUIET
    ),
    sa.select(
        _ROLLUP.c.component_id,
        sa.func.max(_ROLLUP.c.day),
        sa.func.count(),
        *[sa.null()] * 4,
        sa.literal_column("1"),
    )
    .where(*_ROLLUP_WINDOW)
    .group_by(_ROLLUP.c.component_id),
)
_ROLLUP_DAYS = sa.select(_ROLLUP.c.component_id, _ROLLUP.c.day).where(*_ROLLUP_WINDOW)


def rolled_up_days(
    component_ids: list[int], *, tz: ZoneInfo, first_day: date, today: date
) -> dict[int, tuple[date, dict[date, tuple]]]:
    """Per component: the first day in [first_day, today) it has no rollup row for (`today`
    when it has them all), and its rolled-up days that are not quiet: day -> (day, known,
    problems...). Days before the first gap that are not listed are QUIET_DAY.

    Reads the few days that had something and counts the rest. A rollup that stops early
    (days voided and not filled again yet) is seen from its count and newest day; only one
    with a hole further back has its days listed, in a second query.
    """
    params = {
        "ids": component_ids,
        "zone": uptime.zone_key(tz),
        "first_day": first_day,
        "today": today,
    }
    noisy: dict[int, dict[date, tuple]] = {cid: {} for cid in component_ids}
    until = dict.fromkeys(component_ids, first_day)
    holes = []
    # .all(): one fetch for every row (iterating fetches them one at a time).
    for row in db.session.execute(_ROLLUP_READ, params).all():
        cid, day = row[0], row[1]
        if not row[-1]:
            noisy[cid][day] = tuple(row[1:-1])
        elif row[2] == (day - first_day).days + 1:
            until[cid] = day + timedelta(days=1)  # every day up to the newest one
        else:
            holes.append(cid)
    if holes:
        present: dict[int, set[date]] = {cid: set() for cid in holes}
        for cid, day in db.session.execute(_ROLLUP_DAYS, {**params, "ids": holes}).all():
            present[cid].add(day)
        for cid in holes:
            days = (first_day + timedelta(days=n) for n in range((today - first_day).days))
            until[cid] = next((d for d in days if d not in present[cid]), today)
    return {cid: (until[cid], noisy[cid]) for cid in component_ids}


def uptimes(
    components: list, *, now: datetime, tz: ZoneInfo, days: int = UPTIME_DAYS
) -> dict[int, ComponentUptime]:
    """The daily uptime bars and percentages of several components at once.

    Closed days come from the rollup; only the days it lacks, and today, are computed from
    the raw status history (the same rules either way: `uptime.daily_uptime`).
    """
    if not components:
        return {}
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=days - 1)
    ids = [c.id for c in components]
    rolled = rolled_up_days(ids, tz=tz, first_day=first_day, today=today)
    closed_days = [first_day + timedelta(days=n) for n in range(days - 1)]
    since = min(datetime.combine(until, time(0), tzinfo=tz) for until, _ in rolled.values())
    changes = status_changes(ids, since)
    zone = uptime.zone_key(tz)
    result = {}
    for component in components:
        cid = component.id
        until, rolled_noisy = rolled[cid]
        raw = uptime.daily_uptime(
            changes.get(cid, []),
            now=now,
            days=(today - until).days + 1,
            tz=tz,
            data_start=component.created_at,
        )
        noisy = [row for day, row in sorted(rolled_noisy.items()) if day < until]
        for day in raw[:-1]:
            row = (day.day, day.known_seconds, *uptime.problem_seconds(day))
            if row[1:] != QUIET_DAY:
                noisy.append(row)
        key = (zone, cid, first_day, len(closed_days), *noisy)
        closed = _closed_days(key, closed_days, tuple(noisy))
        today_uptime = raw[-1]
        result[cid] = ComponentUptime(
            days=[*closed.days, today_uptime],
            percent_90=closed.all_totals.plus(today_uptime).percent,
            percent_30=closed.tail_totals.plus(today_uptime).percent,
            closed=closed,
        )
    return result


def overall_status(
    tree: ComponentTree[Any, Any],
    open_incidents: Sequence[Incident | IncidentRow],
    maintenances: Sequence[Incident | IncidentRow],
) -> status_rules.OverallStatus:
    """The page-wide status from what is already loaded (no further queries)."""
    return status_rules.overall_status(
        [c.status for c in tree.components],
        [i.impact for i in open_incidents],
        maintenance_in_progress=bool(maintenances),
    )


def last_change_at() -> datetime | None:
    """The newest `updated_at` among components and incidents: the page's `updated_at`."""
    times = [
        db.session.scalar(sa.select(sa.func.max(Incident.updated_at))),
        db.session.scalar(sa.select(sa.func.max(Component.updated_at))),
    ]
    return max((t for t in times if t is not None), default=None)


def closed_incidents(kind: IncidentKind, *, offset: int = 0, limit: int = 25) -> list[Incident]:
    """Resolved incidents (or completed maintenances), newest first, one admin page at a time."""
    return list(
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.kind == kind.value)
            .where(Incident.resolved_at.is_not(None))
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .offset(offset)
            .limit(limit)
            .options(*_with_timeline())
        )
    )
