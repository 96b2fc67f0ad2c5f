"""Database tables: components, incidents and maintenances, their updates, status history, users."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, IncidentKind, MaintenanceStatus, status_for
from statuspage.core.times import as_utc
from statuspage.db.extensions import Model, db


class UTCDateTime(sa.types.TypeDecorator):
    """A datetime stored as naive UTC and read back as aware UTC, the same on every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class ComponentGroup(Model):
    """A named, ordered set of components shown together on the page."""

    __tablename__ = "component_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    components: Mapped[list[Component]] = relationship(
        back_populates="group", order_by="Component.position, Component.id"
    )


class Component(Model):
    """One part of the service whose status customers follow."""

    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("component_groups.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(32), default=ComponentStatus.OPERATIONAL.value)
    #: Whether the component shows a 90-day uptime bar (Statuspage's `showcase`).
    showcase: Mapped[bool] = mapped_column(default=True)
    #: The first day counted in uptime figures; days before it show as "no data".
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group: Mapped[ComponentGroup | None] = relationship(back_populates="components")

    @property
    def status_enum(self) -> ComponentStatus:
        return ComponentStatus(self.status)


class ComponentStatusChange(Model):
    """A component's status from `started_at` until the next change: the source of uptime."""

    __tablename__ = "component_status_changes"
    __table_args__ = (sa.Index("ix_status_changes_component_time", "component_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("components.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


incident_components = sa.Table(
    "incident_components",
    db.metadata,
    sa.Column("incident_id", sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "component_id",
        sa.ForeignKey("components.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Incident(Model):
    """An incident or a scheduled maintenance (`kind`), with its timeline of updates."""

    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_kind_started", "kind", "started_at"),
        sa.Index("ix_incidents_resolved", "resolved_at"),
        sa.Index("ix_incidents_updated", "updated_at"),
        # History pages and the home page's recent days select by start time alone.
        sa.Index("ix_incidents_started", "started_at"),
        # Only open incidents and maintenances: what every page asks for, found without stats.
        sa.Index(
            "ix_incidents_open",
            "kind",
            "started_at",
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        # The feeds' newest postmortems: only incidents that have one.
        sa.Index(
            "ix_incidents_postmortem",
            "postmortem_published_at",
            sqlite_where=sa.text("postmortem_published_at IS NOT NULL"),
            postgresql_where=sa.text("postmortem_published_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default=IncidentKind.INCIDENT.value)
    name: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(32))
    impact: Mapped[str] = mapped_column(sa.String(16))
    #: The impact a PM chose explicitly; empty while the impact follows the components.
    impact_override: Mapped[str | None] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    identified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    monitoring_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Maintenance window; empty for incidents.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    scheduled_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postmortem_body: Mapped[str | None] = mapped_column(sa.Text)
    postmortem_html: Mapped[str | None] = mapped_column(sa.Text)
    postmortem_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A postmortem being written (Statuspage's `body_draft`): never shown before it is published.
    postmortem_draft: Mapped[str | None] = mapped_column(sa.Text)
    postmortem_draft_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Someone took ownership: `unacknowledged` escalation steps stop.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str] = mapped_column(sa.String(300), default="")
    #: When monitoring first alerted about it (the first alert of the draft it came from).
    detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The communication plan it follows (messages/plans), pinned when it first matched.
    plan_slug: Mapped[str | None] = mapped_column(sa.String(100))
    plan_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    components: Mapped[list[Component]] = relationship(
        secondary=incident_components, order_by="Component.position, Component.id"
    )
    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident",
        order_by="IncidentUpdate.display_at.desc(), IncidentUpdate.id.desc()",
        cascade="all, delete-orphan",
    )

    @property
    def is_maintenance(self) -> bool:
        return self.kind == IncidentKind.MAINTENANCE.value

    @property
    def status_enum(self):
        return status_for(self.kind, self.status)

    @property
    def is_closed(self) -> bool:
        return self.status_enum.is_closed

    @property
    def ended_at(self) -> datetime | None:
        """When the incident was resolved or the maintenance completed."""
        return self.resolved_at

    @property
    def is_upcoming_maintenance(self) -> bool:
        return self.is_maintenance and self.status == MaintenanceStatus.SCHEDULED.value


class IncidentUpdate(Model):
    """One public message in an incident's timeline."""

    __tablename__ = "incident_updates"
    __table_args__ = (
        sa.Index("ix_updates_incident_display", "incident_id", "display_at"),
        sa.Index("ix_updates_display", "display_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    #: Sanitised HTML rendered once at write time from `body`.
    body_html: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    display_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deliver_notifications: Mapped[bool] = mapped_column(default=True)
    #: Set when a published update was corrected afterwards.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Which reviewed text this update came from, and whether the PM changed it before publishing.
    message_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message_versions.id", ondelete="SET NULL")
    )
    message_slug: Mapped[str | None] = mapped_column(sa.String(100))
    message_version: Mapped[int | None]
    message_hash: Mapped[str | None] = mapped_column(sa.String(64))
    variables: Mapped[dict | None] = mapped_column(sa.JSON)
    text_edited: Mapped[bool] = mapped_column(default=False)
    #: When this update told customers they would hear from us again (its promise), if it did.
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A one-time key from the compose form or an Idempotency-Key header: a resubmit is a no-op.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="updates")
    author: Mapped[User | None] = relationship()
    component_changes: Mapped[list[UpdateComponentChange]] = relationship(
        back_populates="update", cascade="all, delete-orphan", order_by="UpdateComponentChange.id"
    )


class UpdateComponentChange(Model):
    """A component status change published with an update (`affected_components` in the API)."""

    __tablename__ = "update_component_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incident_updates.id", ondelete="CASCADE"), index=True
    )
    component_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("components.id", ondelete="SET NULL")
    )
    #: Kept so the history still reads right after a component is renamed or removed.
    component_name: Mapped[str] = mapped_column(sa.String(200))
    old_status: Mapped[str] = mapped_column(sa.String(32))
    new_status: Mapped[str] = mapped_column(sa.String(32))

    update: Mapped[IncidentUpdate] = relationship(back_populates="component_changes")


class User(Model):
    """A person who can sign in to the admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="editor")
    active: Mapped[bool] = mapped_column(default=True)
    #: Bumped on logout-everywhere and password change; sessions carry it and die when it moves.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginAttempt(Model):
    """A failed sign-in, counted per account and per address to throttle guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_key_time", "key", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "account:<email>" or "ip:<address>".
    key: Mapped[str] = mapped_column(sa.String(300))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Model):
    """A bearer token for the management API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The first characters of the token, shown in lists so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Message(Model):
    """A canned message of the library; its text lives in immutable versions."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    current_version: Mapped[int] = mapped_column(default=1)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[MessageVersion]] = relationship(
        back_populates="message", order_by="MessageVersion.number"
    )


class Plan(Model):
    """A communication plan (messages/plans); its text lives in immutable versions."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    current_version: Mapped[int] = mapped_column(default=1)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[PlanVersion]] = relationship(
        back_populates="plan", order_by="PlanVersion.number"
    )


class PlanVersion(Model):
    """One immutable text of a plan: what incidents follow, by number."""

    __tablename__ = "plan_versions"
    __table_args__ = (sa.UniqueConstraint("plan_id", "number", name="uq_plan_versions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id", ondelete="CASCADE"))
    number: Mapped[int]
    source: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: "sync", "revert to v2: why".
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    plan: Mapped[Plan] = relationship(back_populates="versions")
    author: Mapped[User | None] = relationship()


class MessageVersion(Model):
    """One immutable text of a message: what PMs pick from and what updates record."""

    __tablename__ = "message_versions"
    __table_args__ = (
        sa.UniqueConstraint("message_id", "number", name="uq_message_versions_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(32))
    impact: Mapped[str] = mapped_column(sa.String(16))
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: Declared variables: a list of {name, label, required, default, choices, help}.
    variables: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: The whole file text of this version, as `messages export` writes it.
    source: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: Who or what made it: "sync", "edit", "revert to v2", with the editor's reason.
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[Message] = relationship(back_populates="versions")
    author: Mapped[User | None] = relationship()


class AuditEntry(Model):
    """Who changed what and when, with the state before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: The actor as shown, kept when the user is gone: an email, "cli", "api token x".
    actor: Mapped[str] = mapped_column(sa.String(300))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32), default="")
    target_id: Mapped[str] = mapped_column(sa.String(64), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


class EscalationRun(Model):
    """A matched escalation path for one incident, snapshotted when it matched.

    Config edits never change a run in flight: the worker plans from `snapshot`.
    """

    __tablename__ = "escalation_runs"
    __table_args__ = (
        sa.UniqueConstraint("incident_id", "path_name", name="uq_escalation_runs_incident_path"),
        sa.Index("ix_escalation_runs_due", "active", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    path_name: Mapped[str] = mapped_column(sa.String(100))
    #: The path's configuration as it was when the run started (JSON).
    snapshot: Mapped[dict] = mapped_column(sa.JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    #: When the worker should look at this run again (None: nothing left to do).
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str] = mapped_column(sa.String(100), default="")
    #: Lease for the worker advancing this run.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship()


class OutboxMessage(Model):
    """One notification to deliver: written in the transaction of the event that caused it.

    Delivery is at-least-once: the worker claims rows with a lease, and the idempotency key
    travels to the receiver (webhook id, PagerDuty dedup_key) so duplicates can be dropped.
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "state", "next_attempt_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    #: The configured channel name ("ops-slack") or "subscriber:<id>".
    channel: Mapped[str] = mapped_column(sa.String(200))
    #: The transport: smtp, webhook, slack, teams, pagerduty.
    kind: Mapped[str] = mapped_column(sa.String(32))
    #: Everything the transport needs, rendered when the event happened (JSON).
    payload: Mapped[dict] = mapped_column(sa.JSON)
    #: pending -> sent, or dead after too many attempts or a permanent error.
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(sa.String(100), default="")
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    last_status: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("escalation_runs.id", ondelete="SET NULL"), index=True
    )
    update_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incident_updates.id", ondelete="SET NULL"), index=True
    )


class SiteState(Model):
    """One row: a generation number bumped by every transaction that changes the public side.

    Every web process compares it with the generation of its cached pages, so a publish in
    one process is visible at once from all the others.
    """

    __tablename__ = "site_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


subscriber_components = sa.Table(
    "subscriber_components",
    db.metadata,
    sa.Column(
        "subscriber_id", sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "component_id",
        sa.ForeignKey("components.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Subscriber(Model):
    """Someone who gets the updates of the components they chose, by email or webhook."""

    __tablename__ = "subscribers"
    __table_args__ = (
        # One subscription per address (email: `url` is ""), per URL and contact (webhook), so
        # two sign-ups racing on PostgreSQL cannot both insert; it also serves the look-ups.
        # Per-incident subscriptions are apart: one per address and incident.
        sa.Index(
            "uq_subscribers_address",
            "kind",
            "email",
            "url",
            unique=True,
            sqlite_where=sa.text("incident_id IS NULL"),
            postgresql_where=sa.text("incident_id IS NULL"),
        ),
        sa.Index(
            "uq_subscribers_incident_address",
            "incident_id",
            "kind",
            "email",
            "url",
            unique=True,
            sqlite_where=sa.text("incident_id IS NOT NULL"),
            postgresql_where=sa.text("incident_id IS NOT NULL"),
        ),
        sa.Index("ix_subscribers_active", "kind", "confirmed_at", "unsubscribed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "email", "webhook" or "slack".
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The address that gets the updates (email), or the contact for a webhook.
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: Webhook subscribers: where updates are POSTed (checked by the SSRF guard).
    url: Mapped[str] = mapped_column(sa.String(2000), default="")
    #: Webhook subscribers: the Standard Webhooks signing secret ("whsec_..."), shown once.
    secret: Mapped[str] = mapped_column(sa.String(100), default="")
    #: True: every component, including ones added later; False: `components` only.
    all_components: Mapped[bool] = mapped_column(default=True)
    #: Changes when a token must stop working (unsubscribe, a used confirmation link).
    token_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set after repeated permanent delivery failures; the contact is told.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    #: Where the sign-up came from ("form", "admin", "import", "api").
    source: Mapped[str] = mapped_column(sa.String(16), default="form")
    #: A subscription to one incident or maintenance (its updates only, whatever their
    #: components); it ends by itself once the one that resolves it is sent. Empty: the page's.
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE")
    )

    components: Mapped[list[Component]] = relationship(
        secondary=subscriber_components, order_by="Component.position, Component.id"
    )
    incident: Mapped[Incident | None] = relationship()

    @property
    def active(self) -> bool:
        return (
            self.confirmed_at is not None
            and self.unsubscribed_at is None
            and self.disabled_at is None
        )


class ImportedObject(Model):
    """An object brought over from another status page, by its id there: an import that runs
    again (or resumes after a crash) finds it here and adds nothing, and old permalinks find
    the incident they name."""

    __tablename__ = "import_map"
    __table_args__ = (
        sa.UniqueConstraint("source", "kind", "external_id", name="uq_import_map_external"),
        # The old permalinks (/incidents/<code>) look an incident up by its code alone.
        sa.Index("ix_import_map_kind_external", "kind", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Where it came from: the page id on the other service.
    source: Mapped[str] = mapped_column(sa.String(100))
    #: group, component, incident, template or subscriber.
    kind: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str] = mapped_column(sa.String(100))
    #: The id (or, for a template, the message id) it has here.
    local_id: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


#: Tables whose changes show on the public side (pages, feeds, API, badges, export).
PUBLIC_MODELS = (
    ComponentGroup,
    Component,
    ComponentStatusChange,
    Incident,
    IncidentUpdate,
    UpdateComponentChange,
)


#: A day that is not a whole day without trouble (queries.QUIET_DAY), as SQL: the partial
#: index and the query that uses it must spell it the same way, with literal numbers.
ROLLUP_NOT_QUIET = (
    "(known_seconds != 86400 OR major_outage_seconds != 0 OR partial_outage_seconds != 0"
    " OR degraded_seconds != 0 OR maintenance_seconds != 0)"
)


class Integration(Model):
    """A sender of alerts (an Alertmanager, a Grafana, a script) and its secret's SHA-256."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    #: The payload format: alertmanager, grafana or generic.
    format: Mapped[str] = mapped_column(sa.String(16))
    #: bearer (the secret as a bearer token or Basic password) or hmac (a signature of the body).
    auth: Mapped[str] = mapped_column(sa.String(8), default="bearer")
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: hmac: the secret is derived from the site's secret key and this salt, never stored.
    salt: Mapped[str] = mapped_column(sa.String(64), default="")
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Draft(Model):
    """An update prepared for a PM (from alerts), waiting to be published or dismissed.

    It holds what `publishing.publish.Draft` needs, so publishing it checks and writes exactly
    as the compose form does.
    """

    __tablename__ = "drafts"
    __table_args__ = (sa.Index("ix_drafts_state", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Where it came from: "alert", or "pm" (an update sent for approval).
    source: Mapped[str] = mapped_column(sa.String(16), default="alert")
    #: The intake rule that prepared it.
    rule: Mapped[str] = mapped_column(sa.String(60), default="")
    #: waiting -> published, dismissed or obsolete (the alerts resolved before anyone published);
    #: pending (for approval) -> published, returned (to its author) or dismissed.
    state: Mapped[str] = mapped_column(sa.String(16), default="waiting")
    #: open (a new incident), update (adds components to an open one) or resolve.
    purpose: Mapped[str] = mapped_column(sa.String(16), default="open")
    #: The incident it updates; empty when publishing it opens one.
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    message_slug: Mapped[str] = mapped_column(sa.String(100))
    message_version: Mapped[int | None]
    variables: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str | None] = mapped_column(sa.String(32))
    impact: Mapped[str | None] = mapped_column(sa.String(16))
    #: Component id (as a string) -> the status the update gives it.
    component_statuses: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    next_update_minutes: Mapped[int | None]
    #: The first alert's start: what "time to first update" is measured from.
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(sa.String(300), default="")
    update_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incident_updates.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    # -- a PM's update waiting for approval (source "pm"): exactly what was sent for approval
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(sa.String(16), default=IncidentKind.INCIDENT.value)
    #: A new incident's title; empty takes the message's.
    title: Mapped[str | None] = mapped_column(sa.Text)
    #: The text as the author left it; empty takes the filled message.
    body: Mapped[str | None] = mapped_column(sa.Text)
    notify: Mapped[bool] = mapped_column(default=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scheduled_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The newest update the author had seen: if another went out since, approving is refused.
    seen_update_id: Mapped[int | None]
    #: Bumped when the author revises it: approvals of an earlier revision no longer count.
    revision: Mapped[int] = mapped_column(default=1)
    #: The compose form's one-time key: the same request sent twice stores one draft.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    plan_slug: Mapped[str | None] = mapped_column(sa.String(100))
    plan_version: Mapped[int | None]
    approvals_needed: Mapped[int] = mapped_column(default=0)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the plan's escalation for a request that waits too long went out.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why an approver returned it, or why an admin published it without approval.
    comment: Mapped[str] = mapped_column(sa.Text, default="")

    incident: Mapped[Incident | None] = relationship()
    author: Mapped[User | None] = relationship()
    alerts: Mapped[list[Alert]] = relationship(back_populates="draft", order_by="Alert.id")
    approvals: Mapped[list[DraftApproval]] = relationship(
        back_populates="draft", order_by="DraftApproval.id", cascade="all, delete-orphan"
    )


class DraftApproval(Model):
    """One approver's yes to one revision of a draft, for the text they saw (`fingerprint`)."""

    __tablename__ = "draft_approvals"
    __table_args__ = (
        sa.UniqueConstraint("draft_id", "user_id", "revision", name="uq_draft_approvals_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("drafts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    revision: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    draft: Mapped[Draft] = relationship(back_populates="approvals")
    user: Mapped[User] = relationship()


class Alert(Model):
    """One alert (by its sender's fingerprint) as last received, and what intake did with it."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "fingerprint", name="uq_alerts_fingerprint"),
        sa.Index("ix_alerts_status", "status", "last_received_at"),
        sa.Index("ix_alerts_received", "last_received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str] = mapped_column(sa.String(200))
    #: firing or resolved
    status: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(300))
    severity: Mapped[str] = mapped_column(sa.String(16))
    labels: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    annotations: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    url: Mapped[str] = mapped_column(sa.String(2000), default="")
    #: The alert's JSON object as last received.
    raw: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: When it started firing (the sender's time if it gave one) and when it resolved.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Notifications received for it, and how many of them repeated what we knew.
    received_count: Mapped[int] = mapped_column(default=1)
    duplicate_count: Mapped[int] = mapped_column(default=0)
    #: Firing notifications in a row since it started firing (flap damping counts these).
    firing_count: Mapped[int] = mapped_column(default=1)
    rule: Mapped[str] = mapped_column(sa.String(60), default="")
    #: What intake did, in words ("drafted", "no rule matched", "API set to Major outage").
    outcome: Mapped[str] = mapped_column(sa.String(500), default="")
    draft_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("drafts.id", ondelete="SET NULL"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    #: component_status rules: a change flap damping holds back until this time.
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    integration: Mapped[Integration] = relationship()
    draft: Mapped[Draft | None] = relationship(back_populates="alerts")


class ActionItem(Model):
    """One action item of an incident's postmortem: what must get done, by whom, by when.

    Open while `done_at` is empty; the dashboard's overdue list reads (done_at, due_on).
    """

    __tablename__ = "action_items"
    __table_args__ = (sa.Index("ix_action_items_open_due", "done_at", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(300))
    #: Who will do it, as people write it: a name or an address ("" when nobody is named yet).
    owner: Mapped[str] = mapped_column(sa.String(254), default="")
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    #: A ticket or document (http or https only; never fetched).
    link: Mapped[str] = mapped_column(sa.String(2000), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship()


class UptimeRollup(Model):
    """One closed local day of one component's uptime, rolled up from its status history.

    Rows are written by `statuspage.db.rollup` for days that are over, in one time zone (the site's;
    a row of another zone is ignored). A status change that starts before `ends_at` voids the row
    (see the listeners below), so a row is always what the raw history would give.
    """

    __tablename__ = "uptime_rollup"
    __table_args__ = (
        # Pages read only the days that are not quiet (most are): this index holds just those.
        sa.Index(
            "ix_uptime_rollup_not_quiet",
            "component_id",
            "time_zone",
            "day",
            sqlite_where=sa.text(ROLLUP_NOT_QUIET),
            postgresql_where=sa.text(ROLLUP_NOT_QUIET),
        ),
    )

    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True
    )
    time_zone: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    #: The next local midnight: a status change before it changes this day.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    known_seconds: Mapped[float] = mapped_column(sa.Float)
    major_outage_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    partial_outage_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    degraded_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    maintenance_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)


def _void_rollup(connection: sa.Connection, component_id: int, started_at: datetime) -> None:
    """Delete a component's rollup rows of the days a change at `started_at` reaches."""
    # Lock the component first (PostgreSQL; SQLite writers are serialised anyway) so a
    # rollup being written for it either commits before this delete or waits for this change.
    connection.execute(
        sa.select(Component.id).where(Component.id == component_id).with_for_update()
    )
    table = UptimeRollup.__table__
    connection.execute(
        table.delete().where(table.c.component_id == component_id, table.c.ends_at > started_at)
    )


@sa.event.listens_for(ComponentStatusChange, "after_insert")
@sa.event.listens_for(ComponentStatusChange, "after_delete")
def _status_change_written(_mapper, connection: sa.Connection, change) -> None:
    """Backdating or removing a change voids the rolled-up days it reaches, in its transaction."""
    _void_rollup(connection, change.component_id, change.started_at)


@sa.event.listens_for(ComponentStatusChange, "after_update")
def _status_change_moved(_mapper, connection: sa.Connection, change) -> None:
    """An edited change voids from the earlier of its old and new start."""
    history = sa.inspect(change).attrs.started_at.history
    starts = [t for t in (*history.deleted, change.started_at) if t is not None]
    _void_rollup(connection, change.component_id, min(starts))
