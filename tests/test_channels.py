"""Channels against real local receivers: payloads checked field by field, outcomes classified.

Formats checked against the vendors' documentation: Standard Webhooks (webhook-id,
webhook-timestamp, webhook-signature = v1,base64(HMAC-SHA256(id.timestamp.body))), Slack
incoming webhooks (text + blocks, `&<>` escaped), Teams Workflows (a `message` with one Adaptive
Card attachment), PagerDuty Events API v2 (routing_key, event_action, dedup_key, payload).
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.generator
import email.policy
import hashlib
import hmac
import html
import io
import json
import re
import shutil
import ssl
import subprocess
from email.utils import format_datetime
from pathlib import Path

import pytest

from statuspage.config import load_settings
from statuspage.core.escalation.render import load_templates, render_draft
from statuspage.delivery import channels
from statuspage.delivery.channels import Delivery, Outcome, Session, make_client, resolve_channel
from statuspage.delivery.channels import http as channel_http
from statuspage.delivery.channels import smtp as smtp_channel
from tests.support import NOW
from tests.support.receivers import Reply, SmtpSink, free_port

KEY = "12:major:0:0:ops"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ENV = {
    "HOOK_SECRET": WHSEC,
    "PD_KEY": "R0UT1NGKEY0000000000000000000000",
    "SLACK_URL": "",
    "TEAMS_URL": "",
}


def payload(**changes) -> dict:
    base = {
        "subject": "Major outage: API",
        "text": "The API is failing for most requests.\nWe are investigating.",
        "event": "incident.escalation",
        "action": "trigger",
        "occurred_at": "2026-06-15T12:00:00.000Z",
        "incident": {
            "id": 12,
            "name": "API errors",
            "impact": "major",
            "status": "investigating",
            "components": ["API", "Website"],
            "url": "https://status.example.com/incidents/12",
        },
        "links": [
            {"label": "Acknowledge", "url": "https://status.example.com/ack/abc"},
            {"label": "Open incident", "url": "https://status.example.com/admin/incidents/12"},
        ],
    }
    base.update(changes)
    return base


def make_settings(channel_table: dict, **sections):
    config = {
        "secret_key": "test",
        "site": {"name": "Acme Status", "url": "https://status.example.com"},
        **sections,
    }
    settings = load_settings(None, overrides=config, environ={})
    return dataclasses.replace(settings, escalation={"channels": channel_table})


def session_for(channel_table: dict, environ=None, timeout: float = 2.0, **sections) -> Session:
    return Session(
        make_settings(channel_table, **sections),
        client=make_client(timeout=timeout),
        environ=ENV if environ is None else environ,
    )


def deliver(channel_table: dict, kind: str, body: dict, *, channel="ops", key=KEY, **kw):
    with session_for(channel_table, **kw) as session:
        return session.deliver(Delivery(key=key, channel=channel, kind=kind, payload=body))


# -- webhook ----------------------------------------------------------------------------------


def test_webhook_signature_verifies_with_an_independent_hmac(receiver, frozen_clock):
    table = {"ops": {"type": "webhook", "url": receiver.url("/hook"), "secret_env": "HOOK_SECRET"}}
    result = deliver(table, "webhook", payload())
    assert result.outcome is Outcome.SENT and result.status == 200
    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == KEY
    timestamp = request.headers["webhook-timestamp"]
    assert timestamp == str(int(NOW.timestamp()))  # Unix seconds, from statuspage.clock
    # Verify as a receiver would: key = base64 after whsec_, signed = id.timestamp.body.
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    signed = f"{KEY}.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    scheme, _, signature = request.headers["webhook-signature"].partition(",")
    assert scheme == "v1"
    assert hmac.compare_digest(signature, expected)


def test_webhook_body_is_json_with_type_timestamp_and_data(receiver):
    table = {"ops": {"type": "webhook", "url": receiver.url(), "secret_env": "HOOK_SECRET"}}
    deliver(table, "webhook", payload())
    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "incident.escalation"
    assert body["timestamp"] == "2026-06-15T12:00:00.000Z"
    assert body["data"]["subject"] == "Major outage: API"
    assert body["data"]["incident"]["id"] == 12
    assert body["data"]["links"][0]["url"] == "https://status.example.com/ack/abc"


def test_webhook_without_whsec_prefix_is_refused_and_retried(receiver):
    # Standard Webhooks libraries base64-decode any secret: none could verify one signed raw.
    table = {"ops": {"type": "webhook", "url": receiver.url(), "secret_env": "PLAIN"}}
    result = deliver(table, "webhook", payload(), environ={"PLAIN": "s3cret"})
    assert result.outcome is Outcome.RETRY and "not a Standard Webhooks secret" in result.error
    assert receiver.requests == []


def test_webhook_secret_missing_from_environment_is_retried_not_dropped(receiver):
    table = {"ops": {"type": "webhook", "url": receiver.url(), "secret_env": "NOT_SET"}}
    result = deliver(table, "webhook", payload(), environ={})
    assert result.outcome is Outcome.RETRY
    assert "NOT_SET" in result.error
    assert receiver.requests == []


def test_webhook_sends_a_ready_made_envelope_as_the_body(receiver):
    envelope = {"meta": {"unsubscribe": "https://status.example.com/u/1"}, "page": {"id": "x"}}
    table = {"ops": {"type": "webhook", "url": receiver.url(), "secret_env": "HOOK_SECRET"}}
    deliver(table, "webhook", payload(envelope=envelope))
    request = receiver.requests[0]
    assert json.loads(request.body) == envelope
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    signed = f"{KEY}.{request.headers['webhook-timestamp']}.".encode() + request.body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{digest}"


def test_a_guarded_webhook_goes_to_the_checked_address(receiver):
    table = {"ops": {"type": "webhook", "url": f"http://localhost:{receiver.port}/hook"}}
    allow = {
        "webhook_allow_http": True,
        "webhook_allow_networks": ["127.0.0.0/8", "::1/128"],
        "webhook_allow_ports": [receiver.port],
    }
    result = deliver(table, "webhook", payload(guarded=True), subscribers=allow)
    assert result.sent, result.error
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


def test_a_guarded_webhook_to_a_forbidden_address_is_dead_at_once(receiver):
    table = {"ops": {"type": "webhook", "url": receiver.url("/hook")}}
    allow_http = {"webhook_allow_http": True}
    result = deliver(table, "webhook", payload(guarded=True), subscribers=allow_http)
    assert result.outcome is Outcome.PERMANENT
    assert "loopback" in result.error
    assert receiver.arrived == 0


# -- Slack ------------------------------------------------------------------------------------


def test_slack_payload_is_text_plus_blocks(receiver):
    table = {"ops": {"type": "slack", "url_env": "SLACK_URL"}}
    result = deliver(table, "slack", payload(), environ={"SLACK_URL": receiver.url("/services/T")})
    assert result.sent
    body = json.loads(receiver.requests[0].body)
    assert body["text"] == "Major outage: API"
    title, text, context, actions = body["blocks"]
    assert title == {"type": "section", "text": {"type": "mrkdwn", "text": "*Major outage: API*"}}
    assert text["type"] == "section" and text["text"]["type"] == "mrkdwn"
    assert text["text"]["text"].startswith("The API is failing")
    assert context["type"] == "context"
    assert context["elements"][0]["type"] == "mrkdwn"
    assert "*Impact:* major" in context["elements"][0]["text"]
    assert actions["type"] == "actions"
    buttons = actions["elements"]
    assert [b["type"] for b in buttons] == ["button", "button"]
    assert buttons[0]["text"] == {"type": "plain_text", "text": "Acknowledge"}
    assert buttons[0]["url"] == "https://status.example.com/ack/abc"
    assert len({b["action_id"] for b in buttons}) == 2


def test_slack_incident_text_cannot_ping_or_hide_a_link(receiver):
    table = {"ops": {"type": "slack", "url_env": "SLACK_URL"}}
    hostile = payload(
        subject="<!channel> API down & <!here>",
        text="Hi <@U024BE7LH> <!subteam^S1> see <https://evil.example|the status page>",
        incident={**payload()["incident"], "components": ["<!everyone>"]},
    )
    deliver(table, "slack", hostile, environ={"SLACK_URL": receiver.url()})
    body = json.loads(receiver.requests[0].body)
    texts = [body["text"]] + [
        json.dumps(block) for block in body["blocks"] if block["type"] != "actions"
    ]
    for text in texts:
        assert "<" not in text and ">" not in text
    assert body["text"] == "&lt;!channel&gt; API down &amp; &lt;!here&gt;"
    assert "&lt;https://evil.example|the status page&gt;" in body["blocks"][1]["text"]["text"]
    urls = [b["url"] for b in body["blocks"][-1]["elements"]]
    assert urls == [link["url"] for link in payload()["links"]]


def test_slack_renders_an_escalation_notices_markdown_as_mrkdwn(receiver):
    table = {"ops": {"type": "slack", "url_env": "SLACK_URL"}}
    body = payload(markdown="Read **this** first: [runbook](https://r.example/a|b)\n\n- one")
    deliver(table, "slack", body, environ={"SLACK_URL": receiver.url()})
    text = json.loads(receiver.requests[0].body)["blocks"][1]["text"]["text"]
    assert text == "Read *this* first: <https://r.example/a%7Cb|runbook>\n\n• one"


def test_slack_shows_values_in_an_escalation_notice_as_typed(receiver):
    title = "**x** [y](https://evil.example) <!channel> a|b>c"
    note = render_draft(
        load_templates(),
        site_name="Acme",
        title=title,
        what="publish **an** update",
        alerts=["<@U1> [fire](https://evil.example)"],
        components=["API"],
        url="https://status.example.com/admin/drafts/3",
        key="k",
        now=NOW,
        severity="info",
    )
    table = {"ops": {"type": "slack", "url_env": "SLACK_URL"}}
    deliver(table, "slack", note.payload(), environ={"SLACK_URL": receiver.url()})
    text = json.loads(receiver.requests[0].body)["blocks"][1]["text"]["text"]
    assert "evil.example" in text and "<https://evil" not in text and "<" not in text
    assert "publish **an** update" in text
    assert "• Alerts: &lt;@U1&gt; [fire](https://evil.example)" in text


def test_slack_escape_cuts_without_splitting_an_entity():
    from statuspage.delivery.channels.slack import escape

    assert escape("a<b", 4) == "a…"
    assert escape("<<", 8) == "&lt;&lt;"
    assert len(escape("&" * 5000, 3000)) <= 3000


def test_slack_facts_come_from_the_payload_fields_when_given(receiver):
    table = {"ops": {"type": "slack", "url_env": "SLACK_URL"}}
    body = payload(fields={"Impact": "Major", "Path": "<!here> ops"})
    deliver(table, "slack", body, environ={"SLACK_URL": receiver.url()})
    context = json.loads(receiver.requests[0].body)["blocks"][2]
    assert context["elements"][0]["text"] == "*Impact:* Major  ·  *Path:* &lt;!here&gt; ops"


# -- Teams ------------------------------------------------------------------------------------


def test_teams_payload_is_a_message_with_one_adaptive_card(receiver):
    table = {"ops": {"type": "teams", "url_env": "TEAMS_URL"}}
    result = deliver(table, "teams", payload(), environ={"TEAMS_URL": receiver.url("/workflows")})
    assert result.sent
    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["body"][0]["type"] == "RichTextBlock"
    assert card["body"][0]["inlines"][0] == {
        "type": "TextRun",
        "text": "Major outage: API",
        "size": "Medium",
        "weight": "Bolder",
    }
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Acknowledge",
            "url": "https://status.example.com/ack/abc",
        },
        {
            "type": "Action.OpenUrl",
            "title": "Open incident",
            "url": "https://status.example.com/admin/incidents/12",
        },
    ]


def test_teams_incident_text_is_never_parsed_as_markdown(receiver):
    table = {"ops": {"type": "teams", "url_env": "TEAMS_URL"}}
    hostile = payload(
        subject="[Click here](https://evil.example) <at>everyone</at>",
        text="**urgent** [reset password](https://evil.example/login)",
    )
    deliver(table, "teams", hostile, environ={"TEAMS_URL": receiver.url()})
    card = json.loads(receiver.requests[0].body)["attachments"][0]["content"]
    # Only RichTextBlock/TextRun carry our text: TextRun never renders Markdown, so the
    # bracket syntax stays literal; no msteams.entities, so <at> mentions nobody.
    assert {element["type"] for element in card["body"]} == {"RichTextBlock"}
    assert "msteams" not in card
    texts = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert "[Click here](https://evil.example) <at>everyone</at>" in texts
    assert [action["url"] for action in card["actions"]] == [
        link["url"] for link in payload()["links"]
    ]


# -- PagerDuty --------------------------------------------------------------------------------


def test_pagerduty_trigger_follows_events_api_v2(receiver):
    table = {
        "pd": {"type": "pagerduty", "routing_key_env": "PD_KEY", "url": receiver.url("/v2/enqueue")}
    }
    long_subject = "Major outage: " + "x" * 2000
    result = deliver(table, "pagerduty", payload(subject=long_subject), channel="pd")
    assert result.sent
    request = receiver.requests[0]
    assert request.path == "/v2/enqueue"
    assert request.headers["content-type"] == "application/json"
    event = json.loads(request.body)
    assert set(event) == {
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "links",
        "client",
        "client_url",
    }
    assert event["routing_key"] == ENV["PD_KEY"]
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == KEY
    body = event["payload"]
    assert body["summary"] == long_subject[:1024]
    assert body["source"] == "status.example.com"
    assert body["severity"] == "error"  # major
    assert body["timestamp"] == "2026-06-15T12:00:00.000Z"
    assert body["component"] == "API, Website"
    assert body["custom_details"]["incident_id"] == 12
    assert body["custom_details"]["message"].startswith("The API is failing")
    assert event["links"][0] == {
        "href": "https://status.example.com/ack/abc",
        "text": "Acknowledge",
    }
    assert event["links"][-1]["href"] == "https://status.example.com/incidents/12"
    assert event["client"] == "Acme Status"
    assert event["client_url"] == "https://status.example.com"


def test_pagerduty_resolve_carries_the_dedup_key_only(receiver):
    table = {"pd": {"type": "pagerduty", "routing_key_env": "PD_KEY", "url": receiver.url()}}
    deliver(table, "pagerduty", payload(action="resolve", dedup_key="12:major:ops"), channel="pd")
    event = json.loads(receiver.requests[0].body)
    assert event == {
        "routing_key": ENV["PD_KEY"],
        "event_action": "resolve",
        "dedup_key": "12:major:ops",
    }


def test_pagerduty_severity_decided_at_the_event_wins(receiver):
    table = {"pd": {"type": "pagerduty", "routing_key_env": "PD_KEY", "url": receiver.url()}}
    deliver(table, "pagerduty", payload(severity="critical"), channel="pd")
    assert json.loads(receiver.requests[0].body)["payload"]["severity"] == "critical"


def test_pagerduty_links_are_not_repeated(receiver):
    table = {"pd": {"type": "pagerduty", "routing_key_env": "PD_KEY", "url": receiver.url()}}
    incident_url = payload()["incident"]["url"]
    links = [{"label": "Open the incident", "url": incident_url}]
    deliver(table, "pagerduty", payload(links=links), channel="pd")
    event = json.loads(receiver.requests[0].body)
    assert event["links"] == [{"href": incident_url, "text": "Open the incident"}]


@pytest.mark.parametrize(
    ("impact", "overrides", "expected"),
    [
        ("critical", {}, "critical"),
        ("major", {}, "error"),
        ("minor", {}, "warning"),
        ("none", {}, "info"),
        ("major", {"major": "critical"}, "critical"),
    ],
)
def test_pagerduty_severity_follows_impact(receiver, impact, overrides, expected):
    table = {
        "pd": {
            "type": "pagerduty",
            "routing_key_env": "PD_KEY",
            "url": receiver.url(),
            "severity": overrides,
        }
    }
    incident = {**payload()["incident"], "impact": impact}
    deliver(table, "pagerduty", payload(incident=incident), channel="pd")
    assert json.loads(receiver.requests[0].body)["payload"]["severity"] == expected


def test_pagerduty_long_dedup_key_is_hashed_to_fit():
    from statuspage.delivery.channels.pagerduty import dedup_key

    key = dedup_key(Delivery(key="k" * 300, channel="pd", kind="pagerduty", payload={}))
    assert len(key) <= 255 and key.startswith("sha256:")


# -- HTTP outcomes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(200), Outcome.SENT),
        (Reply(202), Outcome.SENT),
        (Reply(500, b"boom"), Outcome.RETRY),
        (Reply(503), Outcome.RETRY),
        (Reply(408), Outcome.RETRY),
        (Reply(429), Outcome.RETRY),
        (Reply(410, b"channel_is_archived"), Outcome.PERMANENT),
        (Reply(400, b"invalid_payload"), Outcome.PERMANENT),
        (Reply(404), Outcome.PERMANENT),
        (Reply(302, headers={"location": "https://elsewhere.example/"}), Outcome.PERMANENT),
    ],
)
def test_http_status_is_classified(receiver, reply, outcome):
    receiver.respond = lambda _request: reply
    table = {"ops": {"type": "webhook", "url": receiver.url()}}
    result = deliver(table, "webhook", payload())
    assert result.outcome is outcome
    assert result.status == reply.status
    if outcome is not Outcome.SENT:
        assert result.error.startswith(f"HTTP {reply.status}")


def test_retry_after_in_seconds_is_passed_on(receiver):
    receiver.respond = lambda _request: Reply(429, headers={"retry-after": "120"})
    result = deliver({"ops": {"type": "webhook", "url": receiver.url()}}, "webhook", payload())
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 120


def test_retry_after_as_http_date_is_passed_on(receiver, frozen_clock):
    from datetime import timedelta

    later = format_datetime(NOW + timedelta(seconds=300), usegmt=True)
    receiver.respond = lambda _request: Reply(503, headers={"retry-after": later})
    result = deliver({"ops": {"type": "webhook", "url": receiver.url()}}, "webhook", payload())
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 300  # counted from statuspage.clock's now


def test_a_receiver_that_times_out_is_retried(receiver):
    receiver.respond = lambda _request: Reply(200, delay=1.5)
    table = {"ops": {"type": "webhook", "url": receiver.url()}}
    result = deliver(table, "webhook", payload(), timeout=0.3)
    assert result.outcome is Outcome.RETRY
    assert result.error.startswith("timed out")


def test_a_receiver_that_hangs_up_is_retried(receiver):
    receiver.respond = lambda _request: Reply(hang_up=True)
    result = deliver({"ops": {"type": "webhook", "url": receiver.url()}}, "webhook", payload())
    assert result.outcome is Outcome.RETRY
    assert result.error.startswith("connection failed")


def test_a_receiver_that_is_not_listening_is_retried():
    url = f"http://127.0.0.1:{free_port()}/"
    result = deliver({"ops": {"type": "webhook", "url": url}}, "webhook", payload())
    assert result.outcome is Outcome.RETRY


def test_retry_after_parser_ignores_garbage():
    now = NOW
    assert channel_http.retry_after("soon", now) is None
    assert channel_http.retry_after(None, now) is None
    assert channel_http.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0


# -- where a message goes ---------------------------------------------------------------------


def test_unknown_channel_is_permanent_and_names_the_known_ones():
    result = deliver({"a": {"type": "webhook", "url": "http://127.0.0.1:9/"}}, "webhook", payload())
    assert result.outcome is Outcome.PERMANENT
    assert result.error == "unknown channel 'ops' (known: a)"


def test_a_channel_whose_type_changed_is_not_sent_the_old_format(receiver):
    table = {"ops": {"type": "slack", "url": receiver.url()}}
    result = deliver(table, "webhook", payload())
    assert result.outcome is Outcome.PERMANENT
    assert receiver.requests == []


def test_subscriber_rows_carry_their_own_target(receiver):
    target = {"type": "webhook", "url": receiver.url("/sub"), "secret_env": "HOOK_SECRET"}
    result = deliver({}, "webhook", payload(target=target), channel="subscriber:7")
    assert result.sent
    assert receiver.requests[0].path == "/sub"
    assert "webhook-signature" in receiver.requests[0].headers


def test_channels_resolve_from_the_parsed_escalation_config():
    settings = load_settings(
        None,
        overrides={
            "secret_key": "x",
            "channels": {
                "ops-hook": {
                    "type": "webhook",
                    "url": "http://127.0.0.1:9/hook",
                    "secret_env": "HOOK_SECRET",
                },
                "pager": {"type": "pagerduty", "routing_key_env": "PD_KEY"},
            },
        },
        environ={},
    )
    hook = resolve_channel("ops-hook", {}, settings.escalation, ENV)
    assert (hook.type, hook.url, hook.secret) == ("webhook", "http://127.0.0.1:9/hook", WHSEC)
    pager = resolve_channel("pager", {}, settings.escalation, ENV)
    assert pager.routing_key == ENV["PD_KEY"]
    assert pager.severity["critical"] == "critical"


def test_unknown_transport_is_permanent():
    with session_for({}) as session:
        result = session.deliver(Delivery(key=KEY, channel="x", kind="pigeon", payload={}))
    assert result.outcome is Outcome.PERMANENT
    assert "pigeon" in result.error


def test_every_transport_has_a_sender():
    assert set(channels.SENDERS) == {"smtp", "webhook", "slack", "teams", "pagerduty"}


# -- SMTP -------------------------------------------------------------------------------------


def smtp_session(sink: SmtpSink, to=("oncall@example.com",), **smtp) -> Session:
    table = {"mail": {"type": "smtp", "to": list(to)}}
    config = {"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"}
    return session_for(table, smtp={**config, **smtp})


def send_mail(session: Session, body: dict, key: str = KEY):
    return session.deliver(Delivery(key=key, channel="mail", kind="smtp", payload=body))


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_smtp_delivers_a_plain_text_email():
    with SmtpSink() as sink, smtp_session(sink, to=("a@example.com", "b@example.com")) as session:
        result = send_mail(session, payload())
    assert result.outcome is Outcome.SENT and result.status == 250
    (mail,) = sink.messages
    assert mail.mail_from == "status@example.com"
    assert mail.rcpt_tos == ["a@example.com", "b@example.com"]
    message = parse(mail.content)
    assert message["Subject"] == "Major outage: API"
    assert message["From"] == "status@example.com"
    assert message["To"] == "a@example.com, b@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == smtp_channel.message_id(KEY, "status@example.com")
    assert message["Date"]
    text = message.get_content()
    assert "The API is failing for most requests." in text
    assert "Acknowledge: https://status.example.com/ack/abc" in text


def test_smtp_adds_the_html_twin_and_the_unsubscribe_headers():
    body = payload(
        html="<p>The API is failing.</p>",
        headers={
            "List-Unsubscribe": "<https://status.example.com/u/1>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    with SmtpSink() as sink, smtp_session(sink) as session:
        assert send_mail(session, body).sent
    message = parse(sink.messages[0].content)
    assert message.get_body(("html",)).get_content().strip() == "<p>The API is failing.</p>"
    assert "The API is failing for most requests." in message.get_body(("plain",)).get_content()
    assert message["List-Unsubscribe"] == "<https://status.example.com/u/1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_long_unsubscribe_link_travels_as_is_not_as_an_encoded_word():
    # Mail providers read List-Unsubscribe raw: an RFC 2047 encoded word hides the link.
    link = "<https://status.example.com/subscriptions/unsubscribe/" + "WzEsMF0.awtjiA." * 8 + ">"
    body = payload(headers={"List-Unsubscribe": link})
    with SmtpSink() as sink, smtp_session(sink) as session:
        assert send_mail(session, body).sent
    raw = sink.messages[0].content
    assert f"List-Unsubscribe: {link}".encode() in raw
    assert b"=?utf-8?" not in raw


def test_smtp_refuses_any_other_header_from_the_payload():
    with SmtpSink() as sink, smtp_session(sink) as session:
        result = send_mail(session, payload(headers={"Bcc": "x@evil.example"}))
    assert result.outcome is Outcome.PERMANENT
    assert sink.messages == []


def test_smtp_message_id_is_the_same_on_every_retry():
    first = smtp_channel.message_id(KEY, "status@example.com")
    assert first == smtp_channel.message_id(KEY, "status@example.com")
    assert first != smtp_channel.message_id(KEY + "x", "status@example.com")


STAND_IN = "x-unsubscribe-0123456789abcdef01234567"


def filled_body(**changes) -> dict:
    """A subscriber-style payload: one rendering with a stand-in, and this recipient's link."""
    base = payload(
        links=[],
        text=f"Déjà vu: the API is failing.\nUnsubscribe: {STAND_IN}",
        html=f'<p>Déjà vu</p><a href="{STAND_IN}">Unsubscribe</a>',
        headers={"List-Unsubscribe": f"<{STAND_IN}>", "List-Unsubscribe-Post": "One-Click"},
        fill=[[STAND_IN, "https://status.example.com/subscriptions/unsubscribe/tok"]],
    )
    base.update(changes)
    return base


def normalised(raw: bytes) -> bytes:
    """An email's bytes without what differs between two flattenings: date and boundary."""
    raw = re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", raw)
    return re.sub(rb"=+\d+==", b"BOUNDARY", raw)


def whole(body: dict, to: list[str], key: str = KEY) -> bytes:
    """The bytes smtplib's send_message sends for the email built whole (its own flattening)."""
    delivery = Delivery(key=key, channel="mail", kind="smtp", payload=body)
    spec = channels.ChannelSpec(name="mail", type="smtp", to=tuple(to))
    out = io.BytesIO()
    email.generator.BytesGenerator(out).flatten(
        smtp_channel.build(delivery, spec, from_address="status@example.com"), linesep="\r\n"
    )
    return out.getvalue()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"html": ""},
        {"subject": "Ünïcode — subject", "text": f"ascii only {STAND_IN}"},
        # mbox's escape, which send_message applies: the same for every subscriber.
        {"text": f"From 14:00 UTC requests failed.\n.\n{STAND_IN}"},
        # A long paragraph, its line well under SMTP's limit once filled.
        {"text": "word " * 150 + STAND_IN},
    ],
    ids=["text-and-html", "text-only", "unicode-subject", "from-line", "long-paragraph"],
)
def test_a_filled_email_is_copied_from_one_flattening_byte_for_byte(changes):
    # The same bytes as building each email whole, for every recipient, from one template.
    body = filled_body(**changes)
    sent = []
    with SmtpSink() as sink, smtp_session(sink, to=("a@example.com",)) as session:
        for n, address in enumerate(["a@example.com", "b@example.org"]):
            own = {**body, "fill": [[STAND_IN, f"https://status.example.com/u/{n}"]]}
            own["target"] = {"type": "smtp", "to": [address]}
            key = f"{KEY}-{n}"
            rendered = smtp_channel.render(
                Delivery(key=key, channel="subscriber:1", kind="smtp", payload=own),
                session.spec(Delivery(key=key, channel="subscriber:1", kind="smtp", payload=own)),
                from_address="status@example.com",
            )
            assert isinstance(rendered, bytes), "the template could not be used"
            assert normalised(rendered) == normalised(whole(own, [address], key))
            assert session.deliver(
                Delivery(key=key, channel="subscriber:1", kind="smtp", payload=own)
            ).sent
            sent.append((address, n))
    for mail, (address, n) in zip(sink.messages, sent, strict=True):
        assert mail.rcpt_tos == [address]
        message = parse(mail.content)
        assert message["To"] == address
        assert message["List-Unsubscribe"] == f"<https://status.example.com/u/{n}>"
        assert message["Message-ID"] == smtp_channel.message_id(f"{KEY}-{n}", "status@example.com")
        assert f"https://status.example.com/u/{n}" in message.get_body(("plain",)).get_content()
        assert STAND_IN.encode() not in mail.content


@pytest.mark.parametrize(
    "changes, to",
    [
        # A value that HTML escapes differently in the two parts.
        ({"fill": [[STAND_IN, "https://status.example.com/u?a=1&b=2"]]}, "a@example.com"),
        # A line too long for SMTP once filled: the whole build encodes it.
        ({"text": "x" * 950 + STAND_IN}, "a@example.com"),
        # A part that is encoded (a line over 998 characters) hides the stand-in.
        ({"text": "y" * 1200 + "\n" + STAND_IN}, "a@example.com"),
    ],
    ids=["escaped-value", "long-line", "encoded-part"],
)
def test_a_filled_email_that_cannot_be_copied_is_built_whole(changes, to):
    body = filled_body(**changes)
    delivery = Delivery(key=KEY, channel="mail", kind="smtp", payload=body)
    spec = channels.ChannelSpec(name="mail", type="smtp", to=(to,))
    rendered = smtp_channel.render(delivery, spec, from_address="status@example.com")
    assert not isinstance(rendered, bytes)
    # A sender beyond ASCII needs SMTPUTF8, which only the whole build asks for.
    plain = Delivery(key=KEY, channel="mail", kind="smtp", payload=filled_body())
    assert isinstance(smtp_channel.render(plain, spec, from_address="status@example.com"), bytes)
    rendered = smtp_channel.render(plain, spec, from_address="stätus@example.com")
    assert not isinstance(rendered, bytes)
    with SmtpSink() as sink, smtp_session(sink, to=(to,)) as session:
        assert send_mail(session, body).sent
    message = parse(sink.messages[0].content)
    value = body["fill"][0][1]
    assert message["List-Unsubscribe"] == f"<{value}>"
    assert value in message.get_body(("plain",)).get_content().replace("\n", "")
    if body.get("html"):
        assert html.escape(value) in message.get_body(("html",)).get_content()


def test_smtp_title_cannot_inject_headers_or_recipients():
    hostile = payload(subject="Outage\r\nBcc: victim@example.com\r\nX-Injected: yes\n\nbody")
    with SmtpSink() as sink, smtp_session(sink) as session:
        result = send_mail(session, hostile)
    assert result.sent
    (mail,) = sink.messages
    assert mail.rcpt_tos == ["oncall@example.com"]
    message = parse(mail.content)
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"] == "Outage Bcc: victim@example.com X-Injected: yes body"


def test_smtp_refuses_an_address_that_smuggles_a_header():
    with SmtpSink() as sink, smtp_session(sink, to=("a@example.com\r\nBcc: x@evil.example",)) as s:
        result = send_mail(s, payload())
    assert result.outcome is Outcome.PERMANENT
    assert sink.messages == []


def test_smtp_reuses_one_connection_per_batch():
    with SmtpSink() as sink, smtp_session(sink) as session:
        for index in range(3):
            assert send_mail(session, payload(), key=f"k{index}").sent
        session.end_batch()
        assert send_mail(session, payload(), key="k3").sent
    assert len(sink.messages) == 4
    assert sink.connections == 2


def test_smtp_reconnects_once_when_the_server_dropped_an_idle_connection():
    with SmtpSink() as sink, smtp_session(sink) as session:
        assert send_mail(session, payload(), key="k1").sent
        (idle,) = session._smtp_pool._idle
        idle.smtp.sock.close()  # as if the server had timed the idle connection out
        assert send_mail(session, payload(), key="k2").sent
    assert len(sink.messages) == 2


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("451 4.3.0 try again later", Outcome.RETRY), ("554 5.7.1 rejected", Outcome.PERMANENT)],
)
def test_smtp_refusal_is_classified_by_its_code(answer, outcome):
    with SmtpSink(answer=lambda _envelope: answer) as sink, smtp_session(sink) as session:
        result = send_mail(session, payload())
    assert result.outcome is outcome
    assert result.status == int(answer[:3])


def test_smtp_server_not_listening_is_retried():
    table = {"mail": {"type": "smtp", "to": ["a@example.com"]}}
    with session_for(table, smtp={"host": "127.0.0.1", "port": free_port()}) as session:
        result = send_mail(session, payload())
    assert result.outcome is Outcome.RETRY


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def trust(certificate, monkeypatch):
    """Server context with the certificate; the client trusts it (and nothing else)."""
    cert, key = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    monkeypatch.setattr(
        smtp_channel, "tls_context", lambda: ssl.create_default_context(cafile=str(cert))
    )
    return server


def _accept_login(expected: tuple[bytes, bytes]):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
        return AuthResult(success=ok)

    return authenticator


def test_smtp_starttls_with_login(trust):
    sink = SmtpSink(
        tls_context=trust,
        require_starttls=True,
        authenticator=_accept_login((b"status", b"pw")),
        auth_require_tls=True,
    )
    with sink, smtp_session(sink, security="starttls", username="status", password="pw") as s:
        result = send_mail(s, payload())
    assert result.sent, result.error
    assert len(sink.messages) == 1


def test_smtp_wrong_password_is_retried_not_dropped(trust):
    sink = SmtpSink(
        tls_context=trust,
        require_starttls=True,
        authenticator=_accept_login((b"status", b"pw")),
        auth_require_tls=True,
    )
    session = smtp_session(
        sink, security="starttls", username="status", password="no", timeout_seconds=1
    )
    with sink, session:
        result = send_mail(session, payload())
    # aiosmtpd stalls a failed login rather than answering 535; either way: retry later.
    assert result.outcome is Outcome.RETRY
    assert sink.messages == []


def test_smtp_implicit_tls(trust):
    sink = SmtpSink(ssl_context=trust)
    with sink, smtp_session(sink, security="tls") as session:
        result = send_mail(session, payload())
    assert result.sent, result.error
    assert len(sink.messages) == 1


def test_smtp_tls_with_an_untrusted_certificate_is_retried(certificate, monkeypatch):
    cert, key = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    sink = SmtpSink(ssl_context=server)
    with sink, smtp_session(sink, security="tls") as session:
        result = send_mail(session, payload())
    assert result.outcome is Outcome.RETRY
    assert sink.messages == []
