"""Fill the internal message templates (messages/internal/*.md) for a due notification.

The result is channel-neutral (a subject, plain text, Markdown, links and labelled fields); each
transport in `channels/` formats it for its medium. Values go in as text, never evaluated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from statuspage.core.enums import Impact, IncidentStatus
from statuspage.core.escalation.config import DEFAULT_SEVERITY
from statuspage.core.escalation.planner import Due, IncidentFacts, last_update_before
from statuspage.core.library import (
    LibraryError,
    Message,
    check_directory,
    escape_markdown_strict,
    fill,
)
from statuspage.core.limits import MAX_VALUE
from statuspage.core.times import as_utc, isoformat
from statuspage.errors import ConfigError
from statuspage.resources import resource_dir

__all__ = [
    "TEMPLATES",
    "IncidentSummary",
    "Notification",
    "internal_directory",
    "load_templates",
    "plain_text",
    "render",
    "render_draft",
    "render_notice",
    "render_test",
]

#: The template used for each kind of due notification, and for a channel test.
TEMPLATES = MappingProxyType(
    {
        "step": "escalation-step",
        "repeat": "escalation-repeat",
        "reminder": "update-reminder",
        "missed_update_escalation": "missed-update-escalation",
        "resolved": "escalation-resolved",
        "test": "escalation-test",
        "draft": "draft-ready",
        "approval": "approval-requested",
        "approval_waiting": "approval-waiting",
        "overdue": "plan-update-overdue",
        "action_item_overdue": "action-item-overdue",
        "published": "update-published",
    }
)
#: The webhook event type of each kind.
EVENTS = MappingProxyType(
    {
        "step": "escalation.step",
        "repeat": "escalation.repeat",
        "reminder": "escalation.update_reminder",
        "missed_update_escalation": "escalation.missed_update",
        "resolved": "escalation.resolved",
        "test": "escalation.test",
        "draft": "draft.ready",
        "approval": "draft.approval_requested",
        "approval_waiting": "draft.approval_waiting",
        "overdue": "plan.update_overdue",
        "action_item_overdue": "postmortem.action_item_overdue",
        "published": "incident.update_published",
    }
)
#: The label of the link a notice carries, by kind (default: "Open the incident").
LINK_LABELS = MappingProxyType(
    {
        "draft": "Review and publish",
        "approval": "Review and approve",
        "approval_waiting": "Review and approve",
    }
)

# Undo library.escape_markdown_strict in one pass, so an escaped value reads as typed in plain text.
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])|&lt;|&amp;|&#61;")
_ENTITIES = {"&lt;": "<", "&amp;": "&", "&#61;": "="}


@dataclass(frozen=True)
class IncidentSummary:
    """The incident as the messages show it (built by the caller from the database)."""

    id: int | str
    title: str
    impact: str
    status: str
    components: tuple[str, ...] = ()
    url: str = ""


@dataclass(frozen=True)
class Notification:
    """A filled escalation message, ready for any transport."""

    kind: str
    subject: str
    #: The body as plain text (email text part, Slack/Teams fallback text).
    text: str
    #: The body as Markdown, values escaped (for transports that render Markdown).
    markdown: str
    incident_url: str
    ack_url: str
    #: PagerDuty severity: critical, error, warning or info.
    severity: str
    dedup_key: str
    #: Labelled facts for cards and attachments, in display order ("Impact": "Major", ...).
    fields: Mapping[str, str] = field(hash=False)
    occurred_at: datetime | None = None
    incident: IncidentSummary | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON-able outbox payload the transports in `channels/` read."""
        links = []
        if self.ack_url:
            links.append({"label": "Acknowledge", "url": self.ack_url})
        if self.incident_url:
            label = LINK_LABELS.get(self.kind, "Open the incident")
            links.append({"label": label, "url": self.incident_url})
        data: dict[str, Any] = {
            "subject": self.subject,
            "text": self.text,
            "markdown": self.markdown,
            "event": EVENTS[self.kind],
            "action": "resolve" if self.kind == "resolved" else "trigger",
            "dedup_key": self.dedup_key,
            "severity": self.severity,
            "occurred_at": isoformat(self.occurred_at),
            "fields": dict(self.fields),
            "links": links,
        }
        if self.incident is not None:
            data["incident"] = {
                "id": self.incident.id,
                "name": self.incident.title,
                "impact": self.incident.impact,
                "status": self.incident.status,
                "components": list(self.incident.components),
                "url": self.incident.url,
            }
        return data


def internal_directory() -> Path:
    """The shipped internal templates: inside the package in a wheel, beside it in a checkout."""
    return resource_dir("messages") / "internal"


def load_templates(directory: str | os.PathLike[str] | None = None) -> dict[str, Message]:
    """Read and check the internal templates; LibraryError or ConfigError if one is unusable."""
    directory = internal_directory() if directory is None else Path(directory)
    messages, problems = check_directory(directory)
    if problems:
        raise LibraryError(problems)
    found = {message.id: message for message in messages}
    missing = sorted(set(TEMPLATES.values()) - set(found))
    if missing:
        raise ConfigError(f"{directory}: missing internal message(s): {', '.join(missing)}")
    return found


def render(
    due: Due,
    incident: IncidentSummary,
    facts: IncidentFacts,
    templates: Mapping[str, Message],
    *,
    site_name: str,
    ack_url: str = "",
    severity: Mapping[str, str] | None = None,
) -> Notification:
    """Fill the template for `due` with the incident's facts (ValidationError if one is refused)."""
    at = as_utc(due.at)
    since_start = _minutes(at - as_utc(facts.started_at))
    since_update = _minutes(at - last_update_before(facts, at))
    values = {
        "site_name": site_name,
        "incident_title": incident.title,
        "impact": _label(Impact, incident.impact),
        "status": _label(IncidentStatus, incident.status),
        "components": ", ".join(incident.components),
        "incident_url": incident.url,
        "ack_url": ack_url,
        "path": due.path,
        "step": "" if due.step is None else str(due.step + 1),
        "loop": str(due.loop),
        "minutes_since_start": str(since_start),
        "minutes_since_update": str(since_update),
        "missed_updates": str(due.missed),
    }
    fields = {
        "Incident": incident.title,
        "Impact": values["impact"],
        "Status": values["status"],
        "Components": values["components"] or "-",
        "Escalation": _progress(due),
    }
    if due.kind in ("reminder", "missed_update_escalation"):
        fields["Last public update"] = f"{since_update} minutes ago"
    return _notification(
        due.kind,
        templates,
        values,
        fields=fields,
        # Nothing is left to acknowledge once the incident is resolved.
        ack_url="" if due.kind == "resolved" else ack_url,
        incident_url=incident.url,
        severity=(severity or DEFAULT_SEVERITY).get(incident.impact, "info"),
        dedup_key=due.dedup_key,
        occurred_at=at,
        incident=incident,
    )


def render_test(
    channel: str,
    templates: Mapping[str, Message],
    *,
    site_name: str,
    site_url: str,
    key: str,
    now: datetime,
) -> Notification:
    """The "send test message" notification for one channel."""
    values = {"site_name": site_name, "site_url": site_url, "channel": channel}
    return _notification(
        "test",
        templates,
        values,
        fields={"Channel": channel},
        ack_url="",
        incident_url="",
        severity="info",
        dedup_key=key,
        occurred_at=as_utc(now),
        incident=None,
    )


def render_draft(
    templates: Mapping[str, Message],
    *,
    site_name: str,
    title: str,
    what: str,
    alerts: Sequence[str],
    components: Sequence[str],
    url: str,
    key: str,
    now: datetime,
    severity: str,
) -> Notification:
    """The notice that monitoring prepared a draft: where to review and publish it."""
    values = {
        "site_name": site_name,
        "draft_title": title,
        "what": what,
        "alerts": ", ".join(alerts) or "-",
        "components": ", ".join(components),
        "draft_url": url,
    }
    fields = {"Draft": title, "Alerts": values["alerts"], "Components": values["components"] or "-"}
    return render_notice(
        "draft", templates, values, fields=fields, url=url, key=key, now=now, severity=severity
    )


def render_notice(
    kind: str,
    templates: Mapping[str, Message],
    values: Mapping[str, str],
    *,
    fields: Mapping[str, str],
    url: str,
    key: str,
    now: datetime,
    severity: str = "info",
) -> Notification:
    """A notice that is not a step of a run (a draft waits, an approval is asked, an update is
    overdue under a plan): the template of `kind` filled with `values`, linking to `url`."""
    return _notification(
        kind,
        templates,
        values,
        fields=fields,
        ack_url="",
        incident_url=url,
        severity=severity,
        dedup_key=key,
        occurred_at=as_utc(now),
        incident=None,
    )


def _notification(
    kind: str,
    templates: Mapping[str, Message],
    values: Mapping[str, str],
    *,
    fields: Mapping[str, str],
    **rest: Any,
) -> Notification:
    message = templates[TEMPLATES[kind]]
    # A template declares the variables it uses; fill refuses any other name.
    used = {name: _fit(values.get(name, "")) for name in message.variables}
    # Slack and Teams read more than Markdown does (<@user>, <!channel>): escape everything.
    filled = fill(message, used, escape=escape_markdown_strict)
    return Notification(
        kind=kind,
        subject=filled.title,
        text=plain_text(filled.body),
        markdown=filled.body,
        fields=MappingProxyType({label: _fit(value) for label, value in fields.items()}),
        **rest,
    )


def plain_text(markdown: str) -> str:
    """The filled body with the escaping of its values undone (templates use plain Markdown)."""
    return _ESCAPED.sub(lambda m: m.group(1) or _ENTITIES[m.group(0)], markdown)


def _fit(value: str) -> str:
    """Shorten a value to what a template accepts; a long title must not stop a page."""
    value = " ".join(value.split())
    if len(value) <= MAX_VALUE:
        return value
    return value[: MAX_VALUE - 1] + "\u2026"


def _label(enum: type[Impact] | type[IncidentStatus], value: str) -> str:
    try:
        return enum(value).label
    except ValueError:
        return value


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def _progress(due: Due) -> str:
    if due.step is None:
        return f"{due.path}, update reminder {due.loop}"
    text = f"{due.path}, step {due.step + 1}"
    return text + (f", repeat {due.loop}" if due.loop else "")
