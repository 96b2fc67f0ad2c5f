"""Uptime from status history, without an app: day buckets, weights, time zones, no-data days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from statuspage.core.enums import ComponentStatus as C
from statuspage.core.uptime import Change, daily_uptime, uptime_percent
from tests.support import NOW

UTC_ZONE = ZoneInfo("UTC")
DAY = 86400


def at(days_ago: float, hour: int = 0) -> datetime:
    start = datetime(2026, 6, 15, tzinfo=UTC) - timedelta(days=days_ago)
    return start + timedelta(hours=hour)


def test_all_operational_is_hundred_percent():
    days = daily_uptime([Change(at(200), C.OPERATIONAL)], now=NOW, days=90, tz=UTC_ZONE)
    assert len(days) == 90
    assert days[-1].day == NOW.date()
    assert uptime_percent(days) == 100.0
    assert all(d.worst is C.OPERATIONAL for d in days)


def test_major_outage_counts_fully_and_partial_at_thirty_percent():
    changes = [
        Change(at(200), C.OPERATIONAL),
        Change(at(10, 0), C.MAJOR_OUTAGE),
        Change(at(10, 6), C.OPERATIONAL),
        Change(at(5, 0), C.PARTIAL_OUTAGE),
        Change(at(5, 10), C.OPERATIONAL),
    ]
    days = daily_uptime(changes, now=NOW, days=30, tz=UTC_ZONE)
    by_day = {d.day: d for d in days}
    major_day = by_day[at(10).date()]
    assert major_day.worst is C.MAJOR_OUTAGE
    assert major_day.downtime_seconds == 6 * 3600
    assert major_day.uptime == 0.75
    partial_day = by_day[at(5).date()]
    assert partial_day.worst is C.PARTIAL_OUTAGE
    assert partial_day.downtime_seconds == 0.3 * 10 * 3600
    known = 29 * DAY + 12 * 3600  # today only until noon
    expected = 100 * (1 - (6 * 3600 + 3 * 3600) / known)
    assert uptime_percent(days) == round(expected, 2)


def test_degraded_and_maintenance_are_not_downtime_but_colour_the_day():
    changes = [
        Change(at(200), C.OPERATIONAL),
        Change(at(3, 1), C.DEGRADED_PERFORMANCE),
        Change(at(3, 2), C.OPERATIONAL),
        Change(at(2, 1), C.UNDER_MAINTENANCE),
        Change(at(2, 2), C.OPERATIONAL),
    ]
    days = {d.day: d for d in daily_uptime(changes, now=NOW, days=7, tz=UTC_ZONE)}
    assert days[at(3).date()].worst is C.DEGRADED_PERFORMANCE
    assert days[at(2).date()].worst is C.UNDER_MAINTENANCE
    assert uptime_percent(list(days.values())) == 100.0


def test_days_before_the_component_existed_have_no_data():
    days = daily_uptime([Change(at(3, 12), C.OPERATIONAL)], now=NOW, days=10, tz=UTC_ZONE)
    assert [d.has_data for d in days] == [False] * 6 + [True] * 4
    assert days[0].worst is None and days[0].uptime is None
    assert uptime_percent(days) == 100.0


def test_no_history_means_no_figure():
    assert uptime_percent(daily_uptime([], now=NOW, days=90, tz=UTC_ZONE)) is None


def test_outage_spanning_midnight_is_split_between_days():
    changes = [
        Change(at(200), C.OPERATIONAL),
        Change(at(2, 22), C.MAJOR_OUTAGE),
        Change(at(1, 2), C.OPERATIONAL),
    ]
    days = {d.day: d for d in daily_uptime(changes, now=NOW, days=5, tz=UTC_ZONE)}
    assert days[at(2).date()].downtime_seconds == 2 * 3600
    assert days[at(1).date()].downtime_seconds == 2 * 3600


def test_days_follow_the_site_time_zone():
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9: 20:00 UTC is 05:00 the next local day
    changes = [
        Change(at(200), C.OPERATIONAL),
        Change(at(3, 20), C.MAJOR_OUTAGE),
        Change(at(3, 21), C.OPERATIONAL),
    ]
    days = {d.day: d for d in daily_uptime(changes, now=NOW, days=7, tz=tokyo)}
    assert days[at(2).date()].worst is C.MAJOR_OUTAGE
    assert days[at(3).date()].worst is C.OPERATIONAL


def test_data_start_hides_history_before_it():
    changes = [Change(at(200), C.MAJOR_OUTAGE)]
    days = daily_uptime(changes, now=NOW, days=5, tz=UTC_ZONE, data_start=at(1))
    assert [d.has_data for d in days] == [False, False, False, True, True]


def test_the_days_clocks_change_are_23_and_25_hours_long():
    berlin = ZoneInfo("Europe/Berlin")
    start = [Change(datetime(2026, 3, 1, tzinfo=UTC), C.OPERATIONAL)]
    spring = daily_uptime(start, now=datetime(2026, 3, 30, 12, tzinfo=UTC), days=3, tz=berlin)
    assert [d.known_seconds / 3600 for d in spring[:2]] == [24, 23]
    autumn = daily_uptime(start, now=datetime(2026, 10, 26, 12, tzinfo=UTC), days=3, tz=berlin)
    assert [d.known_seconds / 3600 for d in autumn[:2]] == [24, 25]
