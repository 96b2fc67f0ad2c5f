"""Overdue postmortem action items remind [reports] action_items_path through the worker, on a
controlled clock: once per item and (site) day past its due date, until the item is done."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core.enums import Impact, IncidentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.delivery.worker import run_worker
from statuspage.publishing import action_items as service
from statuspage.publishing import incidents as incident_service
from tests.support import NOW

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw=="
#: A path that only carries notices: it matches no incident of its own.
NOWHERE = {"impact_in": ["none"], "components": ["(notices only)"]}


def config(receiver, path: str) -> dict:
    return {
        # 2026-06-15 12:00 UTC is 14:00 in Berlin (UTC+2): days turn at 22:00 UTC.
        "site": {"time_zone": "Europe/Berlin"},
        "reports": {"action_items_path": path},
        "channels": {
            "pm-hook": {"type": "webhook", "url": receiver.url("/pm"), "secret_env": "PM_SECRET"}
        },
        "paths": {
            "postmortems": {
                "match": NOWHERE,
                "steps": [{"after_minutes": 0, "notify": ["pm-hook"]}],
            }
        },
    }


@pytest.fixture
def app(make_app, receiver, monkeypatch):
    monkeypatch.setenv("PM_SECRET", SECRET)
    return make_app(**config(receiver, "postmortems"))


def item_due(due_on: str, **fields: str) -> tuple[int, int]:
    """A resolved incident with one action item due on `due_on`: (incident id, item id)."""
    with write_transaction():
        incident = incident_service.open_incident(
            name="Checkout failing", impact=Impact.MAJOR, body="Looking.", now=NOW - timedelta(2)
        )
        incident_service.post_update(
            incident, status=IncidentStatus.RESOLVED, body="Fixed.", now=NOW - timedelta(1)
        )
        item = service.add(
            incident.id,
            service.ItemInput(title="Add a canary stage", due_on=due_on, **fields),
            now=NOW,
            actor=audit.CLI,
        )
        return incident.id, item.id


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC) - timedelta(hours=2)


def test_an_overdue_item_is_told_once_a_day_until_it_is_done(app, ctx, frozen_clock, receiver):
    incident_id, item_id = item_due(
        "2026-06-16", owner="ada@example.com", link="https://tickets.example.com/OPS-42"
    )
    run_worker(app, once=True)
    frozen_clock.set(berlin(16, 23, 59))  # the due day itself: not overdue yet
    run_worker(app, once=True)
    assert receiver.delivered() == []

    frozen_clock.set(berlin(17, 0, 1))  # the day after: one notice
    run_worker(app, once=True)
    [first] = receiver.delivered()
    body = json.loads(first.body)
    data = body["data"]
    assert body["type"] == "postmortem.action_item_overdue"
    assert "Action item overdue (1 d): Add a canary stage" in data["subject"]
    assert "Checkout failing" in data["text"] and "2026-06-16" in data["text"]
    assert "ada@example.com" in data["text"] and "OPS-42" in data["text"]
    assert f"/admin/incidents/{incident_id}#action-items" in data["text"]

    frozen_clock.set(berlin(17, 23, 30))  # later the same day: not again
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 1

    frozen_clock.set(berlin(18, 8))  # the next day: again
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 2
    assert "(2 d)" in json.loads(receiver.delivered()[1].body)["data"]["subject"]

    with write_transaction():
        service.complete(incident_id, item_id, now=frozen_clock.now, actor=audit.CLI)
    frozen_clock.set(berlin(19, 8))  # done: no more
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 2


def test_items_without_a_due_date_or_done_are_never_told(app, ctx, frozen_clock, receiver):
    item_due("")
    incident_id, item_id = item_due("2026-06-10")
    with write_transaction():
        service.complete(incident_id, item_id, now=NOW, actor=audit.CLI)
    frozen_clock.advance(days=3)
    run_worker(app, once=True)
    assert receiver.delivered() == []


def test_an_item_without_an_owner_or_link_reads_well(app, ctx, frozen_clock, receiver):
    item_due("2026-06-14")
    run_worker(app, once=True)
    [notice] = receiver.delivered()
    text = json.loads(notice.body)["data"]["text"]
    assert "Owner: nobody in particular" in text and "Link: none" in text


def test_no_path_no_reminders(make_app, receiver, monkeypatch, frozen_clock):
    monkeypatch.setenv("PM_SECRET", SECRET)
    app = make_app(**config(receiver, ""))
    with app.app_context():
        item_due("2026-06-01")
    run_worker(app, once=True)
    assert receiver.delivered() == []


def test_a_reminder_path_the_config_does_not_have_stops_the_start(tmp_path):
    from statuspage.config import load_settings
    from statuspage.errors import ConfigError

    config = tmp_path / "site.toml"
    config.write_text('[reports]\naction_items_path = "nowhere"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"reports\.action_items_path: unknown escalation path"):
        load_settings(config)
