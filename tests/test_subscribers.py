"""Subscribers as a service: addresses, signed links, rate limits, fan-out, reminders, send-time
resolution, failure counting, CSV import and export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app
from itsdangerous import timed
from sqlalchemy.exc import IntegrityError

from statuspage.core.enums import ComponentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, IncidentUpdate, OutboxMessage, Subscriber
from statuspage.delivery import outbox
from statuspage.delivery import subscriber_admin as subs_admin
from statuspage.delivery import subscriber_common as subs_common
from statuspage.delivery import subscriber_delivery as subs_delivery
from statuspage.delivery import subscribers as subs
from statuspage.delivery.channels import Delivery, Outcome, Result
from statuspage.delivery.channels import smtp as smtp_channel
from statuspage.delivery.netguard import UnsafeURL
from statuspage.errors import ValidationError
from statuspage.publishing import components as cs
from statuspage.publishing.maintenance import tick
from statuspage.publishing.publish import Draft, correct_update, publish, set_component_status
from tests.support import NOW

UTC = ZoneInfo("UTC")
HOOK_CONFIG = {
    "webhook_allow_http": True,
    "webhook_allow_networks": ["127.0.0.0/8"],
    "webhook_allow_ports": ["1-65535"],
}


@pytest.fixture
def page(ctx):
    """Three components and no incidents."""
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=10))
        web = cs.add_component("Website", now=NOW - timedelta(days=10))
        cdn = cs.add_component("CDN", now=NOW - timedelta(days=10))
    return {"api": api.id, "web": web.id, "cdn": cdn.id}


def sign_up(address: str, components=(), now=NOW) -> int:
    with write_transaction():
        choice = subs.parse_choice([str(c) for c in components])
        return subs.sign_up_email(address, choice, now=now).id


def token_for(subscriber_id: int, purpose: str) -> str:
    subscriber = db.session.get(Subscriber, subscriber_id)
    return subs_common.make_token(current_app.config["SECRET_KEY"], purpose, subscriber)


def confirmed(address: str, components=(), now=NOW) -> int:
    sid = sign_up(address, components, now)
    with write_transaction():
        subs.confirm(token_for(sid, subs_common.CONFIRM), now=now)
    return sid


def rows(prefix: str = "sub:") -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.idempotency_key.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
    )


def notified(update_id: int) -> set[int]:
    return {int(r.channel.split(":")[1]) for r in rows(f"sub:{update_id}:")}


def fan_out_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.kind == subs_delivery.FAN_OUT_KIND)
            .order_by(OutboxMessage.id)
        )
    )


def expand(now=NOW) -> int:
    """Expand the pending fan-out rows as the worker does: rows written, fan-out row sent."""
    added = 0
    for job in [r for r in fan_out_rows() if r.state == "pending"]:
        with write_transaction():
            added += subs_delivery.expand(job, now=now)
            job.state = "sent"
    return added


def open_incident(
    components: dict[int, str] | None = None, notify=True, now=NOW, expanded=True
) -> int:
    with write_transaction():
        update, _ = publish(
            Draft(
                title="API errors",
                body="We are investigating.",
                status="investigating",
                impact="major",
                component_statuses=components or {},
                notify=notify,
            ),
            now=now,
            actor=audit.CLI,
        )
        update_id = update.id
    if expanded:
        expand(now)
    return update_id


# -- addresses


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("someone@example.com\r\nBcc: x@example.com", "one line"),
        ("someone@example.com\n", "one line"),
        ("a@example.com, b@example.com", "one address"),
        ("a@b@example.com", "exactly one @"),
        ("someone.example.com", "needs an @"),
        ("x" * 250 + "@example.com", "longer than 254"),
        ("some one@example.com", "not an email address"),
        ("someone@localhost", "not an email address"),
        ("", "enter an email address"),
    ],
)
def test_bad_addresses_are_refused_with_a_message(address, message):
    with pytest.raises(ValidationError) as info:
        subs_common.check_email(address)
    assert message in info.value.message and info.value.field == "email"


def test_an_address_is_kept_lower_cased():
    assert subs_common.check_email("  Someone@Example.COM ") == "someone@example.com"


def test_the_domain_allow_list_refuses_other_domains():
    assert subs_common.check_email("a@corp.example", ["corp.example"]) == "a@corp.example"
    with pytest.raises(ValidationError, match=r"open to addresses at corp\.example only"):
        subs_common.check_email("a@gmail.example", ["corp.example"])


# -- signed links


def test_a_confirmation_link_confirms_once(page):
    sid = sign_up("a@example.com")
    token = token_for(sid, subs_common.CONFIRM)
    with write_transaction():
        subs.confirm(token, now=NOW)
    with pytest.raises(subs_common.BadLink, match="already used"), write_transaction():
        subs.confirm(token, now=NOW)


def test_a_tampered_link_is_refused(page):
    sid = confirmed("a@example.com")
    token = token_for(sid, subs_common.MANAGE)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(subs_common.BadLink, match="not valid"):
        subs.from_token(subs_common.MANAGE, tampered)


def test_an_expired_confirmation_link_is_refused(page, monkeypatch):
    sid = sign_up("a@example.com")
    real = timed.time.time
    monkeypatch.setattr(timed.time, "time", lambda: real() - 49 * 3600)
    token = token_for(sid, subs_common.CONFIRM)
    monkeypatch.setattr(timed.time, "time", real)
    with pytest.raises(subs_common.BadLink, match="expired"), write_transaction():
        subs.confirm(token, now=NOW)


@pytest.mark.parametrize(
    ("made_for", "used_for"),
    [
        (subs_common.CONFIRM, subs_common.UNSUBSCRIBE),
        (subs_common.MANAGE, subs_common.UNSUBSCRIBE),
        (subs_common.UNSUBSCRIBE, subs_common.MANAGE),
        (subs_common.MANAGE, subs_common.CONFIRM),
    ],
)
def test_a_link_made_for_one_purpose_is_refused_for_another(page, made_for, used_for):
    sid = confirmed("a@example.com")
    token = token_for(sid, made_for)
    with pytest.raises(subs_common.BadLink, match="not valid"):
        if used_for == subs_common.UNSUBSCRIBE:
            subs.unsubscribe(token, now=NOW)
        else:
            subs.from_token(used_for, token)


def test_a_confirmation_link_cannot_unsubscribe_even_before_confirming(page):
    sid = sign_up("a@example.com")
    with pytest.raises(subs_common.BadLink):
        subs.unsubscribe(token_for(sid, subs_common.CONFIRM), now=NOW)


def test_unsubscribing_twice_is_harmless(page):
    sid = confirmed("a@example.com")
    token = token_for(sid, subs_common.UNSUBSCRIBE)
    with write_transaction():
        first = subs.unsubscribe(token, now=NOW)
    with write_transaction():
        second = subs.unsubscribe(token, now=NOW + timedelta(minutes=1))
    assert (first.changed, second.changed) == (True, False)
    assert db.session.get(Subscriber, sid).unsubscribed_at == NOW


def test_an_old_unsubscribe_link_cannot_end_a_new_subscription(page):
    sid = confirmed("a@example.com")
    old = token_for(sid, subs_common.UNSUBSCRIBE)
    with write_transaction():
        subs.unsubscribe(old, now=NOW)
    confirmed("a@example.com")
    with pytest.raises(subs_common.BadLink, match="no longer valid"), write_transaction():
        subs.unsubscribe(old, now=NOW)


def test_manage_links_die_with_the_unsubscription(page):
    sid = confirmed("a@example.com")
    manage = token_for(sid, subs_common.MANAGE)
    with write_transaction():
        subs.unsubscribe(token_for(sid, subs_common.UNSUBSCRIBE), now=NOW)
    with pytest.raises(subs_common.BadLink):
        subs.from_token(subs_common.MANAGE, manage)


# -- sign-up


def test_signing_up_queues_only_a_confirmation(page):
    sid = sign_up("a@example.com")
    (row,) = rows()
    assert row.channel == f"subscriber:{sid}" and row.payload["purpose"] == "confirm"
    assert "a@example.com" not in str(row.payload)


def test_confirmation_emails_per_address_stop_at_the_daily_limit(page):
    for _ in range(5):
        sign_up("a@example.com")
    assert len(rows("sub:confirm:")) == 3


def test_sign_ups_per_client_address_stop_at_the_hourly_limit(page):
    for _ in range(10):
        with write_transaction():
            subs.count_signup("192.0.2.1", NOW)
    with pytest.raises(subs.TooManySignups), write_transaction():
        subs.count_signup("192.0.2.1", NOW)
    with write_transaction():
        subs.count_signup("192.0.2.1", NOW + timedelta(hours=1, seconds=1))


def test_an_active_subscriber_signing_up_again_gets_a_manage_link(page):
    confirmed("a@example.com")
    sign_up("a@example.com")
    assert [r.payload["purpose"] for r in rows()] == ["confirm", "manage"]


def test_the_database_holds_one_subscription_per_address(page):
    sign_up("a@example.com")
    with pytest.raises(IntegrityError), write_transaction():
        db.session.add(Subscriber(kind="email", email="a@example.com", url="", created_at=NOW))
        db.session.flush()


def test_a_sign_up_that_loses_the_race_for_an_address_answers_as_for_an_existing_one(
    page, monkeypatch
):
    sid = confirmed("a@example.com")
    real, looks = subs._find, []

    def late(*args):
        # The other sign-up commits between our look-up and our insert.
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(subs, "_find", late)
    assert sign_up("a@example.com") == sid and len(looks) == 2
    assert [r.payload["purpose"] for r in rows()] == ["confirm", "manage"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1


def test_a_webhook_url_to_loopback_is_refused_at_sign_up(page):
    with pytest.raises(UnsafeURL, match="loopback"), write_transaction():
        subs.sign_up_webhook("https://127.0.0.1/hook", "ops@example.com", subs.Choice(), now=NOW)


def test_a_plain_http_webhook_is_refused_unless_allowed(page):
    with pytest.raises(UnsafeURL, match="https"), write_transaction():
        subs.sign_up_webhook(
            "http://hooks.example.com/x",
            "ops@example.com",
            subs.Choice(),
            now=NOW,
            resolve=lambda host, port: ["93.184.216.34"],
        )


def test_a_webhook_host_resolving_to_a_private_address_is_refused(page):
    with pytest.raises(UnsafeURL, match="private"), write_transaction():
        subs.sign_up_webhook(
            "https://hooks.example.com/x",
            "ops@example.com",
            subs.Choice(),
            now=NOW,
            resolve=lambda host, port: ["10.1.2.3"],
        )


def test_a_webhook_gets_its_own_whsec_secret(page):
    with write_transaction():
        hook = subs.sign_up_webhook(
            "https://hooks.example.com/x",
            "ops@example.com",
            subs.Choice(),
            now=NOW,
            resolve=lambda host, port: ["93.184.216.34"],
        )
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 30


# -- fan-out


def test_nothing_is_sent_to_an_unconfirmed_address(page):
    sign_up("a@example.com")
    update_id = open_incident()
    assert notified(update_id) == set()


def test_an_update_goes_to_subscribers_of_its_components_and_to_everyone_following_all(page):
    api_only = confirmed("api@example.com", [page["api"]])
    web_only = confirmed("web@example.com", [page["web"]])
    everything = confirmed("all@example.com")
    update_id = open_incident({page["api"]: "partial_outage"})
    assert notified(update_id) == {api_only, everything}
    assert web_only not in notified(update_id)


def test_an_incident_with_no_component_goes_to_every_subscriber(page):
    ids = {confirmed("api@example.com", [page["api"]]), confirmed("all@example.com")}
    assert notified(open_incident()) == ids


def test_an_update_without_the_notify_box_sends_nothing(page):
    confirmed("all@example.com")
    assert notified(open_incident(notify=False)) == set()


def test_unsubscribed_and_disabled_subscribers_get_nothing(page):
    gone = confirmed("gone@example.com")
    off = confirmed("off@example.com")
    with write_transaction():
        subs.unsubscribe(token_for(gone, subs_common.UNSUBSCRIBE), now=NOW)
        db.session.get(Subscriber, off).disabled_at = NOW
    assert notified(open_incident()) == set()


def test_the_fan_out_row_carries_no_address_and_no_secret(page, make_app):
    confirmed("a@example.com")
    update_id = open_incident()
    (row,) = rows(f"sub:{update_id}:")
    assert row.kind == "smtp" and row.update_id == update_id and row.incident_id is not None
    assert set(row.payload) == {
        "purpose",
        "incident_id",
        "closes",
        "update_id",
        "subject",
        "page",
        "generated_at",
    }
    assert row.payload["subject"] == "[Acme Status] API errors — Investigating"


def add_subscribers(count: int, confirmed_at=NOW) -> None:
    with write_transaction():
        db.session.execute(
            sa.insert(Subscriber),
            [
                {
                    "kind": "email",
                    "email": f"s{n}@example.com",
                    "created_at": NOW,
                    "confirmed_at": confirmed_at,
                    "all_components": True,
                }
                for n in range(count)
            ],
        )


class Inserts:
    """The INSERT statements into the outbox run while the block runs."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __enter__(self) -> list[str]:
        sa.event.listen(db.engine, "before_cursor_execute", self.count)
        return self.statements

    def __exit__(self, *exc) -> None:
        sa.event.remove(db.engine, "before_cursor_execute", self.count)

    def count(self, conn, cursor, statement, *args) -> None:
        if "outbox" in statement and statement.lstrip().upper().startswith("INSERT"):
            self.statements.append(statement)


def test_publishing_writes_one_outbox_row_whatever_the_number_of_subscribers(page):
    add_subscribers(3000)
    with Inserts() as statements:
        update_id = open_incident(expanded=False)
    (job,) = fan_out_rows()
    assert len(statements) == 1 and notified(update_id) == set()
    assert (job.state, job.update_id, job.channel) == ("pending", update_id, "subscriber:fanout")
    assert subs_delivery.handles(job.channel, job.payload)


def test_the_worker_expands_the_fan_out_in_one_statement(page):
    add_subscribers(3000)
    update_id = open_incident(expanded=False)
    with Inserts() as statements:
        assert expand() == 3000
    assert len(statements) == 1 and len(notified(update_id)) == 3000


def test_an_expansion_repeated_after_a_crash_adds_nothing(page):
    confirmed("a@example.com")
    confirmed("b@example.com")
    update_id = open_incident(expanded=False)
    (job,) = fan_out_rows()
    with write_transaction():
        first = subs_delivery.expand(job, now=NOW)
    with write_transaction():
        second = subs_delivery.expand(job, now=NOW + timedelta(minutes=1))
    assert (first, second) == (2, 0) and len(notified(update_id)) == 2


def test_an_update_is_queued_once_and_a_second_fan_out_adds_nothing(page):
    confirmed("a@example.com")
    update_id = open_incident(notify=False)
    with write_transaction():
        update = db.session.get(IncidentUpdate, update_id)
        update.deliver_notifications = True
        first = subs_delivery.fan_out(update, now=NOW)
        second = subs_delivery.fan_out(update, now=NOW)
    assert (first, second) == (True, False) and len(fan_out_rows()) == 1


def test_a_subscriber_who_confirms_after_the_publish_does_not_get_that_update(page):
    early = confirmed("early@example.com")
    update_id = open_incident(expanded=False)
    confirmed("late@example.com", now=NOW + timedelta(seconds=1))
    expand(NOW + timedelta(seconds=2))
    assert notified(update_id) == {early}


def test_a_subscriber_who_leaves_before_the_expansion_gets_no_row(page):
    sid = confirmed("a@example.com")
    update_id = open_incident(expanded=False)
    with write_transaction():
        subs.unsubscribe(token_for(sid, subs_common.UNSUBSCRIBE), now=NOW)
    expand()
    assert notified(update_id) == set()


def claim_all() -> list[OutboxMessage]:
    return outbox.claim("w1", NOW, 100, timedelta(minutes=5))


def test_the_worker_expands_a_fan_out_row_and_marks_it_sent_in_one_go(page):
    confirmed("a@example.com")
    update_id = open_incident(expanded=False)
    (claimed,) = [m for m in claim_all() if m.kind == subs_delivery.FAN_OUT_KIND]
    result = subs_delivery.send(None, delivery(claimed), now=NOW)
    with write_transaction():
        assert subs_delivery.settle(claimed, result, NOW, policy=outbox.Policy()) is True
    (job,) = fan_out_rows()
    assert job.state == "sent" and len(notified(update_id)) == 1


def test_a_large_fan_out_renews_the_outbox_statistics(page, monkeypatch):
    """A fan-out past the threshold renews the outbox's planner statistics once, and its
    repeat does not (on PostgreSQL a claim planned with figures from when few rows were
    pending sorts every pending row; on SQLite the renewal does nothing)."""
    monkeypatch.setattr(subs_delivery, "REFRESH_STATISTICS_AFTER", 40)
    add_subscribers(50)
    open_incident(expanded=False)
    (claimed,) = [m for m in claim_all() if m.kind == subs_delivery.FAN_OUT_KIND]
    renewed = []
    monkeypatch.setattr(subs_delivery, "refresh_statistics", renewed.append)
    with write_transaction():
        subs_delivery.settle(claimed, Result(Outcome.SENT), NOW, policy=outbox.Policy())
    assert renewed == ["outbox"]
    (job,) = fan_out_rows()
    job.state, job.lease_until = "pending", None
    db.session.commit()
    (claimed,) = [m for m in claim_all() if m.kind == subs_delivery.FAN_OUT_KIND]
    with write_transaction():
        subs_delivery.settle(claimed, Result(Outcome.SENT), NOW, policy=outbox.Policy())
    assert renewed == ["outbox"]  # a repeat adds nothing: no figures to renew


def test_a_fan_out_that_fails_in_the_database_is_retried_later(page, monkeypatch):
    confirmed("a@example.com")
    update_id = open_incident(expanded=False)
    (claimed,) = [m for m in claim_all() if m.kind == subs_delivery.FAN_OUT_KIND]

    def broken(job, *, now):
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(subs_delivery, "expand", broken)
    with write_transaction():
        subs_delivery.settle(claimed, Result(Outcome.SENT), NOW, policy=outbox.Policy())
    (job,) = fan_out_rows()
    assert job.state == "pending" and job.next_attempt_at > NOW
    assert "fan-out failed: disk I/O error" in job.last_error and notified(update_id) == set()


def test_a_maintenance_notifies_on_creation_start_and_completion(page):
    everyone = confirmed("all@example.com")
    with write_transaction():
        update, _ = publish(
            Draft(
                kind="maintenance",
                title="Database upgrade",
                body="We will upgrade the database.",
                status="scheduled",
                scheduled_for=NOW + timedelta(hours=3),
                scheduled_until=NOW + timedelta(hours=4),
                component_statuses={page["api"]: "operational"},
            ),
            now=NOW,
            actor=audit.CLI,
        )
    expand()
    assert notified(update.id) == {everyone}
    assert rows(f"sub:{update.id}:")[0].payload["purpose"] == "maintenance"
    for at in (NOW + timedelta(hours=3), NOW + timedelta(hours=4)):
        with write_transaction():
            tick(at, tz=UTC)
        expand(at)
    purposes = [r.payload["purpose"] for r in rows("sub:") if r.update_id and r.kind == "smtp"]
    assert purposes == ["maintenance", "maintenance", "maintenance"]


def schedule_maintenance(created=NOW, start=timedelta(hours=3), notify=True) -> int:
    with write_transaction():
        update, _ = publish(
            Draft(
                kind="maintenance",
                title="Database upgrade",
                body="We will upgrade the database.",
                status="scheduled",
                scheduled_for=NOW + start,
                scheduled_until=NOW + start + timedelta(hours=1),
                notify=notify,
            ),
            now=created,
            actor=audit.CLI,
        )
        return update.incident_id


def test_a_reminder_goes_out_an_hour_before_a_maintenance_once(page):
    everyone = confirmed("all@example.com")
    incident_id = schedule_maintenance()
    for minutes in (110, 121, 125, 150):
        with write_transaction():
            tick(NOW + timedelta(minutes=minutes), tz=UTC)
    (reminder,) = rows("sub:reminder:")
    assert reminder.channel == f"subscriber:{everyone}" and reminder.incident_id == incident_id
    assert reminder.payload["subject"].startswith("[Acme Status] Reminder: Database upgrade")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.action == "maintenance.reminded")
        )
        == 1
    )


def test_no_reminder_for_a_maintenance_announced_less_than_an_hour_before(page):
    confirmed("all@example.com")
    schedule_maintenance(start=timedelta(minutes=30))
    with write_transaction():
        tick(NOW + timedelta(minutes=10), tz=UTC)
    assert rows("sub:reminder:") == []


def test_no_reminder_for_a_maintenance_announced_without_notifying(page):
    confirmed("all@example.com")
    schedule_maintenance(notify=False)
    with write_transaction():
        tick(NOW + timedelta(minutes=130), tz=UTC)
    assert rows("sub:reminder:") == []


def test_a_component_change_outside_an_incident_goes_to_webhooks_only(make_app):
    app = make_app(subscribers=HOOK_CONFIG)
    with app.app_context():
        with write_transaction():
            api = cs.add_component("API", now=NOW - timedelta(days=1))
        email = confirmed("a@example.com")
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=NOW
            )
            subs.confirm(token_for(hook.id, subs_common.CONFIRM), now=NOW)
            hook_id = hook.id
        with write_transaction():
            component = cs.get_component(api.id)
            set_component_status(component, ComponentStatus.MAJOR_OUTAGE, now=NOW, actor=audit.CLI)
        expand()
        (row,) = rows("sub:component:")
        assert row.channel == f"subscriber:{hook_id}" and row.kind == "webhook"
        assert row.payload["component_update"]["new_status"] == "major_outage"
        assert email != hook_id


# -- send time


def delivery(row: OutboxMessage) -> Delivery:
    return Delivery(
        key=row.idempotency_key, channel=row.channel, kind=row.kind, payload=row.payload
    )


def test_a_row_of_a_subscriber_who_left_since_is_skipped(page):
    sid = confirmed("a@example.com")
    update_id = open_incident()
    with write_transaction():
        subs.unsubscribe(token_for(sid, subs_common.UNSUBSCRIBE), now=NOW)
    (row,) = rows(f"sub:{update_id}:")
    result = subs_delivery.prepare(delivery(row), now=NOW)
    assert isinstance(result, Result) and result.error == "unsubscribed"


def test_a_confirmation_for_an_address_confirmed_since_is_skipped(page):
    sid = sign_up("a@example.com")
    with write_transaction():
        subs.confirm(token_for(sid, subs_common.CONFIRM), now=NOW)
    (row,) = rows("sub:confirm:")
    assert subs_delivery.prepare(delivery(row), now=NOW).error == "already confirmed"


def test_the_email_is_built_at_send_time_with_this_subscribers_links(page):
    sid = confirmed("a@example.com")
    update_id = open_incident()
    (row,) = rows(f"sub:{update_id}:")
    prepared = subs_delivery.prepare(delivery(row), now=NOW)
    payload = smtp_channel.filled(prepared.payload)  # what the SMTP channel sends
    assert payload["target"] == {"type": "smtp", "to": ["a@example.com"]}
    unsubscribe = payload["headers"]["List-Unsubscribe"].strip("<>")
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in payload["text"] and "/subscriptions/manage/" in payload["text"]
    assert (
        "We are investigating." in payload["text"]
        and "<p>We are investigating.</p>" in (payload["html"])
    )
    subscriber_id, _ = subs_common.read_token(
        current_app.config["SECRET_KEY"], subs_common.UNSUBSCRIBE, unsubscribe.rsplit("/", 1)[1]
    )
    assert subscriber_id == sid


def test_a_correction_before_sending_is_in_the_emails_sent_after_it(page):
    confirmed("a@example.com")
    confirmed("b@example.com")
    update_id = open_incident()
    first, second = rows(f"sub:{update_id}:")
    assert (
        "We are investigating." in subs_delivery.prepare(delivery(first), now=NOW).payload["text"]
    )
    with write_transaction():
        update = db.session.get(IncidentUpdate, update_id)
        correct_update(
            update,
            body="We are investigating API errors.",
            now=NOW + timedelta(minutes=1),
            actor=audit.CLI,
        )
    assert "API errors." in subs_delivery.prepare(delivery(second), now=NOW).payload["text"]


def test_the_webhook_secret_is_only_in_the_delivery_being_sent(make_app):
    app = make_app(subscribers=HOOK_CONFIG)
    with app.app_context():
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=NOW
            )
            subs.confirm(token_for(hook.id, subs_common.CONFIRM), now=NOW)
            secret = hook.secret
        update_id = open_incident()
        (row,) = rows(f"sub:{update_id}:")
        assert secret not in str(row.payload)
        prepared = subs_delivery.prepare(delivery(row), now=NOW)
        assert prepared.payload["target"]["secret"] == secret
        assert prepared.payload["guarded"] is True
        assert list(prepared.payload["envelope"]) == ["meta", "page", "incident"]


def fail_dead(row: OutboxMessage, now=NOW) -> None:
    with write_transaction():
        subs_delivery.record(
            row, Result(Outcome.PERMANENT, status=410, error="HTTP 410"), now=now, dead=True
        )


def test_repeated_failures_disable_a_webhook_and_tell_the_contact_once(make_app):
    app = make_app(subscribers={**HOOK_CONFIG, "disable_after_failures": 3})
    with app.app_context():
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=NOW
            )
            subs.confirm(token_for(hook.id, subs_common.CONFIRM), now=NOW)
            hook_id = hook.id
        for n in range(4):
            open_incident(now=NOW + timedelta(minutes=n))
        for row in rows("sub:")[1:]:
            if row.kind != subs_delivery.FAN_OUT_KIND:
                fail_dead(row)
        subscriber = db.session.get(Subscriber, hook_id)
        assert subscriber.disabled_at is not None and subscriber.failure_count == 4
        notices = rows("sub:disabled:")
        assert len(notices) == 1
        assert subs_delivery.prepare(delivery(notices[0]), now=NOW).payload["target"]["to"] == [
            "ops@example.com"
        ]


def test_a_success_clears_the_failure_count(page):
    sid = confirmed("a@example.com")
    first, second = open_incident(), open_incident(now=NOW + timedelta(minutes=1))
    fail_dead(rows(f"sub:{first}:")[0])
    with write_transaction():
        subs_delivery.record(
            rows(f"sub:{second}:")[0], Result(Outcome.SENT, 250), now=NOW, dead=False
        )
    assert db.session.get(Subscriber, sid).failure_count == 0


def test_a_skipped_row_counts_no_failure(page):
    sid = confirmed("a@example.com")
    update_id = open_incident()
    with write_transaction():
        subs_delivery.record(
            rows(f"sub:{update_id}:")[0], subs_delivery.skipped("disabled"), now=NOW, dead=True
        )
    assert db.session.get(Subscriber, sid).failure_count == 0


# -- admin: import, export, counts


def test_import_with_confirmation_queues_a_confirmation_each_and_sends_nothing_else(page):
    text = "email,components\na@example.com,API\nb@example.com,\nbad-address,\n"
    with write_transaction():
        report = subs_admin.import_csv(text, confirmed=False, now=NOW, actor=audit.CLI)
    assert (report.added, report.existing) == (2, 0)
    assert report.errors == [(4, "the address needs an @")]
    assert len(rows("sub:confirm:")) == 2
    assert notified(open_incident()) == set()


def test_import_as_already_confirmed_subscribes_at_once_with_components(page):
    text = f"Email,Components\na@example.com,API;{page['cdn']}\n"
    with write_transaction():
        subs_admin.import_csv(text, confirmed=True, now=NOW, actor=audit.CLI)
    (subscriber,) = db.session.scalars(sa.select(Subscriber)).all()
    assert subscriber.active and subscriber.source == "import"
    assert sorted(c.name for c in subscriber.components) == ["API", "CDN"]
    assert rows("sub:confirm:") == []


def test_import_leaves_existing_subscribers_alone(page):
    confirmed("a@example.com", [page["web"]])
    with write_transaction():
        report = subs_admin.import_csv(
            "email\nA@example.com\n", confirmed=True, now=NOW, actor=audit.CLI
        )
    assert (report.added, report.existing) == (0, 1)


def test_import_refuses_a_file_without_an_email_column(page):
    with pytest.raises(ValidationError, match="email"), write_transaction():
        subs_admin.import_csv("address\na@example.com\n", confirmed=True, now=NOW, actor=audit.CLI)


def test_import_refuses_unknown_components_per_row(page):
    with write_transaction():
        report = subs_admin.import_csv(
            "email,components\na@example.com,Nope\n", confirmed=True, now=NOW, actor=audit.CLI
        )
    assert report.added == 0 and "unknown component" in report.errors[0][1]


def test_the_export_is_audited_and_holds_no_secret(make_app):
    app = make_app(subscribers=HOOK_CONFIG)
    with app.app_context():
        with write_transaction():
            hook = subs.sign_up_webhook(
                "http://127.0.0.1:9/h", "ops@example.com", subs.Choice(), now=NOW
            )
            secret = hook.secret
        confirmed("=cmd@example.com")
        with write_transaction():
            text = subs_admin.export_csv(now=NOW, actor=audit.CLI)
        lines = list(csv.reader(io.StringIO(text)))
        assert lines[0] == list(subs_admin.EXPORT_COLUMNS) and len(lines) == 3
        assert secret not in text
        assert lines[2][2] == "'=cmd@example.com"
        assert (
            db.session.scalar(
                sa.select(AuditEntry.summary).where(AuditEntry.action == "subscribers.exported")
            )
            == "exported 2 subscribers as CSV"
        )


def test_counts_per_component_include_only_active_subscribers(page):
    confirmed("a@example.com", [page["api"]])
    confirmed("b@example.com")
    sign_up("pending@example.com", [page["api"]])
    counts = subs_admin.counts()
    per = {c.name: n for c, n in counts.per_component}
    assert per == {"API": 1, "Website": 0, "CDN": 0}
    assert counts.everything == 1 and counts.by_state["pending"] == 1


def test_delivery_counts_split_queued_sent_failed_and_skipped(page):
    ids = [confirmed(f"s{n}@example.com") for n in range(4)]
    update_id = open_incident()
    queued, sent, failed, skipped = rows(f"sub:{update_id}:")
    with write_transaction():
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == sent.id).values(state="sent")
        )
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == failed.id)
            .values(state="dead", last_error="permanent error: HTTP 410")
        )
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == skipped.id)
            .values(state="dead", last_error="unsubscribed")
        )
    (row,) = [r for r in subs_admin.delivery_counts() if r.update.id == update_id]
    assert (row.queued, row.sent, row.failed, row.skipped) == (1, 1, 1, 1)
    assert len(ids) == 4 and queued.state == "pending"


def test_the_unique_key_migration_keeps_the_oldest_of_duplicate_subscribers(empty_app):
    from alembic import command

    from statuspage.db import database

    with empty_app.app_context(), db.engine.begin() as conn:
        cfg = database._alembic_config(conn)
        command.upgrade(cfg, "0008")
        conn.exec_driver_sql(
            "INSERT INTO components (id, name, description, status, position, showcase,"
            " created_at, updated_at) VALUES (1, 'API', '', 'operational', 0, TRUE,"
            " '2026-01-01', '2026-01-01')"
        )
        for sid, email in ((1, "a@example.com"), (2, "a@example.com"), (3, "b@example.com")):
            conn.exec_driver_sql(
                "INSERT INTO subscribers (id, kind, email, url, secret, all_components,"
                " token_version, created_at, failure_count, last_error, source)"
                f" VALUES ({sid}, 'email', '{email}', '', '', FALSE, 0, '2026-01-01', 0, '',"
                " 'form')"
            )
            conn.exec_driver_sql(f"INSERT INTO subscriber_components VALUES ({sid}, 1)")
        command.upgrade(cfg, "0009")
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM subscribers ORDER BY id")]
        links = conn.exec_driver_sql("SELECT subscriber_id FROM subscriber_components").all()
        assert ids == [1, 3] and sorted(r[0] for r in links) == [1, 3]


def test_no_fan_out_row_when_no_one_is_subscribed(ctx, sample):
    update = sample["open"].updates[-1]
    assert subs_delivery.fan_out(update, now=NOW) is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
