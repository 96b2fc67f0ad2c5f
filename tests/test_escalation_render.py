"""Internal escalation messages: the shipped templates check clean and fill as text."""

from __future__ import annotations

import json
import shutil
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statuspage.core.escalation.config import parse_escalation
from statuspage.core.escalation.planner import IncidentFacts, plan, snapshot
from statuspage.core.escalation.render import (
    TEMPLATES,
    IncidentSummary,
    load_templates,
    plain_text,
    render,
    render_test,
)
from statuspage.core.library import LibraryError, check_directory
from statuspage.errors import ConfigError

INTERNAL = Path(__file__).resolve().parent.parent / "messages" / "internal"
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

CONFIG = """
[channels.chat]
type = "slack"
url_env = "CHAT_URL"

[channels.pd]
type = "pagerduty"
routing_key_env = "PD_KEY"
severity = { major = "critical" }

[paths.major]
match = { any_component = true }
[[paths.major.steps]]
after_minutes = 0
notify = ["pd"]
[[paths.major.steps]]
after_minutes = 10
notify = ["chat"]
[paths.major.repeat]
times = 1
after_minutes = 20
[paths.major.update_reminders]
every_minutes = 30
remind = ["chat"]
escalate_after_missed = 2
escalate_to = ["pd"]
"""

INCIDENT = IncidentSummary(
    id=12,
    title="API errors",
    impact="major",
    status="investigating",
    components=("API", "Web"),
    url="https://status.example.com/incidents/12",
)
ACK = "https://status.example.com/ack/abc.def"


@pytest.fixture(scope="module")
def templates():
    return load_templates()


@pytest.fixture(scope="module")
def config():
    return parse_escalation(tomllib.loads(CONFIG), source="t", environ={})


def dues(config, **facts):
    fact = IncidentFacts(incident_id=12, started_at=START, **facts)
    snap = snapshot(config.paths["major"], config.windows, config.channels)
    return fact, plan(snap, fact, START + timedelta(hours=3)).due


def test_shipped_internal_messages_check_clean():
    messages, problems = check_directory(INTERNAL)
    assert problems == []
    assert {m.id for m in messages} == set(TEMPLATES.values())


def test_every_kind_renders_with_the_incidents_facts(config, templates):
    fact, due = dues(config, resolved_at=START + timedelta(minutes=100))
    kinds = set()
    for item in due:
        note = render(item, INCIDENT, fact, templates, site_name="Acme", ack_url=ACK)
        kinds.add(note.kind)
        assert "{{" not in note.subject + note.text + note.markdown
        assert "API errors" in note.subject + note.text
        assert note.dedup_key == item.dedup_key
        assert json.loads(json.dumps(note.payload()))["dedup_key"] == item.dedup_key
    assert kinds == {"step", "repeat", "reminder", "missed_update_escalation", "resolved"}


def test_step_message_names_impact_components_path_and_links(config, templates):
    fact, due = dues(config)
    note = render(due[0], INCIDENT, fact, templates, site_name="Acme", ack_url=ACK)
    assert note.subject == "Major incident: API errors"
    assert "- Affected: API, Web" in note.text
    assert "(path major, step 1)" in note.text
    assert ACK in note.text and INCIDENT.url in note.text
    assert (note.ack_url, note.incident_url) == (ACK, INCIDENT.url)
    assert dict(note.fields) == {
        "Incident": "API errors",
        "Impact": "Major",
        "Status": "Investigating",
        "Components": "API, Web",
        "Escalation": "major, step 1",
    }


def test_reminder_message_counts_minutes_since_the_last_public_update(config, templates):
    fact, due = dues(config, public_update_times=[START + timedelta(minutes=25)])
    reminder = next(d for d in due if d.kind == "reminder")
    note = render(reminder, INCIDENT, fact, templates, site_name="Acme", ack_url=ACK)
    assert reminder.at == START + timedelta(minutes=55)
    assert note.subject == "No public update for 30 minutes: API errors"
    assert note.fields["Last public update"] == "30 minutes ago"


def test_missed_update_escalation_says_how_many_reminders_were_missed(config, templates):
    fact, due = dues(config)
    missed = next(d for d in due if d.kind == "missed_update_escalation")
    note = render(missed, INCIDENT, fact, templates, site_name="Acme", ack_url=ACK)
    assert "2 reminders in a row went unanswered" in note.text
    assert note.subject == "Customers not updated for 60 minutes: API errors"


def test_resolved_notice_carries_the_trigger_dedup_key_and_no_ack_link(config, templates):
    fact, due = dues(config, resolved_at=START + timedelta(minutes=15))
    resolved = next(d for d in due if d.kind == "resolved")
    note = render(resolved, INCIDENT, fact, templates, site_name="Acme", ack_url=ACK)
    payload = note.payload()
    assert (payload["action"], payload["dedup_key"]) == ("resolve", "12:major:0:0:pd")
    assert note.ack_url == "" and ACK not in note.text
    assert note.subject == "Resolved: API errors"
    assert [link["label"] for link in payload["links"]] == ["Open the incident"]


def test_severity_follows_the_channels_map_or_the_default(config, templates):
    fact, due = dues(config)
    default = render(due[0], INCIDENT, fact, templates, site_name="Acme")
    mapped = render(
        due[0], INCIDENT, fact, templates, site_name="Acme", severity=config.channels["pd"].severity
    )
    assert (default.severity, mapped.severity) == ("error", "critical")


def test_payload_has_the_fields_the_transports_read(config, templates):
    fact, due = dues(config)
    payload = render(due[0], INCIDENT, fact, templates, site_name="Acme", ack_url=ACK).payload()
    assert payload["event"] == "escalation.step"
    assert payload["action"] == "trigger"
    assert payload["occurred_at"] == "2026-01-05T02:00:00.000Z"
    assert payload["incident"] == {
        "id": 12,
        "name": "API errors",
        "impact": "major",
        "status": "investigating",
        "components": ["API", "Web"],
        "url": INCIDENT.url,
    }
    assert payload["links"][0] == {"label": "Acknowledge", "url": ACK}


def test_incident_text_goes_in_as_text_never_as_markup_or_template(config, templates):
    fact, due = dues(config)
    hostile = IncidentSummary(
        id=1,
        title="<!channel> [click](https://evil.example) {{ ack_url }} *x*\r\nBcc: a@b.c",
        impact="major",
        status="investigating",
        components=("<@U123>",),
        url=INCIDENT.url,
    )
    note = render(due[0], hostile, fact, templates, site_name="Acme", ack_url=ACK)
    assert "\n" not in note.subject and "\r" not in note.subject
    assert note.subject.endswith("{{ ack_url }} *x* Bcc: a@b.c")
    # Markdown: escaped, so no link, no emphasis; plain text: exactly as typed.
    assert "\\[click\\]\\(https://evil\\.example\\)" in note.markdown
    assert "<!channel>" not in note.markdown and "<@U123>" not in note.markdown
    assert "&lt;\\!channel\\> \\[click\\]" in note.markdown
    assert "<!channel> [click](https://evil.example) {{ ack_url }} *x* Bcc: a@b.c" in note.text
    assert note.text.count(ACK) == 1


def test_plain_text_undoes_the_escaping_of_values_only_once():
    assert plain_text("a\\*b &lt;c&gt; \\\\ &amp;lt; &#61;") == "a*b <c&gt; \\ &lt; ="


def test_long_title_is_shortened_rather_than_refused(config, templates):
    fact, due = dues(config)
    long = IncidentSummary(id=1, title="x" * 2000, impact="major", status="identified")
    note = render(due[0], long, fact, templates, site_name="Acme")
    assert note.subject.endswith("\u2026")
    assert len(note.subject) < 600
    assert "- Affected: no components named" in note.text


def test_missing_links_read_as_a_hint_not_a_blank(config, templates):
    fact, due = dues(config)
    bare = IncidentSummary(id=1, title="API errors", impact="major", status="identified")
    note = render(due[0], bare, fact, templates, site_name="Acme")
    assert "use the Acknowledge button on the incident in the admin" in note.text
    assert note.payload()["links"] == []


def test_test_message_names_the_channel(templates):
    note = render_test(
        "ops-slack",
        templates,
        site_name="Acme",
        site_url="https://status.example.com",
        key="test:ops-slack:1",
        now=START,
    )
    assert note.subject == "Test message from Acme"
    assert "escalation channel ops-slack" in note.text
    assert note.payload()["event"] == "escalation.test"
    assert "incident" not in note.payload()


def test_load_templates_refuses_a_broken_or_missing_template(tmp_path):
    broken = tmp_path / "internal"
    shutil.copytree(INTERNAL, broken)
    (broken / "update-reminder.md").unlink()
    with pytest.raises(ConfigError, match="missing internal message"):
        load_templates(broken)
    text = (INTERNAL / "escalation-step.md").read_text().replace("{{ path }}", "{{ path.name }}")
    (broken / "escalation-step.md").write_text(text)
    with pytest.raises(LibraryError, match=r"escalation-step\.md"):
        load_templates(broken)
