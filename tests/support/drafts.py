"""Drafts from alerts, for the admin, API and browser tests: intake rules, a site with an
Alertmanager integration, a firing alert as Alertmanager sends it, and a form scraper.

`api-down` drafts "API unavailable" (outage-investigating) for the API component; `provider`
drafts a message whose required `provider` blank no rule value fills, so its preview fails.
"""

from __future__ import annotations

import json
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.intake import integrations
from statuspage.publishing import components as component_service
from statuspage.publishing import library
from statuspage.resources import resource_dir

RULES = {
    "api-down": {
        "match": {"alertname": "ApiDown"},
        "components": ["API"],
        "message": "outage-investigating",
        "resolve_message": "outage-resolved",
        "values": {"resolved_at": "{{ resolved_at }}"},
    },
    "provider": {
        "match": {"alertname": "ProviderDown"},
        "components": ["Website"],
        "message": "provider-investigating",
        "resolve_message": "provider-resolved",
    },
}
INTEGRATION = "prom"


def prepare_site(app, now: datetime) -> str:
    """The message library, the API and Website components and the `prom` Alertmanager
    integration (bearer); return its secret. Needs an app context."""
    with write_transaction():
        library.sync_directory(resource_dir("messages"), now=now)
        for name in ("API", "Website"):
            component_service.add_component(name, now=now)
        _, secret = integrations.create(
            INTEGRATION,
            "alertmanager",
            secret_key=app.config["SECRET_KEY"],
            now=now,
            actor=audit.CLI,
        )
    return secret


def am_payload(
    status: str = "firing",
    *,
    alertname: str = "ApiDown",
    fingerprint: str = "f1",
    starts_at: str = "2026-06-15T11:56:00Z",
    summary: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One Alertmanager webhook delivery (version 4) of one alert."""
    alert = {
        "status": status,
        "labels": {"alertname": alertname, "severity": "critical", **labels},
        "annotations": {"summary": summary if summary is not None else f"{alertname} on prod"},
        "startsAt": starts_at,
        "endsAt": "2026-06-15T12:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "statuspage",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }


def send(client, secret: str, payload: dict[str, Any], name: str = INTEGRATION):
    """POST a payload to /api/intake/<name> with a Flask test client, as the sender does."""
    return client.post(
        f"/api/intake/{name}",
        data=json.dumps(payload),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )


class _Form(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields.setdefault(name, a.get("value", "on"))
            else:
                self.fields[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self.fields:
                self.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """What a browser sends for the form posting to `action` (ticked boxes: the first value;
    selects: the selected option), before any button is pressed."""
    parser = _Form(action)
    parser.feed(html)
    return parser.fields
