"""The rules of an incident's updates (docs/status-rules.md, "An incident's updates"), pure."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core import incident_rules as rules
from statuspage.core.enums import ComponentStatus as C
from statuspage.core.enums import Impact
from statuspage.core.escalation.config import parse_escalation
from statuspage.core.escalation.planner import IncidentFacts, plan, snapshot

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# -- rules 1-3: impact ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "implied"),
    [
        ([], None),
        ([C.OPERATIONAL, C.UNDER_MAINTENANCE], None),
        ([C.DEGRADED_PERFORMANCE], Impact.MINOR),
        ([C.DEGRADED_PERFORMANCE, C.PARTIAL_OUTAGE], Impact.MAJOR),
        ([C.OPERATIONAL, C.MAJOR_OUTAGE, C.PARTIAL_OUTAGE], Impact.CRITICAL),
        (["major_outage"], Impact.CRITICAL),
    ],
)
def test_component_statuses_imply_statuspages_impact(statuses, implied):
    assert rules.impact_from_components(statuses) is implied


def test_a_major_outage_under_an_unmarked_minor_incident_makes_it_critical():
    impact = rules.incident_impact(chosen=None, current=Impact.MINOR, components=[C.MAJOR_OUTAGE])
    assert impact is Impact.CRITICAL


def test_the_impact_never_falls_on_its_own():
    back = rules.incident_impact(chosen=None, current=Impact.CRITICAL, components=[C.OPERATIONAL])
    assert back is Impact.CRITICAL
    milder = rules.incident_impact(
        chosen=None, current=Impact.MAJOR, components=[C.DEGRADED_PERFORMANCE]
    )
    assert milder is Impact.MAJOR


def test_an_impact_the_pm_chose_wins_over_the_components():
    impact = rules.incident_impact(
        chosen=Impact.MINOR, current=Impact.CRITICAL, components=[C.MAJOR_OUTAGE]
    )
    assert impact is Impact.MINOR


# -- rules 4-6: the promised next update ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30 minutes", 30),
        ("15 min", 15),
        ("1 hour", 60),
        ("2 hours", 120),
        ("in 2 hrs", 120),
        ("within 90 mins", 90),
        ("an hour", 60),
        ("1 day", 1440),
        (" 4 HOURS ", 240),
    ],
)
def test_a_next_update_blank_reads_as_a_promise(text, minutes):
    assert rules.parse_promise(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "soon", "tomorrow morning", "0 minutes", "8 days", "30"])
def test_what_is_not_a_duration_promises_nothing(text):
    assert rules.parse_promise(text) is None


def test_an_explicit_promise_wins_over_the_blank():
    assert rules.promised_minutes(20, {"next_update": "1 hour"}) == 20
    assert rules.promised_minutes(None, {"next_update": "1 hour"}) == 60
    assert rules.promised_minutes(None, {"component": "API"}) is None


def test_the_next_update_is_due_at_the_promise_else_after_the_cadence():
    cadence = timedelta(minutes=120)
    promised = START + timedelta(minutes=30)
    assert rules.next_update_due(START, promised, cadence) == promised
    assert rules.next_update_due(START, None, cadence) == START + cadence


PATH = """
[channels.chat]
type = "slack"
url_env = "CHAT_URL"

[paths.p]
match = { any_component = true }
[paths.p.update_reminders]
every_minutes = 60
remind = ["chat"]
"""


def _reminders(promises: dict[int, int], updates: list[int]) -> list[int]:
    raw = tomllib.loads(PATH)
    config = parse_escalation(raw, source="test.toml", environ={})
    snap = snapshot(config.paths["p"], config.windows, config.channels)
    at = lambda minutes: START + timedelta(minutes=minutes)  # noqa: E731
    facts = IncidentFacts(
        incident_id=1,
        started_at=START,
        resolved_at=at(300),
        public_update_times=[at(u) for u in updates],
        promises={at(u): at(p) for u, p in promises.items()},
    )
    return [
        int((d.at - START).total_seconds() // 60)
        for d in plan(snap, facts, at(400)).due
        if d.kind == "reminder"
    ]


def test_reminders_fire_at_the_promised_time_then_every_minutes():
    # The first update (at the start) promised news within 30 minutes, not the path's 60.
    assert _reminders({0: 30}, [0]) == [30, 90, 150, 210, 270]


def test_an_update_without_a_promise_uses_every_minutes():
    assert _reminders({0: 30}, [0, 20]) == [80, 140, 200, 260]
