"""Webhook signatures verify with the official Standard Webhooks algorithm, and a secret that
algorithm cannot use is refused by `statuspage escalation check` and by the worker."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.config import load_settings
from statuspage.delivery.channels import Delivery, Outcome, Session, make_client


def official_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """`standardwebhooks.Webhook(secret).verify` (version 1.3.0), transcribed: the secret less
    its `whsec_` prefix is base64-decoded (padding added), and one of the space-separated
    `v1,` signatures must be the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected.encode(), candidate.encode())
        for candidate in headers["webhook-signature"].split(" ")
    )


def send(receiver, secret: str):
    settings = load_settings(None, overrides={"secret_key": "test"}, environ={})
    table = {"ops": {"type": "webhook", "url": receiver.url("/hook"), "secret_env": "SECRET"}}
    settings = dataclasses.replace(settings, escalation={"channels": table})
    payload = {"subject": "API down", "text": "Investigating."}
    with Session(settings, client=make_client(timeout=2), environ={"SECRET": secret}) as session:
        return session.deliver(
            Delivery(key="1:major:0:0:ops", channel="ops", kind="webhook", payload=payload)
        )


@pytest.mark.parametrize("size", [24, 32, 64])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_signatures_verify_with_the_official_algorithm(receiver, size, padded):
    encoded = base64.b64encode(bytes(range(100, 100 + size))).decode()
    secret = "whsec_" + (encoded if padded else encoded.rstrip("="))
    assert send(receiver, secret).outcome is Outcome.SENT
    (request,) = receiver.requests
    assert official_verify(secret, request.headers, request.body)
    assert not official_verify(
        "whsec_" + base64.b64encode(bytes(size)).decode(), request.headers, request.body
    )


@pytest.mark.parametrize("secret", ["s3cret", "whsec_not base64!", "whsec_"])
def test_a_secret_the_official_algorithm_cannot_use_is_not_sent_with(receiver, secret):
    result = send(receiver, secret)
    assert result.outcome is Outcome.RETRY  # kept until the operator fixes the variable
    assert "not a Standard Webhooks secret" in result.error
    assert "s3cret" not in result.error and "not base64!" not in result.error
    assert receiver.requests == []


CONFIG = """
[channels.hook]
type = "webhook"
url = "https://hooks.example.com/incidents"
secret_env = "SP_TEST_HOOK_SECRET"

[paths.major]
match = { impact_at_least = "major", any_component = true }

[[paths.major.steps]]
after_minutes = 0
notify = ["hook"]
"""


def check(tmp_path, secret: str):
    config = tmp_path / "statuspage.toml"
    config.write_text(CONFIG)
    env = {
        "STATUSPAGE_DATABASE_URL": "postgresql://nowhere.invalid/none",
        "SP_TEST_HOOK_SECRET": secret,
    }
    return config, CliRunner().invoke(
        main, ["escalation", "check", "--config", str(config)], env=env
    )


def test_escalation_check_refuses_a_raw_secret_saying_what_to_use(tmp_path):
    config, result = check(tmp_path, "correct-horse-battery-staple")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{config}: channels.hook.secret_env: environment variable SP_TEST_HOOK_SECRET is not a "
        "Standard Webhooks secret (it does not start with whsec_): expected whsec_ and the "
        'base64 of 24 to 64 random bytes, e.g. "whsec_$(openssl rand -base64 32)"'
    ]
    assert "correct-horse" not in result.output


def test_escalation_check_accepts_a_standard_webhooks_secret(tmp_path):
    secret = "whsec_" + base64.b64encode(bytes(32)).decode()
    _, result = check(tmp_path, secret)
    assert result.exit_code == 0, result.output
    assert "escalation config OK: 1 channel" in result.output
