"""The fields of Atlassian Statuspage's webhook payloads, which ours must carry.

As documented ("Enable webhook notifications": an incident payload and a component payload;
the same shapes appear in integrations that parse them, e.g. Zulip's Statuspage fixtures).
"""

from __future__ import annotations

STATUSPAGE_META = {"unsubscribe", "documentation", "generated_at"}
STATUSPAGE_PAGE = {"id", "status_indicator", "status_description"}
STATUSPAGE_INCIDENT = {
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "postmortem_ignored",
    "postmortem_body",
    "postmortem_body_last_updated_at",
    "postmortem_published_at",
    "postmortem_notified_subscribers",
    "postmortem_notified_twitter",
    "backfilled",
    "scheduled_for",
    "scheduled_until",
    "scheduled_remind_prior",
    "scheduled_reminded_at",
    "impact_override",
    "scheduled_auto_in_progress",
    "scheduled_auto_completed",
    "id",
    "page_id",
    "incident_updates",
    "components",
}
STATUSPAGE_INCIDENT_UPDATE = {
    "status",
    "body",
    "created_at",
    "wants_twitter_update",
    "twitter_updated_at",
    "updated_at",
    "display_at",
    "affected_components",
    "custom_tweet",
    "deliver_notifications",
    "id",
    "incident_id",
}
STATUSPAGE_AFFECTED = {"code", "name", "old_status", "new_status"}
STATUSPAGE_COMPONENT = {
    "status",
    "name",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "id",
    "page_id",
    "group_id",
}
STATUSPAGE_COMPONENT_UPDATE = {
    "old_status",
    "new_status",
    "created_at",
    "component_type",
    "id",
    "component_id",
}
