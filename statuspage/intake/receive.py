"""Alerts in: record each alert once by fingerprint, then act as its rule says, in one transaction.

- `draft` rules prepare a stored draft (publishing/drafts.py) with the rule's canned message and
  components, and tell the PM through the channels of the rule's escalation path; further alerts
  of the rule join that draft, or the incident it became. When every alert of the incident has
  resolved, a resolve draft is proposed the same way.
- `publish` rules do the same and publish at once, audited as the rule.
- `component_status` rules set the components' status while the alert fires and put it back when
  it resolves, unless an open incident holds the component; flap damping waits for `min_alerts`
  firing notifications and keeps a component in a state for `min_state_seconds` (the worker's
  tick applies what it held back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from statuspage.core.enums import ComponentStatus
from statuspage.core.escalation import render
from statuspage.core.escalation.config import EscalationConfig
from statuspage.core.intake.payloads import FIRING, RESOLVED, AlertIn
from statuspage.core.intake.rules import IntakeConfig, Rule
from statuspage.db import audit, database
from statuspage.db.extensions import db
from statuspage.db.models import (
    Alert,
    Component,
    ComponentStatusChange,
    Incident,
    Integration,
)
from statuspage.db.models import Draft as StoredDraft
from statuspage.delivery import escalation
from statuspage.errors import StatuspageError
from statuspage.publishing import drafts, library
from statuspage.publishing import publish as core

_RESOLVED_FIRST = "every alert resolved before it was published"
#: Held component changes the tick applies per run.
TICK_BATCH = 100


@dataclass(frozen=True)
class Context:
    """What intake needs from the app: the rules, the escalation paths, the site, the clock."""

    rules: IntakeConfig | None
    escalation: EscalationConfig | None
    site_name: str
    site_url: str
    now: datetime

    @classmethod
    def from_settings(cls, settings: Any, now: datetime) -> Context:
        """The context from the app's settings (statuspage.config.Settings)."""
        return cls(
            rules=settings.intake,
            escalation=settings.escalation,
            site_name=settings.site["name"],
            site_url=settings.site["url"].rstrip("/"),
            now=now,
        )


@dataclass
class Received:
    """What one request did, as the endpoint reports it."""

    received: int = 0
    new: int = 0
    deduplicated: int = 0
    resolved: int = 0
    unmatched: int = 0
    drafts: list[int] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "new": self.new,
            "deduplicated": self.deduplicated,
            "resolved": self.resolved,
            "unmatched": self.unmatched,
            "drafts": sorted(set(self.drafts)),
            "published_updates": sorted(set(self.published)),
            "component_changes": self.components,
        }


@dataclass
class _Batch:
    """One request's work: its result, and what it looked up once for all of its alerts."""

    now: datetime
    result: Received = field(default_factory=Received)
    rows: dict[str, Alert] = field(default_factory=dict)
    #: Rows `_preload` inserted, not yet handed to `_record`.
    fresh: dict[str, Alert] = field(default_factory=dict)
    components: dict[str, Component | None] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    #: draft and publish rules: where the rule's next firing alert goes (its draft or incident)
    homes: dict[str, Incident | StoredDraft] = field(default_factory=dict)
    #: component_status rules: component id -> (component, the alerts (and rules) that bear on it)
    touched: dict[int, tuple[Component, list[tuple[Alert, Rule]]]] = field(default_factory=dict)
    #: What happened to each alert (by id() of its row), for its outcome.
    notes: dict[int, list[str]] = field(default_factory=dict)

    def lock(self, name: str) -> None:
        """`database.lock_name` once per request."""
        if name not in self.locked:
            database.lock_name(name)
            self.locked.add(name)


#: Alert rows read with one query per this many fingerprints.
_PRELOAD = 500


def rule_actor(rule: Rule) -> audit.Actor:
    """Who acts for a rule in the audit log."""
    return audit.Actor(label=f"intake rule {rule.name}")


def receive(integration: Integration, alerts: Sequence[AlertIn], ctx: Context) -> Received:
    """Record and act on `alerts` from `integration` in the caller's transaction."""
    batch = _Batch(now=ctx.now)
    result = batch.result
    _preload(integration, alerts, batch)
    for alert in alerts:
        result.received += 1
        row, change = _record(integration, alert, ctx.now, batch)
        if change == "duplicate":
            result.deduplicated += 1
            _repeat(row, alert, ctx, batch)
        elif change == "fired":
            result.new += 1
            _fired(row, alert, integration, ctx, batch)
        elif change == "resolved":
            result.resolved += 1
            _resolved(row, ctx, batch)
        else:  # a resolve for an alert we never saw firing: recorded, nothing to undo
            row.outcome = "resolved before it was seen firing"
    _apply_components(ctx, batch)
    return result


def _preload(integration: Integration, alerts: Sequence[AlertIn], batch: _Batch) -> None:
    """Read (and lock) the rows of the alerts we know already, and insert the new ones: a few
    statements for all of them rather than a few per alert."""
    fingerprints = sorted({alert.fingerprint for alert in alerts})
    for start in range(0, len(fingerprints), _PRELOAD):
        chunk = fingerprints[start : start + _PRELOAD]
        query = sa.select(Alert).where(
            Alert.integration_id == integration.id, Alert.fingerprint.in_(chunk)
        )
        for row in db.session.scalars(query.with_for_update()):
            batch.rows[row.fingerprint] = row
    new: dict[str, Alert] = {}
    for alert in alerts:
        if alert.fingerprint not in batch.rows and alert.fingerprint not in new:
            new[alert.fingerprint] = _new_row(integration, alert, batch.now)
    if not new:
        return
    try:
        with db.session.begin_nested():
            db.session.add_all(new.values())
            db.session.flush()
    except IntegrityError:
        return  # another request inserted one of them meanwhile: `_record` goes one by one
    batch.rows.update(new)
    batch.fresh.update(new)


def _record(
    integration: Integration, alert: AlertIn, now: datetime, batch: _Batch
) -> tuple[Alert, str]:
    """Insert or update the alert's row; return it and what changed."""
    if batch.fresh.pop(alert.fingerprint, None) is not None:  # inserted by `_preload`
        return batch.rows[alert.fingerprint], _first(alert)
    row = batch.rows.get(alert.fingerprint)
    if row is None:
        row = _new_row(integration, alert, now)
        if not _insert(row):
            # The same new alert arrived twice at once (Alertmanager HA pairs do that); the
            # savepoint's rollback has dropped our row: take the winner's.
            query = sa.select(Alert).where(
                Alert.integration_id == integration.id, Alert.fingerprint == alert.fingerprint
            )
            row = db.session.scalars(query.with_for_update()).one()
            batch.rows[alert.fingerprint] = row
        else:
            batch.rows[alert.fingerprint] = row
            return row, _first(alert)
    row.received_count += 1
    if alert.status == row.status:
        row.duplicate_count += 1
        if alert.status == FIRING:
            row.firing_count += 1
        row.last_received_at = now
        row.raw = dict(alert.raw)
        return row, "duplicate"
    _fill(row, alert, now)
    if alert.status == FIRING:  # fired again after it had resolved: a new episode
        row.started_at = _start(alert, now)
        row.resolved_at = None
        row.firing_count = 1
        row.draft_id = None
        row.held_until = None
        return row, "fired"
    row.resolved_at = alert.ends_at or now
    return row, "resolved"


def _new_row(integration: Integration, alert: AlertIn, now: datetime) -> Alert:
    row = Alert(
        integration_id=integration.id,
        fingerprint=alert.fingerprint,
        received_count=1,
        duplicate_count=0,
        firing_count=1 if alert.status == FIRING else 0,
        first_received_at=now,
        started_at=_start(alert, now),
        resolved_at=(alert.ends_at or now) if alert.status == RESOLVED else None,
    )
    _fill(row, alert, now)
    return row


def _start(alert: AlertIn, now: datetime) -> datetime:
    """When the alert started: the sender's time, but never in the future (a wrong clock)."""
    return min(alert.starts_at, now) if alert.starts_at is not None else now


def _first(alert: AlertIn) -> str:
    """What the first notification of an alert is: it fired, or it resolved unseen."""
    return "fired" if alert.status == FIRING else "resolved-unseen"


def _insert(row: Alert) -> bool:
    """Add a new alert's row; False if another request inserted the same alert first."""
    if db.session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE serialises writers: nobody can have inserted it since we looked.
        db.session.add(row)
        return True
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def _fill(row: Alert, alert: AlertIn, now: datetime) -> None:
    row.status = alert.status
    row.title = alert.title
    row.severity = alert.severity
    row.labels = dict(alert.labels)
    row.annotations = dict(alert.annotations)
    row.url = alert.url
    row.raw = dict(alert.raw)
    row.last_received_at = now


def as_alert(row: Alert) -> AlertIn:
    """The alert a row holds, for rules to read again (resolve, tick)."""
    return AlertIn(
        fingerprint=row.fingerprint,
        status=row.status,
        title=row.title,
        severity=row.severity,
        labels=dict(row.labels or {}),
        annotations=dict(row.annotations or {}),
        starts_at=row.started_at,
        ends_at=row.resolved_at,
        url=row.url,
    )


# -- firing --------------------------------------------------------------------------------


def _fired(
    row: Alert, alert: AlertIn, integration: Integration, ctx: Context, batch: _Batch
) -> None:
    rule = ctx.rules.rule_for(alert, integration.name) if ctx.rules is not None else None
    if rule is None:
        row.rule = ""
        row.outcome = "no rule matched: recorded only"
        batch.result.unmatched += 1
        return
    row.rule = rule.name
    if rule.action == "component_status":
        _component_status(row, rule, ctx, batch)
    else:
        _draft_or_publish(row, alert, rule, ctx, batch)


def _repeat(row: Alert, alert: AlertIn, ctx: Context, batch: _Batch) -> None:
    """A repeated notification: flap damping counts it; nothing else happens."""
    rule = ctx.rules.rules.get(row.rule) if ctx.rules is not None and row.rule else None
    damped = rule is not None and rule.action == "component_status" and row.status == FIRING
    if damped and rule is not None and row.firing_count == rule.min_alerts:
        _component_status(row, rule, ctx, batch)


def _draft_or_publish(row: Alert, alert: AlertIn, rule: Rule, ctx: Context, batch: _Batch) -> None:
    batch.lock(f"intake-rule:{rule.name}")  # one draft per rule, however alerts race
    components, unknown = _components(rule.component_names(alert), batch)
    missing = f" (no component named {', '.join(map(repr, unknown))})" if unknown else ""
    home = batch.homes.get(rule.name)
    if home is None:
        home = _open_incident_of(rule.name)
        if home is not None:
            for waiting in _waiting_drafts(home.id, "resolve"):  # moot: an alert fires again
                drafts.make_obsolete(waiting, now=ctx.now, why="an alert fired again")
        else:
            home = _waiting_draft_of(rule.name)
    status = rule.status_for(alert).value
    if isinstance(home, Incident) and not home.is_closed:
        row.incident_id = home.id
        batch.homes[rule.name] = home
        named = {c.id for c in home.components}
        new = [c for c in components if c.id not in named]
        if not new:
            row.outcome = f"joined incident {home.id}{missing}"
            return
        _propose_update(row, home, new, status, rule, ctx, batch, missing)
        return
    if isinstance(home, StoredDraft) and home.state == drafts.WAITING and home.incident_id is None:
        _join(home, row, components, status, ctx, batch)
        row.outcome = f"joined draft {home.id}{missing}"
        batch.homes[rule.name] = home
        return
    draft = _new_draft(
        rule,
        incident_id=None,
        message=rule.message,
        variables=rule.message_values(alert),
        statuses={str(c.id): status for c in components},
        detected_at=row.started_at,
        now=ctx.now,
    )
    row.draft_id = draft.id
    row.outcome = f"drafted {draft.id}{missing}"
    batch.result.drafts.append(draft.id)
    _settle(draft, rule, ctx, batch, row, what="a first update opening a new incident")
    incident = draft.incident if draft.state == drafts.PUBLISHED else None
    batch.homes[rule.name] = incident if incident is not None else draft


def _join(
    draft: StoredDraft,
    row: Alert,
    components: Sequence[Component],
    status: str,
    ctx: Context,
    batch: _Batch,
) -> None:
    """An alert joins a waiting draft: its components are added (those there keep theirs)."""
    statuses = dict(draft.component_statuses or {})
    for component in components:
        statuses.setdefault(str(component.id), status)
    draft.component_statuses = statuses
    draft.updated_at = ctx.now
    row.draft_id = draft.id
    batch.result.drafts.append(draft.id)


def _propose_update(
    row: Alert,
    incident: Incident,
    new: list[Component],
    status: str,
    rule: Rule,
    ctx: Context,
    batch: _Batch,
    missing: str,
) -> None:
    """An alert about a component the open incident does not name yet: propose the update that
    adds it (or add it to the one already proposed), keeping the incident's status."""
    waiting = _waiting_drafts(incident.id, "update")
    if waiting:
        _join(waiting[0], row, new, status, ctx, batch)
        row.outcome = f"joined draft {waiting[0].id} (adds to incident {incident.id}){missing}"
        return
    draft = _new_draft(
        rule,
        incident_id=incident.id,
        purpose="update",
        message=rule.message,
        status=incident.status,
        variables=rule.message_values(as_alert(row)),
        statuses={str(c.id): status for c in new},
        detected_at=row.started_at,
        now=ctx.now,
    )
    row.draft_id = draft.id
    row.outcome = f"drafted {draft.id}: adds {_names(new)} to incident {incident.id}{missing}"
    batch.result.drafts.append(draft.id)
    _settle(draft, rule, ctx, batch, row, what=f"an update adding {_names(new)}")
    if draft.state == drafts.PUBLISHED:
        batch.homes.pop(rule.name, None)  # the incident changed: read it afresh


def _names(components: Sequence[Component]) -> str:
    return ", ".join(c.name for c in components)


def _new_draft(
    rule: Rule,
    *,
    incident_id: int | None,
    purpose: str = "open",
    status: str | None = None,
    message: str | None,
    variables: Mapping[str, str],
    statuses: Mapping[str, str],
    detected_at: datetime,
    now: datetime,
) -> StoredDraft:
    version = None
    declared: set[str] = set()
    if message is not None:
        try:  # the version the draft was made from is the text the PM reviews
            current = library.current_version(library.get_message(message))
        except StatuspageError:
            pass  # the preview says what is wrong
        else:
            version = current.number
            declared = set(library.as_message(current).variables)
    # A rule's values serve its first and its resolve message: each takes the blanks it has,
    # and an empty one is left out so the message's default applies.
    variables = {k: v for k, v in variables.items() if k in declared and v.strip()}
    draft = StoredDraft(
        source="alert",
        rule=rule.name,
        state=drafts.WAITING,
        purpose=purpose,
        incident_id=incident_id,
        message_slug=message or "",
        message_version=version,
        variables=dict(variables),
        status=status,
        impact=rule.impact.value if rule.impact and incident_id is None else None,
        component_statuses=dict(statuses),
        next_update_minutes=rule.next_update_minutes,
        detected_at=detected_at,
        created_at=now,
        updated_at=now,
    )
    db.session.add(draft)
    db.session.flush()
    return draft


def _settle(
    draft: StoredDraft, rule: Rule, ctx: Context, batch: _Batch, row: Alert, *, what: str
) -> None:
    """Publish a `publish` rule's draft at once; otherwise (or if it cannot be) tell the PM."""
    if rule.action == "publish":
        try:
            with db.session.begin_nested():
                published = drafts.publish(draft.id, now=ctx.now, actor=rule_actor(rule))
        except StatuspageError as exc:
            row.outcome += f"; not published ({exc.message}): left for a PM"
        else:
            batch.result.published.append(published.update.id)
            row.outcome += f"; published as update {published.update.id}"
            return
    try:
        draft_check = drafts.preview(draft)
        title = draft_check.feed_title  # "API unavailable — Resolved": which update it is
    except StatuspageError as exc:
        title = row.title
        draft.note = f"needs a PM's attention: {exc.message}"
    _notify(draft, rule, ctx, title=title, what=what)


def _notify(draft: StoredDraft, rule: Rule, ctx: Context, *, title: str, what: str) -> None:
    """Tell the people of the rule's escalation path that a draft waits, with its link."""
    if rule.notify is None:
        return
    severity = "critical" if any(a.severity == "critical" for a in draft.alerts) else "warning"
    notification = render.render_draft(
        escalation.templates(),
        site_name=ctx.site_name,
        title=title,
        what=what,
        alerts=[a.title for a in draft.alerts][:10],
        components=[c.name for c in _components_by_id(draft.component_statuses)],
        url=f"{ctx.site_url}/admin/drafts/{draft.id}",
        key=f"draft:{draft.id}",
        now=ctx.now,
        severity=severity,
    )
    escalation.notify_path(
        rule.notify,
        notification,
        key=drafts.notice_key(draft),
        now=ctx.now,
        incident_id=draft.incident_id,
        config=ctx.escalation or EscalationConfig(),
    )


# -- resolving -----------------------------------------------------------------------------


def _resolved(row: Alert, ctx: Context, batch: _Batch) -> None:
    rule = ctx.rules.rules.get(row.rule) if ctx.rules is not None and row.rule else None
    if rule is None:
        row.outcome = "resolved" + (f" (rule {row.rule!r} is gone)" if row.rule else "")
        return
    if rule.action == "component_status":
        _component_status(row, rule, ctx, batch)
        return
    batch.lock(f"intake-rule:{rule.name}")
    batch.homes.pop(rule.name, None)  # what follows may set its draft aside or propose a resolve
    draft = row.draft if row.draft_id else None
    if draft is not None and draft.state == drafts.WAITING and draft.incident_id is None:
        if all(a.status == RESOLVED for a in draft.alerts):
            drafts.make_obsolete(draft, now=ctx.now, why=_RESOLVED_FIRST)
            row.outcome = f"resolved; draft {draft.id} set aside (nothing was published)"
        else:
            row.outcome = f"resolved; draft {draft.id} waits for its other alerts"
        return
    incident = db.session.get(Incident, row.incident_id) if row.incident_id else None
    if incident is None or incident.is_closed:
        row.outcome = "resolved"
        return
    firing = db.session.scalar(
        sa.select(sa.func.count(Alert.id)).where(
            Alert.incident_id == incident.id, Alert.status == FIRING
        )
    )
    if firing:
        row.outcome = f"resolved; incident {incident.id} still has {firing} firing alert(s)"
        return
    for update in _waiting_drafts(incident.id, "update"):
        drafts.make_obsolete(
            update, now=ctx.now, why="every alert resolved before it was published"
        )
    if _waiting_drafts(incident.id, "resolve"):
        row.outcome = f"resolved; a resolve for incident {incident.id} already waits"
        return
    # "Working normally since" the last of the incident's alerts resolved, not this one.
    last = db.session.scalar(
        sa.select(sa.func.max(Alert.resolved_at)).where(Alert.incident_id == incident.id)
    )
    draft = _new_draft(
        rule,
        incident_id=incident.id,
        purpose="resolve",
        message=rule.resolve_message,
        variables=rule.message_values(replace(as_alert(row), ends_at=last or row.resolved_at)),
        statuses={str(c.id): ComponentStatus.OPERATIONAL.value for c in incident.components},
        detected_at=incident.detected_at or incident.started_at,
        now=ctx.now,
    )
    row.outcome = f"resolved; proposed the resolve as draft {draft.id}"
    batch.result.drafts.append(draft.id)
    _settle(draft, rule, ctx, batch, row, what=f"the resolve of incident {incident.id}")


# -- component status ----------------------------------------------------------------------


def _component_status(row: Alert, rule: Rule, ctx: Context, batch: _Batch) -> None:
    """Note the components this alert bears on; `_apply_components` decides once per request."""
    if row.status == FIRING and row.firing_count < rule.min_alerts:
        row.outcome = (
            f"flap damping: acts after {rule.min_alerts} firing notifications "
            f"({row.firing_count} so far)"
        )
        return
    components, unknown = _components(rule.component_names(as_alert(row)), batch)
    notes = batch.notes.setdefault(id(row), [])
    if unknown:
        notes.append(f"no component named {', '.join(map(repr, unknown))}")
    row.held_until = None
    row.outcome = ""
    for component in components:
        batch.touched.setdefault(component.id, (component, []))[1].append((row, rule))
    if not components:
        row.outcome = "; ".join(notes)


def _apply_components(ctx: Context, batch: _Batch) -> None:
    """Give each component the status its firing alerts ask for, unless an incident holds it or
    flap damping holds it back; write what happened into each alert's outcome."""
    if not batch.touched:
        return
    wanted = _wanted_statuses(ctx)
    for component_id in sorted(batch.touched):  # id order, as every act locks components
        component, asked = batch.touched[component_id]
        if _held_by_incident(component.id):
            note = f"{component.name} left alone: an open incident holds it"
        else:
            target = wanted.get(component.name.casefold(), ComponentStatus.OPERATIONAL)
            note = _move(component, target, asked, ctx, batch)
        for row, _rule in asked:
            if note:
                batch.notes.setdefault(id(row), []).append(note)
    for rows in batch.touched.values():
        for row, _rule in rows[1]:
            row.outcome = "; ".join(batch.notes.get(id(row), [])) or (
                "components already as they should be"
            )
    batch.touched.clear()


def _move(
    component: Component,
    target: ComponentStatus,
    asked: list[tuple[Alert, Rule]],
    ctx: Context,
    batch: _Batch,
) -> str:
    """Set one component to `target` now, or hold it back (flap damping); say which."""
    if target.value == component.status:
        return ""
    last = _last_change(component.id)
    rule = max((r for _row, r in asked), key=lambda r: r.min_state_seconds)
    ready = last + timedelta(seconds=rule.min_state_seconds) if last else None
    if ready is not None and ready > ctx.now:
        for row, _rule in asked:
            row.held_until = ready if row.held_until is None else min(row.held_until, ready)
        return f"{component.name} held until {ready:%H:%M:%S} UTC (flap damping)"
    core.set_component_status(component, target, now=ctx.now, actor=rule_actor(rule))
    batch.result.components.append(f"{component.name}: {target.value}")
    return f"{component.name} set to {target.label}"


def _wanted_statuses(ctx: Context) -> dict[str, ComponentStatus]:
    """Component name (casefolded) -> the worst status its firing component_status alerts ask."""
    wanted: dict[str, ComponentStatus] = {}
    rules = {
        r.name: r
        for r in (ctx.rules.rules.values() if ctx.rules is not None else ())
        if r.action == "component_status"
    }
    if not rules:
        return wanted
    rows = db.session.scalars(
        sa.select(Alert).where(Alert.status == FIRING, Alert.rule.in_(list(rules)))
    )
    for other in rows:
        rule = rules[other.rule]
        if other.firing_count < rule.min_alerts:
            continue
        alert = as_alert(other)
        status = rule.status_for(alert)
        for name in rule.component_names(alert):
            key = name.casefold()
            if key not in wanted or status.severity > wanted[key].severity:
                wanted[key] = status
    return wanted


def _held_by_incident(component_id: int) -> bool:
    from statuspage.db.models import incident_components

    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(incident_components)
            .join(Incident, Incident.id == incident_components.c.incident_id)
            .where(
                incident_components.c.component_id == component_id,
                Incident.resolved_at.is_(None),
                Incident.kind == "incident",
            )
        )
        or 0
    ) > 0


def _last_change(component_id: int) -> datetime | None:
    return db.session.scalar(
        sa.select(sa.func.max(ComponentStatusChange.started_at)).where(
            ComponentStatusChange.component_id == component_id
        )
    )


def tick(ctx: Context) -> int:
    """Apply the component changes flap damping held back that are now due; return how many."""
    rows = db.session.scalars(
        sa.select(Alert)
        .where(Alert.held_until.is_not(None), Alert.held_until <= ctx.now)
        .order_by(Alert.held_until)
        .limit(TICK_BATCH)
    ).all()
    batch = _Batch(now=ctx.now)
    for row in rows:
        row.held_until = None
        rule = ctx.rules.rules.get(row.rule) if ctx.rules is not None else None
        if rule is not None and rule.action == "component_status":
            _component_status(row, rule, ctx, batch)
    _apply_components(ctx, batch)
    return len(batch.result.components)


# -- lookups -------------------------------------------------------------------------------


def _components(names: Iterable[str], batch: _Batch) -> tuple[list[Component], list[str]]:
    """The components called `names` (without regard to case), and the names nobody has."""
    found: list[Component] = []
    unknown: list[str] = []
    for name in names:
        key = name.strip().lower()
        if key not in batch.components:
            batch.components[key] = db.session.scalar(
                sa.select(Component).where(sa.func.lower(Component.name) == key)
            )
        component = batch.components[key]
        if component is None:
            unknown.append(name)
        elif component not in found:
            found.append(component)
    return found, unknown


def _components_by_id(statuses: Mapping[str, str]) -> list[Component]:
    ids = [int(k) for k in statuses]
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Component).where(Component.id.in_(ids)).order_by(Component.position)
        )
    )


def _open_incident_of(rule: str) -> Incident | None:
    """The open incident an alert of this rule opened, if any."""
    return db.session.scalar(
        sa.select(Incident)
        .join(Alert, Alert.incident_id == Incident.id)
        .where(Alert.rule == rule, Incident.resolved_at.is_(None))
        .order_by(Incident.id.desc())
        .limit(1)
    )


def _waiting_draft_of(rule: str) -> StoredDraft | None:
    return db.session.scalar(
        sa.select(StoredDraft)
        .where(
            StoredDraft.rule == rule,
            StoredDraft.state == drafts.WAITING,
            StoredDraft.incident_id.is_(None),
        )
        .order_by(StoredDraft.id.desc())
        .limit(1)
    )


def _waiting_drafts(incident_id: int, purpose: str) -> list[StoredDraft]:
    """The drafts of this purpose (update, resolve) waiting for a PM on an incident."""
    return list(
        db.session.scalars(
            sa.select(StoredDraft)
            .where(
                StoredDraft.incident_id == incident_id,
                StoredDraft.state == drafts.WAITING,
                StoredDraft.purpose == purpose,
            )
            .order_by(StoredDraft.id)
        )
    )
