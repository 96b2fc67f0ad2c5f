"""The escalation planner: steps, conditions, windows, repeats, reminders, resolves, keys.

Times in these tests are minutes after START, a Monday 03:00 in Paris (02:00Z).
"""

from __future__ import annotations

import json
import random
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core.escalation.config import parse_escalation
from statuspage.core.escalation.planner import (
    Due,
    IncidentFacts,
    from_snapshot,
    last_update_before,
    plan,
    snapshot,
)
from statuspage.errors import ConfigError

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
FAR = START + timedelta(days=3)

CHANNELS = """
[channels.mail]
type = "smtp"
to = ["ops@example.com"]

[channels.chat]
type = "slack"
url_env = "CHAT_URL"

[channels.pd]
type = "pagerduty"
routing_key_env = "PD_KEY"

[windows.office]
time_zone = "Europe/Paris"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "18:00"

[windows.nights]
time_zone = "Europe/Paris"
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "22:00"
end = "06:00"
"""


def make(path: str, *, name: str = "p") -> dict:
    """The snapshot of path `name` written as TOML (without its [paths.NAME] header)."""
    raw = tomllib.loads(CHANNELS + f"[paths.{name}]\n" + path)
    config = parse_escalation(raw, source="test.toml", environ={})
    return snapshot(config.paths[name], config.windows, config.channels)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def facts(*, ack=None, resolve=None, updates=(), incident=7, start=START) -> IncidentFacts:
    return IncidentFacts(
        incident_id=incident,
        started_at=start,
        acknowledged_at=None if ack is None else at(ack),
        resolved_at=None if resolve is None else at(resolve),
        public_update_times=[at(u) for u in updates],
    )


def timeline(snap: dict, fact: IncidentFacts, until: datetime = FAR) -> list[tuple]:
    """(minute, kind, step, loop, channel) of every due notification."""
    return [
        (int((d.at - START).total_seconds() // 60), d.kind, d.step, d.loop, d.channel)
        for d in plan(snap, fact, until).due
    ]


TWO_STEPS = """
match = { any_component = true }
[[paths.p.steps]]
after_minutes = 0
notify = ["mail", "chat"]
[[paths.p.steps]]
after_minutes = 15
notify = ["pd"]
"""


# -- steps and conditions ------------------------------------------------------------------------


def test_steps_fire_their_minutes_after_the_run_started():
    assert timeline(make(TWO_STEPS), facts()) == [
        (0, "step", 0, 0, "mail"),
        (0, "step", 0, 0, "chat"),
        (15, "step", 1, 0, "pd"),
    ]


def test_step_offsets_count_from_the_run_start_not_a_fixed_clock():
    later = START + timedelta(hours=5)
    due = plan(make(TWO_STEPS), facts(start=later), FAR).due
    assert [d.at for d in due] == [later, later, later + timedelta(minutes=15)]


def test_each_due_has_the_idempotency_key_of_incident_path_step_loop_channel():
    due = plan(make(TWO_STEPS), facts(incident=42), FAR).due
    assert [d.key for d in due] == ["42:p:0:0:mail", "42:p:0:0:chat", "42:p:1:0:pd"]
    assert all(d.dedup_key == d.key for d in due)


def test_unacknowledged_step_is_skipped_when_acknowledged_at_its_due_time():
    assert timeline(make(TWO_STEPS), facts(ack=15))[-1] == (0, "step", 0, 0, "chat")


def test_unacknowledged_step_fires_when_acknowledged_after_its_due_time():
    assert (15, "step", 1, 0, "pd") in timeline(make(TWO_STEPS), facts(ack=16))


def test_unresolved_step_still_fires_after_an_acknowledgement():
    snap = make(TWO_STEPS + 'condition = "unresolved"\n')
    assert (15, "step", 1, 0, "pd") in timeline(snap, facts(ack=5))


def test_unresolved_step_is_skipped_once_resolved():
    snap = make(TWO_STEPS + 'condition = "unresolved"\n')
    assert [row for row in timeline(snap, facts(resolve=10)) if row[1] != "resolved"] == [
        (0, "step", 0, 0, "mail"),
        (0, "step", 0, 0, "chat"),
    ]


def test_stop_on_acknowledged_stops_unresolved_steps_after_the_ack():
    snap = make("stop_on = ['acknowledged']\n" + TWO_STEPS + 'condition = "unresolved"\n')
    assert timeline(snap, facts(ack=5)) == [(0, "step", 0, 0, "mail"), (0, "step", 0, 0, "chat")]


def test_step_due_at_the_start_fires_even_if_acknowledged_later():
    assert len(timeline(make(TWO_STEPS), facts(ack=0.5))) == 2


# -- windows -------------------------------------------------------------------------------------

# START is 03:00 in Paris on a Monday: outside office hours, inside the night window.
WINDOWED = """
match = { any_component = true }
[[paths.p.steps]]
after_minutes = 10
notify = ["chat"]
only_during = "office"
"""


def test_step_outside_its_window_is_deferred_to_the_opening():
    due = plan(make(WINDOWED), facts(), FAR).due
    assert [d.at for d in due] == [datetime(2026, 1, 5, 8, 0, tzinfo=UTC)]  # 09:00 Paris


def test_step_outside_its_window_is_dropped_with_skip():
    assert timeline(make(WINDOWED + 'outside_window = "skip"\n'), facts()) == []


def test_step_inside_its_window_fires_on_time():
    snap = make(WINDOWED.replace('"office"', '"nights"'))
    assert timeline(snap, facts()) == [(10, "step", 0, 0, "chat")]


def test_deferred_step_is_skipped_if_acknowledged_before_the_window_opens():
    assert timeline(make(WINDOWED), facts(ack=120)) == []


def test_deferred_step_is_dropped_if_resolved_before_the_window_opens():
    assert timeline(make(WINDOWED), facts(resolve=120)) == []


def test_deferral_across_the_spring_clock_change_keeps_the_local_opening():
    # Friday 2026-03-27 19:00 in Paris; the office opens Monday 09:00, now at +02:00.
    friday_evening = datetime(2026, 3, 27, 18, 0, tzinfo=UTC)
    result = plan(make(WINDOWED), facts(start=friday_evening), friday_evening + timedelta(days=4))
    assert [d.at for d in result.due] == [datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]


def test_overnight_window_defers_to_the_evening():
    snap = make(WINDOWED.replace('"office"', '"nights"').replace("= 10", "= 300"))
    # 03:00 + 300 minutes = 08:00 Paris: the night window opens again at 22:00 Paris.
    assert [d.at for d in plan(snap, facts(), FAR).due] == [datetime(2026, 1, 5, 21, 0, tzinfo=UTC)]


# -- repeats -------------------------------------------------------------------------------------

REPEATED = """
match = { any_component = true }
[[paths.p.steps]]
after_minutes = 0
notify = ["mail"]
[[paths.p.steps]]
after_minutes = 10
notify = ["chat"]
[[paths.p.steps]]
after_minutes = 25
notify = ["pd"]
[paths.p.repeat]
times = 2
from_step = 1
after_minutes = 30
"""


def test_repeat_runs_the_steps_from_from_step_keeping_their_relative_offsets():
    # Loop 1 starts 30 minutes after the last step (25): 55 and 55 + 15; loop 2: 100, 115.
    assert timeline(make(REPEATED), facts()) == [
        (0, "step", 0, 0, "mail"),
        (10, "step", 1, 0, "chat"),
        (25, "step", 2, 0, "pd"),
        (55, "repeat", 1, 1, "chat"),
        (70, "repeat", 2, 1, "pd"),
        (100, "repeat", 1, 2, "chat"),
        (115, "repeat", 2, 2, "pd"),
    ]


def test_repeat_keys_carry_the_loop_number():
    keys = [d.key for d in plan(make(REPEATED), facts(), FAR).due]
    assert keys[3:5] == ["7:p:1:1:chat", "7:p:2:1:pd"]
    assert len(set(keys)) == len(keys)


def test_repeats_of_unacknowledged_steps_stop_at_the_ack():
    assert timeline(make(REPEATED), facts(ack=60))[-1] == (55, "repeat", 1, 1, "chat")


def test_repeat_of_a_whole_single_step_path():
    snap = make(
        "match = { any_component = true }\n[[paths.p.steps]]\nafter_minutes = 5\n"
        'notify = ["mail"]\n[paths.p.repeat]\ntimes = 3\nafter_minutes = 20\n'
    )
    assert [row[0] for row in timeline(snap, facts())] == [5, 25, 45, 65]


def test_repeats_in_a_window_are_deferred_like_first_passes():
    snap = make(
        WINDOWED.replace('"office"', '"nights"')
        + "[paths.p.repeat]\ntimes = 2\nafter_minutes = 120\n"
    )
    # 03:10, then 05:10 (night), then 07:10 Paris -> deferred to 22:00 Paris.
    assert [d.at.astimezone(UTC).hour * 60 + d.at.minute for d in plan(snap, facts(), FAR).due] == [
        2 * 60 + 10,
        4 * 60 + 10,
        21 * 60,
    ]


def test_loops_deferred_to_the_same_opening_are_sent_once():
    snap = make(WINDOWED + "[paths.p.repeat]\ntimes = 3\nafter_minutes = 30\n")
    # 03:10, 03:40, 04:10 and 04:40 in Paris all wait for 09:00: one message, not four.
    assert timeline(snap, facts()) == [(360, "step", 0, 0, "chat")]


# -- resolve -------------------------------------------------------------------------------------


def test_resolve_stops_steps_and_repeats():
    kinds = {row[1] for row in timeline(make(REPEATED), facts(resolve=60))}
    assert kinds == {"step", "repeat", "resolved"}
    assert max(row[0] for row in timeline(make(REPEATED), facts(resolve=60))) == 60


def test_resolve_sends_a_pagerduty_resolve_for_each_trigger_with_its_dedup_key():
    due = plan(make(REPEATED), facts(resolve=80), FAR).due
    resolves = [d for d in due if d.kind == "resolved"]
    assert [(d.at, d.channel, d.key, d.dedup_key) for d in resolves] == [
        (at(80), "pd", "7:p:2:0:pd:resolved", "7:p:2:0:pd"),
        (at(80), "pd", "7:p:2:1:pd:resolved", "7:p:2:1:pd"),
    ]


def test_resolve_sends_nothing_to_channels_that_are_not_pagerduty():
    snap = make(TWO_STEPS.replace('notify = ["pd"]', 'notify = ["mail"]'))
    assert [row for row in timeline(snap, facts(resolve=30)) if row[1] == "resolved"] == []


def test_resolve_before_the_pagerduty_step_sends_no_resolve():
    assert [row[1] for row in timeline(make(TWO_STEPS), facts(resolve=10))] == ["step", "step"]


# -- update reminders ----------------------------------------------------------------------------

REMINDERS = """
match = { any_component = true }
[paths.p.update_reminders]
every_minutes = 30
remind = ["chat"]
escalate_after_missed = 2
escalate_to = ["mail"]
"""


def test_reminders_come_every_minutes_without_a_public_update():
    rows = timeline(make(REMINDERS), facts(resolve=100))
    assert [row for row in rows if row[1] == "reminder"] == [
        (30, "reminder", None, 1, "chat"),
        (60, "reminder", None, 2, "chat"),
        (90, "reminder", None, 3, "chat"),
    ]


def test_missed_update_escalation_starts_at_escalate_after_missed():
    rows = timeline(make(REMINDERS), facts(resolve=100))
    assert [row for row in rows if row[1] == "missed_update_escalation"] == [
        (60, "missed_update_escalation", None, 2, "mail"),
        (90, "missed_update_escalation", None, 3, "mail"),
    ]


def test_public_update_resets_the_reminder_clock_and_the_missed_count():
    rows = timeline(make(REMINDERS), facts(updates=[50], resolve=150))
    assert rows == [
        (30, "reminder", None, 1, "chat"),
        (80, "reminder", None, 2, "chat"),
        (110, "reminder", None, 3, "chat"),
        (110, "missed_update_escalation", None, 3, "mail"),
        (140, "reminder", None, 4, "chat"),
        (140, "missed_update_escalation", None, 4, "mail"),
    ]


def test_update_exactly_at_the_reminder_time_is_in_time():
    rows = timeline(make(REMINDERS), facts(updates=[30], resolve=61))
    assert rows == [(60, "reminder", None, 1, "chat")]


def test_updates_before_the_run_started_do_not_count():
    later = START + timedelta(minutes=20)
    fact = IncidentFacts(incident_id=1, started_at=later, public_update_times=[START])
    first = plan(make(REMINDERS), fact, FAR).due[0]
    assert first.at == later + timedelta(minutes=30)


def test_missed_count_is_carried_on_the_due():
    due = plan(make(REMINDERS), facts(resolve=100), FAR).due
    assert [(d.kind, d.missed) for d in due] == [
        ("reminder", 1),
        ("reminder", 2),
        ("missed_update_escalation", 2),
        ("reminder", 3),
        ("missed_update_escalation", 3),
    ]


def test_reminder_keys_number_reminders_across_the_run():
    due = plan(make(REMINDERS), facts(updates=[40], resolve=101), FAR).due
    # 30, then the clock restarts at the update (40): 70, 100 (the second missed in a row).
    assert [d.key for d in due] == [
        "7:p:reminder:1:chat",
        "7:p:reminder:2:chat",
        "7:p:reminder:3:chat",
        "7:p:missed:3:mail",
    ]


def test_reminders_go_on_after_the_ack_with_stop_on_acknowledged():
    snap = make("stop_on = ['acknowledged']\n" + REMINDERS)
    assert len(timeline(snap, facts(ack=1, resolve=95))) == 5


def test_reminders_stop_at_the_resolve():
    assert timeline(make(REMINDERS), facts(resolve=30)) == []


def test_reminders_go_on_until_resolved_and_next_at_points_to_the_next_one():
    result = plan(make(REMINDERS), facts(), at(100))
    assert [d.at for d in result.due if d.kind == "reminder"] == [at(30), at(60), at(90)]
    assert result.next_at == at(120)


def test_reminders_to_pagerduty_are_resolved_too():
    snap = make(REMINDERS.replace('remind = ["chat"]', 'remind = ["pd"]'))
    due = plan(snap, facts(resolve=45), FAR).due
    assert [(d.kind, d.key, d.dedup_key) for d in due] == [
        ("reminder", "7:p:reminder:1:pd", "7:p:reminder:1:pd"),
        ("resolved", "7:p:reminder:1:pd:resolved", "7:p:reminder:1:pd"),
    ]


def test_last_update_before_is_the_start_when_there_is_none():
    fact = facts(updates=[10, 40])
    assert last_update_before(fact, at(5)) == START
    assert last_update_before(fact, at(39)) == at(10)
    assert last_update_before(fact, at(40)) == at(40)


# -- next_at, until ------------------------------------------------------------------------------


def test_next_at_is_the_first_due_time_after_until():
    result = plan(make(TWO_STEPS), facts(), at(5))
    assert len(result.due) == 2
    assert result.next_at == at(15)


def test_next_at_is_none_when_nothing_is_left():
    assert plan(make(TWO_STEPS), facts(), at(15)).next_at is None


def test_due_exactly_at_until_is_included():
    assert len(plan(make(TWO_STEPS), facts(), at(15)).due) == 3


def test_next_at_after_a_future_resolve_is_the_resolve():
    result = plan(make(TWO_STEPS), facts(resolve=60), at(30))
    assert result.next_at == at(60)


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshot_round_trips_through_json_to_the_same_path():
    windowed_step = '[[paths.p.steps]]\nafter_minutes = 40\nnotify = ["chat"]\n'
    windowed_step += 'only_during = "office"\noutside_window = "skip"\n'
    raw = tomllib.loads(CHANNELS + "[paths.p]\n" + REPEATED + windowed_step)
    config = parse_escalation(raw, source="t", environ={})
    data = json.loads(json.dumps(snapshot(config.paths["p"], config.windows, config.channels)))
    back = from_snapshot(data)
    assert back.path == config.paths["p"]
    assert dict(back.windows) == {"office": config.windows["office"]}
    assert dict(back.channel_types) == {"mail": "smtp", "chat": "slack", "pd": "pagerduty"}


def test_snapshot_holds_only_the_windows_and_channels_the_path_uses():
    snap = make(WINDOWED)
    assert list(snap["windows"]) == ["office"]
    assert snap["channels"] == {"chat": "slack"}


def test_plan_from_the_snapshot_dict_equals_plan_from_the_parsed_snapshot():
    snap = make(REPEATED)
    assert plan(snap, facts(ack=60), FAR) == plan(from_snapshot(snap), facts(ack=60), FAR)


@pytest.mark.parametrize(
    "broken",
    [
        {"format": 2},
        {"format": 1, "name": "p", "windows": {}, "channels": {"x": "fax"}, "path": {}},
        {"format": 1, "name": "p", "windows": {}, "channels": {}, "path": {"match": {}}},
        ["not", "a", "table"],
    ],
)
def test_malformed_snapshot_is_refused(broken):
    with pytest.raises(ConfigError, match=r"^escalation run snapshot: "):
        from_snapshot(broken)


def test_keys_are_stable_across_calls():
    first = plan(make(REPEATED), facts(resolve=200), FAR)
    again = plan(make(REPEATED), facts(resolve=200), FAR)
    assert [d.key for d in first.due] == [d.key for d in again.due]


def test_two_incidents_never_share_a_key():
    one = {d.key for d in plan(make(REPEATED), facts(incident=1), FAR).due}
    two = {d.key for d in plan(make(REPEATED), facts(incident=2), FAR).due}
    assert one and two and not one & two


def test_facts_need_an_incident_id():
    with pytest.raises(TypeError):
        IncidentFacts(started_at=START)  # type: ignore[call-arg]


# -- the properties the worker relies on -------------------------------------------------------


def random_path(rng: random.Random) -> str:
    channels = ["mail", "chat", "pd"]
    lines = [
        "match = { any_component = true }",
        f"stop_on = {rng.choice([[], ['acknowledged']])!r}".replace("'", '"'),
    ]
    offset = 0
    count = rng.randint(1, 4)
    for _ in range(count):
        offset += rng.choice([0, 5, 15, 40, 300])
        lines += [
            "[[paths.p.steps]]",
            f"after_minutes = {offset}",
            f'notify = ["{rng.choice(channels)}"]',
            f'condition = "{rng.choice(["unacknowledged", "unresolved"])}"',
        ]
        if rng.random() < 0.4:
            lines.append(f'only_during = "{rng.choice(["office", "nights"])}"')
            lines.append(f'outside_window = "{rng.choice(["defer", "skip"])}"')
    if rng.random() < 0.6:
        lines += [
            "[paths.p.repeat]",
            f"times = {rng.randint(1, 3)}",
            f"from_step = {rng.randrange(count)}",
            f"after_minutes = {rng.choice([10, 30, 90])}",
        ]
    if rng.random() < 0.6:
        lines += [
            "[paths.p.update_reminders]",
            f"every_minutes = {rng.choice([10, 25, 60])}",
            f'remind = ["{rng.choice(channels)}"]',
            "escalate_after_missed = 2",
            'escalate_to = ["pd"]',
        ]
    return "\n".join(lines) + "\n"


def random_facts(rng: random.Random) -> IncidentFacts:
    start = START + timedelta(minutes=rng.randrange(0, 7 * 24 * 60, 7))
    maybe = lambda: None if rng.random() < 0.3 else start + timedelta(minutes=rng.randrange(600))  # noqa: E731
    updates = [start + timedelta(minutes=rng.randrange(-30, 600)) for _ in range(rng.randint(0, 4))]
    return IncidentFacts(
        incident_id=rng.randrange(100),
        started_at=start,
        acknowledged_at=maybe(),
        resolved_at=maybe(),
        public_update_times=updates,
    )


CASES = [
    (random_path(random.Random(seed)), random_facts(random.Random(-seed))) for seed in range(60)
]


@pytest.mark.parametrize(("path", "fact"), CASES)
def test_plan_until_earlier_is_a_prefix_of_plan_until_later(path, fact):
    snap = make(path)
    moments = [fact.started_at + timedelta(minutes=m) for m in (0, 1, 14, 15, 59, 240, 900)]
    moments.append(fact.started_at + timedelta(days=2))
    plans = [plan(snap, fact, moment) for moment in moments]
    for (t1, p1), p2 in zip(zip(moments, plans, strict=True), plans[1:], strict=False):
        assert set(p1.due) <= set(p2.due)
        assert p1.due == tuple(d for d in p2.due if d.at <= t1)
        later = [d.at for d in p2.due if d.at > t1]
        if later:
            assert p1.next_at == min(later)


@pytest.mark.parametrize(("path", "fact"), CASES)
def test_facts_learned_later_do_not_change_what_was_due_before(path, fact):
    # The worker plans with the facts known so far: an ack, update or resolve at T changes
    # nothing due before T, so rows already written stay right.
    snap = make(path)
    moments = [fact.acknowledged_at, fact.resolved_at, *fact.public_update_times]
    for moment in [m for m in moments if m is not None]:
        earlier = IncidentFacts(
            incident_id=fact.incident_id,
            started_at=fact.started_at,
            acknowledged_at=_before(fact.acknowledged_at, moment),
            resolved_at=_before(fact.resolved_at, moment),
            public_update_times=[u for u in fact.public_update_times if u < moment],
        )
        known_then = plan(snap, earlier, FAR + timedelta(days=10))
        known_now = plan(snap, fact, FAR + timedelta(days=10))
        assert [d for d in known_then.due if d.at < moment] == [
            d for d in known_now.due if d.at < moment
        ]


def _before(value: datetime | None, moment: datetime) -> datetime | None:
    return value if value is not None and value < moment else None


@pytest.mark.parametrize(("path", "fact"), CASES)
def test_every_key_is_unique_within_a_plan(path, fact):
    due = plan(make(path), fact, FAR + timedelta(days=10)).due
    keys = [d.key for d in due]
    assert len(keys) == len(set(keys))
    assert all(isinstance(d, Due) and d.at.tzinfo is not None for d in due)
