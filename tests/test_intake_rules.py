"""The pure side of alerts in: payloads read strictly into one shape, rules checked strictly and
matched in order, and `statuspage intake check`."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.config import load_settings
from statuspage.core.enums import ComponentStatus
from statuspage.core.intake import payloads
from statuspage.core.intake.rules import MessageFacts, check_references, parse_intake
from statuspage.delivery import worker
from statuspage.errors import ConfigError, ValidationError
from tests.support.cli import write_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def rules(text: str, paths=("pm",)):
    return parse_intake(tomllib.loads(text).get("intake", {}), source="c.toml", paths=paths)


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        rules(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def alert(**labels) -> payloads.AlertIn:
    return payloads.AlertIn(
        fingerprint="f",
        status="firing",
        title="t",
        severity=labels.pop("severity", "critical"),
        labels=labels,
        annotations={"summary": "API is down"},
        starts_at=datetime(2026, 6, 1, 11, 58, tzinfo=UTC),
    )


BASIC = """
[intake.api]
match = { alertname = "ApiDown" }
components = ["API"]
message = "outage-investigating"
resolve_message = "outage-resolved"
"""


def test_a_rule_matches_labels_exactly_and_by_pattern():
    config = rules(
        BASIC
        + """
[intake.slow]
action = "component_status"
priority = 5
match_re = { alertname = "Slow.*", instance = "web-[0-9]+" }
component_label = "Component"
"""
    )
    assert config.rule_for(alert(alertname="ApiDown"), "prom").name == "api"
    assert config.rule_for(alert(alertname="ApiDownNow"), "prom") is None
    slow = config.rule_for(alert(alertname="SlowPages", instance="web-12", component="Web"), "x")
    assert slow.name == "slow"
    assert slow.component_names(alert(component="Web")) == ["Web"]
    assert config.rule_for(alert(alertname="SlowPages", instance="web-x"), "x") is None


def test_rules_are_tried_by_priority_then_name():
    config = rules(
        """
[intake.b]
match = { alertname = "X" }
components = ["B"]
message = "m"
resolve_message = "r"

[intake.a]
match = { alertname = "X" }
components = ["A"]
message = "m"
resolve_message = "r"

[intake.z]
priority = 1
severities = ["warning"]
components = ["Z"]
message = "m"
resolve_message = "r"
"""
    )
    assert [r.name for r in config.ordered()] == ["z", "a", "b"]
    assert config.rule_for(alert(alertname="X"), "i").name == "a"
    assert config.rule_for(alert(alertname="X", severity="warning"), "i").name == "z"


def test_values_fill_from_labels_annotations_and_fields():
    config = rules(
        BASIC.replace(
            'resolve_message = "outage-resolved"',
            'resolve_message = "outage-resolved"\n'
            'values = { detail = "{{ summary }} ({{ alertname }}) at {{ started_at }}{{ no }}" }',
        )
    )
    rule = config.rules["api"]
    values = rule.message_values(alert(alertname="ApiDown"))
    assert values == {"detail": "API is down (ApiDown) at 11:58 UTC"}


def test_status_follows_severity_unless_the_rule_says():
    rule = rules(BASIC).rules["api"]
    assert rule.status_for(alert(severity="critical")) is ComponentStatus.MAJOR_OUTAGE
    assert rule.status_for(alert(severity="warning")) is ComponentStatus.DEGRADED_PERFORMANCE


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[intake.x]\nmessage = "m"\nresolve_message = "r"', "say which components"),
        ('[intake.x]\ncomponents = ["A"]\nresolve_message = "r"', "intake.x.message: a 'draft'"),
        ('[intake.x]\ncomponents = ["A"]\nmessage = "m"', "intake.x.resolve_message"),
        ('[intake.x]\naction = "shout"\ncomponents = ["A"]', "expected one of draft"),
        (BASIC + 'notify = "nope"', "unknown escalation path 'nope' (known: pm)"),
        (BASIC + 'match_re = { a = "(" }', "intake.api.match_re: a: not a regular expression"),
        (BASIC + 'values = { Bad = "x" }', "values: Bad: a blank's name"),
        (BASIC + 'values = { a = "{{ x.y }}" }', "values: a: '{{ x.y }}' is not"),
        (BASIC + 'values = { a = "{% if %}" }', "values: a: template tags"),
        (BASIC + "min_alerts = 2", "flap damping is for component_status rules"),
        (BASIC + 'severities = ["urgent"]', "severities[0]"),
        (BASIC + "colour = 1", "intake.api.colour: unknown key"),
        ('[intake."bad name"]\ncomponents = ["A"]', "a name is letters"),
        (
            '[intake.x]\naction = "component_status"\ncomponents = ["A"]\nmessage = "m"',
            "only draft and publish rules write updates",
        ),
        (BASIC + 'component_status = "under_maintenance"', "component_status"),
        (BASIC + "next_update_minutes = 0", "within a week"),
    ],
)
def test_bad_rules_are_refused_naming_the_key(text, expected):
    assert expected in refused(text)


def test_references_are_checked_against_the_library_components_and_integrations():
    config = rules(
        BASIC.replace('components = ["API"]', 'components = ["API"]\nintegrations = ["prom"]')
        + 'values = { component = "x", colour = "{{ colour }}" }'
    )
    opening = MessageFacts("incident", "investigating", ("component", "next_update"))
    problems = check_references(
        config,
        messages={
            "outage-investigating": opening,
            "outage-resolved": MessageFacts("maintenance", "completed"),
        },
        components=["api"],
        source="c.toml",
        integrations=["grafana"],
    )
    assert problems == [
        "c.toml: intake.api.resolve_message: 'outage-resolved' is a maintenance message",
        "c.toml: intake.api.values: colour: neither message has that blank "
        "(they have: component, next_update)",
        "c.toml: intake.api.integrations[0]: no integration named 'prom'",
    ]
    swapped = check_references(
        config,
        messages={
            "outage-investigating": MessageFacts("incident", "resolved"),
            "outage-resolved": MessageFacts("incident", "investigating"),
        },
        components=["API"],
        source="c.toml",
    )
    assert [p.split(": ")[1] for p in swapped] == [
        "intake.api.message",
        "intake.api.resolve_message",
    ]
    problems = check_references(config, messages={}, components=[], source="c.toml")
    assert len(problems) == 3


def test_the_example_intake_block_parses_once_uncommented():
    text = EXAMPLE.read_text()
    block = text[text.index("# [channels.") :]
    uncommented = "\n".join(
        line[2:] if re.match(r"# (\[|[a-z_]+ = |  )", line) else "" for line in block.splitlines()
    )
    raw = tomllib.loads(uncommented)
    config = parse_intake(raw["intake"], source="example", paths=list(raw["paths"]))
    assert [r.action for r in config.ordered()] == ["draft", "component_status", "publish"]


# -- payloads ------------------------------------------------------------------------------


def test_alertmanager_payload_reads_into_alerts():
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ApiDown", "severity": "page"},
                "annotations": {"summary": "API down"},
                "startsAt": "2026-06-01T11:58:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "javascript:alert(1)",
                "fingerprint": "abc",
            }
        ],
    }
    (found,) = payloads.parse("alertmanager", json.dumps(body).encode())
    assert (found.title, found.severity, found.fingerprint) == ("API down", "critical", "abc")
    assert found.starts_at == datetime(2026, 6, 1, 11, 58, 0, 123456, tzinfo=UTC)
    assert found.ends_at is None
    assert found.url == ""  # a sender's odd link is dropped, never the alert


def test_an_alert_without_fingerprint_gets_one_from_its_labels():
    one = {"status": "firing", "labels": {"b": "2", "a": "1"}}
    two = {"status": "firing", "labels": {"a": "1", "b": "2"}}
    first = payloads.parse("grafana", json.dumps({"alerts": [one]}).encode())[0]
    second = payloads.parse("grafana", json.dumps({"alerts": [two]}).encode())[0]
    assert first.fingerprint == second.fingerprint and first.fingerprint.startswith("sha256:")


def test_generic_alerts_one_or_many():
    one = payloads.parse("generic", b'{"title": "Checkout down", "component": "Checkout"}')
    assert one[0].labels == {"component": "Checkout"} and one[0].status == "firing"
    many = payloads.parse(
        "generic",
        json.dumps({"alerts": [{"title": "a"}, {"title": "b", "status": "resolved"}]}).encode(),
    )
    assert [a.status for a in many] == ["firing", "resolved"]


@pytest.mark.parametrize(
    "kind, body, field",
    [
        ("generic", b"[]", "payload"),
        ("generic", b'{"title": ""}', "title"),
        ("generic", b'{"title": "x", "url": "ftp://x"}', "url"),
        ("generic", b'{"title": "x", "started_at": "2026-06-01T10:00:00"}', "started_at"),
        ("generic", b'{"title": "x", "fingerprint": "' + b"f" * 201 + b'"}', "fingerprint"),
        ("alertmanager", b'{"alerts": [{"status": "firing", "labels": []}]}', "alerts[0].labels"),
        ("alertmanager", b"\xff", "body"),
        ("alertmanager", b"[" * 100_000 + b"]" * 100_000, "body"),
        ("nope", b"{}", "format"),
    ],
)
def test_malformed_payloads_name_the_field(kind, body, field):
    with pytest.raises(ValidationError) as caught:
        payloads.parse(kind, body)
    assert caught.value.field == field


def test_too_many_alerts_or_labels_are_refused():
    many = json.dumps({"alerts": [{"title": "x"}] * 1001}).encode()
    with pytest.raises(ValidationError, match="at most 1,000 alerts"):
        payloads.parse("generic", many)
    labels = {f"l{i}": "v" for i in range(65)}
    with pytest.raises(ValidationError, match="at most 64 entries"):
        payloads.parse("generic", json.dumps({"title": "x", "labels": labels}).encode())


# -- statuspage intake check -----------------------------------------------------------------


def test_intake_check_reports_problems_one_line_each(tmp_path):
    config = write_config(
        tmp_path / "c.toml",
        f"sqlite:///{tmp_path}/none.db",
        extra='[intake.api]\ncomponents = ["API"]\nmessage = "m"\n',
    )
    result = CliRunner().invoke(main, ["intake", "check", "--no-database", "--config", str(config)])
    assert result.exit_code == 1
    assert "intake.api.resolve_message: a 'draft' rule names" in result.output


def test_intake_check_without_database_accepts_good_rules(tmp_path):
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/none.db", extra=BASIC)
    result = CliRunner().invoke(main, ["intake", "check", "--no-database", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "intake rules OK: 1 rule" in result.output
    assert "api (priority 100): alertname=ApiDown -> draft on API" in result.output


def test_bad_rules_are_set_aside_by_the_web_app_and_refused_by_the_worker(make_app):
    bad = {"intake": {"x": {"components": ["A"]}}}
    with pytest.raises(ConfigError, match=r"intake\.x\.message"):
        load_settings(overrides=bad, environ={})
    app = make_app(**bad)
    settings = app.config["STATUSPAGE"]
    assert settings.intake is None and "intake.x.message" in settings.intake_error
    assert settings.escalation is not None  # escalation is not held hostage by a rule's typo
    with app.app_context(), pytest.raises(ConfigError, match=r"intake\.x\.message"):
        worker.run_worker(app, once=True)
