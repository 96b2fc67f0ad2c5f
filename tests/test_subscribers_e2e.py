"""Subscribers end to end, through the worker, against real local receivers on 127.0.0.1:
an aiosmtpd sink for email and an HTTP server for webhooks (tests/support/receivers.py).

Email: subscribe, the confirmation arrives, confirm, publish, the update arrives with working
manage and one-click unsubscribe links, unsubscribe, the next update sends nothing.
Webhooks: Statuspage's payload, a signature checked with our own HMAC, and the SSRF guard
run again at send time (a loopback URL, a host that resolves to loopback, a redirect).
"""

from __future__ import annotations

import base64
import json
import re

import sqlalchemy as sa
from flask import current_app

from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage, Subscriber
from statuspage.delivery import netguard
from statuspage.delivery import subscriber_common as subs_common
from statuspage.delivery import subscriber_delivery as subs_delivery
from statuspage.delivery import subscribers as subs
from tests.support import SITE_URL
from tests.support.auth import csrf_token
from tests.support.receivers import HttpReceiver, Reply, verify_webhook
from tests.support.statuspage_fields import (
    STATUSPAGE_COMPONENT,
    STATUSPAGE_INCIDENT,
    STATUSPAGE_INCIDENT_UPDATE,
    STATUSPAGE_META,
    STATUSPAGE_PAGE,
)
from tests.support.subscribers import (
    OPEN_LOCAL,
    build,
    confirm_from_mail,
    deliver,
    messages,
    path_of,
    post_update,
    subscriber_rows,
    text_of,
)


def subscribe_by_form(client, address: str, components=()) -> None:
    data = {
        "email": address,
        "component": [str(c) for c in components],
        "csrf_token": csrf_token(client, "/subscribe"),
    }
    assert client.post("/subscribe", data=data).status_code == 303


def test_email_subscription_from_sign_up_to_one_click_unsubscribe(make_app, sink):
    app = build(make_app, sink)
    api, _web = app.config["test_components"]
    client = app.test_client()
    with app.app_context():
        subscribe_by_form(client, "pat@example.com", [api])
        assert deliver(app) == 1
        (confirmation,) = messages(sink)
        assert confirmation["To"] == "pat@example.com"
        assert "List-Unsubscribe" not in confirmation
        assert "Subscription confirmed" in confirm_from_mail(client, confirmation)

        post_update({api: "major_outage"})
        assert deliver(app) == 2
        update_mail = messages(sink)[1]
        assert update_mail["Subject"] == "[Acme Status] API errors — Investigating"
        assert update_mail.get_content_type() == "multipart/alternative"
        html = update_mail.get_body(("html",)).get_content()
        assert "We are investigating elevated errors." in text_of(update_mail)
        assert "<p>We are investigating elevated errors.</p>" in html
        assert "API: Major Outage (was Operational)" in text_of(update_mail)
        assert update_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe_url = update_mail["List-Unsubscribe"].strip("<>")

        manage_url = re.search(r"Change which components you follow: (\S+)", text_of(update_mail))
        manage = client.get(path_of(manage_url.group(1)))
        assert manage.status_code == 200 and b"Your subscription" in manage.data

        mail_provider = app.test_client(use_cookies=False)
        done = mail_provider.post(
            path_of(unsubscribe_url),
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert done.status_code == 200 and b"You are unsubscribed" in done.data

        post_update({api: "operational"})
        assert deliver(app) == 0  # no one left to tell: not even a fan-out row is written
        assert len(sink.messages) == 2


def test_a_message_queued_before_unsubscribing_is_not_sent(make_app, sink):
    app = build(make_app, sink)
    api, _web = app.config["test_components"]
    client = app.test_client()
    with app.app_context():
        subscribe_by_form(client, "pat@example.com")
        deliver(app)
        confirm_from_mail(client, messages(sink)[0])
        update_id = post_update({api: "major_outage"})
        with write_transaction():
            # Expanded (the row to pat is written), not yet sent, when pat leaves.
            job = db.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.kind == subs_delivery.FAN_OUT_KIND)
            ).one()
            assert subs_delivery.expand(job, now=utcnow()) == 1
            job.state = "sent"
        (subscriber,) = db.session.scalars(sa.select(Subscriber)).all()
        token = subs_common.make_token(
            current_app.config["SECRET_KEY"], subs_common.UNSUBSCRIBE, subscriber
        )
        app.test_client().post(f"/subscriptions/unsubscribe/{token}")
        deliver(app)
        assert len(sink.messages) == 1
        row = db.session.scalars(subscriber_rows(update_id)).one()
        assert (row.state, row.last_error) == ("dead", "unsubscribed")


def test_subscribers_get_only_their_components_updates(make_app, sink):
    app = build(make_app, sink)
    api, web = app.config["test_components"]
    client = app.test_client()
    with app.app_context():
        subscribe_by_form(client, "api@example.com", [api])
        subscribe_by_form(client, "web@example.com", [web])
        deliver(app)
        for confirmation in messages(sink):
            confirm_from_mail(client, confirmation)
        before = len(sink.messages)
        post_update({web: "degraded_performance"}, title="Website slow")
        deliver(app)
        (only,) = messages(sink)[before:]
        assert only["To"] == "web@example.com" and "Website slow" in only["Subject"]


def test_a_webhook_subscriber_gets_statuspages_payload_signed_with_its_secret(
    make_app, sink, receiver
):
    app = build(make_app, sink, **OPEN_LOCAL)
    api, _web = app.config["test_components"]
    client = app.test_client()
    with app.app_context():
        data = {
            "url": receiver.url("/hook"),
            "email": "ops@example.com",
            "component": [str(api)],
            "csrf_token": csrf_token(client, "/subscribe/webhook"),
        }
        assert client.post("/subscribe/webhook", data=data).status_code == 303
        deliver(app)
        (confirmation,) = messages(sink)
        assert confirmation["To"] == "ops@example.com" and receiver.requests == []
        page = confirm_from_mail(client, confirmation)
        secret = re.search(r'class="secret-value">(whsec_[^<]+)<', page).group(1)

        update_id = post_update({api: "major_outage"})
        # The incident update and, as Statuspage sends it, the component's own change.
        assert deliver(app) == 4
        incident_request, component_request = sorted(
            receiver.delivered(), key=lambda r: "component_update" in json.loads(r.body)
        )
        assert verify_webhook(secret, component_request.headers, component_request.body)
        change = json.loads(component_request.body)["component_update"]
        assert (change["old_status"], change["new_status"]) == ("operational", "major_outage")
        request = incident_request
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert verify_webhook(secret, request.headers, request.body)
        assert not verify_webhook(
            "whsec_" + base64.b64encode(b"x" * 24).decode(), request.headers, request.body
        )
        assert secret.encode() not in request.body

        body = json.loads(request.body)
        assert list(body) == ["meta", "page", "incident"]
        assert set(body["meta"]) == STATUSPAGE_META
        assert body["meta"]["unsubscribe"].startswith(f"{SITE_URL}/subscriptions/unsubscribe/")
        assert set(body["page"]) == STATUSPAGE_PAGE
        assert body["page"]["status_indicator"] == "major"
        incident = body["incident"]
        assert set(incident) >= STATUSPAGE_INCIDENT
        assert incident["name"] == "API errors" and incident["status"] == "investigating"
        (latest,) = incident["incident_updates"]
        assert set(latest) >= STATUSPAGE_INCIDENT_UPDATE and latest["id"] == str(update_id)
        assert latest["affected_components"][0]["new_status"] == "major_outage"
        assert set(incident["components"][0]) >= STATUSPAGE_COMPONENT

        row = db.session.scalars(subscriber_rows(update_id)).one()
        assert row.state == "sent" and secret not in json.dumps(row.payload)


def webhook_subscriber(url: str) -> int:
    """A confirmed webhook subscriber stored directly, as if its URL was fine at sign-up."""
    with write_transaction():
        subscriber = Subscriber(
            kind="webhook",
            email="ops@example.com",
            url=url,
            secret=subs.new_secret(),
            created_at=utcnow(),
            confirmed_at=utcnow(),
        )
        db.session.add(subscriber)
    return subscriber.id


def outcome(update_id: int) -> tuple[str, str]:
    db.session.expire_all()
    row = db.session.scalars(subscriber_rows(update_id)).one()
    return row.state, row.last_error


def test_a_loopback_webhook_is_refused_again_at_send_time(make_app, sink, receiver):
    app = build(make_app, sink, webhook_allow_http=True)  # no allow-list: loopback refused
    with app.app_context():
        webhook_subscriber(receiver.url("/hook"))
        update_id = post_update({})
        deliver(app)
        assert receiver.arrived == 0
        state, error = outcome(update_id)
        assert state == "dead" and "loopback" in error


def test_a_public_host_that_now_resolves_to_loopback_is_refused_at_send_time(
    make_app, sink, receiver, monkeypatch
):
    app = build(make_app, sink, webhook_allow_http=True)
    monkeypatch.setattr(
        netguard, "_default_resolver", lambda host, port: ["127.0.0.1"] if host else []
    )
    with app.app_context():
        webhook_subscriber(f"http://hooks.example.com:{receiver.port}/hook")
        update_id = post_update({})
        deliver(app)
        assert receiver.arrived == 0
        state, error = outcome(update_id)
        assert state == "dead" and "resolves to 127.0.0.1 is a loopback address" in error


def test_a_redirect_to_loopback_is_not_followed(make_app, sink):
    with (
        HttpReceiver() as inside,
        HttpReceiver(
            lambda _request: Reply(status=307, headers={"Location": inside.url("/admin")})
        ) as outside,
    ):
        app = build(
            make_app,
            sink,
            webhook_allow_http=True,
            webhook_allow_networks=["127.0.0.1/32"],
            webhook_allow_ports=[outside.port, inside.port],
        )
        with app.app_context():
            webhook_subscriber(outside.url("/hook"))
            update_id = post_update({})
            deliver(app)
            assert outside.arrived == 1 and inside.arrived == 0
            state, error = outcome(update_id)
            assert state == "dead" and "redirects are not followed" in error


def test_repeated_failures_disable_the_webhook_and_email_the_contact_once(make_app, sink):
    with HttpReceiver(lambda _request: Reply(status=410)) as gone:
        app = build(make_app, sink, disable_after_failures=2, **OPEN_LOCAL)
        with app.app_context():
            hook = webhook_subscriber(gone.url("/hook"))
            for _ in range(3):
                post_update({})
                deliver(app)
            subscriber = db.session.get(Subscriber, hook)
            assert subscriber.disabled_at is not None and subscriber.failure_count == 2
            assert gone.arrived == 2
            (notice,) = messages(sink)
            assert notice["To"] == "ops@example.com" and "disabled" in notice["Subject"]
            assert "/subscriptions/manage/" in text_of(notice)
