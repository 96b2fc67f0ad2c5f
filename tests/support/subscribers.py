"""Subscribers end to end: an app with an SMTP sink and two components, publishing, the
worker, the mails that arrive."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.models import OutboxMessage
from statuspage.delivery import subscriber_delivery as subs_delivery
from statuspage.delivery.worker import run_worker
from statuspage.publishing import components as cs
from statuspage.publishing.publish import Draft, publish
from tests.support import SITE_URL
from tests.support.auth import csrf_token

#: Subscriber settings that let webhooks reach the receivers on 127.0.0.1, on whatever port
#: the system handed them (webhooks go to 443 and 80 only, unless allowed).
OPEN_LOCAL = {
    "webhook_allow_http": True,
    "webhook_allow_networks": ["127.0.0.0/8"],
    "webhook_allow_ports": ["1-65535"],
}


def build(make_app, sink, **subscribers):
    """An app mailing through `sink`, with `subscribers` settings and two components, API and
    Website (their ids in `app.config["test_components"]`)."""
    app = make_app(
        smtp={"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"},
        subscribers=subscribers,
    )
    with app.app_context():
        with write_transaction():
            api = cs.add_component("API", now=utcnow() - timedelta(days=5))
            web = cs.add_component("Website", now=utcnow() - timedelta(days=5))
        app.config["test_components"] = (api.id, web.id)
    return app


def messages(sink) -> list[email.message.EmailMessage]:
    """The mails the sink accepted, parsed."""
    return [email.message_from_bytes(m.content, policy=email.policy.default) for m in sink.messages]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def path_of(url: str) -> str:
    """The path of one of the site's own absolute URLs."""
    assert url.startswith(SITE_URL)
    return url[len(SITE_URL) :]


def deliver(app) -> int:
    """Run the worker until nothing is due; return the messages it attempted (a publish's
    fan-out row counts as one: the worker expands it, then sends what it wrote)."""
    return run_worker(app, once=True)


def subscriber_rows(update_id: int) -> sa.Select:
    """The update's rows to subscribers, without its fan-out row."""
    return sa.select(OutboxMessage).where(
        OutboxMessage.update_id == update_id, OutboxMessage.kind != subs_delivery.FAN_OUT_KIND
    )


def post_update(component_statuses: dict[int, str], title="API errors") -> int:
    """Publish an investigating update; return its id."""
    with write_transaction():
        update, _ = publish(
            Draft(
                title=title,
                body="We are investigating elevated errors.",
                status="investigating",
                impact="major",
                component_statuses=component_statuses,
            ),
            now=utcnow(),
            actor=audit.CLI,
        )
        return update.id


def confirm_from_mail(client, message) -> str:
    """Follow the confirmation link of a mail and press its button; return the page."""
    url = re.search(r"Confirm: (\S+)", text_of(message)).group(1)
    path = path_of(url)
    page = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert page.status_code == 200, page.data
    return page.get_data(as_text=True)
