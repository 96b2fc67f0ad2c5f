"""A script written against Atlassian's Statuspage API with the OpenAPI-generated client from
PyPI (atlassian-statuspage), as a team's automation would be: it runs in its own virtualenv
(tests/support/clients.py), unchanged, pointed at `statuspage serve`.

Usage: python statuspage_client_script.py BASE_URL PAGE_ID TOKEN; prints one JSON object of
what it saw.
"""

import json
import sys

import atlassian_statuspage as sp


def main(base: str, page_id: str, token: str) -> None:
    """Build a page, run an incident through its life, add a template and subscribers."""
    config = sp.Configuration()
    config.host = base
    config.api_key["Authorization"] = token
    config.api_key_prefix["Authorization"] = "OAuth"
    client = sp.ApiClient(config)
    components = sp.ComponentsApi(client)
    groups = sp.ComponentGroupsApi(client)
    incidents = sp.IncidentsApi(client)
    templates = sp.TemplatesApi(client)
    subscribers = sp.SubscribersApi(client)
    seen = {}

    api = components.post_pages_page_id_components(
        sp.PostPagesPageIdComponents(
            component=sp.PostPagesPageIdComponentsComponent(
                name="API", description="The public REST API", status="operational"
            )
        ),
        page_id,
    )
    web = components.post_pages_page_id_components(
        sp.PostPagesPageIdComponents(
            component=sp.PostPagesPageIdComponentsComponent(name="Website", showcase=True)
        ),
        page_id,
    )
    group = groups.post_pages_page_id_component_groups(
        sp.PostPagesPageIdComponentGroups(
            description="Customer-facing services",
            component_group=sp.PostPagesPageIdComponentGroupsComponentGroup(
                name="Core", components=[api.id, web.id]
            ),
        ),
        page_id,
    )
    seen["group"] = {"id": group.id, "name": group.name, "components": group.components}
    listed = components.get_pages_page_id_components(page_id)
    seen["components"] = [(c.name, c.status, c.group_id) for c in listed]

    opened = incidents.post_pages_page_id_incidents(
        sp.PostPagesPageIdIncidents(
            incident=sp.PostPagesPageIdIncidentsIncident(
                name="Elevated API errors",
                status="investigating",
                body="We are looking into failing API requests.",
                components={api.id: "major_outage"},
                component_ids=[api.id],
                impact_override="major",
                deliver_notifications=True,
            )
        ),
        page_id,
    )
    seen["opened"] = {
        "id": opened.id,
        "status": opened.status,
        "impact": opened.impact,
        "components": [(c.name, c.status) for c in opened.components],
        "updates": len(opened.incident_updates),
    }
    updated = incidents.patch_pages_page_id_incidents_incident_id(
        sp.PatchPagesPageIdIncidents(
            incident=sp.PatchPagesPageIdIncidentsIncident(
                status="identified",
                body="A bad deploy; rolling back.",
                components={api.id: "partial_outage"},
            )
        ),
        page_id,
        opened.id,
    )
    seen["updated"] = {"status": updated.status, "updates": len(updated.incident_updates)}
    unresolved = incidents.get_pages_page_id_incidents_unresolved(page_id)
    seen["unresolved_before"] = [i.id for i in unresolved]
    resolved = incidents.patch_pages_page_id_incidents_incident_id(
        sp.PatchPagesPageIdIncidents(
            incident=sp.PatchPagesPageIdIncidentsIncident(
                status="resolved",
                body="Rolled back; errors are back to normal.",
                components={api.id: "operational"},
            )
        ),
        page_id,
        opened.id,
    )
    seen["resolved"] = {
        "status": resolved.status,
        "resolved_at": resolved.resolved_at is not None,
        "bodies": [u.body for u in resolved.incident_updates],
    }
    seen["unresolved_after"] = [
        i.id for i in incidents.get_pages_page_id_incidents_unresolved(page_id)
    ]

    template = templates.post_pages_page_id_incident_templates(
        sp.PostPagesPageIdIncidentTemplates(
            template=sp.PostPagesPageIdIncidentTemplatesTemplate(
                name="Database failover",
                title="Database failover in progress",
                body="We are failing over to the standby database.",
                update_status="identified",
            )
        ),
        page_id,
    )
    seen["template"] = {"id": template.id, "title": template.title}
    seen["templates"] = [t.name for t in templates.get_pages_page_id_incident_templates(page_id)]

    added = subscribers.post_pages_page_id_subscribers(
        sp.PostPagesPageIdSubscribers(
            subscriber=sp.PostPagesPageIdSubscribersSubscriber(
                email="ops@example.com", skip_confirmation_notification=True
            )
        ),
        page_id,
    )
    pending = subscribers.post_pages_page_id_subscribers(
        sp.PostPagesPageIdSubscribers(
            subscriber=sp.PostPagesPageIdSubscribersSubscriber(
                email="cto@example.com", component_ids=[api.id]
            )
        ),
        page_id,
    )
    seen["subscribers_added"] = [added.email, pending.email]
    seen["subscribers_active"] = [
        s.email for s in subscribers.get_pages_page_id_subscribers(page_id)
    ]
    seen["subscribers_all"] = sorted(
        s.email for s in subscribers.get_pages_page_id_subscribers(page_id, state="all")
    )
    try:
        incidents.get_pages_page_id_incidents_incident_id(page_id, "999999")
    except sp.rest.ApiException as exc:
        seen["missing"] = {"status": exc.status, "body": json.loads(exc.body)}
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:4])
