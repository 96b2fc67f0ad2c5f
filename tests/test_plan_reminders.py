"""A plan's notices through the worker, on a controlled clock: approvers are told of a request,
a request that waits too long escalates, an overdue update reminds the plan's path."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.delivery.worker import run_worker
from statuspage.publishing import approvals
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as core
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import make_user

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw=="
#: A path that only carries a plan's notices: it matches no incident of its own.
NOWHERE = {"impact_in": ["none"], "components": ["(plan notices only)"]}


def _path(channel: str) -> dict:
    return {"match": NOWHERE, "steps": [{"after_minutes": 0, "notify": [channel]}]}


@pytest.fixture
def app(make_app, receiver, sink, monkeypatch):
    monkeypatch.setenv("PM_HOOK_SECRET", SECRET)
    return make_app(
        smtp={"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"},
        channels={
            "pm-hook": {
                "type": "webhook",
                "url": receiver.url("/pm"),
                "secret_env": "PM_HOOK_SECRET",
            },
            "approvers-mail": {"type": "smtp", "to": ["approvers@example.com"]},
            "leads-mail": {"type": "smtp", "to": ["leads@example.com"]},
        },
        paths={
            "comms": _path("pm-hook"),
            "approvers": _path("approvers-mail"),
            "leads": _path("leads-mail"),
        },
    )


@pytest.fixture
def site(ctx, fast_hashing, tmp_path, frozen_clock):
    text = plan_support.plan_text(
        approval_extra='notify = "approvers"\nwait_minutes = 10\nescalate_to = "leads"',
        rest='[reminders]\npath = "comms"',
    )
    plan_support.load(tmp_path, [text], paths=["comms", "approvers", "leads"])
    with write_transaction():
        api = component_service.add_component("API", now=NOW - timedelta(days=1))
    author = make_user("author@example.com", "editor", name="Ana")
    boss = make_user("boss@example.com", "admin")
    return api, author, boss, frozen_clock


def draft(api) -> core.Draft:
    return core.Draft(
        message="outage-investigating",
        variables={"component": "API"},
        component_statuses={api.id: "major_outage"},
    )


def submit(app, api, who, **kwargs) -> approvals.Outcome:
    notices = approvals.Notices.from_settings(app.config["STATUSPAGE"])
    with write_transaction():
        return approvals.submit(
            draft(api), now=NOW, actor=audit.Actor.for_user(who), notices=notices, **kwargs
        )


def mails_to(sink, address: str) -> list:
    return [m for m in sink.messages if address in m.rcpt_tos]


def test_the_approvers_path_hears_of_a_request_with_its_link(app, site, sink):
    api, author, _, _ = site
    outcome = submit(app, api, author)
    run_worker(app, once=True)
    [mail] = mails_to(sink, "approvers@example.com")
    text = mail.content.decode()
    assert "Approval needed before customers read it" in text
    assert f"/admin/drafts/{outcome.draft.id}" in text
    assert "Ana wrote an update" in text


def test_a_request_waiting_longer_than_the_plan_allows_escalates_once(app, site, sink):
    api, author, _, clock = site
    submit(app, api, author)
    clock.advance(minutes=9, seconds=59)
    run_worker(app, once=True)
    assert mails_to(sink, "leads@example.com") == []
    clock.advance(seconds=1)
    run_worker(app, once=True)
    clock.advance(minutes=5)
    run_worker(app, once=True)
    [mail] = mails_to(sink, "leads@example.com")
    assert "Still waiting for approval after 10 minutes" in mail.content.decode()


def test_an_overdue_update_reminds_the_plan_path_at_minute_31_and_again_after_the_cadence(
    app, site, receiver
):
    api, _, boss, clock = site
    outcome = submit(app, api, boss, without_approval="the approver is asleep")
    incident_id = outcome.published.update.incident_id
    clock.advance(minutes=29)
    run_worker(app, once=True)
    assert receiver.delivered() == []
    clock.advance(minutes=2)  # minute 31: the 30-minute cadence is broken
    run_worker(app, once=True)
    [first] = receiver.delivered()
    body = json.loads(first.body)
    data = body["data"]
    assert body["type"] == "plan.update_overdue"
    assert "Update overdue (1 min)" in data["subject"]
    assert f"/admin/incidents/{incident_id}" in data["text"]
    clock.advance(minutes=10)
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 1
    clock.advance(minutes=20)  # minute 61: a second cadence missed
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 2
    # An update starts the count again: nothing until its own cadence runs out.
    with write_transaction():
        core.publish(
            core.Draft(
                incident_id=incident_id,
                message="outage-identified",
                variables={"component": "API"},
            ),
            now=clock.now,
            actor=audit.Actor.for_user(boss),
        )
    clock.advance(minutes=29)
    run_worker(app, once=True)
    assert len(receiver.delivered()) == 2


def test_the_internal_audience_gets_a_copy_of_every_update_under_the_plan(
    app, ctx, fast_hashing, tmp_path, receiver
):
    text = plan_support.plan_text(updates='"resolve"', rest='[audiences]\ninternal = "comms"')
    plan_support.load(tmp_path, [text], paths=["comms"])
    with write_transaction():
        api = component_service.add_component("API", now=NOW - timedelta(days=1))
        core.publish(draft(api), now=NOW, actor=audit.CLI)
    run_worker(app, once=True)
    [copy] = receiver.delivered()
    body = json.loads(copy.body)
    assert body["type"] == "incident.update_published"
    assert "We are investigating reports that API is unavailable" in body["data"]["text"]
