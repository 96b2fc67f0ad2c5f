"""Reliability figures (issue 15), pure: constructed histories in, figures out, no app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from statuspage.core.enums import ComponentStatus as C
from statuspage.core.enums import Impact
from statuspage.core.reliability import (
    ComponentHistory,
    ComponentInterval,
    Counting,
    IncidentFacts,
    Period,
    PeriodUptime,
    PromiseOutcome,
    PublicUpdate,
    SlaTarget,
    component_uptime,
    evaluate_sla,
    incident_figures,
    incident_stats,
    parse_sla,
    percentile,
    sla_figures,
    summarize,
    uptime_from_days,
)
from statuspage.core.uptime import Change, daily_uptime, day_from_seconds, problem_seconds
from statuspage.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
HOUR = 3600.0
DAY = 24 * HOUR


def t(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def mins(n: float) -> timedelta:
    return timedelta(minutes=n)


def update(minute: float, status: str = "investigating", promise: float | None = None):
    return PublicUpdate(t(minute), status, None if promise is None else t(promise))


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)  # type: ignore[misc]


# -- per incident: reaction times ------------------------------------------------------------------


def test_time_to_acknowledge_runs_from_the_alert():
    facts = IncidentFacts(started_at=t(0), detected_at=t(5), acknowledged_at=t(12))
    assert incident_figures(facts, now=t(60)).time_to_acknowledge == mins(7)


def test_time_to_acknowledge_runs_from_the_start_without_an_alert():
    facts = IncidentFacts(started_at=t(0), acknowledged_at=t(12))
    assert incident_figures(facts, now=t(60)).time_to_acknowledge == mins(12)


def test_an_unacknowledged_incident_has_no_time_to_acknowledge():
    facts = IncidentFacts(started_at=t(0))
    assert incident_figures(facts, now=t(60)).time_to_acknowledge is None


def test_time_to_first_update_runs_from_the_alert():
    facts = IncidentFacts(started_at=t(0), detected_at=t(10), updates=[update(25)])
    assert incident_figures(facts, now=t(60)).time_to_first_update == mins(15)


def test_time_to_first_update_runs_from_the_start_without_an_alert():
    facts = IncidentFacts(started_at=t(0), updates=[update(25)])
    assert incident_figures(facts, now=t(60)).time_to_first_update == mins(25)


def test_an_update_published_before_the_alert_arrived_counts_as_immediate():
    facts = IncidentFacts(started_at=t(0), detected_at=t(30), updates=[update(20)])
    assert incident_figures(facts, now=t(60)).time_to_first_update == timedelta(0)


def test_an_incident_without_updates_has_no_time_to_first_update():
    figures = incident_figures(IncidentFacts(started_at=t(0)), now=t(60))
    assert figures.time_to_first_update is None
    assert figures.longest_gap is None


def test_updates_given_in_any_order_are_read_in_time_order():
    facts = IncidentFacts(started_at=t(0), updates=[update(90), update(10), update(30)])
    figures = incident_figures(facts, now=t(120))
    assert figures.time_to_first_update == mins(10)
    assert figures.gaps == (mins(20), mins(60))


def test_the_longest_gap_is_the_longest_between_consecutive_updates():
    facts = IncidentFacts(
        started_at=t(0), updates=[update(0), update(15), update(100), update(130)]
    )
    assert incident_figures(facts, now=t(200)).longest_gap == mins(85)


def test_one_update_leaves_no_gap():
    facts = IncidentFacts(started_at=t(0), updates=[update(5)])
    figures = incident_figures(facts, now=t(60))
    assert figures.gaps == ()
    assert figures.longest_gap is None


# -- per incident: promises ------------------------------------------------------------------------


def outcomes(facts: IncidentFacts, now: datetime) -> list[PromiseOutcome]:
    return [p.outcome for p in incident_figures(facts, now=now).promises]


def test_a_promise_is_kept_by_an_update_at_the_promised_time():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30), update(30)])
    assert outcomes(facts, t(60)) == [PromiseOutcome.KEPT]


def test_a_promise_is_broken_by_an_update_after_the_promised_time():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30), update(31)])
    figures = incident_figures(facts, now=t(60))
    assert (figures.promises_kept, figures.promises_broken) == (0, 1)


def test_a_promise_is_kept_when_the_resolving_update_came_in_time():
    facts = IncidentFacts(
        started_at=t(0),
        updates=[update(0, promise=30), update(20, "resolved")],
        resolved_at=t(20),
    )
    assert outcomes(facts, t(60)) == [PromiseOutcome.KEPT]


def test_a_promise_is_kept_when_the_incident_was_resolved_by_then_without_an_update():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30)], resolved_at=t(25))
    assert outcomes(facts, t(60)) == [PromiseOutcome.KEPT]


def test_a_promise_in_the_resolving_update_itself_is_kept():
    facts = IncidentFacts(
        started_at=t(0), updates=[update(40, "resolved", promise=60)], resolved_at=t(40)
    )
    assert outcomes(facts, t(200)) == [PromiseOutcome.KEPT]


def test_a_closed_incident_resolved_after_the_promised_time_broke_the_promise():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30)], resolved_at=t(45))
    assert outcomes(facts, t(60)) == [PromiseOutcome.BROKEN]


def test_an_open_incidents_promise_past_due_at_now_is_broken():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30)])
    assert outcomes(facts, t(31)) == [PromiseOutcome.BROKEN]


def test_an_open_incidents_promise_not_yet_due_is_neither_kept_nor_broken():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30)])
    figures = incident_figures(facts, now=t(20))
    assert figures.promises[0].outcome is PromiseOutcome.PENDING
    assert (figures.promises_kept, figures.promises_broken, figures.promises_pending) == (0, 0, 1)


def test_a_promise_due_exactly_now_is_still_pending():
    facts = IncidentFacts(started_at=t(0), updates=[update(0, promise=30)])
    assert outcomes(facts, t(30)) == [PromiseOutcome.PENDING]


def test_each_update_that_promises_is_judged_on_its_own():
    facts = IncidentFacts(
        started_at=t(0),
        updates=[update(0, promise=30), update(25), update(40, promise=60), update(75)],
    )
    assert outcomes(facts, t(100)) == [PromiseOutcome.KEPT, PromiseOutcome.BROKEN]


# -- per incident: resolving, reopening ------------------------------------------------------------


def test_an_open_incident_has_no_time_to_resolve():
    facts = IncidentFacts(started_at=t(0), updates=[update(0)])
    assert incident_figures(facts, now=t(600)).time_to_resolve is None


def test_time_to_resolve_runs_from_the_start_to_the_resolve():
    facts = IncidentFacts(started_at=t(0), detected_at=t(10), resolved_at=t(95))
    assert incident_figures(facts, now=t(600)).time_to_resolve == mins(95)


def test_a_reopened_incident_is_open_again_and_has_no_time_to_resolve():
    facts = IncidentFacts(
        started_at=t(0),
        updates=[update(0), update(60, "resolved"), update(90, "investigating")],
        resolved_at=t(60),
        reopened=True,
    )
    assert facts.is_open
    assert incident_figures(facts, now=t(120)).time_to_resolve is None


def test_a_reopened_incident_resolved_again_counts_to_the_last_resolve():
    facts = IncidentFacts(
        started_at=t(0),
        updates=[update(0), update(60, "resolved"), update(90), update(150, "resolved")],
        resolved_at=t(150),
    )
    assert incident_figures(facts, now=t(600)).time_to_resolve == mins(150)


def test_a_reopened_incidents_component_time_runs_on_to_now():
    facts = IncidentFacts(
        started_at=t(0),
        resolved_at=t(60),
        reopened=True,
        components=[ComponentInterval(1, C.MAJOR_OUTAGE, t(0), None)],
    )
    durations = incident_figures(facts, now=t(100)).component_durations
    assert durations[1][C.MAJOR_OUTAGE] == mins(100)


def test_time_to_resolve_across_the_october_dst_change_is_elapsed_time():
    # 02:30 CEST on 25 October 2026, then 02:30 CET an hour later: same wall clock, one zone.
    facts = IncidentFacts(
        started_at=berlin(2026, 10, 25, 2, 30, fold=0),
        resolved_at=berlin(2026, 10, 25, 2, 30, fold=1),
    )
    figures = incident_figures(facts, now=datetime(2026, 10, 26, tzinfo=UTC))
    assert figures.time_to_resolve == timedelta(hours=1)


def test_time_to_first_update_across_the_march_dst_change_is_elapsed_time():
    # 01:50 CET to 03:10 CEST on 29 March 2026 is 20 minutes: 02:00 became 03:00.
    facts = IncidentFacts(
        started_at=berlin(2026, 3, 29, 1, 50),
        updates=[PublicUpdate(berlin(2026, 3, 29, 3, 10), "investigating")],
    )
    figures = incident_figures(facts, now=datetime(2026, 3, 30, tzinfo=UTC))
    assert figures.time_to_first_update == mins(20)


# -- per incident: components ----------------------------------------------------------------------


def test_component_time_is_split_by_status():
    facts = IncidentFacts(
        started_at=t(0),
        resolved_at=t(90),
        components=[
            ComponentInterval(1, C.MAJOR_OUTAGE, t(0), t(30)),
            ComponentInterval(1, C.PARTIAL_OUTAGE, t(30), t(90)),
            ComponentInterval(2, C.DEGRADED_PERFORMANCE, t(10), t(20)),
        ],
    )
    durations = incident_figures(facts, now=t(600)).component_durations
    assert dict(durations[1]) == {C.MAJOR_OUTAGE: mins(30), C.PARTIAL_OUTAGE: mins(60)}
    assert dict(durations[2]) == {C.DEGRADED_PERFORMANCE: mins(10)}


def test_component_time_is_clipped_to_the_incidents_span():
    facts = IncidentFacts(
        started_at=t(0),
        resolved_at=t(60),
        components=[ComponentInterval(1, C.MAJOR_OUTAGE, t(-30), t(120))],
    )
    assert incident_figures(facts, now=t(600)).component_durations[1][C.MAJOR_OUTAGE] == mins(60)


def test_component_time_of_an_open_incident_is_clipped_to_now():
    facts = IncidentFacts(
        started_at=t(0), components=[ComponentInterval(1, C.PARTIAL_OUTAGE, t(10), None)]
    )
    durations = incident_figures(facts, now=t(40)).component_durations
    assert durations[1][C.PARTIAL_OUTAGE] == mins(30)


def test_overlapping_intervals_of_one_component_and_status_count_once():
    facts = IncidentFacts(
        started_at=t(0),
        resolved_at=t(100),
        components=[
            ComponentInterval(1, C.MAJOR_OUTAGE, t(0), t(40)),
            ComponentInterval(1, C.MAJOR_OUTAGE, t(20), t(60)),
        ],
    )
    durations = incident_figures(facts, now=t(600)).component_durations
    assert durations[1][C.MAJOR_OUTAGE] == mins(60)


# -- periods ---------------------------------------------------------------------------------------


def test_march_2026_in_berlin_is_743_hours_long():
    assert Period.month(2026, 3, BERLIN).hours == 743


def test_october_2026_in_berlin_is_745_hours_long():
    assert Period.month(2026, 10, BERLIN).hours == 745


def test_a_month_runs_from_local_midnight_to_local_midnight():
    march = Period.month(2026, 3, BERLIN)
    assert march.start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert march.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert march.label == "2026-03"


def test_december_ends_at_the_next_new_year():
    december = Period.month(2026, 12, ZoneInfo("UTC"))
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_quarters_in_berlin_carry_their_dst_hour():
    assert Period.quarter(2026, 1, BERLIN).hours == 90 * 24 - 1
    assert Period.quarter(2026, 4, BERLIN).hours == 92 * 24 + 1
    assert Period.quarter(2026, 4, BERLIN).label == "2026-Q4"


def test_a_custom_period_is_labelled_with_its_instants():
    period = Period.custom(t(0), t(90))
    assert period.duration == mins(90)
    assert period.label == "2026-06-10T09:00Z/2026-06-10T10:30Z"


def test_a_period_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        Period.custom(datetime(2026, 1, 1), datetime(2026, 2, 1))


def test_a_period_refuses_to_end_before_it_starts():
    with pytest.raises(ValueError, match="end after"):
        Period.custom(t(10), t(10))


@pytest.mark.parametrize(("build", "number"), [(Period.month, 13), (Period.quarter, 5)])
def test_a_month_or_quarter_out_of_range_is_refused(build, number):
    with pytest.raises(ValueError):
        build(2026, number, BERLIN)


# -- uptime over a period --------------------------------------------------------------------------

JUNE = Period.month(2026, 6, ZoneInfo("UTC"))
JULY_1 = datetime(2026, 7, 1, tzinfo=UTC)
JUNE_SECONDS = 30 * DAY


def june(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def test_major_outage_counts_fully_and_partial_at_thirty_percent():
    changes = [
        Change(datetime(2026, 1, 1, tzinfo=UTC), C.OPERATIONAL),
        Change(june(3), C.MAJOR_OUTAGE),
        Change(june(3, 3), C.PARTIAL_OUTAGE),
        Change(june(3, 13), C.OPERATIONAL),
    ]
    uptime = component_uptime(changes, JUNE, now=JULY_1)
    assert uptime.known_seconds == JUNE_SECONDS
    assert uptime.downtime_seconds == 3 * HOUR + 0.3 * 10 * HOUR
    assert uptime.percent == pytest.approx(100 * (1 - 6 * HOUR / JUNE_SECONDS))


def test_degraded_time_is_not_downtime_by_default():
    changes = [Change(june(1), C.OPERATIONAL), Change(june(2), C.DEGRADED_PERFORMANCE)]
    assert component_uptime(changes, JUNE, now=JULY_1).downtime_seconds == 0


def test_degraded_time_counts_with_the_configured_weight():
    changes = [Change(june(1), C.DEGRADED_PERFORMANCE), Change(june(11), C.OPERATIONAL)]
    uptime = component_uptime(changes, JUNE, now=JULY_1, counting=Counting(count_degraded=0.5))
    assert uptime.downtime_seconds == 5 * DAY


def test_partial_outage_counts_with_the_configured_weight():
    changes = [Change(june(1), C.PARTIAL_OUTAGE), Change(june(2), C.OPERATIONAL)]
    uptime = component_uptime(changes, JUNE, now=JULY_1, counting=Counting(count_partial=1.0))
    assert uptime.downtime_seconds == DAY


def test_maintenance_time_leaves_the_known_time_by_default():
    changes = [
        Change(june(1), C.UNDER_MAINTENANCE),
        Change(june(1, 6), C.MAJOR_OUTAGE),
        Change(june(1, 12), C.OPERATIONAL),
    ]
    uptime = component_uptime(changes, JUNE, now=JULY_1)
    assert uptime.known_seconds == JUNE_SECONDS - 6 * HOUR
    assert uptime.downtime_seconds == 6 * HOUR
    assert uptime.seconds[C.UNDER_MAINTENANCE] == 6 * HOUR


def test_maintenance_time_counts_as_up_when_not_excluded():
    changes = [Change(june(1), C.UNDER_MAINTENANCE), Change(june(16), C.OPERATIONAL)]
    counting = Counting(exclude_maintenance=False)
    uptime = component_uptime(changes, JUNE, now=JULY_1, counting=counting)
    assert uptime.known_seconds == JUNE_SECONDS
    assert uptime.percent == 100.0


def test_a_period_entirely_under_excluded_maintenance_has_no_data():
    changes = [Change(june(1), C.UNDER_MAINTENANCE)]
    assert component_uptime(changes, JUNE, now=JULY_1).percent is None


def test_a_component_added_mid_month_counts_only_from_its_creation():
    created = june(16)
    changes = [Change(created, C.OPERATIONAL), Change(june(21), C.MAJOR_OUTAGE)]
    changes.append(Change(june(22), C.OPERATIONAL))
    uptime = component_uptime(changes, JUNE, now=JULY_1, created_at=created)
    assert uptime.known_seconds == 15 * DAY
    assert uptime.percent == pytest.approx(100 * (1 - 1 / 15))


def test_creation_time_cuts_a_history_that_starts_earlier():
    changes = [Change(datetime(2026, 1, 1, tzinfo=UTC), C.MAJOR_OUTAGE)]
    uptime = component_uptime(changes, JUNE, now=JULY_1, created_at=june(30))
    assert uptime.known_seconds == DAY


def test_time_before_the_first_change_has_no_data():
    uptime = component_uptime([Change(june(11), C.OPERATIONAL)], JUNE, now=JULY_1)
    assert uptime.known_seconds == 20 * DAY


def test_a_component_created_after_the_period_has_no_data():
    uptime = component_uptime([Change(JULY_1, C.OPERATIONAL)], JUNE, now=JULY_1, created_at=JULY_1)
    assert uptime.percent is None
    assert uptime.totals.percent is None


def test_a_period_still_running_counts_up_to_now():
    changes = [Change(june(1), C.OPERATIONAL), Change(june(10), C.MAJOR_OUTAGE)]
    uptime = component_uptime(changes, JUNE, now=june(11))
    assert uptime.known_seconds == 10 * DAY
    assert uptime.downtime_seconds == DAY


def test_overlapping_incidents_on_one_component_count_its_downtime_once():
    # Incident A takes the component down at 10:00, incident B marks it down again at 10:30;
    # A's resolve at 11:00 leaves B's partial outage until 12:00.
    changes = [
        Change(june(1), C.OPERATIONAL),
        Change(june(5, 10), C.MAJOR_OUTAGE),
        Change(june(5, 10) + timedelta(minutes=30), C.MAJOR_OUTAGE),
        Change(june(5, 11), C.PARTIAL_OUTAGE),
        Change(june(5, 12), C.OPERATIONAL),
    ]
    uptime = component_uptime(changes, JUNE, now=JULY_1)
    assert uptime.downtime_seconds == HOUR + 0.3 * HOUR


def test_a_history_given_out_of_order_is_read_in_time_order():
    changes = [
        Change(june(2), C.OPERATIONAL),
        Change(june(1), C.MAJOR_OUTAGE),
    ]
    uptime = component_uptime(changes, JUNE, now=JULY_1)
    assert uptime.downtime_seconds == DAY


def test_a_month_long_outage_across_the_march_dst_change_is_743_hours_down():
    march = Period.month(2026, 3, BERLIN)
    changes = [Change(datetime(2026, 2, 1, tzinfo=UTC), C.MAJOR_OUTAGE)]
    uptime = component_uptime(changes, march, now=datetime(2026, 5, 1, tzinfo=UTC))
    assert uptime.known_seconds == uptime.downtime_seconds == 743 * HOUR
    assert uptime.percent == 0.0


def test_an_outage_across_the_october_dst_night_counts_its_true_length():
    october = Period.month(2026, 10, BERLIN)
    changes = [
        Change(berlin(2026, 10, 1), C.OPERATIONAL),
        Change(berlin(2026, 10, 25, 0, 0), C.MAJOR_OUTAGE),
        Change(berlin(2026, 10, 25, 6, 0), C.OPERATIONAL),
    ]
    uptime = component_uptime(changes, october, now=datetime(2026, 11, 5, tzinfo=UTC))
    assert uptime.downtime_seconds == 7 * HOUR
    assert uptime.known_seconds == 745 * HOUR


def rolled_and_raw(changes: list[Change], month: int) -> tuple[PeriodUptime, PeriodUptime]:
    """The month's uptime from rolled-up days (as the rollup stores them) and from the history."""
    period = Period.month(2026, month, BERLIN)
    now = period.end
    counting = Counting(count_degraded=0.1)
    local_days = round(period.duration / timedelta(days=1)) + 1
    days = daily_uptime(changes, now=now, days=local_days, tz=BERLIN)
    # As stored in the rollup: the problem seconds only, operational time left out.
    stored = [day_from_seconds(d.day, d.known_seconds, problem_seconds(d)) for d in days]
    raw = component_uptime(changes, period, now=now, counting=counting)
    return uptime_from_days(stored, counting), raw


def test_rolled_up_days_give_the_same_uptime_as_the_raw_history():
    changes = [
        Change(datetime(2026, 1, 1, tzinfo=UTC), C.OPERATIONAL),
        Change(berlin(2026, 6, 9, 1, 0), C.MAJOR_OUTAGE),
        Change(berlin(2026, 6, 9, 4, 0), C.DEGRADED_PERFORMANCE),
        Change(berlin(2026, 6, 10, 10, 0), C.UNDER_MAINTENANCE),
        Change(berlin(2026, 6, 10, 12, 0), C.PARTIAL_OUTAGE),
        Change(berlin(2026, 6, 11, 12, 0), C.OPERATIONAL),
    ]
    rolled, raw = rolled_and_raw(changes, 6)
    assert rolled.known_seconds == raw.known_seconds == 30 * DAY - 2 * HOUR
    assert rolled.downtime_seconds == pytest.approx(raw.downtime_seconds)
    assert raw.downtime_seconds == pytest.approx(3 * HOUR + 0.1 * 30 * HOUR + 0.3 * 24 * HOUR)


def test_rolled_up_days_agree_with_the_raw_history_in_a_dst_month():
    rolled, raw = rolled_and_raw([Change(datetime(2026, 1, 1, tzinfo=UTC), C.OPERATIONAL)], 3)
    assert raw.known_seconds == 743 * HOUR
    assert rolled.known_seconds == raw.known_seconds


def test_totals_give_the_two_decimal_percent_the_public_page_shows():
    changes = [Change(june(1), C.OPERATIONAL), Change(june(30, 23), C.MAJOR_OUTAGE)]
    uptime = component_uptime(changes, JUNE, now=JULY_1)
    assert uptime.totals.percent == 99.86
    assert uptime.percent == pytest.approx(100 * (1 - 1 / 720))


def test_a_weight_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="count_degraded"):
        Counting(count_degraded=1.5)


# -- SLAs ------------------------------------------------------------------------------------------


def test_an_sla_table_with_only_the_required_keys_takes_the_default_counting():
    slas = parse_sla("site.toml", {"api": {"components": ["API"], "target": 99.9}})
    assert slas == {"api": SlaTarget("api", ("API",), 99.9, Counting())}
    assert slas["api"].counting == Counting(0.0, 0.3, exclude_maintenance=True)


def test_an_sla_table_sets_every_counting_option():
    data = {
        "web": {
            "components": ["Web", "CDN"],
            "target": 99,
            "count_degraded": 0.5,
            "count_partial": 1,
            "exclude_maintenance": False,
        }
    }
    sla = parse_sla("site.toml", data)["web"]
    assert sla.components == ("Web", "CDN")
    assert sla.target == 99.0
    assert sla.counting == Counting(0.5, 1.0, exclude_maintenance=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"api": {"target": 99.9}}, "sla.api.components: missing (required)"),
        ({"api": {"components": [], "target": 99.9}}, "sla.api.components: expected at least one"),
        ({"api": {"components": ["API", 3], "target": 99.9}}, "sla.api.components[1]: expected"),
        ({"api": {"components": ["API"]}}, "sla.api.target: missing (required)"),
        ({"api": {"components": ["API"], "target": "99.9"}}, "sla.api.target: expected an"),
        ({"api": {"components": ["API"], "target": 0}}, "sla.api.target: expected a percentage"),
        ({"api": {"components": ["API"], "target": 100.5}}, "sla.api.target: expected a perc"),
        (
            {"api": {"components": ["API"], "target": 99.9, "count_degraded": 2}},
            "sla.api.count_degraded: expected a weight from 0 to 1",
        ),
        (
            {"api": {"components": ["API"], "target": 99.9, "count_partial": True}},
            "sla.api.count_partial: expected an integer or float, got a boolean",
        ),
        (
            {"api": {"components": ["API"], "target": 99.9, "exclude_maintenance": "yes"}},
            "sla.api.exclude_maintenance: expected true or false",
        ),
        (
            {"api": {"components": ["API"], "target": 99.9, "targett": 99}},
            "sla.api.targett: unknown key",
        ),
        ({"api": "99.9"}, "sla.api: expected a table"),
        ({"a:b": {"components": ["API"], "target": 99.9}}, "sla.'a:b': a name is"),
        ([], "sla: expected tables"),
    ],
    ids=[
        "components missing",
        "components empty",
        "component not a string",
        "target missing",
        "target a string",
        "target zero",
        "target above 100",
        "weight above one",
        "weight a boolean",
        "exclude_maintenance a string",
        "misspelt key",
        "not a table",
        "bad name",
        "section not tables",
    ],
)
def test_a_malformed_sla_is_refused_naming_the_file_and_key(data, message):
    with pytest.raises(ConfigError) as caught:
        parse_sla("site.toml", data)
    assert str(caught.value).startswith(f"site.toml: {message}")


def history(*changes: Change, created_at: datetime | None = None) -> ComponentHistory:
    return ComponentHistory(list(changes), created_at)


API_SLA = SlaTarget("api", ("API",), 99.9)


def test_an_sla_with_downtime_inside_its_budget_is_met_with_budget_left():
    # 99.9 % of June's 30 days allows 2592 s; 592 s were down.
    api = history(Change(june(1), C.OPERATIONAL), Change(june(5, 10), C.MAJOR_OUTAGE))
    api.changes.append(Change(june(5, 10) + timedelta(seconds=592), C.OPERATIONAL))
    figures = sla_figures(API_SLA, JUNE, {"API": api}, now=JULY_1)
    assert figures.met is True
    assert figures.budget_allowed == 2592
    assert figures.budget_left == 2000
    assert figures.binding == "API"


def test_a_blown_sla_has_negative_budget_left():
    api = history(Change(june(1), C.OPERATIONAL), Change(june(5, 10), C.MAJOR_OUTAGE))
    api.changes.append(Change(june(5, 11), C.OPERATIONAL))
    figures = sla_figures(API_SLA, JUNE, {"API": api}, now=JULY_1)
    assert figures.met is False
    assert figures.budget_left == 2592 - 3600
    assert figures.achieved == pytest.approx(100 * (1 - 3600 / JUNE_SECONDS))


def test_downtime_exactly_the_budget_meets_the_sla_with_nothing_left():
    api = history(Change(june(1), C.OPERATIONAL), Change(june(5, 10), C.MAJOR_OUTAGE))
    api.changes.append(Change(june(5, 10) + timedelta(seconds=2592), C.OPERATIONAL))
    figures = sla_figures(API_SLA, JUNE, {"API": api}, now=JULY_1)
    assert figures.met is True
    assert figures.budget_left == 0


def test_a_group_sla_is_decided_by_its_worst_component():
    sla = SlaTarget("platform", ("API", "Web"), 99.0)
    histories = {
        "API": history(Change(june(1), C.OPERATIONAL)),
        "Web": history(Change(june(1), C.MAJOR_OUTAGE), Change(june(2), C.OPERATIONAL)),
    }
    figures = sla_figures(sla, JUNE, histories, now=JULY_1)
    assert figures.binding == "Web"
    assert figures.achieved == pytest.approx(100 * (1 - 1 / 30))
    assert figures.met is False
    assert figures.uptimes["API"].percent == 100.0


def test_an_sla_uses_its_own_counting():
    histories = {"API": history(Change(june(1), C.DEGRADED_PERFORMANCE))}
    lenient = sla_figures(API_SLA, JUNE, histories, now=JULY_1)
    strict = SlaTarget("api", ("API",), 99.9, Counting(count_degraded=1.0))
    assert lenient.met is True
    assert sla_figures(strict, JUNE, histories, now=JULY_1).achieved == 0.0


def test_an_sla_budget_for_a_component_added_mid_month_counts_from_its_creation():
    api = history(Change(june(16), C.OPERATIONAL), created_at=june(16))
    figures = sla_figures(API_SLA, JUNE, {"API": api}, now=JULY_1)
    assert figures.budget_allowed == pytest.approx(15 * DAY * 0.001)


def test_an_sla_names_components_case_insensitively_and_lists_the_missing():
    sla = SlaTarget("platform", ("api", "Queue"), 99.9)
    figures = sla_figures(sla, JUNE, {"API": history(Change(june(1), C.OPERATIONAL))}, now=JULY_1)
    assert figures.missing == ("Queue",)
    assert figures.binding == "api"


def test_an_sla_without_data_is_neither_met_nor_missed():
    figures = evaluate_sla(API_SLA, {"API": None})
    assert figures.met is None
    assert figures.achieved is None
    assert (figures.budget_allowed, figures.budget_left) == (0.0, 0.0)


def test_an_sla_refuses_uptime_counted_another_way():
    uptime = component_uptime(
        [Change(june(1), C.OPERATIONAL)], JUNE, now=JULY_1, counting=Counting(count_degraded=1)
    )
    with pytest.raises(ValueError, match=r"sla\.api"):
        evaluate_sla(API_SLA, {"API": uptime})


# -- aggregates ------------------------------------------------------------------------------------


def test_p90_of_one_value_is_that_value():
    assert percentile([mins(7)], 90) == mins(7)


def test_p90_of_two_values_is_the_larger():
    assert percentile([mins(9), mins(3)], 90) == mins(9)


def test_p90_of_ten_values_is_the_ninth_smallest():
    values = [mins(n) for n in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)]
    assert percentile(values, 90) == mins(9)


def test_a_percentile_of_nothing_is_none():
    assert percentile([], 90) is None


def test_a_summary_leaves_out_incidents_without_a_value():
    summary = summarize([mins(10), None, mins(20)])
    assert (summary.count, summary.mean, summary.p90) == (2, mins(15), mins(20))


def test_a_summary_of_no_values_has_no_mean():
    assert summarize([None]) == summarize([])


def test_incidents_are_counted_by_impact():
    incidents = [
        IncidentFacts(started_at=june(2), resolved_at=june(3), impact=Impact.MINOR),
        IncidentFacts(started_at=june(4), resolved_at=june(5), impact=Impact.MINOR),
        IncidentFacts(started_at=june(6), resolved_at=june(7), impact=Impact.CRITICAL),
    ]
    stats = incident_stats(incidents, JUNE, now=JULY_1)
    assert dict(stats.counts) == {
        Impact.NONE: 0,
        Impact.MINOR: 2,
        Impact.MAJOR: 0,
        Impact.CRITICAL: 1,
    }
    assert stats.total == 3


def test_mean_and_p90_come_from_incidents_with_a_value():
    incidents = [
        IncidentFacts(
            started_at=june(2),
            updates=[PublicUpdate(june(2) + mins(10), "investigating")],
            resolved_at=june(2, 2),
        ),
        IncidentFacts(
            started_at=june(8), updates=[PublicUpdate(june(8) + mins(30), "investigating")]
        ),
        IncidentFacts(started_at=june(9), resolved_at=june(9, 4)),
    ]
    stats = incident_stats(incidents, JUNE, now=JULY_1)
    assert stats.time_to_first_update == summarize([mins(10), mins(30)])
    assert stats.time_to_resolve.count == 2
    assert stats.time_to_resolve.mean == timedelta(hours=3)
    assert stats.time_to_resolve.p90 == timedelta(hours=4)


def test_an_incident_across_a_month_boundary_counts_in_both_months():
    # 31 March 23:30 to 1 April 00:30 in Berlin, just after the March DST change.
    incident = IncidentFacts(
        started_at=berlin(2026, 3, 31, 23, 30),
        resolved_at=berlin(2026, 4, 1, 0, 30),
        impact=Impact.MAJOR,
    )
    now = datetime(2026, 6, 1, tzinfo=UTC)
    march = incident_stats([incident], Period.month(2026, 3, BERLIN), now=now)
    april = incident_stats([incident], Period.month(2026, 4, BERLIN), now=now)
    assert march.counts[Impact.MAJOR] == april.counts[Impact.MAJOR] == 1


def test_an_incident_across_a_month_boundary_has_its_figures_in_the_month_it_started():
    incident = IncidentFacts(
        started_at=berlin(2026, 10, 31, 23, 0),
        resolved_at=berlin(2026, 11, 1, 1, 0),
        impact=Impact.MINOR,
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    october = incident_stats([incident], Period.month(2026, 10, BERLIN), now=now)
    november = incident_stats([incident], Period.month(2026, 11, BERLIN), now=now)
    assert october.time_to_resolve.mean == timedelta(hours=2)
    assert november.time_to_resolve.count == 0


def test_an_incident_resolved_as_the_period_begins_is_not_in_it():
    incident = IncidentFacts(started_at=june(1) - mins(60), resolved_at=june(1))
    assert incident_stats([incident], JUNE, now=JULY_1).total == 0


def test_an_incident_starting_as_the_period_ends_is_not_in_it():
    incident = IncidentFacts(started_at=JULY_1, resolved_at=JULY_1 + mins(5))
    assert incident_stats([incident], JUNE, now=JULY_1 + mins(60)).total == 0


def test_an_open_incident_from_before_the_period_counts_in_it():
    incident = IncidentFacts(started_at=datetime(2026, 5, 20, tzinfo=UTC), impact=Impact.MAJOR)
    stats = incident_stats([incident], JUNE, now=june(10))
    assert stats.counts[Impact.MAJOR] == 1
    assert stats.time_to_resolve.count == 0


def test_a_reopened_incident_counts_but_has_no_time_to_resolve():
    incident = IncidentFacts(
        started_at=june(3), resolved_at=june(3, 2), reopened=True, impact=Impact.MINOR
    )
    stats = incident_stats([incident], JUNE, now=JULY_1)
    assert stats.counts[Impact.MINOR] == 1
    assert stats.time_to_resolve.count == 0
