"""Escalation runs in the database: started and advanced in the transaction of each incident
event, and advanced by the worker when their next notification falls due.

Planning is `planner.plan`, the same function `statuspage escalation simulate` prints; this module
only turns its output into outbox rows (idempotent by key) and keeps `next_due_at` for the worker.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask import current_app

from statuspage.core.escalation import planner, render
from statuspage.core.escalation.config import EscalationConfig, matching_paths
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import EscalationRun, Incident, OutboxMessage
from statuspage.delivery import ack_links, outbox

#: Runs the worker advances per cycle; the rest wait for the next cycle.
BATCH = 50


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    """The internal templates (escalation notices, draft notices), read once per process."""
    return render.load_templates()


def _config() -> EscalationConfig | None:
    config = current_app.config["STATUSPAGE"].escalation
    return config if isinstance(config, EscalationConfig) else None


def facts_for(incident: Incident, run: EscalationRun) -> planner.IncidentFacts:
    """What the planner needs to know about the incident, as of now."""
    return planner.IncidentFacts(
        incident_id=incident.id,
        started_at=run.started_at,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at if incident.is_closed else None,
        public_update_times=[update.display_at for update in incident.updates],
        promises={
            update.display_at: update.next_update_at
            for update in incident.updates
            if update.next_update_at is not None
        },
    )


def on_incident_changed(incident: Incident, *, now: datetime) -> list[EscalationRun]:
    """Start runs for paths the incident now matches, then advance all of its runs.

    Called in the transaction of every incident event (open, update, impact or component
    change, acknowledge, resolve), so the notifications due at once are in the outbox exactly
    when the event is in the database.
    """
    config = _config()
    if incident.is_maintenance:
        return []
    runs = {
        run.path_name: run
        for run in db.session.scalars(
            sa.select(EscalationRun).where(EscalationRun.incident_id == incident.id)
        )
    }
    if config is not None and not incident.is_closed:
        names = [component.name for component in incident.components]
        for path in matching_paths(config, incident.impact, names):
            if path.name in runs:
                continue
            run = EscalationRun(
                incident_id=incident.id,
                path_name=path.name,
                # A snapshot: later config edits never change a run in flight.
                snapshot=planner.snapshot(path, config.windows, config.channels),
                started_at=now,
                active=True,
            )
            db.session.add(run)
            db.session.flush()
            runs[path.name] = run
    for run in runs.values():
        if run.active:
            advance(run, incident, now=now)
    return list(runs.values())


def advance(run: EscalationRun, incident: Incident, *, now: datetime) -> int:
    """Enqueue every notification of the run due by `now` not yet enqueued; return how many."""
    facts = facts_for(incident, run)
    plan = planner.plan(run.snapshot, facts, until=now)
    sent = set(
        db.session.scalars(
            sa.select(OutboxMessage.idempotency_key).where(OutboxMessage.run_id == run.id)
        )
    )
    added = 0
    for due in plan.due:
        if due.key in sent:
            continue
        kind = run.snapshot["channels"][due.channel]
        notification = _render(due, incident, facts, now=now)
        if outbox.enqueue(
            key=due.key,
            channel=due.channel,
            kind=kind,
            payload=notification.payload(),
            now=now,
            incident_id=incident.id,
            run_id=run.id,
        ):
            added += 1
    run.next_due_at = plan.next_at
    run.lease_until = None
    if plan.next_at is None and incident.is_closed:
        run.active = False
        run.stopped_at = now
        run.stop_reason = "resolved"
    return added


def _render(due: planner.Due, incident: Incident, facts, *, now: datetime) -> render.Notification:
    settings = current_app.config["STATUSPAGE"]
    site_url = settings.site["url"]
    token = ack_links.make_token(current_app.config["SECRET_KEY"], incident.id, due.channel)
    config = _config()
    channel = config.channels.get(due.channel) if config else None
    summary = render.IncidentSummary(
        id=incident.id,
        title=incident.name,
        impact=incident.impact,
        status=incident.status,
        components=tuple(component.name for component in incident.components),
        url=f"{site_url}/incidents/{incident.id}",
    )
    return render.render(
        due,
        summary,
        facts,
        templates(),
        site_name=settings.site["name"],
        ack_url=f"{site_url}/ack/{token}",
        severity=channel.severity if channel is not None and channel.severity else None,
    )


def advance_due_runs(now: datetime) -> int:
    """Advance the runs whose next notification is due; each in its own write transaction."""
    ids = db.session.scalars(
        sa.select(EscalationRun.id)
        .where(EscalationRun.active.is_(True), EscalationRun.next_due_at <= now)
        .order_by(EscalationRun.next_due_at)
        .limit(BATCH)
    ).all()
    db.session.rollback()
    added = 0
    for run_id in ids:
        with write_transaction():
            query = sa.select(EscalationRun).where(
                EscalationRun.id == run_id,
                EscalationRun.active.is_(True),
                EscalationRun.next_due_at <= now,
            )
            if db.session.get_bind().dialect.name == "postgresql":
                # Another worker advancing the same run skips it rather than waiting.
                query = query.with_for_update(skip_locked=True)
            run = db.session.scalar(query)
            if run is None:
                continue
            added += advance(run, run.incident, now=now)
    return added


def runs_for(incident_id: int) -> list[EscalationRun]:
    """The runs of an incident, for the admin."""
    return list(
        db.session.scalars(
            sa.select(EscalationRun)
            .where(EscalationRun.incident_id == incident_id)
            .order_by(EscalationRun.id)
        )
    )


def notify_path(
    path_name: str | None,
    notification: render.Notification,
    *,
    key: str,
    now: datetime,
    incident_id: int | None = None,
    config: EscalationConfig | None = None,
) -> int:
    """Send a notice to every channel of an escalation path, one outbox row per channel keyed
    `<key>:<channel>` (so sending it again adds nothing); return how many were added.

    A path the config does not have (it was removed since the plan or rule named it) sends
    nothing: `statuspage plans check` and `intake check` report such names.
    """
    config = config if config is not None else _config()
    if not path_name or config is None:
        return 0
    path = config.paths.get(path_name)
    if path is None:
        return 0
    added = 0
    for channel in path.channel_names():
        spec = config.channels.get(channel)
        if spec is None:
            continue
        added += outbox.enqueue(
            key=f"{key}:{channel}",
            channel=channel,
            kind=spec.type,
            payload=notification.payload(),
            now=now,
            incident_id=incident_id,
        )
    return added


def tell_audience(update: Any, path_name: str | None, *, now: datetime) -> int:
    """Send a copy of a published update to a plan's internal audience (an escalation path)."""
    if not path_name:
        return 0
    settings = current_app.config["STATUSPAGE"]
    site_url = settings.site["url"].rstrip("/")
    incident = update.incident
    status = incident.status_enum.label
    author = update.author
    values = {
        "site_name": settings.site["name"],
        "update_title": f"{incident.name} — {status}",
        "text": render.plain_text(update.body),
        "author": (author.name or author.email) if author is not None else "statuspage",
        "incident_url": f"{site_url}/incidents/{incident.id}",
    }
    key = f"audience:{update.id}"
    notification = render.render_notice(
        "published",
        templates(),
        values,
        fields={"Incident": incident.name, "Status": status},
        url=values["incident_url"],
        key=key,
        now=now,
    )
    return notify_path(path_name, notification, key=key, now=now, incident_id=incident.id)
