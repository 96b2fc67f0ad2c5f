"""PagerDuty Events API v2: trigger and resolve alerts, deduplicated by `dedup_key`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from statuspage.clock import utcnow
from statuspage.core.times import isoformat
from statuspage.delivery.channels import ChannelError, ChannelSpec, Delivery, Result, Session, http

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: PagerDuty's limits on `payload.summary` and `dedup_key`.
SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255
SEVERITIES = ("critical", "error", "warning", "info")
#: Impact -> severity, unless the channel says otherwise (`severity = { major = "critical" }`).
DEFAULT_SEVERITY = {
    "none": "info",
    "maintenance": "info",
    "minor": "warning",
    "major": "error",
    "critical": "critical",
}
ACTIONS = ("trigger", "acknowledge", "resolve")


def severity(impact: str, overrides: Mapping[str, str]) -> str:
    """The PagerDuty severity for an incident impact."""
    value = overrides.get(impact) or DEFAULT_SEVERITY.get(impact, "error")
    if value not in SEVERITIES:
        raise ChannelError(f"severity for {impact!r} is {value!r}, expected one of {SEVERITIES}")
    return value


def _severity(payload: Mapping[str, Any], incident: Mapping[str, Any], spec: ChannelSpec) -> str:
    """The severity decided when the event happened, else mapped from the impact now."""
    decided = payload.get("severity")
    if decided in SEVERITIES:
        return str(decided)
    return severity(str(incident.get("impact") or "major"), spec.severity)


def dedup_key(delivery: Delivery) -> str:
    """The payload's `dedup_key`, else the row's key; hashed when longer than PagerDuty allows."""
    key = str(delivery.payload.get("dedup_key") or delivery.key)
    if len(key) <= DEDUP_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def event(
    delivery: Delivery, spec: ChannelSpec, *, source: str, client: str = "", client_url: str = ""
) -> dict[str, Any]:
    """The Events API v2 body for one notification."""
    payload = delivery.payload
    action = str(payload.get("action") or "trigger")
    if action not in ACTIONS:
        raise ChannelError(f"PagerDuty event_action {action!r} is not one of {ACTIONS}")
    if not spec.routing_key:
        raise ChannelError(f"channel {spec.name!r} has no routing key")
    base = {
        "routing_key": spec.routing_key,
        "event_action": action,
        "dedup_key": dedup_key(delivery),
    }
    if action != "trigger":
        # Acknowledge and resolve need nothing but the key of the alert they close.
        return base
    incident: Mapping[str, Any] = payload.get("incident") or {}
    components = [str(c) for c in incident.get("components") or []]
    summary = str(payload.get("subject") or incident.get("name") or "Incident")
    details = {
        "incident_id": incident.get("id"),
        "incident": incident.get("name"),
        "impact": incident.get("impact"),
        "status": incident.get("status"),
        "components": components,
        "message": payload.get("text") or "",
    }
    body: dict[str, Any] = {
        **base,
        "payload": {
            "summary": summary[:SUMMARY_CHARS],
            "source": source,
            "severity": _severity(payload, incident, spec),
            "timestamp": payload.get("occurred_at") or isoformat(utcnow()),
            "component": ", ".join(components)[:255] or None,
            "custom_details": {k: v for k, v in details.items() if v not in (None, "", [])},
        },
    }
    if not body["payload"]["component"]:
        del body["payload"]["component"]
    links: list[dict[str, str]] = []
    candidates = [*(payload.get("links") or []), {"url": incident.get("url"), "label": "Incident"}]
    for link in candidates:
        href = str(link.get("url") or "")
        if href.startswith(("http://", "https://")) and href not in {x["href"] for x in links}:
            links.append({"href": href, "text": str(link.get("label") or "")})
    if links:
        body["links"] = links
    if client:
        body["client"] = client
    if client_url:
        body["client_url"] = client_url
    return body


def send(delivery: Delivery, spec: ChannelSpec, session: Session) -> Result:
    """POST the event to the Events API (or the channel's `url`, for tests and proxies)."""
    site = session.settings.site
    source = urlsplit(site["url"]).hostname or site["url"]
    body = event(delivery, spec, source=source, client=site["name"], client_url=site["url"])
    url = spec.url or EVENTS_URL
    return http.post(session.http, url, http.encode(body), secrets=(spec.routing_key,))
