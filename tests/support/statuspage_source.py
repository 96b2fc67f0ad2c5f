"""A Statuspage page to import from: its management API v1 documents, served on 127.0.0.1.

The documents follow the shapes of Atlassian's API reference (and the fields of the
OpenAPI-generated client): groups are components with `group: true` and also listed under
`/component-groups`; incidents carry `incident_updates` with `affected_components`; lists are
paginated with `page` and `per_page` (this server caps a page at `page_size` items, so a few
incidents take several pages).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_ID = "kctbh9vrtdwd"
API_KEY = "0123456789abcdef-secret-key"

#: Public addresses written as literals: the SSRF guard checks them without a DNS look-up.
PUBLIC_HOOK = "https://93.184.215.14/hooks/status"
LOOPBACK_HOOK = "https://127.0.0.1/hooks/status"


def _component(code: str, name: str, position: int, *, group: str | None = None, **extra: Any):
    return {
        "id": code,
        "page_id": PAGE_ID,
        "group_id": group,
        "created_at": "2024-01-10T09:00:00.000Z",
        "updated_at": "2024-01-10T09:00:00.000Z",
        "group": False,
        "name": name,
        "description": extra.pop("description", None),
        "position": position,
        "status": extra.pop("status", "operational"),
        "showcase": True,
        "only_show_if_degraded": False,
        "automation_email": f"component+{code}@notifications.statuspage.io",
        "start_date": "2024-01-10",
        **extra,
    }


def _group(code: str, name: str, position: int, members: list[str], description: str = ""):
    return {
        "id": code,
        "page_id": PAGE_ID,
        "name": name,
        "description": description or None,
        "components": members,
        "position": position,
        "created_at": "2024-01-10T09:00:00.000Z",
        "updated_at": "2024-01-10T09:00:00.000Z",
    }


def _update(code: str, incident: str, status: str, body: str, at: str, changes=()):
    return {
        "id": code,
        "incident_id": incident,
        "status": status,
        "body": body,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": [
            {"code": c, "name": n, "old_status": old, "new_status": new}
            for c, n, old, new in changes
        ]
        or None,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
        "twitter_updated_at": None,
        "wants_twitter_update": False,
    }


def _incident(code: str, name: str, status: str, impact: str, updates: list[dict], **extra: Any):
    """An incident with its updates newest first, as the API lists them."""
    times = sorted(u["display_at"] for u in updates)
    return {
        "id": code,
        "page_id": PAGE_ID,
        "name": name,
        "status": status,
        "impact": impact,
        "impact_override": None,
        "created_at": times[0],
        "updated_at": times[-1],
        "monitoring_at": extra.pop("monitoring_at", None),
        "resolved_at": extra.pop("resolved_at", None),
        "shortlink": f"https://stspg.io/{code[:6]}",
        "scheduled_for": extra.pop("scheduled_for", None),
        "scheduled_until": extra.pop("scheduled_until", None),
        "scheduled_remind_prior": False,
        "scheduled_auto_in_progress": False,
        "scheduled_auto_completed": False,
        "postmortem_body": extra.pop("postmortem_body", None),
        "postmortem_body_last_updated_at": extra.pop("postmortem_body_last_updated_at", None),
        "postmortem_published_at": extra.pop("postmortem_published_at", None),
        "postmortem_ignored": False,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "metadata": {},
        "incident_updates": sorted(updates, key=lambda u: u["display_at"], reverse=True),
        "components": extra.pop("components", []),
        **extra,
    }


API, WEB, DB, CDN, DNS = (
    "ftgks51sfs2d",
    "hd8x6ls4lvyr",
    "p5b3n1z0k8qm",
    "vq3lbyrc0w7n",
    "r2l5n8ql0w3x",
)
CORE, EDGE = "2kbc0d48tv3j", "9rqm4t0c2dzk"
OUTAGE, SLOW, ERRORS, UPGRADE = "p31zjtct2jer", "b7h5kqwx9m2c", "m8yz4r1t6p0v", "w1d9c4n7s5hq"


def sample_documents() -> dict[str, Any]:
    """A realistic page: two groups, five components, three incidents with several updates and
    component changes (one with a published postmortem, one with a draft), a maintenance, a
    template, and email, webhook and SMS subscribers."""
    components = [
        _component(API, "API", 1, group=CORE, description="The public REST API"),
        _component(WEB, "Website", 2, group=CORE),
        _component(DB, "Database", 3, group=CORE, description="Primary data store"),
        _component(CDN, "CDN", 4, group=EDGE),
        _component(DNS, "DNS", 5),
    ]
    groups = [
        _group(CORE, "Core services", 1, [API, WEB, DB], "What the product runs on"),
        _group(EDGE, "Edge", 2, [CDN]),
    ]
    as_components = [
        {**g, "group": True, "group_id": None, "status": "operational", "showcase": False}
        for g in groups
    ]
    incidents = [
        _incident(
            OUTAGE,
            "API outage",
            "postmortem",
            "critical",
            [
                _update(
                    "u1a1",
                    OUTAGE,
                    "investigating",
                    "We are investigating **errors** on the API.",
                    "2025-03-01T10:00:00.000Z",
                    [(API, "API", "operational", "major_outage")],
                ),
                _update(
                    "u1a2",
                    OUTAGE,
                    "identified",
                    "A bad deploy; rolling back.",
                    "2025-03-01T10:20:00.000Z",
                    [(DB, "Database", "operational", "degraded_performance")],
                ),
                _update(
                    "u1a3",
                    OUTAGE,
                    "monitoring",
                    "Rolled back; watching.",
                    "2025-03-01T10:40:00.000Z",
                    [(API, "API", "major_outage", "degraded_performance")],
                ),
                _update(
                    "u1a4",
                    OUTAGE,
                    "resolved",
                    "This incident has been resolved.",
                    "2025-03-01T11:00:00.000Z",
                    [
                        (API, "API", "degraded_performance", "operational"),
                        (DB, "Database", "degraded_performance", "operational"),
                    ],
                ),
            ],
            monitoring_at="2025-03-01T10:40:00.000Z",
            resolved_at="2025-03-01T11:00:00.000Z",
            postmortem_body="## What happened\n\nA deploy broke the API for an hour.",
            postmortem_body_last_updated_at="2025-03-03T09:00:00.000Z",
            postmortem_published_at="2025-03-03T09:00:00.000Z",
            components=[components[0], components[2]],
        ),
        _incident(
            SLOW,
            "Website slow",
            "resolved",
            "minor",
            [
                _update(
                    "u2a1",
                    SLOW,
                    "investigating",
                    "Pages load slowly <script>alert(1)</script> for some customers.",
                    "2025-04-02T08:00:00.000Z",
                    [(WEB, "Website", "operational", "degraded_performance")],
                ),
                _update(
                    "u2a2",
                    SLOW,
                    "resolved",
                    "Back to normal.",
                    "2025-04-02T09:30:00.000Z",
                    [(WEB, "Website", "degraded_performance", "operational")],
                ),
            ],
            resolved_at="2025-04-02T09:30:00.000Z",
            postmortem_body="Draft: the cache was cold.",
            postmortem_body_last_updated_at="2025-04-03T12:00:00.000Z",
            components=[components[1]],
        ),
        _incident(
            ERRORS,
            "CDN errors in Europe",
            "resolved",
            "major",
            [
                _update(
                    "u3a1",
                    ERRORS,
                    "investigating",
                    "Some requests in Europe fail.",
                    "2025-05-05T14:00:00.000Z",
                    [(CDN, "CDN", "operational", "partial_outage")],
                ),
                _update(
                    "u3a2",
                    ERRORS,
                    "identified",
                    "Our CDN provider found the cause.",
                    "2025-05-05T14:30:00.000Z",
                ),
                _update(
                    "u3a3",
                    ERRORS,
                    "resolved",
                    "Fixed by the provider.",
                    "2025-05-05T15:10:00.000Z",
                    [(CDN, "CDN", "partial_outage", "operational")],
                ),
            ],
            resolved_at="2025-05-05T15:10:00.000Z",
            components=[components[3]],
        ),
        _incident(
            UPGRADE,
            "Database upgrade",
            "completed",
            "maintenance",
            [
                _update(
                    "u4a1",
                    UPGRADE,
                    "scheduled",
                    "We will upgrade the database.",
                    "2025-05-20T10:00:00.000Z",
                ),
                _update(
                    "u4a2",
                    UPGRADE,
                    "in_progress",
                    "The upgrade has started.",
                    "2025-06-01T02:00:00.000Z",
                    [(DB, "Database", "operational", "under_maintenance")],
                ),
                _update(
                    "u4a3",
                    UPGRADE,
                    "completed",
                    "The upgrade is done.",
                    "2025-06-01T03:00:00.000Z",
                    [(DB, "Database", "under_maintenance", "operational")],
                ),
            ],
            scheduled_for="2025-06-01T02:00:00.000Z",
            scheduled_until="2025-06-01T04:00:00.000Z",
            resolved_at="2025-06-01T03:00:00.000Z",
            components=[components[2]],
        ),
    ]
    templates = [
        {
            "id": "t0nq5x2k7v8m",
            "components": [components[0]],
            "name": "API degraded",
            "title": "Degraded API performance",
            "body": "We are seeing slow responses from the API and are investigating.",
            "group_id": None,
            "update_status": "investigating",
            "should_tweet": False,
            "should_send_notifications": True,
        }
    ]
    subscribers = [
        _subscriber("s1e1", "email", email="ana@example.org"),
        _subscriber("s1e2", "email", email="bo@example.org", components=[API, WEB]),
        _subscriber("s1w1", "webhook", email="ops@example.org", endpoint=PUBLIC_HOOK),
        _subscriber("s1w2", "webhook", email="ops@example.org", endpoint=LOOPBACK_HOOK),
        _subscriber("s1m1", "sms", phone_number="5555550100", phone_country="US"),
    ]
    return {
        "page": {
            "id": PAGE_ID,
            "name": "Acme",
            "subdomain": "acme",
            "url": "https://status.acme.test",
            "time_zone": "Etc/UTC",
            "created_at": "2024-01-10T09:00:00.000Z",
            "updated_at": "2025-06-01T03:00:00.000Z",
        },
        "components": as_components[:1] + components[:3] + as_components[1:] + components[3:],
        "component-groups": groups,
        "incidents": incidents,
        "incident_templates": templates,
        "subscribers": subscribers,
    }


def _subscriber(code: str, mode: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": code,
        "skip_confirmation_notification": False,
        "mode": mode,
        "email": fields.get("email"),
        "endpoint": fields.get("endpoint"),
        "phone_number": fields.get("phone_number"),
        "phone_country": fields.get("phone_country"),
        "display_phone_number": fields.get("phone_number"),
        "obfuscated_channel_name": None,
        "workspace_name": None,
        "quarantined_at": None,
        "purge_at": None,
        "components": fields.get("components", []),
        "page_access_user_id": None,
        "created_at": "2024-06-01T12:00:00.000Z",
    }


class StatuspageServer:
    """Statuspage's management API v1 for one page, from `documents`, on 127.0.0.1.

    `hold(path)` makes the first request for a path wait until `release()` (a test kills the
    importer while it waits); `requests` lists (path, query, authorization) of every request.
    """

    def __init__(self, documents: dict[str, Any], *, page_size: int = 2) -> None:
        self.documents = copy.deepcopy(documents)
        self.page_size = page_size
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.held: str | None = None
        self.waiting = threading.Event()
        self.released = threading.Event()
        self.answers: dict[str, list[int]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                server.requests.append((parts.path, query, self.headers.get("Authorization", "")))
                if server.held and parts.path.endswith(server.held):
                    server.waiting.set()
                    server.released.wait(60)
                status, body = server.answer(parts.path, query, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def hold(self, path: str) -> None:
        self.held = path

    def release(self) -> None:
        self.released.set()

    def answer(self, path: str, query: dict[str, list[str]], headers) -> tuple[int, Any]:
        """The status and JSON for one GET."""
        queued = self.answers.get(path)
        if queued:
            return queued.pop(0), {"error": "try again"}
        if headers.get("Authorization") != f"OAuth {API_KEY}":
            return 401, {"error": "Could not authenticate"}
        prefix = f"/v1/pages/{PAGE_ID}"
        if not path.startswith(prefix):
            return 404, {"error": "The requested resource could not be found."}
        rest = path[len(prefix) :].strip("/")
        if rest == "":
            return 200, self.documents["page"]
        if rest not in self.documents or rest == "page":
            return 404, {"error": "The requested resource could not be found."}
        items = self.documents[rest]
        asked = int((query.get("per_page") or ["100"])[0])
        size = min(asked, self.page_size)
        # Statuspage numbers the pages of its subscriber list from 0, every other list from 1.
        first = 0 if rest == "subscribers" else 1
        number = int((query.get("page") or [str(first)])[0])
        if rest == "subscribers":
            size = min(int((query.get("limit") or ["100"])[0]), self.page_size)
        return 200, items[(number - first) * size : (number - first + 1) * size]

    def __enter__(self) -> StatuspageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def statuspage_server(
    documents: dict[str, Any] | None = None, **kwargs: Any
) -> Iterator[StatuspageServer]:
    """Serve `documents` (the sample page by default) until the block ends."""
    with StatuspageServer(documents or sample_documents(), **kwargs) as server:
        yield server
