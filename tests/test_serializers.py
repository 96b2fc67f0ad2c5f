"""The Statuspage v2 documents, built from model objects without a database or an app."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from statuspage.core import serializers
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    Indicator,
    MaintenanceStatus,
)
from statuspage.core.status import OverallStatus
from statuspage.db.models import (
    Component,
    ComponentGroup,
    Incident,
    IncidentUpdate,
    UpdateComponentChange,
)
from statuspage.db.queries import ComponentTree

SITE = serializers.Site(name="Acme Status", url="https://status.example.com", time_zone="UTC")
T0 = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Key sets of Statuspage's public v2 documents, as its documentation shows them.
PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}


def make_group(id: int, name: str, position: int = 1) -> ComponentGroup:
    return ComponentGroup(
        id=id, name=name, description="", position=position, created_at=T0, updated_at=T0
    )


def make_component(
    id: int,
    name: str,
    *,
    group: ComponentGroup | None = None,
    status: ComponentStatus = ComponentStatus.OPERATIONAL,
    description: str = "",
) -> Component:
    return Component(
        id=id,
        name=name,
        group_id=group.id if group else None,
        description=description,
        position=id,
        status=status.value,
        showcase=True,
        start_date=date(2026, 1, 1),
        created_at=T0,
        updated_at=T0,
    )


def make_incident(id: int = 7, *, kind: IncidentKind = IncidentKind.INCIDENT) -> Incident:
    incident = Incident(
        id=id,
        kind=kind.value,
        name="Elevated API errors",
        status=IncidentStatus.INVESTIGATING.value,
        impact=Impact.MINOR.value,
        started_at=T0,
        created_at=T0,
        updated_at=T0,
    )
    if kind is IncidentKind.MAINTENANCE:
        incident.status = MaintenanceStatus.SCHEDULED.value
        incident.impact = Impact.MAINTENANCE.value
        incident.scheduled_for = T0 + timedelta(days=1)
        incident.scheduled_until = T0 + timedelta(days=1, hours=2)
    return incident


def add_update(incident: Incident, id: int, at: datetime, body: str = "Looking.") -> IncidentUpdate:
    update = IncidentUpdate(
        id=id,
        incident_id=incident.id,
        status=incident.status,
        body=body,
        body_html=f"<p>{body}</p>",
        display_at=at,
        deliver_notifications=True,
        created_at=at,
        updated_at=at,
    )
    incident.updates.append(update)
    return update


def test_page_id_is_twelve_characters_stable_for_one_url():
    again = serializers.Site(name="Other name", url=SITE.url, time_zone="Europe/Paris")
    assert len(SITE.page_id) == 12
    assert SITE.page_id == again.page_id


def test_page_id_changes_with_the_site_url():
    moved = serializers.Site(name=SITE.name, url="https://status.example.org", time_zone="UTC")
    assert moved.page_id != SITE.page_id


def test_page_object_has_statuspage_keys_and_utc_timestamp():
    page = serializers.page(SITE, T0)
    assert set(page) == PAGE_KEYS
    assert page["url"] == "https://status.example.com"
    assert page["updated_at"] == "2026-06-15T12:00:00.000Z"


def test_status_object_carries_indicator_value_and_description():
    overall = OverallStatus(Indicator.MAJOR, "Partial System Outage")
    assert serializers.status(overall) == {
        "indicator": "major",
        "description": "Partial System Outage",
    }


def test_component_has_statuspage_keys_with_string_id():
    data = serializers.component(make_component(12, "API"), SITE)
    assert set(data) == COMPONENT_KEYS
    assert data["id"] == "12"
    assert data["group"] is False
    assert data["page_id"] == SITE.page_id
    assert data["start_date"] == "2026-01-01"


def test_component_without_description_shows_null():
    assert serializers.component(make_component(1, "API"), SITE)["description"] is None
    described = make_component(1, "API", description="The public REST API.")
    assert serializers.component(described, SITE)["description"] == "The public REST API."


def test_component_status_is_the_statuspage_enum_value():
    for status in ComponentStatus:
        component = make_component(1, "API", status=status)
        assert serializers.component(component, SITE)["status"] == status.value


def test_group_is_a_component_with_group_true_and_member_ids():
    core = make_group(1, "Core")
    members = [make_component(1, "API", group=core), make_component(2, "Website", group=core)]
    data = serializers.group(core, members, SITE)
    assert set(data) == COMPONENT_KEYS | {"components"}
    assert data["group"] is True
    assert data["components"] == ["1", "2"]
    assert data["group_id"] is None


def test_group_id_cannot_collide_with_a_component_id():
    core = make_group(1, "Core")
    member = make_component(1, "API", group=core)
    group_data = serializers.group(core, [member], SITE)
    member_data = serializers.component(member, SITE)
    assert group_data["id"] != member_data["id"]
    assert not group_data["id"].isdigit()
    assert member_data["group_id"] == group_data["id"]


def test_group_status_is_its_worst_member_status():
    core = make_group(1, "Core")
    members = [
        make_component(1, "API", group=core, status=ComponentStatus.UNDER_MAINTENANCE),
        make_component(2, "Website", group=core, status=ComponentStatus.PARTIAL_OUTAGE),
        make_component(3, "CDN", group=core),
    ]
    assert serializers.group(core, members, SITE)["status"] == "partial_outage"


def test_components_list_each_group_before_its_members_then_ungrouped_ones():
    core, edge, empty = make_group(1, "Core"), make_group(2, "Edge", 2), make_group(3, "Empty", 3)
    api, cdn = make_component(1, "API", group=core), make_component(2, "CDN", group=edge)
    email = make_component(3, "Email")
    tree = ComponentTree(
        groups=[core, edge, empty], members={1: [api], 2: [cdn]}, ungrouped=[email]
    )
    ids = [c["id"] for c in serializers.components(tree, SITE)]
    assert ids == ["group-1", "1", "group-2", "2", "3"]


def test_incident_has_statuspage_keys_and_permalink_shortlink():
    incident = make_incident(7)
    add_update(incident, 1, T0)
    data = serializers.incident(incident, SITE)
    assert set(data) == INCIDENT_KEYS
    assert data["id"] == "7"
    assert data["shortlink"] == "https://status.example.com/incidents/7"
    assert data["impact"] == "minor"
    assert data["resolved_at"] is None


def test_incident_lists_its_components_in_component_shape():
    incident = make_incident()
    incident.components = [make_component(4, "Email")]
    data = serializers.incident(incident, SITE)
    assert [c["id"] for c in data["components"]] == ["4"]
    assert set(data["components"][0]) == COMPONENT_KEYS


def test_maintenance_adds_its_window():
    maintenance = make_incident(kind=IncidentKind.MAINTENANCE)
    data = serializers.incident(maintenance, SITE)
    assert set(data) == INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
    assert data["status"] == "scheduled"
    assert data["impact"] == "maintenance"
    assert data["scheduled_for"] == "2026-06-16T12:00:00.000Z"
    assert data["scheduled_until"] == "2026-06-16T14:00:00.000Z"


def test_incident_without_window_has_no_schedule_keys():
    assert "scheduled_for" not in serializers.incident(make_incident(), SITE)


def test_incident_updates_are_newest_first():
    incident = make_incident()
    add_update(incident, 1, T0)
    add_update(incident, 3, T0 + timedelta(hours=2))
    add_update(incident, 2, T0 + timedelta(hours=1))
    data = serializers.incident(incident, SITE)
    assert [u["id"] for u in data["incident_updates"]] == ["3", "2", "1"]


def test_update_has_statuspage_keys_and_markdown_body():
    incident = make_incident(7)
    update = add_update(incident, 5, T0, body="We are **investigating**.")
    data = serializers.incident_update(update)
    assert set(data) == UPDATE_KEYS
    assert data["id"] == "5"
    assert data["incident_id"] == "7"
    assert data["body"] == "We are **investigating**."
    assert data["custom_tweet"] is None


def test_update_lists_component_changes_as_affected_components():
    update = add_update(make_incident(), 1, T0)
    update.component_changes.append(
        UpdateComponentChange(
            component_id=3,
            component_name="CDN",
            old_status="operational",
            new_status="major_outage",
        )
    )
    assert serializers.incident_update(update)["affected_components"] == [
        {"code": "3", "name": "CDN", "old_status": "operational", "new_status": "major_outage"}
    ]


def test_update_without_component_changes_has_null_affected_components():
    update = add_update(make_incident(), 1, T0)
    assert serializers.incident_update(update)["affected_components"] is None


def test_timestamps_are_utc_with_milliseconds_and_z():
    paris = timezone(timedelta(hours=2))
    incident = make_incident()
    incident.created_at = datetime(2026, 6, 15, 14, 30, 5, 123456, tzinfo=paris)
    add_update(incident, 1, T0)
    data = serializers.incident(incident, SITE)
    assert data["created_at"] == "2026-06-15T12:30:05.123Z"
    stamps = [data["updated_at"], data["started_at"], data["incident_updates"][0]["display_at"]]
    assert all(ISO_UTC.match(s) for s in stamps)


def test_summary_document_has_the_statuspage_sections():
    tree = ComponentTree(groups=[], members={}, ungrouped=[make_component(1, "API")])
    document = serializers.summary_document(
        SITE,
        T0,
        tree=tree,
        incidents=[make_incident(1)],
        maintenances=[make_incident(2, kind=IncidentKind.MAINTENANCE)],
        overall=OverallStatus(Indicator.MINOR, "Minor Service Outage"),
    )
    assert list(document) == [
        "page",
        "components",
        "incidents",
        "scheduled_maintenances",
        "status",
    ]
    assert document["scheduled_maintenances"][0]["scheduled_for"] is not None
