"""What the Statuspage-compatible API accepts: request schemas, and the fields it accepts but
cannot honour (docs/migrating.md's table is built from IGNORED; a test compares them).

Statuspage's documented request objects, field by field. A field we cannot honour is accepted
and listed in IGNORED; the answer names it in the `Statuspage-Ignored-Fields` header, so no
client loses it without notice. A field Statuspage does not document is refused (422), as
`/api/v1/` refuses unknown fields.
"""

from __future__ import annotations

from typing import Any

from statuspage.core import limits
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus

#: The answer's header naming the accepted fields a request carried that are not honoured.
IGNORED_HEADER = "Statuspage-Ignored-Fields"

COMPONENT_STATUSES = [s.value for s in ComponentStatus]
INCIDENT_STATUSES = [s.value for s in IncidentStatus if s is not IncidentStatus.POSTMORTEM]
MAINTENANCE_STATUSES = [s.value for s in MaintenanceStatus]
IMPACTS = [i.value for i in Impact if i is not Impact.MAINTENANCE]

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
BOOLEAN: dict[str, Any] = {"type": ["boolean", "null"]}
ANY: dict[str, Any] = {}
ID_LIST: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "maxLength": 40},
    "maxItems": limits.MAX_COMPONENTS,
}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "required": list(required),
    }


def envelope(key: str, inner: dict[str, Any]) -> dict[str, Any]:
    """A body of the form {"<key>": {...}}, as every Statuspage write takes."""
    return _object({key: inner}, (key,))


#: Per request object: field -> why it is accepted and not honoured.
IGNORED: dict[str, dict[str, str]] = {
    "page": {
        "name": "the page's name is `site.name` in the config file",
        "domain": "the host is where you serve statuspage (`site.url`)",
        "subdomain": "the host is where you serve statuspage (`site.url`)",
        "url": "`site.url` in the config file",
        "branding": "no branding tiers",
        "css_body_background_color": "the page's style is the template's",
        "css_font_color": "the page's style is the template's",
        "css_light_font_color": "the page's style is the template's",
        "css_greens": "the page's style is the template's",
        "css_yellows": "the page's style is the template's",
        "css_oranges": "the page's style is the template's",
        "css_blues": "the page's style is the template's",
        "css_reds": "the page's style is the template's",
        "css_border_color": "the page's style is the template's",
        "css_graph_color": "the page's style is the template's",
        "css_link_color": "the page's style is the template's",
        "css_no_data": "the page's style is the template's",
        "hidden_from_search": "set robots rules in your proxy",
        "viewers_must_be_team_members": "no private pages",
        "allow_page_subscribers": "`[subscribers]` in the config file",
        "allow_incident_subscribers": "`[subscribers]` in the config file",
        "allow_email_subscribers": "`[subscribers]` in the config file",
        "allow_sms_subscribers": "no SMS",
        "allow_rss_atom_feeds": "feeds are always on",
        "allow_webhook_subscribers": "`[subscribers]` in the config file",
        "notifications_from_email": "`[smtp] from` in the config file",
        "notifications_email_footer": "the email templates",
        "time_zone": "`site.time_zone` in the config file",
        "page_description": "not shown",
        "headline": "not shown",
        "support_url": "not shown",
        "twitter_username": "no Twitter",
        "city": "not shown",
        "state": "not shown",
        "country": "not shown",
    },
    "component": {
        "only_show_if_degraded": "every component is shown",
        "automation_email": "no email automation; use the alert intake (docs/integrations.md)",
    },
    "incident": {
        "metadata": "not stored",
        "scheduled_remind_prior": "no reminder before a maintenance",
        "auto_transition_to_maintenance_state": (
            "a maintenance's components follow the statuses its updates set"
        ),
        "auto_transition_to_operational_state": (
            "a maintenance's components follow the statuses its updates set"
        ),
        "scheduled_auto_in_progress": "maintenances always start and end on time (the tick)",
        "scheduled_auto_completed": "maintenances always start and end on time (the tick)",
        "scheduled_auto_transition": "maintenances always start and end on time (the tick)",
        "auto_transition_deliver_notifications_at_start": "the tick's updates always notify",
        "auto_transition_deliver_notifications_at_end": "the tick's updates always notify",
        "auto_tweet_at_beginning": "no Twitter",
        "auto_tweet_on_completion": "no Twitter",
        "auto_tweet_on_creation": "no Twitter",
        "auto_tweet_one_hour_before": "no Twitter",
    },
    "incident_update": {
        "display_at": "an update is shown at the time it was published",
        "deliver_notifications": "a correction is never sent again",
        "wants_twitter_update": "no Twitter",
    },
    "postmortem": {
        "notify_subscribers": "publishing a postmortem sends nothing",
        "notify_twitter": "no Twitter",
        "custom_tweet": "no Twitter",
    },
    "template": {
        "group_id": "messages are grouped by tags (docs/messages.md)",
        "component_ids": "a message names no components; the PM picks them when publishing",
        "should_tweet": "no Twitter",
        "should_send_notifications": "the PM chooses when publishing",
    },
    "subscriber": {
        "page_access_user": "no page access users",
        "phone_country": "no SMS",
    },
}


def _fields(kind: str, honoured: dict[str, Any]) -> dict[str, Any]:
    return {**{name: ANY for name in IGNORED[kind]}, **honoured}


PAGE = envelope("page", _object(_fields("page", {})))

COMPONENT_FIELDS = _fields(
    "component",
    {
        "name": STRING,
        "description": NULLABLE_STRING,
        "status": {"type": "string", "enum": [*COMPONENT_STATUSES, ""]},
        "group_id": NULLABLE_STRING,
        "showcase": BOOLEAN,
        "start_date": NULLABLE_STRING,
    },
)
NEW_COMPONENT = envelope("component", {**_object(COMPONENT_FIELDS), "required": ["name"]})
COMPONENT = envelope("component", _object(COMPONENT_FIELDS))

GROUP_FIELDS: dict[str, Any] = {
    "name": STRING,
    "description": NULLABLE_STRING,
    "components": ID_LIST,
    "position": {"type": ["integer", "null"], "minimum": 0, "maximum": limits.MAX_ID},
}
NEW_GROUP = _object(
    {"description": NULLABLE_STRING, "component_group": _object(GROUP_FIELDS, ("name",))},
    ("component_group",),
)
GROUP = _object(
    {"description": NULLABLE_STRING, "component_group": _object(GROUP_FIELDS)},
    ("component_group",),
)

INCIDENT_FIELDS = _fields(
    "incident",
    {
        # The limits of /api/v1/'s schema, so a refusal reads the same on both.
        "name": {"type": "string", "maxLength": limits.MAX_TITLE},
        "status": {"type": "string", "enum": [*INCIDENT_STATUSES, *MAINTENANCE_STATUSES]},
        "impact_override": {"type": ["string", "null"], "enum": [*IMPACTS, None]},
        "scheduled_for": NULLABLE_STRING,
        "scheduled_until": NULLABLE_STRING,
        "deliver_notifications": BOOLEAN,
        "backfilled": BOOLEAN,
        "backfill_date": NULLABLE_STRING,
        "body": {"type": ["string", "null"], "maxLength": limits.MAX_BODY},
        "components": {
            "type": ["object", "null"],
            "maxProperties": limits.MAX_COMPONENTS,
            "additionalProperties": {"type": "string", "enum": [*COMPONENT_STATUSES, ""]},
        },
        "component_ids": ID_LIST,
    },
)
NEW_INCIDENT = envelope("incident", {**_object(INCIDENT_FIELDS), "required": ["name"]})
INCIDENT = envelope("incident", _object(INCIDENT_FIELDS))

INCIDENT_UPDATE = envelope("incident_update", _object(_fields("incident_update", {"body": STRING})))
POSTMORTEM = envelope("postmortem", _object(_fields("postmortem", {"body_draft": STRING})))
POSTMORTEM_PUBLISH = {
    "type": "object",
    "properties": {"postmortem": _object(_fields("postmortem", {}))},
    "additionalProperties": False,
}

TEMPLATE = envelope(
    "template",
    _object(
        _fields(
            "template",
            {
                "name": STRING,
                "title": STRING,
                "body": STRING,
                "update_status": {
                    "type": "string",
                    "enum": [*INCIDENT_STATUSES, *MAINTENANCE_STATUSES],
                },
            },
        ),
        ("name", "title", "body"),
    ),
)

SUBSCRIBER = envelope(
    "subscriber",
    _object(
        _fields(
            "subscriber",
            {
                "email": NULLABLE_STRING,
                "endpoint": NULLABLE_STRING,
                "phone_number": NULLABLE_STRING,
                "skip_confirmation_notification": BOOLEAN,
                "component_ids": ID_LIST,
            },
        )
    ),
)
#: `subscribers`: comma-separated ids, or "all" where Statuspage allows it.
SUBSCRIBER_IDS = {"type": "string", "maxLength": 100_000}
UNSUBSCRIBE = _object(
    {
        "subscribers": SUBSCRIBER_IDS,
        "type": STRING,
        "state": STRING,
        "skip_unsubscription_notification": BOOLEAN,
    },
    ("subscribers",),
)
RESEND = _object({"subscribers": SUBSCRIBER_IDS}, ("subscribers",))
REACTIVATE = _object({"subscribers": SUBSCRIBER_IDS, "type": STRING}, ("subscribers",))
SUBSCRIBER_COMPONENTS = _object({"component_ids": ID_LIST}, ("component_ids",))
