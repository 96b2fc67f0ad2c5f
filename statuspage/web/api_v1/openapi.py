"""The OpenAPI 3.1 document of the management API under `/api/v1/`, built as a plain dict.

The request schemas here are also what the API checks bodies against (web/json_input.py), so
what the document promises and what the API accepts cannot drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
)
from statuspage.core.intake.payloads import SEVERITIES
from statuspage.core.limits import (
    MAX_BODY,
    MAX_COMPONENTS,
    MAX_ID,
    MAX_IDEMPOTENCY_KEY,
    MAX_NOTE,
    MAX_TITLE,
    MAX_VALUE,
)

PREFIX = "/api/v1"

JSON = "application/json"
INCIDENT_IMPACTS = [i.value for i in Impact if i is not Impact.MAINTENANCE]
COMPONENT_STATUSES = [s.value for s in ComponentStatus]
INCIDENT_STATUSES = [s.value for s in IncidentStatus]
MAINTENANCE_STATUSES = [s.value for s in MaintenanceStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _object(properties: dict[str, Any], *, required: list[str] | None = None, **extra: Any):
    """A closed object: every property listed, nothing else allowed."""
    schema: dict[str, Any] = {"type": "object", **extra, "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema["additionalProperties"] = False
    return schema


# -- request bodies (also the API's input checks) ------------------------------------------

MESSAGE_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "pattern": "^[a-z0-9][a-z0-9-]*$",
    "description": "the id of a canned message of the library, e.g. outage-investigating",
}
VARIABLES = {
    "type": "object",
    "description": "Values for the message's variables. They are text: inserted literally, "
    "never evaluated. A blank or missing value takes the variable's default.",
    "maxProperties": 50,
    "propertyNames": {
        "type": "string",
        "maxLength": 100,
        "pattern": "^[a-z][a-z0-9_]*$",
        "description": "a variable name",
    },
    "additionalProperties": {"type": "string", "maxLength": MAX_VALUE},
}
TITLE = {"type": "string", "minLength": 1, "maxLength": MAX_TITLE}
BODY = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_BODY,
    "description": "The update in Markdown (raw HTML is shown as text). With `message`, it "
    "replaces the filled text and the update is recorded as edited.",
}
NOTIFY = {
    "type": "boolean",
    "default": True,
    "description": "Whether subscribers are notified of this update.",
}
COMPONENT_STATUS_MAP = {
    "type": "object",
    "description": "The new status of each affected component, by component id.",
    "maxProperties": MAX_COMPONENTS,
    "propertyNames": {
        "type": "string",
        "pattern": "^[1-9][0-9]{0,9}$",
        "description": "a component id",
    },
    "additionalProperties": {"type": "string", "enum": COMPONENT_STATUSES},
}
IMPACT = {"type": "string", "enum": INCIDENT_IMPACTS}
WITHOUT_APPROVAL = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NOTE,
    "description": "Admins only: publish an update the incident's communication plan wants "
    "approved without that approval, saying why (the audit log keeps the reason). Ignored when "
    "the update needs no approval.",
}
#: approvals.fingerprint: what an approver saw (a draft's revision and exact text).
FINGERPRINT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[0-9a-f]+$",
    "description": "the draft's `fingerprint` as GET /api/v1/drafts/{draft_id} showed it",
}

REQUESTS: dict[str, dict[str, Any]] = {
    "CreateIncident": _object(
        {
            "message": MESSAGE_ID,
            "variables": VARIABLES,
            "title": {**TITLE, "description": "The incident title (default: the message's)."},
            "body": BODY,
            "status": {
                "type": "string",
                "enum": INCIDENT_STATUSES,
                "description": "Default: the message's status, or investigating.",
            },
            "impact": {**IMPACT, "description": "Default: the message's suggestion."},
            "components": COMPONENT_STATUS_MAP,
            "notify": NOTIFY,
            "without_approval": WITHOUT_APPROVAL,
        },
        required=[],
        description="Either `message` with its `variables`, or free text: `title`, `body` "
        "and `impact`.",
    ),
    "IncidentUpdate": _object(
        {
            "message": MESSAGE_ID,
            "variables": VARIABLES,
            "body": BODY,
            "status": {
                "type": "string",
                "enum": INCIDENT_STATUSES,
                "description": "Required with free text; default: the message's status.",
            },
            "impact": IMPACT,
            "components": COMPONENT_STATUS_MAP,
            "notify": NOTIFY,
            "without_approval": WITHOUT_APPROVAL,
        },
        required=[],
        description="Either `message` with its `variables`, or `body` and `status`.",
    ),
    "ResolveIncident": _object(
        {
            "message": {**MESSAGE_ID, "description": "a message whose status is resolved"},
            "variables": VARIABLES,
            "body": {**BODY, "description": "Default: 'This incident has been resolved.'"},
            "components_operational": {
                "type": "boolean",
                "default": True,
                "description": "Return every component of the incident to operational.",
            },
            "notify": NOTIFY,
            "without_approval": WITHOUT_APPROVAL,
        },
        required=[],
    ),
    "CreateMaintenance": _object(
        {
            "message": {**MESSAGE_ID, "description": "a message whose status is scheduled"},
            "variables": VARIABLES,
            "title": {**TITLE, "description": "Required without `message`."},
            "body": {**BODY, "description": "Markdown; required without `message`."},
            "scheduled_for": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with a UTC offset, e.g. 2026-06-20T22:00:00+02:00",
            },
            "scheduled_until": {"type": "string", "format": "date-time"},
            "components": {
                "type": "array",
                "description": "Ids of the components the maintenance affects.",
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                "maxItems": MAX_COMPONENTS,
                "uniqueItems": True,
            },
            "notify": NOTIFY,
            "without_approval": WITHOUT_APPROVAL,
        },
        required=["scheduled_for", "scheduled_until"],
        description="Either `message` with its `variables`, or `title` and `body`.",
    ),
    "MaintenanceUpdate": _object(
        {
            "message": MESSAGE_ID,
            "variables": VARIABLES,
            "body": BODY,
            "status": {
                "type": "string",
                "enum": MAINTENANCE_STATUSES,
                "description": "Required with free text; default: the message's status.",
            },
            "components": COMPONENT_STATUS_MAP,
            "scheduled_for": {
                "type": "string",
                "format": "date-time",
                "description": "Move the start (only while still scheduled).",
            },
            "scheduled_until": {
                "type": "string",
                "format": "date-time",
                "description": "Move the end, e.g. when the work is extended.",
            },
            "notify": NOTIFY,
            "without_approval": WITHOUT_APPROVAL,
        },
        required=[],
        description="Either `message` with its `variables`, or `body` and `status`.",
    ),
    "SetComponentStatus": _object({"status": {"type": "string", "enum": COMPONENT_STATUSES}}),
    "PublishDraft": _object(
        {},
        required=[],
        description="Send an empty object: the draft is published exactly as its preview "
        "shows (edit it in the admin to change it).",
    ),
    "DismissDraft": _object(
        {"note": {"type": "string", "maxLength": MAX_NOTE, "description": "why (kept with it)"}},
        required=[],
    ),
    "ApproveDraft": _object(
        {"fingerprint": FINGERPRINT},
        description="Approve exactly the revision and text you read: a draft that changed since "
        "(a new revision, or what it would publish moved on) is refused with 409.",
    ),
    "ReturnDraft": _object(
        {
            "comment": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NOTE,
                "description": "what should change (its author reads it)",
            }
        }
    ),
    "PublishWithoutApproval": _object(
        {
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_NOTE,
                "description": "why it cannot wait for approval (the audit log keeps it)",
            },
            "fingerprint": FINGERPRINT,
        },
        required=["reason"],
        description="With `fingerprint` (the draft's, as read), a draft that changed since is "
        "refused with 409, as an approval is.",
    ),
    "PreviewRequest": _object(
        {
            "variables": VARIABLES,
            "version": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "Default: the current version.",
            },
        },
        required=[],
    ),
}

# -- responses ------------------------------------------------------------------------------

DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = _nullable("string", format="date-time")
DRAFT_STATES = ["waiting", "pending", "returned", "published", "dismissed", "obsolete"]
DRAFT_DESCRIPTION = (
    "An update not published yet. From alerts (source alert, intake rules), it waits for a PM: "
    "published, dismissed, or obsolete when its alerts resolved (or fired again) first. Sent for "
    "approval (source pm, or an alert draft a PM asked approval for), it is pending until the "
    "communication plan's approvers approve it (published) or return it to its author "
    "(returned)."
)
DRAFT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "state": {"type": "string", "enum": DRAFT_STATES},
    "source": {
        "type": "string",
        "enum": ["alert", "pm"],
        "description": "alert: prepared from alerts; pm: an update a PM sent for approval",
    },
    "rule": _nullable("string", description="the intake rule that prepared it"),
    "incident_id": _nullable("integer", description="null: publishing opens an incident"),
    "update_id": _nullable("integer", description="the update it was published as"),
    "message": _nullable("string", description="the canned message"),
    "message_version": _nullable("integer"),
    "variables": {"type": "object", "additionalProperties": {"type": "string"}},
    "components": {
        "type": "object",
        "description": "the new status of each component, by component id",
        "additionalProperties": {"type": "string", "enum": COMPONENT_STATUSES},
    },
    "impact": _nullable("string", enum=[*INCIDENT_IMPACTS, None]),
    "next_update_minutes": _nullable("integer"),
    "detected_at": {**DATE_TIME, "description": "when the first alert started firing"},
    "created_at": DATE_TIME,
    "updated_at": DATE_TIME,
    "decided_at": NULLABLE_TIME,
    "decided_by": _nullable("string"),
    "note": {"type": "string"},
    "url": {"type": "string", "description": "its page in the admin"},
    "author": _nullable("string", description="who asked for approval (email)"),
    "revision": {
        "type": "integer",
        "description": "bumped when its author revises it: earlier approvals no longer count",
    },
    "plan": {
        "oneOf": [_ref("DraftPlan"), {"type": "null"}],
        "description": "the plan version whose approval rule applies (null: none)",
    },
    "approvals_needed": {"type": "integer", "description": "from different people"},
    "approvals": {
        "type": "array",
        "items": _ref("DraftApproval"),
        "description": "the approvals of the current revision, oldest first",
    },
    "comment": {
        "type": "string",
        "description": "why an approver returned it, or why an admin published it without approval",
    },
    "requested_at": {**NULLABLE_TIME, "description": "when approval was (last) requested"},
}

#: A component's uptime over a report's period (in a report's components and SLAs).
_UPTIME_PROPERTIES: dict[str, Any] = {
    "uptime_percent": _nullable("number", description="unrounded; null without data"),
    "known_seconds": {"type": "number", "description": "the period's time with data"},
    "downtime_seconds": {"type": "number", "description": "weighted by the counting"},
    "seconds": _object(
        {status: {"type": "number"} for status in COMPONENT_STATUSES},
        description="seconds spent in each status",
    ),
}

RESPONSES: dict[str, dict[str, Any]] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "description": "stable, e.g. invalid"},
                    "message": {"type": "string", "description": "for people"},
                    "field": _nullable("string", description="the field at fault, if any"),
                }
            )
        }
    ),
    "ComponentRef": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": COMPONENT_STATUSES},
        }
    ),
    "ComponentChange": _object(
        {
            "component_id": _nullable("integer"),
            "name": {"type": "string"},
            "old_status": {"type": "string", "enum": COMPONENT_STATUSES},
            "new_status": {"type": "string", "enum": COMPONENT_STATUSES},
        }
    ),
    "Provenance": _object(
        {
            "id": {"type": "string"},
            "version": {"type": "integer"},
            "content_hash": {"type": "string"},
        },
        description="The reviewed message text an update came from.",
    ),
    "Update": _object(
        {
            "id": {"type": "integer"},
            "incident_id": {"type": "integer"},
            "status": {"type": "string"},
            "body": {"type": "string", "description": "Markdown"},
            "body_html": {"type": "string", "description": "sanitised HTML"},
            "display_at": DATE_TIME,
            "created_at": DATE_TIME,
            "edited_at": {**NULLABLE_TIME, "description": "set when corrected after publishing"},
            "notify": {"type": "boolean"},
            "author": _nullable("string", description="the author's email"),
            "message": {"oneOf": [_ref("Provenance"), {"type": "null"}]},
            "variables": _nullable("object", additionalProperties={"type": "string"}),
            "text_edited": {"type": "boolean"},
            "component_changes": {"type": "array", "items": _ref("ComponentChange")},
        }
    ),
    "Postmortem": _object(
        {"body": {"type": "string"}, "body_html": {"type": "string"}, "published_at": DATE_TIME}
    ),
    "Incident": _object(
        {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in IncidentKind]},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": INCIDENT_STATUSES + MAINTENANCE_STATUSES},
            "impact": {"type": "string", "enum": [i.value for i in Impact]},
            "started_at": DATE_TIME,
            "identified_at": NULLABLE_TIME,
            "monitoring_at": NULLABLE_TIME,
            "resolved_at": NULLABLE_TIME,
            "scheduled_for": NULLABLE_TIME,
            "scheduled_until": NULLABLE_TIME,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
            "url": {"type": "string", "description": "the public permalink"},
            "components": {"type": "array", "items": _ref("ComponentRef")},
            "updates": {
                "type": "array",
                "items": _ref("Update"),
                "description": "newest first",
            },
            "postmortem": {"oneOf": [_ref("Postmortem"), {"type": "null"}]},
            "plan": {
                "oneOf": [_ref("IncidentPlan"), {"type": "null"}],
                "description": "the communication plan it follows (null: none matched)",
            },
        },
        description="An incident, or a scheduled maintenance (kind maintenance).",
    ),
    "IncidentPlan": _object(
        {
            "slug": {"type": "string"},
            "version": {"type": "integer", "description": "the version it is pinned to"},
            "next_update_due": {
                **NULLABLE_TIME,
                "description": "when customers are owed the next update (the last promise, "
                "else the plan's cadence); null when closed or no rule applies",
            },
            "next_message": _nullable(
                "string", description="the canned message the plan suggests next"
            ),
            "postmortem_due": {
                **NULLABLE_TIME,
                "description": "resolved, the plan asks for a postmortem, none published yet",
            },
        },
        description="Where an incident stands against its communication plan.",
    ),
    "IncidentList": _object(
        {
            "incidents": {"type": "array", "items": _ref("Incident")},
            "next_cursor": _nullable("string", description="pass as ?cursor= for more"),
        }
    ),
    "MaintenanceList": _object(
        {
            "maintenances": {"type": "array", "items": _ref("Incident")},
            "next_cursor": _nullable("string", description="pass as ?cursor= for more"),
        }
    ),
    "Published": _object(
        {"incident": _ref("Incident"), "update": _ref("Update")},
        description="201 when published now; 200 when the Idempotency-Key was seen before "
        "(nothing was published again).",
    ),
    "Component": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": COMPONENT_STATUSES},
            "description": {"type": "string"},
            "group": _nullable("string", description="the group's name"),
            "position": {"type": "integer"},
            "updated_at": DATE_TIME,
        }
    ),
    "ComponentList": _object({"components": {"type": "array", "items": _ref("Component")}}),
    "IncidentFigures": _object(
        {
            "time_to_acknowledge_seconds": _nullable(
                "number", description="from the first alert (else the start) to the ack"
            ),
            "time_to_first_update_seconds": _nullable(
                "number", description="from the first alert (else the start) to the first update"
            ),
            "longest_gap_seconds": _nullable(
                "number", description="the longest time between two consecutive public updates"
            ),
            "promises_kept": {"type": "integer"},
            "promises_broken": {"type": "integer"},
            "promises_pending": {"type": "integer", "description": "not due yet"},
            "time_to_resolve_seconds": _nullable(
                "number", description="from the start to the resolve; null while open"
            ),
            "components": {
                "type": "array",
                "description": "each component the incident's updates changed, with the seconds "
                "it spent in each status they gave it (within the incident, up to now)",
                "items": _object(
                    {
                        "component_id": {"type": "integer"},
                        "seconds": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                    }
                ),
            },
        },
        description="Durations in seconds; null where the event has not happened (yet).",
    ),
    "ReportCounting": _object(
        {
            "count_degraded": {"type": "number"},
            "count_partial": {"type": "number"},
            "exclude_maintenance": {"type": "boolean"},
        },
        description="The share of degraded and partial-outage time that is downtime; whether "
        "maintenance time is left out of the period.",
    ),
    "ReportComponent": _object(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "group": _nullable("string"),
            **_UPTIME_PROPERTIES,
        }
    ),
    "ReportSlaUptime": _object({"component": {"type": "string"}, **_UPTIME_PROPERTIES}),
    "ReportSla": _object(
        {
            "name": {"type": "string"},
            "components": _strings(),
            "target_percent": {"type": "number"},
            "counting": _ref("ReportCounting"),
            "achieved_percent": _nullable(
                "number", description="the worst covered component's uptime"
            ),
            "met": _nullable("boolean", description="null without data"),
            "binding_component": _nullable("string", description="the component that decides"),
            "budget_allowed_seconds": {"type": "number"},
            "budget_left_seconds": {"type": "number", "description": "negative once blown"},
            "missing_components": {
                **_strings(),
                "description": "named by the SLA, no such component",
            },
            "uptimes": {"type": "array", "items": _ref("ReportSlaUptime")},
        }
    ),
    "ReportSummary": _object(
        {
            "count": {"type": "integer", "description": "incidents that have the figure"},
            "mean_seconds": _nullable("number"),
            "p90_seconds": _nullable("number", description="nearest rank"),
        }
    ),
    "Report": _object(
        {
            "period": _object(
                {
                    "label": {"type": "string"},
                    "start": DATE_TIME,
                    "end": DATE_TIME,
                    "time_zone": {"type": "string"},
                }
            ),
            "generated_at": DATE_TIME,
            "counting": _ref("ReportCounting"),
            "components": {"type": "array", "items": _ref("ReportComponent")},
            "slas": {"type": "array", "items": _ref("ReportSla")},
            "incident_stats": _object(
                {
                    "total": {"type": "integer"},
                    "by_impact": _object({i: {"type": "integer"} for i in INCIDENT_IMPACTS}),
                    "time_to_first_update": _ref("ReportSummary"),
                    "time_to_resolve": _ref("ReportSummary"),
                },
                description="counts of every incident that touched the period; means and p90 "
                "of those that started in it",
            ),
            "incidents": {"type": "array", "items": _ref("ReportIncident")},
        },
        description="A period's reliability report (docs/reports.md).",
    ),
    "ReportIncident": _object(
        {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "impact": {"type": "string", "enum": INCIDENT_IMPACTS},
            "started_at": DATE_TIME,
            "resolved_at": NULLABLE_TIME,
            "figures": _ref("IncidentFigures"),
        }
    ),
    "Variable": _object(
        {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "required": {"type": "boolean"},
            "default": _nullable("string"),
            "choices": _strings(),
            "help": {"type": "string"},
        }
    ),
    "MessageSummary": _object(
        {
            "id": {"type": "string"},
            "version": {"type": "integer", "description": "the current version"},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": INCIDENT_STATUSES + MAINTENANCE_STATUSES},
            "impact": _nullable("string", enum=[*(i.value for i in Impact), None]),
            "tags": _strings(),
            "variables": {"type": "array", "items": _ref("Variable")},
        }
    ),
    "MessageList": _object({"messages": {"type": "array", "items": _ref("MessageSummary")}}),
    "MessageVersion": _object(
        {
            "number": {"type": "integer"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "status": {"type": "string"},
            "impact": _nullable("string"),
            "tags": _strings(),
            "variables": {"type": "array", "items": _ref("Variable")},
            "author": _nullable("string", description="the author's email; null for sync"),
            "reason": {"type": "string"},
            "content_hash": {"type": "string"},
            "created_at": DATE_TIME,
        }
    ),
    "MessageDetail": _object(
        {
            "id": {"type": "string"},
            "current_version": {"type": "integer"},
            "archived": {"type": "boolean"},
            "versions": {
                "type": "array",
                "items": _ref("MessageVersion"),
                "description": "every version, oldest first",
            },
        }
    ),
    "Alert": _object(
        {
            "id": {"type": "integer"},
            "integration": {"type": "string", "description": "the integration that sent it"},
            "fingerprint": {"type": "string"},
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "title": {"type": "string"},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "url": _nullable("string", description="the sender's link"),
            "started_at": DATE_TIME,
            "resolved_at": NULLABLE_TIME,
            "first_received_at": DATE_TIME,
            "last_received_at": DATE_TIME,
            "received_count": {"type": "integer"},
            "duplicate_count": {
                "type": "integer",
                "description": "notifications that repeated what was known",
            },
            "rule": _nullable("string", description="the intake rule that took it"),
            "outcome": {"type": "string", "description": "what intake did, in words"},
            "draft_id": _nullable("integer"),
            "incident_id": _nullable("integer"),
        },
        description="One alert (by its sender's fingerprint) as last received.",
    ),
    "AlertList": _object(
        {
            "alerts": {
                "type": "array",
                "items": _ref("Alert"),
                "description": "the most recently received first",
            }
        }
    ),
    "Draft": _object(DRAFT_PROPERTIES, description=DRAFT_DESCRIPTION),
    "DraftPlan": _object({"slug": {"type": "string"}, "version": {"type": "integer"}}),
    "DraftApproval": _object(
        {"user": {"type": "string", "description": "the approver's email"}, "at": DATE_TIME}
    ),
    "DraftList": _object(
        {"drafts": {"type": "array", "items": _ref("Draft"), "description": "newest first"}}
    ),
    "DraftPreview": _object(
        {
            "title": {"type": "string", "description": "the incident's title"},
            "body": {"type": "string", "description": "Markdown, as it would be published"},
            "body_html": {"type": "string", "description": "sanitised HTML"},
            "status": {"type": "string", "enum": INCIDENT_STATUSES + MAINTENANCE_STATUSES},
            "impact": {"type": "string", "enum": [i.value for i in Impact]},
            "components": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "old_status": {"type": "string", "enum": COMPONENT_STATUSES},
                        "new_status": {"type": "string", "enum": COMPONENT_STATUSES},
                    }
                ),
            },
            "provenance": {"type": "string", "description": "e.g. from outage-investigating v1"},
            "email_subject": _nullable("string", description="null: subscribers not notified"),
        },
        description="Exactly what publishing the draft would publish now.",
    ),
    "DraftDetail": _object(
        {
            **DRAFT_PROPERTIES,
            "alerts": {
                "type": "array",
                "items": _ref("Alert"),
                "description": "the first 50 alerts behind it",
            },
            "alert_count": {"type": "integer"},
            "preview": {
                "oneOf": [_ref("DraftPreview"), {"type": "null"}],
                "description": "while it is open (waiting, pending or returned) and can be "
                "published as it is",
            },
            "preview_error": {
                "oneOf": [_ref("PreviewError"), {"type": "null"}],
                "description": "while it is open and cannot be published as it is",
            },
            "fingerprint": _nullable(
                "string",
                description="while pending: what approving it approves (this revision, this "
                "preview); send it to POST /api/v1/drafts/{draft_id}/approve",
            ),
        },
        description=DRAFT_DESCRIPTION,
    ),
    "PreviewError": _object(
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": _nullable("string", description="what to fill in, e.g. variables.provider"),
        },
        description="Why the draft cannot be published as it is: edit it in the admin.",
    ),
    "PlanSummary": _object(
        {
            "id": {"type": "string"},
            "version": {"type": "integer", "description": "the current version"},
            "title": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in IncidentKind]},
            "priority": {"type": "integer", "description": "lower is tried first"},
            "content_hash": {"type": "string"},
        }
    ),
    "PlanList": _object(
        {"plans": {"type": "array", "items": _ref("PlanSummary"), "description": "by id"}}
    ),
    "PlanApproval": _object(
        {
            "updates": {
                "type": "array",
                "items": {"type": "string", "enum": ["first", "every", "resolve"]},
            },
            "role": _nullable("string", description="this role or a higher one approves"),
            "users": {"type": "array", "items": {"type": "string"}, "description": "emails"},
            "count": {"type": "integer"},
            "approvers": {"type": "string", "description": "in words, e.g. an admin"},
            "notify": _nullable("string", description="the escalation path told of requests"),
            "wait_minutes": _nullable("integer"),
            "escalate_to": _nullable("string"),
        }
    ),
    "Plan": _object(
        {
            "id": {"type": "string"},
            "version": {"type": "integer", "description": "the current version"},
            "archived": {"type": "boolean", "description": "its file is gone"},
            "title": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in IncidentKind]},
            "priority": {"type": "integer"},
            "match": _object(
                {
                    "impacts": {
                        "type": "array",
                        "items": {"type": "string", "enum": [i.value for i in Impact]},
                    },
                    "components": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "empty: any component",
                    },
                }
            ),
            "cadence": {
                "type": "object",
                "description": "status -> minutes customers may wait for the next update",
                "additionalProperties": {"type": "integer"},
            },
            "sequence": {"type": "array", "items": {"type": "string"}},
            "postmortem_within_days": _nullable("integer"),
            "approval": {"oneOf": [_ref("PlanApproval"), {"type": "null"}]},
            "reminders": _nullable("string", description="the path told of overdue updates"),
            "audiences": _object(
                {"subscribers": {"type": "boolean"}, "internal": _nullable("string")}
            ),
            "playbook": {"type": "string", "description": "Markdown"},
            "source": {"type": "string", "description": "the file as synced"},
            "content_hash": {"type": "string"},
            "author": _nullable("string", description="null for a sync"),
            "reason": {"type": "string"},
            "created_at": {**DATE_TIME, "description": "when this version was made"},
        },
        description="The current version of a communication plan (docs/plans.md).",
    ),
    "Preview": _object(
        {
            "message": {"type": "string"},
            "version": {"type": "integer"},
            "title": {"type": "string"},
            "body": {"type": "string", "description": "Markdown, as it would be published"},
            "body_html": {"type": "string", "description": "sanitised HTML"},
            "status": {"type": "string"},
            "variables": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    ),
}
RESPONSES["IncidentDetail"] = _object(
    {**RESPONSES["Incident"]["properties"], "figures": _ref("IncidentFigures")},
    description="An incident with its updates and its figures (docs/reports.md).",
)

# -- parameters and error responses ---------------------------------------------------------


def _path_id(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"the {what}'s id",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


PARAMETERS: dict[str, dict[str, Any]] = {
    "IncidentId": _path_id("incident_id", "incident"),
    "MaintenanceId": _path_id("maintenance_id", "maintenance"),
    "ComponentId": _path_id("component_id", "component"),
    "MessageId": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "the message id",
        "schema": {"type": "string"},
    },
    "Status": {
        "name": "status",
        "in": "query",
        "description": "open, closed or all (default)",
        "schema": {"type": "string", "enum": ["open", "closed", "all"], "default": "all"},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "description": "how many per page",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    "Cursor": {
        "name": "cursor",
        "in": "query",
        "description": "the next_cursor of the previous page",
        "schema": {"type": "string"},
    },
    "DraftId": _path_id("draft_id", "draft"),
    "Period": {
        "name": "period",
        "in": "query",
        "required": True,
        "description": "2026-11 (a month), 2026-Q4 (a quarter) or 2026-11-01..2026-11-15 (days, "
        "both included; at most 366), in the site's time zone",
        "schema": {"type": "string"},
    },
    "ReportFormat": {
        "name": "format",
        "in": "query",
        "description": "json (default) or csv (text/csv: a row per component and SLA)",
        "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
    },
    "PlanId": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "the plan id",
        "schema": {"type": "string"},
    },
    "DraftState": {
        "name": "state",
        "in": "query",
        "description": "waiting (default), pending (approval requests), returned, published, "
        "dismissed, obsolete or all",
        "schema": {"type": "string", "enum": [*DRAFT_STATES, "all"], "default": "waiting"},
    },
    "AlertStatus": {
        "name": "status",
        "in": "query",
        "description": "firing, resolved or all (default)",
        "schema": {"type": "string", "enum": ["firing", "resolved", "all"], "default": "all"},
    },
    "Integration": {
        "name": "integration",
        "in": "query",
        "description": "only the alerts of the integration of this name",
        "schema": {"type": "string"},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "description": "A key unique to this request: sending it again publishes nothing "
        "and answers 200 with the update published the first time.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY,
            "pattern": "^[\\x21-\\x7e]+$",
        },
    },
}

ERRORS: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "The body is not a JSON object."),
    "401": ("Unauthorized", "No token, or a wrong, revoked or disabled user's token."),
    "403": ("Forbidden", "The token's user has a role that may not do this."),
    "404": ("NotFound", "No such id."),
    "409": ("Conflict", "Clashes with the current state (e.g. already resolved)."),
    "413": ("TooLarge", "The body is too large."),
    "415": ("UnsupportedMediaType", "The body is not sent as application/json."),
    "422": ("Invalid", "A field was refused: `error.field` names it."),
}


def _error_response(description: str, code: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": _ref("Error")}},
    }
    if code == "401":
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "Bearer",
                "schema": {"type": "string"},
            }
        }
    return response


# -- operations -----------------------------------------------------------------------------


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _op(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    ok: str,
    ok_status: str = "200",
    params: tuple[str, ...] = (),
    body: str | None = None,
    errors: tuple[str, ...] = ("401", "403"),
    permission: str | None = "read",
    description: str = "",
    also: dict[str, tuple[str, str]] | None = None,
    replay: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
    }
    if permission is None:
        operation["security"] = []
    else:
        operation["description"] = (description + " " if description else "") + (
            f"Needs the `{permission}` permission (role viewer: read; editor and admin: "
            "read and publish)."
        )
    if params:
        operation["parameters"] = [_param(name) for name in params]
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(body)}},
        }
    responses: dict[str, Any] = {
        ok_status: {"description": "OK", "content": {JSON: {"schema": _ref(ok)}}}
    }
    if ok_status == "201" and replay:
        responses["200"] = {
            "description": "Already published with this Idempotency-Key",
            "content": {JSON: {"schema": _ref(ok)}},
        }
    for status, (schema, text) in (also or {}).items():
        responses[status] = {"description": text, "content": {JSON: {"schema": _ref(schema)}}}
        if status == "202":
            responses[status]["headers"] = {
                "Location": {
                    "description": "the draft: GET it for its fingerprint",
                    "schema": {"type": "string"},
                }
            }
    for code in errors:
        responses[code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


WRITE_ERRORS = ("400", "401", "403", "404", "409", "413", "415", "422")
CREATE_ERRORS = ("400", "401", "403", "409", "413", "415", "422")
#: Every publishing call: the incident's plan may want the update approved first.
PENDING = {
    "202": (
        "DraftDetail",
        "Stored for approval (the incident's communication plan asks for it): nothing is "
        "public yet",
    )
}
APPROVAL_NOTE = (
    "When the communication plan the incident follows wants this update approved, it is "
    "stored as a draft (202, state pending) and published once approved "
    "(POST /api/v1/drafts/{draft_id}/approve); an admin may instead give `without_approval`."
)


def _report_op() -> dict[str, Any]:
    operation = _op(
        "getReport",
        "A period's reliability report: uptime, SLAs, incident figures",
        tag="reports",
        ok="Report",
        params=("Period", "ReportFormat"),
        errors=("401", "403", "422"),
        description="See docs/reports.md for every figure and the CSV's columns.",
    )
    operation["responses"]["200"]["content"]["text/csv"] = {
        "schema": {"type": "string", "description": "with format=csv"}
    }
    return operation


def _paths() -> dict[str, dict[str, Any]]:
    return {
        f"{PREFIX}/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        f"{PREFIX}/incidents": {
            "get": _op(
                "listIncidents",
                "List incidents, newest first",
                tag="incidents",
                ok="IncidentList",
                params=("Status", "Limit", "Cursor"),
                errors=("401", "403", "422"),
            ),
            "post": _op(
                "createIncident",
                "Open an incident from a message or free text",
                tag="incidents",
                ok="Published",
                ok_status="201",
                params=("IdempotencyKey",),
                body="CreateIncident",
                errors=CREATE_ERRORS,
                permission="publish",
                description=APPROVAL_NOTE,
                also=PENDING,
            ),
        },
        f"{PREFIX}/incidents/{{incident_id}}": {
            "get": _op(
                "getIncident",
                "One incident with its updates and figures",
                tag="incidents",
                ok="IncidentDetail",
                params=("IncidentId",),
                errors=("401", "403", "404"),
            )
        },
        f"{PREFIX}/incidents/{{incident_id}}/updates": {
            "post": _op(
                "postIncidentUpdate",
                "Post an update to an incident",
                tag="incidents",
                ok="Published",
                ok_status="201",
                params=("IncidentId", "IdempotencyKey"),
                body="IncidentUpdate",
                errors=WRITE_ERRORS,
                permission="publish",
                description=APPROVAL_NOTE,
                also=PENDING,
            )
        },
        f"{PREFIX}/incidents/{{incident_id}}/resolve": {
            "post": _op(
                "resolveIncident",
                "Resolve an incident",
                tag="incidents",
                ok="Published",
                ok_status="201",
                params=("IncidentId", "IdempotencyKey"),
                body="ResolveIncident",
                errors=WRITE_ERRORS,
                permission="publish",
                description=APPROVAL_NOTE,
                also=PENDING,
            )
        },
        f"{PREFIX}/maintenances": {
            "get": _op(
                "listMaintenances",
                "List maintenances, latest window first",
                tag="maintenances",
                ok="MaintenanceList",
                params=("Status", "Limit", "Cursor"),
                errors=("401", "403", "422"),
            ),
            "post": _op(
                "scheduleMaintenance",
                "Schedule a maintenance",
                tag="maintenances",
                ok="Published",
                ok_status="201",
                params=("IdempotencyKey",),
                body="CreateMaintenance",
                errors=CREATE_ERRORS,
                permission="publish",
                description=APPROVAL_NOTE,
                also=PENDING,
            ),
        },
        f"{PREFIX}/maintenances/{{maintenance_id}}": {
            "get": _op(
                "getMaintenance",
                "One maintenance with its updates",
                tag="maintenances",
                ok="Incident",
                params=("MaintenanceId",),
                errors=("401", "403", "404"),
            )
        },
        f"{PREFIX}/maintenances/{{maintenance_id}}/updates": {
            "post": _op(
                "postMaintenanceUpdate",
                "Post an update to a maintenance",
                tag="maintenances",
                ok="Published",
                ok_status="201",
                params=("MaintenanceId", "IdempotencyKey"),
                body="MaintenanceUpdate",
                errors=WRITE_ERRORS,
                permission="publish",
                description=APPROVAL_NOTE,
                also=PENDING,
            )
        },
        f"{PREFIX}/reports": {"get": _report_op()},
        f"{PREFIX}/components": {
            "get": _op(
                "listComponents",
                "List components in display order",
                tag="components",
                ok="ComponentList",
            )
        },
        f"{PREFIX}/components/{{component_id}}": {
            "patch": _op(
                "setComponentStatus",
                "Set a component's status outside an incident",
                tag="components",
                ok="Component",
                params=("ComponentId",),
                body="SetComponentStatus",
                errors=("400", "401", "403", "404", "413", "415", "422"),
                permission="publish",
            )
        },
        f"{PREFIX}/drafts": {
            "get": _op(
                "listDrafts",
                "List drafts (from alerts, or waiting for approval), newest first",
                tag="drafts",
                ok="DraftList",
                params=("DraftState", "Limit"),
                errors=("401", "403", "422"),
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}": {
            "get": _op(
                "getDraft",
                "One draft with its alerts and its preview",
                tag="drafts",
                ok="DraftDetail",
                params=("DraftId",),
                errors=("401", "403", "404"),
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}/publish": {
            "post": _op(
                "publishDraft",
                "Publish a draft exactly as its preview shows",
                tag="drafts",
                ok="Published",
                ok_status="201",
                params=("DraftId",),
                body="PublishDraft",
                errors=WRITE_ERRORS,
                permission="publish",
                description="Publishing a draft again publishes nothing and answers 200 with "
                "the update it was published as. When the incident's communication plan wants "
                "the update approved, the draft goes for approval instead (202, state pending). "
                "409: it was dismissed, is obsolete or already waits for approval; 422: it "
                "cannot be published as it is (`error.field` says what is missing: edit it in "
                "the admin).",
                also=PENDING,
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}/approve": {
            "post": _op(
                "approveDraft",
                "Approve a pending draft; publish it once enough approvers said yes",
                tag="drafts",
                ok="Published",
                ok_status="201",
                params=("DraftId",),
                body="ApproveDraft",
                errors=WRITE_ERRORS,
                permission="publish",
                description="201 with the published update when this approval was the last "
                "one needed; 200 with the draft while more are needed. 403: you wrote it, or "
                "the plan gives approval to others; 409: it changed since you read it (a stale "
                "`fingerprint`), you already approved it, or it is no longer pending.",
                also={"200": ("DraftDetail", "Approved; more approvals are needed")},
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}/return": {
            "post": _op(
                "returnDraft",
                "Return a pending draft to its author with a comment",
                tag="drafts",
                ok="DraftDetail",
                params=("DraftId",),
                body="ReturnDraft",
                errors=WRITE_ERRORS,
                permission="publish",
                description="Nothing is published. 403: only the plan's approvers (and admins) "
                "return a draft; 409: it is no longer pending.",
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}/publish-without-approval": {
            "post": _op(
                "publishDraftWithoutApproval",
                "Publish a draft without the approval its plan asks for (admins)",
                tag="drafts",
                ok="Published",
                ok_status="201",
                params=("DraftId",),
                body="PublishWithoutApproval",
                errors=WRITE_ERRORS,
                permission="publish",
                description="The reason is kept in the audit log. 403: only an admin does this; "
                "409: the draft was already published, dismissed or is obsolete.",
                replay=False,
            )
        },
        f"{PREFIX}/plans": {
            "get": _op(
                "listPlans",
                "List the communication plans (current versions)",
                tag="plans",
                ok="PlanList",
            )
        },
        f"{PREFIX}/plans/{{slug}}": {
            "get": _op(
                "getPlan",
                "One communication plan: its current version, parsed, and its source",
                tag="plans",
                ok="Plan",
                params=("PlanId",),
                errors=("401", "403", "404"),
            )
        },
        f"{PREFIX}/drafts/{{draft_id}}/dismiss": {
            "post": _op(
                "dismissDraft",
                "Set a waiting draft aside without publishing it",
                tag="drafts",
                ok="DraftDetail",
                params=("DraftId",),
                body="DismissDraft",
                errors=WRITE_ERRORS,
                permission="publish",
                description="409: it is no longer waiting.",
            )
        },
        f"{PREFIX}/alerts": {
            "get": _op(
                "listAlerts",
                "List alerts received, the most recently received first",
                tag="alerts",
                ok="AlertList",
                params=("AlertStatus", "Integration", "Limit"),
                errors=("401", "403", "422"),
            )
        },
        f"{PREFIX}/messages": {
            "get": _op(
                "listMessages",
                "List the library's messages (current versions)",
                tag="messages",
                ok="MessageList",
            )
        },
        f"{PREFIX}/messages/{{slug}}": {
            "get": _op(
                "getMessage",
                "One message with every version",
                tag="messages",
                ok="MessageDetail",
                params=("MessageId",),
                errors=("401", "403", "404"),
            )
        },
        f"{PREFIX}/messages/{{slug}}/preview": {
            "post": _op(
                "previewMessage",
                "Fill a message's variables and show the result, publishing nothing",
                tag="messages",
                ok="Preview",
                params=("MessageId",),
                body="PreviewRequest",
                errors=("400", "401", "403", "404", "413", "415", "422"),
                permission="publish",
            )
        },
    }


def document(site_url: str, version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document for a site whose public URL is `site_url`."""
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "statuspage management API",
            "version": version,
            "description": "Publish incident updates from the canned-message library, manage "
            "maintenances and component statuses, publish or dismiss the drafts monitoring "
            "prepared from alerts, approve or return the updates a communication plan wants "
            "approved (docs/plans.md). Authenticate with a bearer token "
            "(`statuspage tokens create`); it acts with its user's current role. Errors are "
            '`{"error": {"code", "message", "field"}}`.',
        },
        "servers": [{"url": site_url}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": name}
            for name in (
                "incidents",
                "maintenances",
                "components",
                "drafts",
                "alerts",
                "messages",
                "plans",
                "reports",
                "meta",
            )
        ],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "sp_...",
                    "description": "An API token from `statuspage tokens create`.",
                }
            },
            "schemas": {**REQUESTS, **RESPONSES},
            "parameters": PARAMETERS,
            "responses": {
                name: _error_response(description, code)
                for code, (name, description) in ERRORS.items()
            },
        },
    }
    # Callers may change their copy; the request schemas double as the API's input checks.
    return copy.deepcopy(doc)
