"""Secrets never reach the logs: webhook URLs (the credential of Slack, Teams and subscriber
webhooks), signing secrets, API tokens and PagerDuty routing keys are redacted from every record,
and the HTTP libraries that log each URL they post to are quiet."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import timedelta

import pytest

from statuspage import logs
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage, Subscriber
from statuspage.delivery import channels, outbox
from statuspage.delivery.worker import run_worker
from statuspage.publishing import components as cs
from tests.support.receivers import Reply
from tests.support.subscribers import OPEN_LOCAL, post_update

# -- redact: each kind of secret ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            'HTTP Request: POST https://hooks.slack.com/services/T01/B02/xoxSECRET "HTTP/1.1 200"',
            "xoxSECRET",
            "https://hooks.slack.com/",
        ),
        ("posting to hooks.slack.com/services/T01/B02/xoxSECRET", "xoxSECRET", "hooks.slack.com"),
        ("HTTP 404: no such hook /services/T01/B02/xoxSECRET", "xoxSECRET", "HTTP 404"),
        (
            "https://acme.webhook.office.com/webhookb2/a1b2@c3/IncomingWebhook/SECRET/d4",
            "SECRET",
            "acme.webhook.office.com",
        ),
        (
            "outlook.office.com/webhook/SECRET/IncomingWebhook/x",
            "SECRET",
            "outlook.office.com",
        ),
        (
            "https://prod-1.westeurope.logic.azure.com:443/workflows/w/triggers/manual/paths/"
            "invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SECRET",
            "SECRET",
            "logic.azure.com:443",
        ),
        ("https://example.com/hook?token=SECRET&x=1", "SECRET", "https://example.com/"),
        ("db at postgresql://statuspage:SECRET@db.internal:5432/sp", "SECRET", "db.internal"),
        ("signing with whsec_U0VDUkVUU0VDUkVUU0VDUkVU", "U0VDUkVU", "signing with whsec_"),
        ("token sp_SECRETSECRETSECRET refused", "SECRETSECRET", "refused"),
        ('HTTP 400: {"routing_key":"SECRETR0UTINGKEY","event_action":"trigger"}', "SECRET", "400"),
        ("routing_key=SECRETR0UTINGKEY", "SECRET", "routing_key="),
        ("Authorization: Bearer SECRETSECRET", "SECRET", "Authorization"),
        ("ack link https://status.example.com/ack/SECRET.abc", "SECRET", "status.example.com"),
    ],
)
def test_redact_hides_the_secret_and_keeps_the_rest(text, secret, kept):
    redacted = logs.redact(text)
    assert secret not in redacted and kept in redacted and logs.REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "worker w1 started",
        "sent 12:major:0:0:ops-hook via ops-hook (200)",
        "Serving http://127.0.0.1:8080 with 1 worker(s); Ctrl+C stops.",
        "sub:4:7 via subscriber:3: retry (attempt 2): HTTP 500: boom",
    ],
)
def test_redact_leaves_ordinary_lines_alone(text):
    assert logs.redact(text) == text


def test_the_filter_redacts_arguments_and_tracebacks(caplog):
    caplog.set_level(logging.DEBUG)
    logs.install()
    log = logging.getLogger("statuspage.test")
    url = "https://hooks.slack.com/services/T01/B02/xoxSECRET"
    log.info("posting to %s", url)
    try:
        raise RuntimeError(f"could not post to {url}")
    except RuntimeError:
        log.exception("failed")
    assert "xoxSECRET" not in caplog.text
    assert "posting to https://hooks.slack.com/" in caplog.text and "RuntimeError" in caplog.text


# -- a real delivery run --------------------------------------------------------------------

SLACK_PATH = "/services/T0001/B0002/slackS3cretT0ken"
TEAMS_PATH = "/webhookb2/teamsS3cret@tenant/IncomingWebhook/teamsS3cretToo/owner"
HOOK_PATH = "/hooks/hookS3cretPath?token=queryS3cret"
SUBSCRIBER_SLACK_PATH = "/services/T0009/B0009/subscriberS3cret"
HOOK_SECRET = "whsec_c2lnbmluZ1MzY3JldHNpZ25pbmdTM2NyZXQ="
ROUTING_KEY = "R0utingKeyS3cret0123456789abcdef"
SECRETS = (
    "slackS3cretT0ken",
    "teamsS3cret",
    "hookS3cretPath",
    "queryS3cret",
    "subscriberS3cret",
    HOOK_SECRET,
    HOOK_SECRET.removeprefix("whsec_"),
    ROUTING_KEY,
)


@pytest.fixture
def delivery_app(make_app, receiver, sink, monkeypatch):
    monkeypatch.setenv("LOG_TEST_SLACK_URL", receiver.url(SLACK_PATH))
    monkeypatch.setenv("LOG_TEST_TEAMS_URL", receiver.url(TEAMS_PATH))
    monkeypatch.setenv("LOG_TEST_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("LOG_TEST_ROUTING_KEY", ROUTING_KEY)
    app = make_app(
        smtp={"host": "127.0.0.1", "port": sink.port, "from_address": "status@example.com"},
        worker={"batch_size": 20, "max_attempts": 5},
        subscribers=OPEN_LOCAL,
        channels={
            "ops-slack": {"type": "slack", "url_env": "LOG_TEST_SLACK_URL"},
            "ops-teams": {"type": "teams", "url_env": "LOG_TEST_TEAMS_URL"},
            "ops-hook": {
                "type": "webhook",
                "url": receiver.url(HOOK_PATH),
                "secret_env": "LOG_TEST_HOOK_SECRET",
            },
            "ops-pager": {
                "type": "pagerduty",
                "routing_key_env": "LOG_TEST_ROUTING_KEY",
                "url": receiver.url("/v2/enqueue"),
            },
        },
    )
    with app.app_context():
        with write_transaction():
            api = cs.add_component("API", now=utcnow() - timedelta(days=5))
            db.session.add(
                Subscriber(
                    kind="slack",
                    email="ops@example.com",
                    url=receiver.url(SUBSCRIBER_SLACK_PATH),
                    created_at=utcnow(),
                    confirmed_at=utcnow(),
                )
            )
        app.config["test_component"] = api.id
    return app


def _quoting_receiver(receiver) -> None:
    """First request to each path: a 500 whose body quotes the URL and the body received (as
    some servers do), or a hang-up; every request after that: 200."""
    seen: set[str] = set()

    def respond(request):
        if request.path in seen:
            return Reply(200)
        seen.add(request.path)
        if request.path.startswith("/webhookb2"):
            return Reply(hang_up=True)
        quoted = b"rejected " + request.body[:120] + b" at " + request.path.encode()
        return Reply(500, quoted)

    receiver.respond = respond


def test_a_delivery_run_with_failures_and_retries_logs_no_secret(delivery_app, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    _quoting_receiver(receiver)
    clock = _Clock()
    session = channels.Session(
        delivery_app.config["STATUSPAGE"], client=channels.make_client(timeout=2)
    )
    with delivery_app.app_context():
        with write_transaction():
            for channel, kind in (
                ("ops-slack", "slack"),
                ("ops-teams", "teams"),
                ("ops-hook", "webhook"),
                ("ops-pager", "pagerduty"),
            ):
                outbox.enqueue(
                    key=f"log-test:{channel}",
                    channel=channel,
                    kind=kind,
                    payload={"subject": "API down", "text": "Investigating.", "action": "trigger"},
                    now=clock.now,
                )
        post_update({delivery_app.config["test_component"]: "major_outage"})
        run_worker(delivery_app, once=True, clock=clock, session=session)
        for _ in range(3):
            clock.advance(3600)
            run_worker(delivery_app, once=True, clock=clock, session=session)
        db.session.rollback()
        rows = db.session.query(OutboxMessage).filter(OutboxMessage.kind != "fanout").all()
    session.close()

    paths = {request.path for request in receiver.requests}
    assert {SLACK_PATH, TEAMS_PATH, HOOK_PATH, "/v2/enqueue", SUBSCRIBER_SLACK_PATH} <= paths
    assert any(json.loads(r.body).get("routing_key") == ROUTING_KEY for r in receiver.requests)
    assert {row.state for row in rows} == {"sent"} and all(row.attempts >= 2 for row in rows)
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) >= 5  # one failed attempt per destination, each logged
    everything = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    for secret in SECRETS:
        assert secret not in everything, secret
    assert logs.REDACTED in everything  # the receivers' quotes were there, redacted


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- text and JSON lines, request ids ---------------------------------------------------------


def _formatted(formatter: logging.Formatter, emit) -> list[str]:
    """The lines a handler with `formatter` writes while `emit(logger)` logs (INFO and up)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(logs.RequestId())  # no RedactSecrets: the JSON formatter redacts itself
    logger = logging.getLogger("statuspage.test.lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    return stream.getvalue().splitlines()


def test_json_lines_redact_secrets_in_the_message_the_fields_and_the_traceback():
    url = "https://hooks.slack.com/services/T01/B02/xoxSECRET"

    def emit(logger):
        logger.info("posting to %s", url, extra={"target": url, "attempt": 2})
        try:
            raise RuntimeError(f"could not post to {url}")
        except RuntimeError:
            logger.exception("failed with token=tokSECRET")

    first, second = (json.loads(line) for line in _formatted(logs.JsonFormatter(), emit))
    assert "SECRET" not in json.dumps([first, second])
    assert first["message"] == "posting to https://hooks.slack.com/[redacted]"
    assert first["target"] == "https://hooks.slack.com/[redacted]" and first["attempt"] == 2
    assert first["level"] == "INFO" and first["logger"] == "statuspage.test.lines"
    assert first["request_id"] is None and "time" in first
    assert second["level"] == "ERROR" and "RuntimeError" in second["exception"]


def test_text_lines_carry_the_request_id_only_while_a_request_is_handled():
    def emit(logger):
        logger.info("before")
        token = logs.REQUEST_ID.set("rid-9")
        try:
            logger.info("during")
        finally:
            logs.REQUEST_ID.reset(token)
        logger.info("after")

    before, during, after = _formatted(logs.TextFormatter(), emit)
    assert before.endswith(" INFO before") and after.endswith(" INFO after")
    assert during.endswith(" INFO [rid-9] during")


def test_configure_json_writes_one_redacted_object_per_line_to_stderr():
    code = (
        "import logging; from statuspage import logs; logs.configure(format='json'); "
        "logging.getLogger('statuspage.x').info('sent to %s', "
        "'https://hooks.slack.com/services/T1/B2/xoxSECRET')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["message"] == "sent to https://hooks.slack.com/[redacted]"
    assert entry["logger"] == "statuspage.x" and entry["level"] == "INFO"


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="yaml"):
        logs.formatter("yaml")


@pytest.mark.parametrize("created", [1781532187.123456, 1781532187.999012, 1781532188.0004])
def test_text_lines_stamp_the_time_as_logging_does(created):
    record = logging.makeLogRecord({"created": created})
    record.msecs = int((created - int(created)) * 1000)
    assert logs.TextFormatter().formatTime(record) == logging.Formatter().formatTime(record)
