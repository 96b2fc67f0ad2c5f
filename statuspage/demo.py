"""Sample data for `statuspage demo`: a plausible page with 90 days of history before `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.db import rollup
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, Incident, Message, Plan
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.resources import resource_dir

OK = ComponentStatus.OPERATIONAL
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE
MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE

INVESTIGATING = IncidentStatus.INVESTIGATING
IDENTIFIED = IncidentStatus.IDENTIFIED
MONITORING = IncidentStatus.MONITORING
RESOLVED = IncidentStatus.RESOLVED

#: Groups and their components, in display order; the group names also mark the demo as loaded.
GROUPS: dict[str, dict[str, str]] = {
    "Core platform": {
        "API": "The REST API and its client libraries.",
        "Web app": "The dashboard at app.example.com.",
        "Authentication": "Sign-in, single sign-on and API tokens.",
        "Background jobs": "Scheduled tasks, exports and imports.",
    },
    "Data": {
        "Primary database": "Where your account data lives.",
        "Search": "Search across projects and records.",
        "File storage": "Uploads, attachments and exports.",
        "Analytics pipeline": "Reports and usage dashboards.",
    },
    "Integrations & delivery": {
        "Email notifications": "Emails we send on your behalf.",
        "Webhooks": "Events delivered to your endpoints.",
        "CDN": "Static assets and downloads worldwide.",
        "Mobile push": "Push notifications to the iOS and Android apps.",
    },
}

COMPONENTS_AGE = timedelta(days=100)


@dataclass(frozen=True)
class Step:
    """One update of a demo incident, `minutes` after it started."""

    minutes: int
    status: IncidentStatus
    body: str
    components: dict[str, ComponentStatus] | None = None


@dataclass(frozen=True)
class Story:
    """A resolved demo incident that started `days_ago` at `at` (UTC hour, minute)."""

    name: str
    impact: Impact
    days_ago: int
    at: tuple[int, int]
    steps: tuple[Step, ...]
    postmortem: str | None = None


# Oldest first, one per day and each shorter than a day, so no two overlap and every
# component's status history stays in time order.
HISTORY: tuple[Story, ...] = (
    Story(
        "Elevated error rates on the API",
        Impact.MAJOR,
        86,
        (14, 5),
        (
            Step(
                0,
                INVESTIGATING,
                "Some API requests are failing with server errors. We are investigating.",
                {"API": PARTIAL},
            ),
            Step(
                18,
                IDENTIFIED,
                "A configuration change reached part of our API servers and made them reject "
                "valid requests. We are rolling the change back.",
            ),
            Step(
                41,
                MONITORING,
                "The rollback is complete and error rates are back to normal. We are "
                "keeping an eye on it.",
                {"API": OK},
            ),
            Step(
                75,
                RESOLVED,
                "This incident is resolved. Requests that failed between 14:05 and 14:46 UTC "
                "can be retried safely.",
            ),
        ),
    ),
    Story(
        "Delayed email notifications",
        Impact.MINOR,
        79,
        (9, 30),
        (
            Step(
                0,
                INVESTIGATING,
                "Notification emails are arriving up to 30 minutes late. No emails have been "
                "lost. We are looking into it.",
                {"Email notifications": DEGRADED},
            ),
            Step(
                35,
                IDENTIFIED,
                "Our email provider is throttling us after a spike in volume. We are spreading "
                "the queue across a second provider.",
            ),
            Step(
                95,
                RESOLVED,
                "The backlog has cleared and emails are going out on time again.",
                {"Email notifications": OK},
            ),
        ),
    ),
    Story(
        "Sign-in failures for some customers",
        Impact.MAJOR,
        71,
        (22, 10),
        (
            Step(
                0,
                INVESTIGATING,
                "Some customers cannot sign in and see an error after entering their "
                "password. Customers who are already signed in are not affected.",
                {"Authentication": PARTIAL, "Web app": DEGRADED},
            ),
            Step(
                22,
                IDENTIFIED,
                "An expired certificate on one of our sign-in servers is causing the "
                "failures. We are replacing it.",
            ),
            Step(
                38,
                MONITORING,
                "The certificate has been replaced and sign-ins are succeeding again.",
                {"Authentication": OK, "Web app": OK},
            ),
            Step(
                80,
                RESOLVED,
                "This incident is resolved. We are adding checks so certificates are renewed "
                "well before they expire.",
            ),
        ),
    ),
    Story(
        "Webhook deliveries delayed",
        Impact.MINOR,
        58,
        (16, 20),
        (
            Step(
                0,
                INVESTIGATING,
                "Webhook events are being delivered late, by up to 20 minutes.",
                {"Webhooks": DEGRADED},
            ),
            Step(
                50,
                MONITORING,
                "We have added delivery capacity and the queue is shrinking. Every event will "
                "be delivered; none have been dropped.",
            ),
            Step(
                90,
                RESOLVED,
                "All delayed events have been delivered and new events arrive on time.",
                {"Webhooks": OK},
            ),
        ),
    ),
    Story(
        "Primary database outage",
        Impact.CRITICAL,
        52,
        (11, 45),
        (
            Step(
                0,
                INVESTIGATING,
                "The API and the web app are failing for most customers. We are investigating "
                "with the highest priority.",
                {"Primary database": MAJOR, "API": MAJOR, "Web app": PARTIAL},
            ),
            Step(
                12,
                IDENTIFIED,
                "Our primary database stopped accepting connections after a disk filled up. "
                "We are moving it to its standby.",
            ),
            Step(
                47,
                MONITORING,
                "The standby database has taken over and the API and web app are working "
                "again. Some pages may still be slower than usual.",
                {"Primary database": DEGRADED, "API": OK, "Web app": OK},
            ),
            Step(
                120,
                RESOLVED,
                "Performance is back to normal. No data was lost. We will publish a "
                "postmortem once our review is complete.",
                {"Primary database": OK},
            ),
        ),
        postmortem=(
            "## What happened\n\n"
            "From 11:45 to 12:32 UTC, most requests to the API and the web app "
            "failed. Our primary database ran out of disk space while a routine cleanup job "
            "was paused, and stopped accepting new connections.\n\n"
            "## What we did\n\n"
            "We moved traffic to the standby database, which was fully up to date, so no data "
            "was lost. Performance was reduced for another hour while caches warmed up.\n\n"
            "## What we are changing\n\n"
            "- Alerts now fire when free disk space drops below 25%, not 10%.\n"
            "- The cleanup job can no longer stay paused for more than an hour.\n"
            "- We practise moving to the standby every month.\n\n"
            "We are sorry for the disruption this caused."
        ),
    ),
    Story(
        "Slow file uploads",
        Impact.MINOR,
        39,
        (7, 15),
        (
            Step(
                0,
                INVESTIGATING,
                "Uploading files is slower than usual. Downloads are not affected.",
                {"File storage": DEGRADED},
            ),
            Step(
                45,
                RESOLVED,
                "Upload speeds are back to normal after our storage provider fixed a network "
                "problem in one region.",
                {"File storage": OK},
            ),
        ),
    ),
    Story(
        "Analytics dashboards showing stale data",
        Impact.MINOR,
        33,
        (19, 40),
        (
            Step(
                0,
                INVESTIGATING,
                "Reports and usage dashboards are not showing data from the last few hours.",
                {"Analytics pipeline": PARTIAL},
            ),
            Step(
                60,
                IDENTIFIED,
                "A stuck processing job is holding up new data. We are restarting it; data "
                "will catch up automatically.",
            ),
            Step(
                190,
                RESOLVED,
                "The pipeline has caught up and dashboards are current again.",
                {"Analytics pipeline": OK},
            ),
        ),
    ),
    Story(
        "Push notifications not delivered on iOS",
        Impact.MAJOR,
        27,
        (13, 5),
        (
            Step(
                0,
                INVESTIGATING,
                "Push notifications are not reaching iPhones and iPads. Android devices are "
                "not affected.",
                {"Mobile push": PARTIAL},
            ),
            Step(
                30,
                IDENTIFIED,
                "Our connection to Apple's notification service is being refused after a "
                "credential rotation. We are restoring the previous credential.",
            ),
            Step(
                55,
                MONITORING,
                "Notifications are reaching iOS devices again. Notifications sent during the "
                "outage were not delivered and will not be resent.",
                {"Mobile push": OK},
            ),
            Step(85, RESOLVED, "This incident is resolved."),
        ),
    ),
    Story(
        "Slow page loads in Europe",
        Impact.MINOR,
        20,
        (8, 50),
        (
            Step(
                0,
                INVESTIGATING,
                "Pages and downloads are loading slowly for some customers in Europe.",
                {"CDN": DEGRADED, "Web app": DEGRADED},
            ),
            Step(
                40,
                MONITORING,
                "Our CDN provider has rerouted traffic around a congested network link. Load "
                "times are improving.",
                {"Web app": OK},
            ),
            Step(
                70,
                RESOLVED,
                "Load times are back to normal everywhere.",
                {"CDN": OK},
            ),
        ),
    ),
    Story(
        "Exports and imports taking longer than usual",
        Impact.MINOR,
        14,
        (15, 30),
        (
            Step(
                0,
                INVESTIGATING,
                "Exports and imports are waiting longer than usual before they start.",
                {"Background jobs": DEGRADED},
            ),
            Step(
                35,
                IDENTIFIED,
                "A large batch of scheduled work is using most of our job capacity. We are "
                "adding more workers.",
            ),
            Step(
                80,
                RESOLVED,
                "The queue is back to its usual length and jobs start within seconds.",
                {"Background jobs": OK},
            ),
        ),
    ),
    Story(
        "Search unavailable",
        Impact.MAJOR,
        8,
        (10, 10),
        (
            Step(
                0,
                INVESTIGATING,
                "Search returns an error for all customers. Everything else works normally.",
                {"Search": MAJOR},
            ),
            Step(
                25,
                IDENTIFIED,
                "A software update to our search cluster failed part-way. We are rolling it back.",
            ),
            Step(
                52,
                MONITORING,
                "Search is working again. Results for records changed in the last hour may "
                "appear a few minutes late.",
                {"Search": DEGRADED},
            ),
            Step(
                100,
                RESOLVED,
                "Search is fully up to date. This incident is resolved.",
                {"Search": OK},
            ),
        ),
    ),
    Story(
        "Scheduled reports sent late",
        Impact.NONE,
        4,
        (6, 0),
        (
            Step(
                0,
                IDENTIFIED,
                "This morning's scheduled reports were emailed about an hour late because of "
                "a scheduling mistake on our side. The reports themselves are correct.",
            ),
            Step(30, RESOLVED, "The scheduling mistake has been fixed."),
        ),
    ),
)


@dataclass(frozen=True)
class Summary:
    """What `load` created."""

    groups: int
    components: int
    incidents: int
    maintenances: int
    messages: int = 0
    plans: int = 0


def is_loaded() -> bool:
    """Return whether the demo data is already in the database (any demo group exists)."""
    found = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ComponentGroup)
        .where(ComponentGroup.name.in_(list(GROUPS)))
    )
    return bool(found)


def load(now: datetime, *, tz: ZoneInfo | None = None) -> Summary | None:
    """Create the demo page as it would look at `now`; return None if it is already there.

    The caller runs this inside one write transaction. The starter message library is loaded
    first, whenever the library is empty (so a demo made before it existed gets it too). The
    closed days are rolled up in `tz` (default: the site's time zone).
    """
    messages = load_library(now)
    plans = load_plans(now)
    if is_loaded():
        return None
    created = now - COMPONENTS_AGE
    components: dict[str, Component] = {}
    for group_name, members in GROUPS.items():
        group = component_service.get_or_create_group(group_name)
        for name, description in members.items():
            components[name] = component_service.add_component(
                name, group=group, description=description, now=created
            )

    incidents = [_tell(story, components, now) for story in HISTORY]
    # No story touches the primary database after this maintenance, so its history stays ordered.
    incidents.append(_past_maintenance(components, now))
    incidents.append(_open_incident(components, now))
    incidents.append(_upcoming_maintenance(components, now))
    db.session.flush()
    for incident in incidents:
        if not incident.is_closed:
            # The stories are written by the incident service, below the publishing core: the
            # open ones get the plan the core would have given them.
            names = [c.name for c in incident.components]
            plan_service.follow(
                incident, plan_service.matching(incident.kind, incident.impact, names)
            )
    rollup.fill(now, tz or ZoneInfo(current_app.config["STATUSPAGE"].site["time_zone"]))
    return Summary(
        groups=len(GROUPS),
        components=len(components),
        incidents=sum(1 for i in incidents if not i.is_maintenance),
        maintenances=sum(1 for i in incidents if i.is_maintenance),
        messages=messages,
        plans=plans,
    )


def load_library(now: datetime) -> int:
    """Load the starter message library if the library is empty; return how many were added.

    A library that has messages is left alone: a second run must not overwrite edits made in
    the admin with the files' text (`statuspage messages sync` does that on purpose).
    """
    if db.session.scalar(sa.select(sa.func.count()).select_from(Message)):
        return 0
    report = library_service.sync_directory(resource_dir("messages"), now=now)
    return len(report.created)


def load_plans(now: datetime) -> int:
    """Load the starter communication plans if there are none; return how many were added."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Plan)):
        return 0
    report = plan_service.sync_directory(
        resource_dir("messages") / plan_service.PLANS_FOLDER, now=now, paths=()
    )
    return len(report.created)


def _at(now: datetime, days_ago: int, hour: int, minute: int) -> datetime:
    return (now - timedelta(days=days_ago)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )


def _statuses(
    components: dict[str, Component], wanted: dict[str, ComponentStatus] | None
) -> dict[Component, ComponentStatus] | None:
    return {components[name]: status for name, status in wanted.items()} if wanted else None


def _tell(story: Story, components: dict[str, Component], now: datetime) -> Incident:
    """Replay one story through the incident service, update by update."""
    start = _at(now, story.days_ago, *story.at)
    first, *rest = story.steps
    incident = incident_service.open_incident(
        name=story.name,
        impact=story.impact,
        body=first.body,
        status=first.status,
        now=start,
        component_statuses=_statuses(components, first.components),
        notify=False,
    )
    for step in rest:
        incident_service.post_update(
            incident,
            status=step.status,
            body=step.body,
            now=start + timedelta(minutes=step.minutes),
            component_statuses=_statuses(components, step.components),
            notify=False,
        )
    if story.postmortem:
        incident_service.publish_postmortem(
            incident, body=story.postmortem, now=start + timedelta(days=3)
        )
    return incident


def _past_maintenance(components: dict[str, Component], now: datetime) -> Incident:
    """A completed database maintenance, announced a few days ahead (45 days ago)."""
    start = _at(now, 45, 2, 0)
    database = components["Primary database"]
    maintenance = incident_service.schedule_maintenance(
        name="Primary database upgrade",
        body="We will upgrade our primary database to a newer version. The API and web app "
        "may be read-only for up to 15 minutes during the window.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        now=start - timedelta(days=4),
        components=[database, components["API"]],
        notify=False,
    )
    for minutes, status, body, state in (
        (0, MaintenanceStatus.IN_PROGRESS, "The maintenance has started.", MAINTENANCE),
        (
            70,
            MaintenanceStatus.VERIFYING,
            "The upgrade is done and we are checking that everything works as expected.",
            None,
        ),
        (
            95,
            MaintenanceStatus.COMPLETED,
            "The maintenance is complete. Thank you for your patience.",
            OK,
        ),
    ):
        incident_service.post_update(
            maintenance,
            status=status,
            body=body,
            now=start + timedelta(minutes=minutes),
            component_statuses={database: state} if state else None,
            notify=False,
        )
    return maintenance


def _open_incident(components: dict[str, Component], now: datetime) -> Incident:
    """The one incident still open: search is slow, cause identified."""
    search = components["Search"]
    incident = incident_service.open_incident(
        name="Search results delayed",
        impact=Impact.MINOR,
        body="New and updated records are taking longer than usual to appear in search "
        "results. We are investigating.",
        now=now - timedelta(minutes=50),
        component_statuses={search: DEGRADED},
        notify=False,
    )
    incident_service.post_update(
        incident,
        status=IDENTIFIED,
        body="A routine update left our search indexer with a backlog. We are adding capacity "
        "to clear it; until then, changes may take up to 15 minutes to show up in search.",
        now=now - timedelta(minutes=20),
        notify=False,
    )
    return incident


def _upcoming_maintenance(components: dict[str, Component], now: datetime) -> Incident:
    """A maintenance window in three days, announced yesterday."""
    start = (now + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0)
    return incident_service.schedule_maintenance(
        name="File storage migration",
        body="We are moving file storage to new hardware. Uploads may be paused for up to 10 "
        "minutes during the window; downloads and everything else keep working.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        now=now - timedelta(days=1),
        components=[components["File storage"]],
        notify=False,
    )
