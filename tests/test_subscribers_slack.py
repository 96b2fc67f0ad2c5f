"""Slack subscriptions: sign-up through the form (https, the SSRF guard, the contact address),
confirmation by the contact's email, Slack messages with escaped text and our own links only,
per-component filtering, unsubscribing, disabling after repeated failures, and the Slack URL
(a credential) kept out of pages, emails, exports and outbox rows. End to end against a local
HTTP receiver and the aiosmtpd sink (tests/support/receivers.py)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, OutboxMessage, Subscriber
from statuspage.delivery import subscriber_common as subs_common
from statuspage.delivery import subscribers as subs
from statuspage.publishing import components as cs
from statuspage.publishing.publish import Draft, publish, set_component_status
from tests.support import SITE_URL
from tests.support.auth import csrf_token
from tests.support.receivers import HttpReceiver, Reply
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

#: What a real Slack URL looks like; the last path part is the secret.
SLACK_PATH = "/services/T0001/B0002/s3cretT0kenXYZabcd"


def slack_form(client, url: str, email: str = "ops@example.com", components=()):
    data = {
        "url": url,
        "email": email,
        "component": [str(c) for c in components],
        "csrf_token": csrf_token(client, "/subscribe/slack"),
    }
    return client.post("/subscribe/slack", data=data)


def all_subscribers() -> list[Subscriber]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)))


def slack_subscriber(url: str, email: str = "ops@example.com") -> int:
    """A confirmed Slack subscriber stored directly, as if its URL was fine at sign-up."""
    with write_transaction():
        subscriber = Subscriber(
            kind="slack", email=email, url=url, created_at=utcnow(), confirmed_at=utcnow()
        )
        db.session.add(subscriber)
    return subscriber.id


# -- signing up


def test_the_email_and_webhook_pages_link_to_the_slack_page(client):
    assert b'href="/subscribe/slack"' in client.get("/subscribe").data
    assert b'href="/subscribe/slack"' in client.get("/subscribe/webhook").data
    page = client.get("/subscribe/slack")
    assert page.status_code == 200 and b"Slack incoming-webhook URL" in page.data


def test_a_plain_http_slack_url_is_refused(make_app):
    app = make_app(subscribers={"webhook_allow_networks": ["127.0.0.0/8"]})
    client = app.test_client()
    with app.app_context():
        response = slack_form(client, "http://127.0.0.1:9" + SLACK_PATH)
        assert response.status_code == 422 and b"must start with https://" in response.data
        assert all_subscribers() == []


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/services/x", "https://10.1.2.3/x", "https://[::ffff:127.0.0.1]/x"]
)
def test_internal_slack_urls_are_refused_without_the_allow_list(client, ctx, url):
    response = slack_form(client, url)
    assert response.status_code == 422 and b"refused" in response.data
    assert all_subscribers() == []


def test_a_bad_contact_address_is_refused(make_app):
    app = make_app(subscribers=OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        response = slack_form(client, "http://127.0.0.1:9" + SLACK_PATH, email="a@b@example.com")
        assert response.status_code == 422 and b"exactly one @" in response.data
        assert all_subscribers() == []


def test_an_allow_listed_slack_url_signs_up_pending_with_no_secret(make_app):
    app = make_app(subscribers=OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        assert slack_form(client, "http://127.0.0.1:9" + SLACK_PATH).status_code == 303
        (subscriber,) = all_subscribers()
        assert subscriber.kind == "slack" and subscriber.url == "http://127.0.0.1:9" + SLACK_PATH
        assert subscriber.secret == "" and subscriber.confirmed_at is None
        (row,) = db.session.scalars(sa.select(OutboxMessage)).all()
        assert row.payload["purpose"] == "confirm" and row.kind == "smtp"
        assert "127.0.0.1" not in json.dumps(row.payload)


def test_the_slack_url_is_masked():
    url = "https://hooks.slack.com" + SLACK_PATH
    assert subs_common.masked_url(url) == "https://hooks.slack.com/…abcd"
    assert subs_common.masked_url("https://hooks.slack.com/abc") == "https://hooks.slack.com/…"
    assert subs_common.masked_url("https://hooks.slack.com") == "https://hooks.slack.com/…"


# -- end to end


def test_a_slack_channel_from_sign_up_to_unsubscribe(make_app, sink, receiver):
    app = build(make_app, sink, **OPEN_LOCAL)
    api, web = app.config["test_components"]
    client = app.test_client()
    secret_part = SLACK_PATH.rsplit("/", 1)[1]
    with app.app_context():
        assert slack_form(client, receiver.url(SLACK_PATH), components=[api]).status_code == 303
        deliver(app)
        (confirmation,) = messages(sink)
        # Nothing reaches the channel before the contact confirms.
        assert confirmation["To"] == "ops@example.com" and receiver.requests == []
        assert "Slack" in text_of(confirmation) and secret_part not in text_of(confirmation)
        page = confirm_from_mail(client, confirmation)
        assert "Subscription confirmed" in page and secret_part not in page

        update_id = post_update({api: "major_outage"}, title="API <!channel> & <https://x.io|y>")
        assert deliver(app) == 2
        (request,) = receiver.delivered()
        assert request.path == SLACK_PATH
        assert request.headers["content-type"] == "application/json"
        assert b"<!channel>" not in request.body and b"<https://x.io" not in request.body
        body = json.loads(request.body)
        assert body["text"] == (
            "[Acme Status] API &lt;!channel&gt; &amp; &lt;https://x.io|y&gt; — Investigating"
        )
        title = body["blocks"][0]
        assert title["type"] == "section" and "&lt;!channel&gt;" in title["text"]["text"]
        blocks = {block["type"]: block for block in body["blocks"][1:]}
        assert blocks["section"]["text"]["text"] == "We are investigating elevated errors."
        facts = blocks["context"]["elements"][0]["text"]
        assert "API: Major Outage (was Operational)" in facts and "*Impact:* Major" in facts
        buttons = {b["text"]["text"]: b["url"] for b in blocks["actions"]["elements"]}
        incident_id = db.session.scalars(subscriber_rows(update_id)).one().incident_id
        assert buttons["View incident"] == f"{SITE_URL}/incidents/{incident_id}"
        assert buttons["Manage subscription"].startswith(f"{SITE_URL}/subscriptions/manage/")
        assert buttons["Unsubscribe"].startswith(f"{SITE_URL}/subscriptions/unsubscribe/")
        row = db.session.scalars(subscriber_rows(update_id)).one()
        assert row.state == "sent" and row.kind == "slack"
        assert secret_part not in json.dumps(row.payload)

        # Only the components it follows.
        post_update({web: "degraded_performance"}, title="Website slow")
        deliver(app)
        assert len(receiver.delivered()) == 1

        # The manage link's page shows the URL masked, and its unsubscribe button ends it.
        manage = client.get(path_of(buttons["Manage subscription"]))
        html = manage.get_data(as_text=True)
        assert manage.status_code == 200 and secret_part not in html and "…abcd" in html
        action = re.search(r'action="(/subscriptions/unsubscribe/[^"]+)"', html).group(1)
        done = client.post(action)
        assert done.status_code == 200 and b"You are unsubscribed" in done.data
        assert secret_part.encode() not in done.data

        post_update({api: "operational"})
        deliver(app)
        assert len(receiver.delivered()) == 1 and len(sink.messages) == 1


def test_an_update_reaches_slack_as_mrkdwn_with_its_own_links_only(make_app, sink, receiver):
    app = build(make_app, sink, **OPEN_LOCAL)
    body = (
        "We shipped a **fix**, see [the runbook](https://runbook.example/a|b>c) or "
        "<https://evil.example|click>. <!channel> & <@U024BE7LH>\n\n- one _step_\n- `two`"
    )
    with app.app_context():
        slack_subscriber(receiver.url(SLACK_PATH))
        with write_transaction():
            draft = Draft(title="API errors", body=body, status="investigating", impact="major")
            publish(draft, now=utcnow(), actor=audit.CLI)
        deliver(app)
        (request,) = receiver.delivered()
        text = json.loads(request.body)["blocks"][1]["text"]
        assert text == {
            "type": "mrkdwn",
            "text": "We shipped a *fix*, see <https://runbook.example/a%7Cb%3Ec|the runbook> or "
            "https://evil.example|click. &lt;!channel&gt; &amp; &lt;@U024BE7LH&gt;\n\n"
            "• one _step_\n• `two`",
        }


def test_a_component_change_outside_an_incident_is_not_sent_to_slack(make_app, sink, receiver):
    app = build(make_app, sink, **OPEN_LOCAL)
    api, _web = app.config["test_components"]
    with app.app_context():
        slack_subscriber(receiver.url(SLACK_PATH))
        with write_transaction():
            component = cs.get_component(api)
            set_component_status(
                component, ComponentStatus.MAJOR_OUTAGE, now=utcnow(), actor=audit.CLI
            )
        deliver(app)
        assert receiver.arrived == 0
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.kind == "slack")) == 0
        )


def test_a_loopback_slack_url_is_refused_again_at_send_time(make_app, sink, receiver):
    app = build(make_app, sink, webhook_allow_http=True)  # no allow-list: loopback refused
    with app.app_context():
        slack_subscriber(receiver.url(SLACK_PATH))
        update_id = post_update({})
        deliver(app)
        assert receiver.arrived == 0
        db.session.expire_all()
        row = db.session.scalars(subscriber_rows(update_id)).one()
        assert row.state == "dead" and "loopback" in row.last_error


def test_a_revoked_slack_webhook_is_disabled_and_the_contact_told_once(make_app, sink):
    revoked = Reply(status=404, body=b"no_service")
    with HttpReceiver(lambda _request: revoked) as slack:
        app = build(make_app, sink, disable_after_failures=2, **OPEN_LOCAL)
        with app.app_context():
            sid = slack_subscriber(slack.url(SLACK_PATH))
            for _ in range(3):
                post_update({})
                deliver(app)
            subscriber = db.session.get(Subscriber, sid)
            assert subscriber.disabled_at is not None and subscriber.failure_count == 2
            assert "HTTP 404: no_service" in subscriber.last_error
            assert slack.arrived == 2
            (notice,) = messages(sink)
            assert notice["To"] == "ops@example.com"
            assert notice["Subject"] == "[Acme Status] Slack subscription disabled"
            text = text_of(notice)
            assert "Your Slack subscription" in text and "/subscriptions/manage/" in text
            assert "s3cretT0ken" not in text and "…abcd" in text
            html = notice.get_body(("html",)).get_content()
            assert "s3cretT0ken" not in html


# -- admin


@pytest.fixture
def listed(ctx):
    """A Slack subscriber and an email one, for the admin's list (the `admin` client)."""
    with write_transaction():
        db.session.add(
            Subscriber(
                kind="slack",
                email="ops@example.com",
                url="https://hooks.slack.com" + SLACK_PATH,
                created_at=utcnow() - timedelta(hours=1),
                confirmed_at=utcnow(),
            )
        )
        subs.sign_up_email("pat@example.com", subs.Choice(), now=utcnow())


def test_the_admin_list_shows_the_kind_and_a_masked_url(listed, admin):
    html = admin.get("/admin/subscribers").get_data(as_text=True)
    assert "s3cretT0ken" not in html
    assert "https://hooks.slack.com/…abcd" in html and ">Slack</span>" in html
    assert re.search(r"Active by kind: .*Slack: <strong>1</strong>", html)
    only = admin.get("/admin/subscribers?kind=slack").get_data(as_text=True)
    assert "ops@example.com" in only and "pat@example.com" not in only
    assert admin.get("/admin/subscribers?kind=fax").status_code == 404


def test_the_admin_search_does_not_match_inside_a_slack_url(listed, admin):
    html = admin.get("/admin/subscribers?q=s3cret").get_data(as_text=True)
    assert "ops@example.com" not in html and "No subscribers match" in html


def test_the_export_masks_slack_urls_and_removal_audits_them_masked(listed, admin):
    token = csrf_token(admin, "/admin/subscribers")
    export = admin.post("/admin/subscribers/export", data={"csrf_token": token})
    assert export.status_code == 200
    text = export.get_data(as_text=True)
    assert (
        "s3cretT0ken" not in text
        and ",slack,ops@example.com,https://hooks.slack.com/…abcd," in text
    )
    sid = db.session.scalar(sa.select(Subscriber.id).where(Subscriber.kind == "slack"))
    removed = admin.post(f"/admin/subscribers/{sid}/remove", data={"csrf_token": token})
    assert removed.status_code == 302
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "subscriber.removed")
    ).one()
    assert "s3cretT0ken" not in json.dumps(entry.before)
