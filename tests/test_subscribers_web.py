"""The subscription pages and the subscribers admin over HTTP: forms, CSRF, the honeypot, signed
links, RFC 8058 one-click unsubscribe without a session, import, export and removal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, OutboxMessage, Subscriber
from statuspage.delivery import subscriber_common as subs_common
from statuspage.delivery import subscriber_delivery as subs_delivery
from statuspage.delivery import subscribers as subs
from statuspage.publishing import components as cs
from tests.support import NOW
from tests.support.auth import csrf_token
from tests.support.subscribers import OPEN_LOCAL


@pytest.fixture
def components(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=10))
        web = cs.add_component("Website", now=NOW - timedelta(days=10))
    return api.id, web.id


def subscribers() -> list[Subscriber]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)))


def outbox_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def token(subscriber_id: int, purpose: str) -> str:
    subscriber = db.session.get(Subscriber, subscriber_id)
    return subs_common.make_token(current_app.config["SECRET_KEY"], purpose, subscriber)


def signed_up(client, email="a@example.com", **extra):
    data = {"email": email, "csrf_token": csrf_token(client, "/subscribe"), **extra}
    return client.post("/subscribe", data=data)


def active(address="a@example.com", components=()) -> int:
    with write_transaction():
        subscriber = subs.sign_up_email(
            address, subs.parse_choice([str(c) for c in components]), now=utcnow()
        )
        subscriber.confirmed_at = utcnow()
        subscriber.token_version += 1
        return subscriber.id


# -- signing up


def test_the_subscribe_page_lists_the_components_and_a_hidden_honeypot(client, components):
    html = client.get("/subscribe").get_data(as_text=True)
    assert f'name="component" value="{components[0]}"' in html
    assert 'class="hp" aria-hidden="true"' in html and 'name="website"' in html
    assert not re.search(r"\sstyle=", html)
    # The site's one script (times in the reader's zone), nothing inline.
    assert re.findall(r"<script[^>]*>", html) == [
        re.search(r'<script src="/static/page\.js\?v=\w+" defer>', html).group(0)
    ]


def test_the_page_header_links_to_subscribe(client, components):
    assert 'href="https://status.example.com/subscribe"' in client.get("/").get_data(as_text=True)


def test_signing_up_redirects_to_check_your_inbox_and_queues_a_confirmation(client, components):
    response = signed_up(client, component=[str(components[0])])
    assert response.status_code == 303 and response.headers["Location"].endswith("/subscribe/sent")
    (subscriber,) = subscribers()
    assert subscriber.email == "a@example.com" and not subscriber.all_components
    assert [c.id for c in subscriber.components] == [components[0]]
    assert [r.payload["purpose"] for r in outbox_rows()] == ["confirm"]
    assert b"Check your inbox" in client.get("/subscribe/sent").data


def test_the_sign_up_form_needs_its_csrf_token(client, components):
    response = client.post("/subscribe", data={"email": "a@example.com"})
    assert response.status_code == 400 and subscribers() == []


def test_a_filled_honeypot_looks_like_success_but_signs_nobody_up(client, components):
    response = signed_up(client, website="http://spam.example")
    assert response.status_code == 303 and subscribers() == [] and outbox_rows() == []


def test_a_bad_address_is_refused_on_the_form_with_its_message(client, components):
    response = signed_up(client, email="a@example.com\r\nBcc: b@example.com")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "the address must be on one line" in html and 'aria-invalid="true"' in html


def test_sign_ups_from_one_address_are_limited_per_hour(make_app):
    app = make_app(subscribers={"signups_per_address_per_hour": 2})
    client = app.test_client()
    with app.app_context():
        assert signed_up(client, "a@example.com").status_code == 303
        assert signed_up(client, "b@example.com").status_code == 303
        refused = signed_up(client, "c@example.com")
        assert refused.status_code == 429 and b"Too many sign-ups" in refused.data


def test_subscribing_is_not_offered_when_disabled(make_app):
    client = make_app(subscribers={"enabled": False}).test_client()
    assert client.get("/subscribe").status_code == 404
    assert client.get("/subscribe/webhook").status_code == 404
    assert b'/subscribe"' not in client.get("/").data


def test_a_webhook_to_loopback_is_refused_on_the_form(client, components):
    data = {
        "url": "https://127.0.0.1/hook",
        "email": "ops@example.com",
        "csrf_token": csrf_token(client, "/subscribe/webhook"),
    }
    response = client.post("/subscribe/webhook", data=data)
    assert response.status_code == 422 and b"loopback" in response.data
    assert subscribers() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "https://0x7f000001/",
        "https://127.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[64:ff9b::7f00:1]/",
        "https://[2002:7f00:1::]/",
        "https://100.64.0.1/",
    ],
)
def test_disguised_internal_addresses_are_refused_on_the_form(client, components, url):
    data = {
        "url": url,
        "email": "ops@example.com",
        "csrf_token": csrf_token(client, "/subscribe/webhook"),
    }
    assert client.post("/subscribe/webhook", data=data).status_code == 422


def test_a_webhook_on_an_allowed_network_signs_up(make_app):
    app = make_app(subscribers=OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        data = {
            "url": "http://127.0.0.1:9/hook",
            "email": "ops@example.com",
            "csrf_token": csrf_token(client, "/subscribe/webhook"),
        }
        assert client.post("/subscribe/webhook", data=data).status_code == 303
        (hook,) = subscribers()
        assert hook.kind == "webhook" and hook.url == "http://127.0.0.1:9/hook"


# -- links


def test_the_confirmation_link_shows_a_button_and_confirms_only_on_post(client, components):
    signed_up(client)
    (subscriber,) = subscribers()
    link = f"/subscriptions/confirm/{token(subscriber.id, subs_common.CONFIRM)}"
    page = client.get(link)
    assert page.status_code == 200 and b"Confirm subscription" in page.data
    assert subscribers()[0].confirmed_at is None
    done = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert done.status_code == 200 and b"Subscription confirmed" in done.data
    assert subscribers()[0].confirmed_at is not None
    again = client.post(link, data={"csrf_token": csrf_token(client, "/subscribe")})
    assert again.status_code == 410 and b"already used" in again.data


def test_a_webhooks_secret_is_shown_once_at_confirmation(make_app):
    app = make_app(subscribers=OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=utcnow()
            )
            secret, hook_id = hook.secret, hook.id
        link = f"/subscriptions/confirm/{token(hook_id, subs_common.CONFIRM)}"
        assert secret not in client.get(link).get_data(as_text=True)
        done = client.post(link, data={"csrf_token": csrf_token(client, link)})
        assert secret in done.get_data(as_text=True)
        assert secret not in client.get(link).get_data(as_text=True)


def test_a_tampered_link_gets_a_page_saying_so(client, components):
    sid = active()
    link = f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}x"
    response = client.get(link)
    assert response.status_code == 410 and b"not valid" in response.data


def test_token_pages_are_not_cached_and_send_no_referrer(client, components):
    sid = active()
    response = client.get(f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_manage_page_changes_the_components_followed(client, components):
    sid = active()
    link = f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}"
    data = {"csrf_token": csrf_token(client, link), "action": "save", "component": [components[1]]}
    response = client.post(link, data=data)
    assert response.status_code == 200 and b"Saved" in response.data
    (subscriber,) = subscribers()
    assert not subscriber.all_components and [c.id for c in subscriber.components] == [
        components[1]
    ]


def test_the_manage_form_needs_its_csrf_token(client, components):
    sid = active()
    link = f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}"
    response = client.post(link, data={"action": "save", "component": [components[1]]})
    assert response.status_code == 400 and subscribers()[0].all_components


def test_the_unsubscribe_link_asks_first(client, components):
    sid = active()
    page = client.get(f"/subscriptions/unsubscribe/{token(sid, subs_common.UNSUBSCRIBE)}")
    assert page.status_code == 200 and b"Unsubscribe?" in page.data
    assert subscribers()[0].unsubscribed_at is None


def test_one_click_unsubscribe_works_without_session_or_csrf_token(app, components):
    sid = active()
    mail_provider = app.test_client(use_cookies=False)
    response = mail_provider.post(
        f"/subscriptions/unsubscribe/{token(sid, subs_common.UNSUBSCRIBE)}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200 and b"You are unsubscribed" in response.data
    assert "Set-Cookie" not in response.headers
    assert subscribers()[0].unsubscribed_at is not None


def test_one_click_unsubscribe_twice_is_harmless(app, components):
    sid = active()
    link = f"/subscriptions/unsubscribe/{token(sid, subs_common.UNSUBSCRIBE)}"
    client = app.test_client(use_cookies=False)
    client.post(link, data={"List-Unsubscribe": "One-Click"})
    again = client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and b"Already unsubscribed" in again.data


def test_the_csrf_exemption_covers_only_the_unsubscribe_route(app, components):
    sid = active()
    client = app.test_client(use_cookies=False)
    manage = client.post(
        f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}", data={"action": "save"}
    )
    confirm = client.post(f"/subscriptions/confirm/{token(sid, subs_common.CONFIRM)}")
    assert (manage.status_code, confirm.status_code) == (400, 400)


def test_a_manage_token_cannot_unsubscribe_over_http(app, components):
    sid = active()
    client = app.test_client(use_cookies=False)
    response = client.post(
        f"/subscriptions/unsubscribe/{token(sid, subs_common.MANAGE)}",
        data={"List-Unsubscribe": "One-Click"},
    )
    assert response.status_code == 410 and subscribers()[0].unsubscribed_at is None


# -- the admin


def test_the_admin_lists_and_searches_subscribers(components, admin):
    active("alice@example.com")
    active("bob@example.com")
    html = admin.get("/admin/subscribers?q=ALI").get_data(as_text=True)
    assert "alice@example.com" in html and "bob@example.com" not in html
    assert ">Subscribers</a>" in admin.get("/admin/").get_data(as_text=True)


def test_the_admin_shows_counts_per_component(components, admin):
    active("a@example.com", [components[0]])
    html = admin.get("/admin/subscribers").get_data(as_text=True)
    assert re.search(r"<td>API</td><td class=\"num\">1</td>", html)


def test_an_admin_imports_a_csv_as_already_confirmed_only_with_the_box_ticked(components, admin):
    token_ = csrf_token(admin, "/admin/subscribers")
    data = {"csrf_token": token_, "mode": "confirmed", "csv": "email\na@example.com\n"}
    refused = admin.post("/admin/subscribers/import", data=data)
    assert refused.status_code == 422 and subscribers() == []
    done = admin.post("/admin/subscribers/import", data={**data, "consent": "yes"})
    assert done.status_code == 200 and b"Added 1" in done.data
    assert subscribers()[0].active


def test_an_admin_imports_a_csv_file_with_confirmation_emails(components, admin):
    import io

    data = {
        "csrf_token": csrf_token(admin, "/admin/subscribers"),
        "mode": "confirm",
        "file": (io.BytesIO(b"email\na@example.com\nb@example.com\n"), "list.csv"),
    }
    response = admin.post(
        "/admin/subscribers/import", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    assert [r.payload["purpose"] for r in outbox_rows()] == ["confirm", "confirm"]


def test_the_export_downloads_csv_and_is_audited(components, admin):
    active("a@example.com")
    response = admin.post(
        "/admin/subscribers/export",
        data={"csrf_token": csrf_token(admin, "/admin/subscribers")},
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert b"a@example.com" in response.data
    assert (
        db.session.scalar(
            sa.select(AuditEntry.actor).where(AuditEntry.action == "subscribers.exported")
        )
        == "admin@example.com"
    )


def test_a_viewer_reads_the_list_but_cannot_export(components, viewer):
    assert viewer.get("/admin/subscribers").status_code == 200
    response = viewer.post(
        "/admin/subscribers/export", data={"csrf_token": csrf_token(viewer, "/admin/subscribers")}
    )
    assert response.status_code == 403


def test_an_admin_removes_a_subscriber(components, admin):
    sid = active()
    response = admin.post(
        f"/admin/subscribers/{sid}/remove",
        data={"csrf_token": csrf_token(admin, "/admin/subscribers")},
    )
    assert response.status_code == 302 and subscribers() == []


def test_the_deliveries_page_shows_counts_per_update(components, admin):
    from statuspage.publishing.publish import Draft, publish

    active("a@example.com")
    with write_transaction():
        publish(
            Draft(title="API errors", body="Investigating.", status="investigating"),
            now=utcnow(),
            actor=audit.CLI,
        )
    html = admin.get("/admin/subscribers/deliveries").get_data(as_text=True)
    assert "API errors" in html and '<td class="num">expanding</td>' in html
    with write_transaction():
        job = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == subs_delivery.FAN_OUT_KIND)
        ).one()
        subs_delivery.expand(job, now=utcnow())
        job.state = "sent"
    html = admin.get("/admin/subscribers/deliveries").get_data(as_text=True)
    assert '<td class="num">expanding</td>' not in html and '<td class="num">1</td>' in html


def test_a_component_link_preselects_it_on_the_form(client, components):
    html = client.get(f"/subscribe?component={components[1]}").get_data(as_text=True)
    assert f'value="{components[1]}" checked' in html
    assert f'value="{components[0]}" checked' not in html


def test_the_manage_page_makes_a_new_webhook_secret_shown_once(make_app):
    app = make_app(subscribers=OPEN_LOCAL)
    client = app.test_client()
    with app.app_context():
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=utcnow()
            )
            hook.confirmed_at = utcnow()
            hook.token_version += 1
            old, hook_id = hook.secret, hook.id
        link = f"/subscriptions/manage/{token(hook_id, subs_common.MANAGE)}"
        response = client.post(
            link, data={"csrf_token": csrf_token(client, link), "action": "rotate"}
        )
        new = subscribers()[0].secret
        assert new != old and new in response.get_data(as_text=True)
        assert new not in client.get(link).get_data(as_text=True)


def test_the_manage_page_turns_a_disabled_subscription_back_on(client, components):
    sid = active()
    with write_transaction():
        subscriber = db.session.get(Subscriber, sid)
        subscriber.disabled_at, subscriber.failure_count = utcnow(), 5
    link = f"/subscriptions/manage/{token(sid, subs_common.MANAGE)}"
    assert b"Turn it back on" in client.get(link).data
    client.post(link, data={"csrf_token": csrf_token(client, link), "action": "enable"})
    (subscriber,) = subscribers()
    assert subscriber.active and subscriber.failure_count == 0
