"""Communication plan files (core/plans.py, pure): the format, its errors, matching, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core import plans
from statuspage.core.enums import IncidentKind
from tests.support import plans as plan_support

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
FACTS = {
    "outage-investigating": plans.MessageFacts(IncidentKind.INCIDENT, "investigating"),
    "outage-identified": plans.MessageFacts(IncidentKind.INCIDENT, "identified"),
    "outage-monitoring": plans.MessageFacts(IncidentKind.INCIDENT, "monitoring"),
    "outage-resolved": plans.MessageFacts(IncidentKind.INCIDENT, "resolved"),
    "maintenance-started": plans.MessageFacts(IncidentKind.MAINTENANCE, "in_progress"),
}
STATUSES = {slug: facts.status for slug, facts in FACTS.items()}


def parse(text: str, name: str = "critical") -> plans.Plan:
    return plans.parse_plan(text, f"{name}.md")


def problems(text: str, name: str = "critical") -> list[str]:
    with pytest.raises(plans.PlanError) as caught:
        parse(text, name)
    return [str(p) for p in caught.value.problems]


def test_the_starter_plans_are_valid_and_name_only_known_messages():
    found, wrong = plans.check_directory(plan_support.PLANS)
    assert wrong == []
    assert {p.id for p in found} == {"critical", "major", "minor", "maintenance"}
    from statuspage.core import library

    messages, _ = library.check_directory(plan_support.MESSAGES)
    facts = {m.id: plans.MessageFacts(m.kind, m.status.value) for m in messages}
    pairs = [(f"{p.id}.md", p) for p in found]
    assert plans.check_references(pairs, messages=facts, paths=()) == []


def test_a_plan_reads_its_cadence_sequence_and_approval():
    plan = parse(plan_support.plan_text())
    assert plan.cadence_for("investigating") == timedelta(minutes=30)
    assert plan.cadence_for("resolved") is None
    assert plan.sequence[0] == "outage-investigating"
    assert plan.approval is not None and plan.approval.count == 1
    assert plan.approval.needed(opening=True, closing=False)
    assert not plan.approval.needed(opening=False, closing=False)
    assert plan.approval.needed(opening=False, closing=True)
    assert plan.body == "Call the incident lead first."


def test_only_admins_and_named_users_approve():
    plan = parse(plan_support.plan_text(approval_extra='users = ["Ed@Example.com"]'))
    rule = plan.approval
    assert rule.may_approve("admin", "boss@example.com")
    assert rule.may_approve("editor", "ed@example.com")
    assert not rule.may_approve("editor", "other@example.com")
    assert not rule.may_approve("viewer", "ed@example.com")
    assert rule.approvers == "an admin or ed@example.com"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        ('role = "admin"', 20, "unknown role 'owner'"),
        ('updates = ["first", "resolve"]', 19, "'updates' is one or a list of"),
        ("count = 1", 21, "'count' must be from 1 to 10"),
        ("investigating = 30", 10, "'investigating' must be from 1 to 10080"),
        ('impact_in = ["critical"]', 7, "impact_in lists impacts from"),
    ],
)
def test_a_wrong_setting_is_reported_on_its_line(change, line, message):
    wrong = {
        'role = "admin"': 'role = "owner"',
        'updates = ["first", "resolve"]': 'updates = ["second"]',
        "count = 1": "count = 0",
        "investigating = 30": "investigating = 0",
        'impact_in = ["critical"]': 'impact_in = ["huge"]',
    }[change]
    text = plan_support.plan_text().replace(change, wrong, 1)
    found = problems(text)
    assert any(p.startswith(f"critical.md:{line}: ") and message in p for p in found), found


def test_unknown_keys_and_half_given_pairs_are_refused_with_their_lines():
    text = plan_support.plan_text(approval_extra="wait_minutes = 10\ncolour = 3")
    found = problems(text)
    assert any(p.startswith("critical.md:22: wait_minutes and escalate_to") for p in found), found
    assert any(p.startswith("critical.md:23: unknown key 'colour'") for p in found), found


def test_a_viewer_role_cannot_approve():
    text = plan_support.plan_text().replace('role = "admin"', 'role = "viewer"')
    assert any("a viewer cannot publish" in p for p in problems(text))


def test_the_id_must_match_the_file_name():
    assert any("does not match the file name" in p for p in problems(plan_support.plan_text(), "x"))


def test_references_to_unknown_messages_paths_and_users_are_reported_with_their_lines():
    text = plan_support.plan_text(
        approval_extra='users = ["ghost@example.com"]\nnotify = "approvers"',
        rest='[reminders]\npath = "comms"',
    ).replace('"outage-resolved"', '"outage-gone"')
    plan = parse(text)
    found = [
        str(p)
        for p in plans.check_references(
            [("critical.md", plan)], messages=FACTS, paths=["comms"], users={}
        )
    ]
    assert found == [
        "critical.md:15: sequence.messages[3]: unknown message 'outage-gone'",
        "critical.md:22: approval.users: no user 'ghost@example.com'",
        "critical.md:23: approval.notify: unknown escalation path 'approvers' (known: comms)",
    ]


def test_a_message_of_the_other_kind_is_refused():
    text = plan_support.plan_text().replace('"outage-resolved"', '"maintenance-started"')
    found = plans.check_references([("c.md", parse(text))], messages=FACTS, paths=())
    assert "is a maintenance message" in str(found[0])


def test_the_first_plan_by_priority_matches():
    critical = parse(plan_support.plan_text())
    text = plan_support.plan_text("api").replace("priority = 10", "priority = 5")
    api = parse(text.replace('impact_in = ["critical"]', 'components = ["API"]'), "api")
    assert plans.matching_plan([critical, api], "incident", "critical", ["Web"]) is critical
    assert plans.matching_plan([critical, api], "incident", "critical", ["api"]) is api
    assert plans.matching_plan([critical, api], "incident", "minor", ["Web"]) is None
    assert plans.matching_plan([critical, api], "maintenance", "maintenance", ["api"]) is None


def progress(plan, **facts):
    values = {
        "status": "investigating",
        "last_update_at": NOW,
        "promised_at": None,
        "resolved_at": None,
        "postmortem_published": False,
        "used_messages": ["outage-investigating"],
        "message_statuses": STATUSES,
    }
    return plans.progress(plan, **(values | facts))


def test_the_next_update_is_due_after_the_cadence_unless_a_promise_says_otherwise():
    plan = parse(plan_support.plan_text())
    due = progress(plan).next_update_due
    assert due == NOW + timedelta(minutes=30)
    assert not progress(plan).overdue(NOW + timedelta(minutes=29))
    assert progress(plan).overdue(NOW + timedelta(minutes=31))
    promised = NOW + timedelta(minutes=10)
    assert progress(plan, promised_at=promised).next_update_due == promised
    assert progress(plan, status="monitoring").next_update_due == NOW + timedelta(minutes=60)
    assert progress(plan, status="resolved").next_update_due is None


def test_the_cadence_is_counted_in_utc_across_a_clock_change():
    # 29 March 2026: Europe's clocks move at 01:00 UTC; the plan's 30 minutes stay 30 minutes.
    plan = parse(plan_support.plan_text())
    assert progress(plan).next_update_due - NOW == timedelta(minutes=30)


def test_the_next_message_skips_used_ones_and_those_behind_the_status():
    plan = parse(plan_support.plan_text())
    assert progress(plan).next_message == "outage-identified"
    assert progress(plan, status="monitoring").next_message == "outage-resolved"
    used = ["outage-investigating", "outage-identified", "outage-monitoring", "outage-resolved"]
    assert progress(plan, status="resolved", used_messages=used).next_message is None


def test_a_postmortem_falls_due_after_the_resolve():
    plan = parse(plan_support.plan_text())
    resolved = progress(plan, status="resolved", resolved_at=NOW)
    assert resolved.postmortem_due == NOW + timedelta(days=5)
    done = progress(plan, status="resolved", resolved_at=NOW, postmortem_published=True)
    assert done.postmortem_due is None


def test_a_user_or_a_message_named_twice_is_refused():
    text = plan_support.plan_text(approval_extra='users = ["Ed@example.com", "ed@example.com"]')
    assert any("a user is named twice" in p for p in problems(text))
    text = plan_support.plan_text().replace('"outage-resolved"', '"outage-identified"')
    assert any("a message is named twice" in p for p in problems(text))


def test_approvers_are_said_in_words():
    rule = parse(plan_support.plan_text(count=2)).approval
    assert rule.approvers == "2 different people among admins"


def test_arrays_nested_too_deeply_are_a_problem_not_a_crash():
    text = plan_support.plan_text().replace(
        'impact_in = ["critical"]', "impact_in = " + "[" * 5000 + "]" * 5000
    )
    assert any("nested too deeply" in p for p in problems(text))
