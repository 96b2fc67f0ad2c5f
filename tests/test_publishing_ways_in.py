"""Every way in does the same act: the admin, /api/v1 and the CLI call the publishing core, so
they queue the same deliveries and refuse the same drafts, in preview and in publish alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.accounts import tokens
from statuspage.cli import main
from statuspage.clock import utcnow
from statuspage.core import limits
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident, IncidentUpdate, OutboxMessage, Subscriber
from statuspage.delivery import subscribers as subs
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from tests.support.auth import csrf_token

LONG_TITLE = "T" * (limits.MAX_TITLE + 1)
LONG_BODY = "b" * (limits.MAX_BODY + 1)
LONG_VALUE = "v" * limits.MAX_VALUE  # a blank within its limit that makes the title too long


@pytest.fixture
def page(app, people, config_file):
    """The starter library, one component, a confirmed webhook subscriber, an editor's token."""
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=utcnow())
        api = cs.add_component("API", now=utcnow() - timedelta(days=3))
        db.session.add(
            Subscriber(
                kind="webhook",
                email="ops@example.com",
                url="https://hooks.example.com/status",
                secret=subs.new_secret(),
                created_at=utcnow() - timedelta(days=1),
                confirmed_at=utcnow() - timedelta(days=1),
            )
        )
        _, token = tokens.create(people["editor"], "ways-in", now=utcnow())
    return {"api": api.id, "token": token, "config": str(config_file)}


def _outbox(app) -> list[tuple]:
    """The queued rows, as what they deliver (no ids, keys or times)."""
    db.session.rollback()  # read what the other ways committed
    rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    found = []
    for row in rows:
        message = row.payload.get("message", row.payload)
        change = message.get("component_update") or {}
        found.append(
            (
                row.channel,
                row.payload.get("purpose"),
                message.get("purpose"),
                row.payload.get("component_ids"),
                row.payload.get("kinds"),
                change.get("old_status"),
                change.get("new_status"),
            )
        )
    return found


def _audited(app, action: str) -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    )


def _admin_set(app, editor, component_id: int, status: str) -> None:
    token = csrf_token(editor, "/admin/components")
    response = editor.post(
        f"/admin/components/{component_id}/status", data={"status": status, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def _api_set(app, token: str, component_id: int, status: str) -> None:
    response = app.test_client().patch(
        f"/api/v1/components/{component_id}",
        json={"status": status},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _cli_set(config: str, component_id: int, status: str) -> None:
    result = CliRunner().invoke(
        main, ["components", "set-status", str(component_id), status, "--config", config]
    )
    assert result.exit_code == 0, result.output


def test_set_status_queues_the_same_deliveries_from_the_admin_the_api_and_the_cli(
    app, editor, page
):
    ways = {
        "admin": lambda status: _admin_set(app, editor, page["api"], status),
        "api": lambda status: _api_set(app, page["token"], page["api"], status),
        "cli": lambda status: _cli_set(page["config"], page["api"], status),
    }
    steps = [
        ("operational", "major_outage"),
        ("major_outage", "partial_outage"),
        ("partial_outage", "operational"),
    ]
    # Each way makes every move once, so each is compared on the same transitions.
    per_way: dict[str, list[tuple]] = {}
    for way, change in ways.items():
        before = len(_outbox(app))
        for _old, new in steps:
            change(new)
        per_way[way] = _outbox(app)[before:]
    expected = [
        ("subscriber:fanout", "fan_out", "component", [page["api"]], ["webhook"], old, new)
        for old, new in steps
    ]
    assert per_way["admin"] == expected, per_way
    assert per_way["api"] == per_way["admin"], per_way
    assert per_way["cli"] == per_way["admin"], per_way
    assert _audited(app, "component.status") == 3 * len(steps)


# -- preview and publish agree, for every way in ------------------------------------------------

#: The drafts every way in must refuse, in preview and in publish: (name, the field the
#: refusal names, what the draft holds).
REFUSED = [
    ("long title", "title", {"title": LONG_TITLE, "body": "Looking into it."}),
    ("long body", "body", {"title": "Slow API", "body": LONG_BODY}),
    (
        "title too long once filled",
        "title",
        {"message": "outage-investigating", "variables": {"component": LONG_VALUE}},
    ),
]


def _admin(app, editor, draft: dict, action: str):
    """Send the compose form (free text or a message) with `action`; return (status, text)."""
    if "message" in draft:
        path = f"/admin/incidents/new?message={draft['message']}"
    else:
        path = "/admin/incidents/new?free=1"
    form = editor.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    fields.update(
        {
            "action": action,
            "status": "investigating",
            "impact": "minor",
            "title": draft.get("title", ""),
        }
    )
    if "body" in draft:
        fields["body"] = draft["body"]
    for name, value in draft.get("variables", {}).items():
        fields[f"var_{name}"] = value
    response = editor.post(path.split("?")[0], data=fields)
    return response.status_code, response.get_data(as_text=True)


def _api(app, token: str, draft: dict, action: str):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    if action == "preview":
        if "message" not in draft:
            pytest.skip("the API previews canned messages; free text has nothing to fill")
        response = client.post(
            f"/api/v1/messages/{draft['message']}/preview",
            json={"variables": draft["variables"]},
            headers=headers,
        )
    else:
        body = {k: v for k, v in draft.items()}
        body.setdefault("impact", "minor")
        response = client.post("/api/v1/incidents", json=body, headers=headers)
    data = response.get_json()
    return response.status_code, (data or {}).get("error", {}).get("message", "")


def _cli(config: str, draft: dict, action: str):
    args = ["publish", "--status", "investigating", "--config", config]
    if "message" in draft:
        args += ["--message", draft["message"]]
    for name, value in draft.get("variables", {}).items():
        args += ["--var", f"{name}={value}"]
    if "title" in draft:
        args += ["--title", draft["title"]]
    if "body" in draft:
        args += ["--body", draft["body"]]
    if action == "preview":
        args.append("--preview")
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stderr


def _published(app) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate))


@pytest.mark.parametrize("way", ["admin", "api", "cli"])
@pytest.mark.parametrize(("case", "field", "draft"), REFUSED, ids=[r[0] for r in REFUSED])
def test_preview_and_publish_refuse_the_same_draft_the_same_way(
    app, editor, page, way, case, field, draft
):
    send = {
        "admin": lambda action: _admin(app, editor, draft, action),
        "api": lambda action: _api(app, page["token"], draft, action),
        "cli": lambda action: _cli(page["config"], draft, action),
    }[way]
    answers = {action: send(action) for action in ("preview", "publish")}
    limit = limits.MAX_TITLE if field == "title" else limits.MAX_BODY
    for action, (status, text) in answers.items():
        assert status in (1, 422), (way, case, action, status, text[:300])
        assert f"at most {limit:,} characters" in text, (way, case, action, text[:500])
    assert _published(app) == 0


def test_a_draft_within_every_limit_previews_and_publishes_the_same_text(app, editor, page):
    args = ["publish", "--message", "outage-investigating", "--var", "component=API"]
    preview = CliRunner().invoke(main, [*args, "--preview", "--config", page["config"]])
    assert preview.exit_code == 0, preview.output
    assert _published(app) == 0
    published = CliRunner().invoke(main, [*args, "--config", page["config"]])
    assert published.exit_code == 0, published.output
    db.session.rollback()  # read what the command committed
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert f"\n{update.body}\n" in preview.output
    assert "title: API unavailable" in preview.output
    assert db.session.get(Incident, update.incident_id).name == "API unavailable"


def test_the_correction_route_refuses_an_over_long_body(app, editor, page):
    status, text = _cli(page["config"], {"title": "Slow API", "body": "Looking."}, "publish")
    assert status == 0, text
    db.session.rollback()
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    incident_id, update_id = update.incident_id, update.id
    path = f"/admin/incidents/{incident_id}"
    response = editor.post(
        f"{path}/updates/{update_id}/correct",
        data={"body": LONG_BODY, "csrf_token": csrf_token(editor, path)},
    )
    assert response.status_code == 422
    assert f"at most {limits.MAX_BODY:,} characters" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(IncidentUpdate, update_id).body == "Looking."
