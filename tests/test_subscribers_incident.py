"""Subscriptions to one incident: from its page, by email or webhook, confirmed like the others;
they get that incident's updates only, are told of the resolve, and then end by themselves."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident, IncidentUpdate, OutboxMessage, Subscriber
from statuspage.delivery import subscriber_common as subs_common
from statuspage.delivery import subscribers as subs
from statuspage.errors import ValidationError
from statuspage.publishing.maintenance import tick
from statuspage.publishing.publish import Draft, publish
from tests.support.auth import csrf_token
from tests.support.receivers import verify_webhook
from tests.support.subscribers import (
    OPEN_LOCAL,
    build,
    confirm_from_mail,
    deliver,
    messages,
    path_of,
    post_update,
    text_of,
)


def follow_by_form(client, incident_id: int, address: str) -> None:
    path = f"/incidents/{incident_id}/subscribe"
    data = {"email": address, "csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 303, response.data
    assert response.headers["Location"].endswith("/subscribe/sent")


def update(incident_id: int, status: str, body: str, notify: bool = True) -> int:
    """Publish an update of an open incident; return its id."""
    with write_transaction():
        published, _ = publish(
            Draft(incident_id=incident_id, status=status, body=body, notify=notify),
            now=utcnow(),
            actor=audit.CLI,
        )
        return published.id


def incident_of(update_id: int) -> int:
    return db.session.get_one(IncidentUpdate, update_id).incident_id


def the_subscriber() -> Subscriber:
    db.session.expire_all()
    return db.session.scalars(sa.select(Subscriber)).one()


def token(subscriber: Subscriber, purpose: str) -> str:
    return subs_common.make_token(current_app.config["SECRET_KEY"], purpose, subscriber)


@pytest.fixture
def site(make_app, sink):
    """An app mailing through `sink`, with two components and an open incident on the API."""
    app = build(make_app, sink)
    with app.app_context():
        api, _web = app.config["test_components"]
        app.config["test_incident"] = incident_of(post_update({api: "major_outage"}))
        deliver(app)  # nobody subscribed yet
    return app


def test_the_incident_page_offers_its_subscription_until_it_is_resolved(site):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    html = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert f'/incidents/{incident_id}/subscribe">Get updates on this incident</a>' in html
    with site.app_context():
        update(incident_id, "resolved", "Fixed.")
    html = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "Get updates on this incident" not in html
    page = client.get(f"/incidents/{incident_id}/subscribe").get_data(as_text=True)
    assert "is resolved: no more updates will be posted about it" in page
    assert 'name="email"' not in page


def test_an_incident_subscription_from_confirm_to_its_end(site, sink):
    """Confirmed by email; that incident's updates only; told of the resolve; then ended."""
    client = site.test_client()
    incident_id = site.config["test_incident"]
    api, web = site.config["test_components"]
    with site.app_context():
        follow_by_form(client, incident_id, "pat@example.com")
        assert deliver(site) == 1
        (confirmation,) = messages(sink)
        assert "Updates on: API errors, until it is resolved" in text_of(confirmation)
        assert "Subscription confirmed" in confirm_from_mail(client, confirmation)

        # Another incident, even on the same component, is not this subscription's business.
        post_update({api: "major_outage", web: "major_outage"}, title="Website down")
        deliver(site)
        assert len(sink.messages) == 1

        update(incident_id, "identified", "A bad deploy; rolling back.")
        deliver(site)
        identified = messages(sink)[1]
        assert "A bad deploy; rolling back." in text_of(identified)
        assert "until it is resolved" in text_of(identified)
        manage = re.search(r"Your subscription: (\S+)", text_of(identified)).group(1)
        manage_page = client.get(path_of(manage)).get_data(as_text=True)
        assert "The updates on" in manage_page and 'name="component"' not in manage_page

        update(incident_id, "resolved", "Fixed: errors are back to normal.")
        deliver(site)
        resolved = messages(sink)[2]
        assert "Fixed: errors are back to normal." in text_of(resolved)
        assert "this is the last one: the subscription has ended" in text_of(resolved)
        subscriber = the_subscriber()
        assert subs_common.state_of(subscriber) == "unsubscribed"

        # Its last links say so; a reopened incident writes to nobody.
        unsubscribe = resolved["List-Unsubscribe"].strip("<>")
        done = site.test_client(use_cookies=False).post(path_of(unsubscribe))
        assert b"Already unsubscribed" in done.data and b"ended when it was resolved" in done.data
        update(incident_id, "investigating", "The errors are back.")
        deliver(site)
        assert len(sink.messages) == 3


def test_a_quiet_resolve_ends_the_subscription_too(site, sink):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    with site.app_context():
        follow_by_form(client, incident_id, "pat@example.com")
        deliver(site)
        confirm_from_mail(client, messages(sink)[0])
        update(incident_id, "resolved", "Fixed.", notify=False)
        deliver(site)
        assert len(sink.messages) == 1
        assert the_subscriber().unsubscribed_at is not None


def test_unsubscribing_before_the_end_stops_the_updates(site, sink):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    with site.app_context():
        follow_by_form(client, incident_id, "pat@example.com")
        deliver(site)
        confirm_from_mail(client, messages(sink)[0])
        path = f"/subscriptions/unsubscribe/{token(the_subscriber(), subs_common.UNSUBSCRIBE)}"
        assert b"You are unsubscribed" in client.post(path).data
        update(incident_id, "identified", "Found it.")
        deliver(site)
        assert len(sink.messages) == 1


def test_a_confirmation_used_after_the_resolve_says_it_is_over(site, sink):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    with site.app_context():
        follow_by_form(client, incident_id, "pat@example.com")
        deliver(site)
        update(incident_id, "resolved", "Fixed.")
        url = re.search(r"Confirm: (\S+)", text_of(messages(sink)[0])).group(1)
        page = client.post(path_of(url), data={"csrf_token": csrf_token(client, path_of(url))})
        assert page.status_code == 410
        assert b"resolved meanwhile" in page.data
        assert the_subscriber().confirmed_at is None


def test_a_page_subscriber_and_an_incident_subscriber_are_two_subscriptions(site, sink):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    with site.app_context():
        data = {"email": "pat@example.com", "csrf_token": csrf_token(client, "/subscribe")}
        assert client.post("/subscribe", data=data).status_code == 303
        follow_by_form(client, incident_id, "pat@example.com")
        follow_by_form(client, incident_id, "Pat@Example.com")  # the same one again
        db.session.expire_all()
        rows = db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)).all()
        assert [(s.email, s.incident_id) for s in rows] == [
            ("pat@example.com", None),
            ("pat@example.com", incident_id),
        ]


def test_signing_up_to_a_resolved_incident_is_refused(ctx):
    with write_transaction():
        incident = Incident(
            name="Over", status="resolved", impact="minor", started_at=utcnow(), kind="incident"
        )
        db.session.add(incident)
        db.session.flush()
        with pytest.raises(ValidationError, match="resolved: no more updates"):
            subs.sign_up_email("a@example.com", subs.Choice(), now=utcnow(), incident=incident)


def test_an_incident_subscription_has_no_components_to_choose(site, sink):
    client = site.test_client()
    with site.app_context():
        follow_by_form(client, site.config["test_incident"], "pat@example.com")
        subscriber = the_subscriber()
        assert subscriber.all_components is False and subscriber.components == []
        with pytest.raises(ValidationError, match="follows one incident"):
            subs.set_choice(subscriber, subs.Choice())


def test_the_incident_form_refuses_without_csrf_and_drops_the_honeypot(site):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    path = f"/incidents/{incident_id}/subscribe"
    assert client.post(path, data={"email": "a@example.com"}).status_code in (400, 403)
    bot = {"email": "bot@example.com", "website": "x", "csrf_token": csrf_token(client, path)}
    assert client.post(path, data=bot).status_code == 303
    with site.app_context():
        assert db.session.scalars(sa.select(Subscriber)).all() == []


def test_incident_sign_ups_count_against_the_same_hourly_limit(make_app, sink):
    app = build(make_app, sink, signups_per_address_per_hour=2)
    client = app.test_client()
    with app.app_context():
        api, _web = app.config["test_components"]
        incident_id = incident_of(post_update({api: "major_outage"}))
    path = f"/incidents/{incident_id}/subscribe"
    for n in range(2):
        data = {"email": f"a{n}@example.com", "csrf_token": csrf_token(client, path)}
        assert client.post(path, data=data).status_code == 303
    data = {"email": "a9@example.com", "csrf_token": csrf_token(client, "/subscribe")}
    assert client.post("/subscribe", data=data).status_code == 429


def test_an_incident_webhook_gets_that_incident_signed_and_is_ssrf_checked(
    make_app, sink, receiver
):
    app = build(make_app, sink, **OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        api, web = app.config["test_components"]
        incident_id = incident_of(post_update({api: "major_outage"}))
        deliver(app)
        path = f"/incidents/{incident_id}/subscribe/webhook"
        data = {
            "url": receiver.url("/hook"),
            "email": "ops@example.com",
            "csrf_token": csrf_token(client, path),
        }
        assert client.post(path, data=data).status_code == 303
        deliver(app)
        page = confirm_from_mail(client, messages(sink)[0])
        secret = re.search(r'class="secret-value">(whsec_[^<]+)<', page).group(1)

        post_update({web: "major_outage"}, title="Website down")  # another incident
        update(incident_id, "resolved", "Fixed.")
        deliver(app)
        (request,) = receiver.delivered()  # neither the other incident nor component_update
        assert verify_webhook(secret, request.headers, request.body)
        body = json.loads(request.body)
        assert body["incident"]["id"] == str(incident_id)
        assert body["incident"]["status"] == "resolved"
        assert subs_common.state_of(the_subscriber()) == "unsubscribed"


def test_an_incident_webhook_to_a_private_address_is_refused(site):
    client = site.test_client()
    incident_id = site.config["test_incident"]
    path = f"/incidents/{incident_id}/subscribe/webhook"
    data = {
        "url": "https://127.0.0.1/hook",
        "email": "ops@example.com",
        "csrf_token": csrf_token(client, path),
    }
    response = client.post(path, data=data)
    assert response.status_code == 422
    assert b'aria-invalid="true"' in response.data
    with site.app_context():
        assert db.session.scalars(sa.select(Subscriber)).all() == []


def test_a_maintenance_can_be_followed_and_its_reminder_is_queued(make_app, sink):
    app = build(make_app, sink)
    client = app.test_client()
    with app.app_context():
        api, _web = app.config["test_components"]
        now = utcnow()
        with write_transaction():
            first, _ = publish(
                Draft(
                    kind="maintenance",
                    title="Database upgrade",
                    body="We will upgrade the database.",
                    status="scheduled",
                    component_statuses={api: "operational"},
                    scheduled_for=now + timedelta(minutes=90),
                    scheduled_until=now + timedelta(minutes=150),
                ),
                now=now,
                actor=audit.CLI,
            )
            maintenance_id = first.incident_id
        deliver(app)
        html = client.get(f"/incidents/{maintenance_id}").get_data(as_text=True)
        assert "Get updates on this maintenance" in html
        follow_by_form(client, maintenance_id, "pat@example.com")
        deliver(app)
        assert "until it is complete" in text_of(messages(sink)[0])
        confirm_from_mail(client, messages(sink)[0])
        with write_transaction():
            tick(now + timedelta(minutes=40), tz=ZoneInfo("UTC"))
        subscriber = the_subscriber()
        reminders = db.session.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.idempotency_key.startswith("sub:reminder:")
            )
        ).all()
        assert [r.channel for r in reminders] == [f"subscriber:{subscriber.id}"]


def test_the_migration_keeps_subscribers_and_their_component_choices(empty_app):
    """0013 rebuilds the subscribers table on SQLite: nothing of it, nor the choices that point
    at it (they would go by cascade), may be lost, and the old unique key holds for pages."""
    from alembic import command

    from statuspage.db import database

    with empty_app.app_context(), db.engine.begin() as conn:
        cfg = database._alembic_config(conn)
        command.upgrade(cfg, "0012")
        conn.exec_driver_sql(
            "INSERT INTO components (id, name, description, status, position, showcase,"
            " created_at, updated_at) VALUES (1, 'API', '', 'operational', 0, TRUE,"
            " '2026-01-01', '2026-01-01')"
        )
        for sid, email in ((1, "a@example.com"), (2, "b@example.com")):
            conn.exec_driver_sql(
                "INSERT INTO subscribers (id, kind, email, url, secret, all_components,"
                " token_version, created_at, failure_count, last_error, source)"
                f" VALUES ({sid}, 'email', '{email}', '', '', FALSE, 0, '2026-01-01', 0, '',"
                " 'form')"
            )
            conn.exec_driver_sql(f"INSERT INTO subscriber_components VALUES ({sid}, 1)")
        command.upgrade(cfg, "0013")
        rows = conn.exec_driver_sql(
            "SELECT id, email, incident_id FROM subscribers ORDER BY id"
        ).all()
        assert [tuple(r) for r in rows] == [(1, "a@example.com", None), (2, "b@example.com", None)]
        links = conn.exec_driver_sql("SELECT subscriber_id FROM subscriber_components").all()
        assert sorted(r[0] for r in links) == [1, 2]
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.exec_driver_sql(
                "INSERT INTO subscribers (kind, email, url, secret, all_components,"
                " token_version, created_at, failure_count, last_error, source)"
                " VALUES ('email', 'a@example.com', '', '', TRUE, 0, '2026-01-01', 0, '', 'form')"
            )
        command.downgrade(cfg, "0012")
        links = conn.exec_driver_sql("SELECT subscriber_id FROM subscriber_components").all()
        assert sorted(r[0] for r in links) == [1, 2]
