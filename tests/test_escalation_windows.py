"""Time windows: inside or not, and the next opening, overnight and across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from statuspage.core.escalation.windows import Window, is_open, never_opens, next_opening

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = frozenset(range(5))


def window(start: str, end: str, days=WEEKDAYS, zone: str = "Europe/Paris") -> Window:
    parse = lambda text: None if text == "24:00" else time.fromisoformat(text)  # noqa: E731
    return Window("w", zone, frozenset(days), parse(start), parse(end))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


OFFICE = window("09:00", "18:00")


# 2026-01-05 is a Monday; 2026-01-10 a Saturday.
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 1, 5, 8, 59), False),
        (paris(2026, 1, 5, 9, 0), True),
        (paris(2026, 1, 5, 17, 59), True),
        (paris(2026, 1, 5, 18, 0), False),
        (paris(2026, 1, 10, 12, 0), False),
        (utc(2026, 1, 5, 8, 0), True),  # 09:00 in Paris in winter
        (utc(2026, 7, 6, 7, 0), True),  # 09:00 in Paris in summer
        (utc(2026, 7, 6, 16, 0), False),  # 18:00 in Paris in summer
    ],
)
def test_office_window_is_open_on_weekdays_between_start_and_end(moment, expected):
    assert is_open(OFFICE, moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 1, 9, 22, 0), True),  # Friday night: the window opened on Friday
        (paris(2026, 1, 10, 5, 59), True),  # Saturday morning: still Friday's window
        (paris(2026, 1, 10, 6, 0), False),
        (paris(2026, 1, 10, 22, 0), False),  # Saturday night: Saturday is not listed
        (paris(2026, 1, 5, 3, 0), False),  # Monday early: Sunday night is not listed
        (paris(2026, 1, 5, 21, 59), False),
    ],
)
def test_overnight_window_belongs_to_the_day_it_opens(moment, expected):
    nights = window("22:00", "06:00")
    assert is_open(nights, moment) is expected


def test_end_of_day_window_runs_to_midnight():
    evening = window("20:00", "24:00", days={0})
    assert is_open(evening, paris(2026, 1, 5, 23, 59))
    assert not is_open(evening, paris(2026, 1, 6, 0, 0))


def test_all_day_windows_on_consecutive_days_stay_open_over_midnight():
    weekend = window("00:00", "24:00", days={5, 6})
    assert is_open(weekend, paris(2026, 1, 10, 23, 59))
    assert is_open(weekend, paris(2026, 1, 11, 0, 0))
    assert next_opening(weekend, paris(2026, 1, 5, 12, 0)) == paris(2026, 1, 10, 0, 0)


@pytest.mark.parametrize(
    "never",
    [window("09:00", "18:00", days=()), window("09:00", "09:00")],
)
def test_window_without_days_or_hours_never_opens(never):
    assert never_opens(never)
    assert not is_open(never, paris(2026, 1, 5, 9, 0))
    assert next_opening(never, paris(2026, 1, 5, 9, 0)) is None


def test_next_opening_of_an_open_window_is_now():
    moment = paris(2026, 1, 5, 10, 17)
    assert next_opening(OFFICE, moment) == moment


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 1, 5, 3, 0), paris(2026, 1, 5, 9, 0)),  # later the same day
        (paris(2026, 1, 5, 18, 0), paris(2026, 1, 6, 9, 0)),  # the next day
        (paris(2026, 1, 9, 18, 30), paris(2026, 1, 12, 9, 0)),  # Friday evening to Monday
        (paris(2026, 1, 10, 12, 0), paris(2026, 1, 12, 9, 0)),  # the weekend
    ],
)
def test_next_opening_finds_the_next_start(moment, expected):
    assert next_opening(OFFICE, moment) == expected


def test_next_opening_is_given_in_utc():
    assert next_opening(OFFICE, paris(2026, 1, 5, 3, 0)).tzinfo is UTC


def test_next_opening_of_a_weekly_window_is_within_a_week():
    monday_only = window("09:00", "10:00", days={0})
    assert next_opening(monday_only, paris(2026, 1, 5, 10, 0)) == paris(2026, 1, 12, 9, 0)


def test_opening_keeps_local_time_across_the_spring_clock_change():
    # Paris moves from +01:00 to +02:00 on Sunday 2026-03-29.
    assert next_opening(OFFICE, paris(2026, 3, 27, 19, 0)) == utc(2026, 3, 30, 7, 0)
    assert next_opening(OFFICE, paris(2026, 3, 27, 8, 0)) == utc(2026, 3, 27, 8, 0)


def test_opening_keeps_local_time_across_the_autumn_clock_change():
    # Paris moves from +02:00 to +01:00 on Sunday 2026-10-25.
    assert next_opening(OFFICE, paris(2026, 10, 23, 19, 0)) == utc(2026, 10, 26, 8, 0)


def test_start_time_skipped_by_the_clock_opens_when_the_clock_jumps():
    # 02:30 does not exist in Paris on 2026-03-29: the clock jumps from 02:00 to 03:00 (01:00Z).
    early_sunday = window("02:30", "04:00", days={6})
    opening = next_opening(early_sunday, paris(2026, 3, 28, 12, 0))
    assert opening == utc(2026, 3, 29, 1, 0)
    assert is_open(early_sunday, opening)
    assert not is_open(early_sunday, opening - timedelta(seconds=1))


def test_clock_falling_back_into_a_window_opens_it_again():
    # On 2026-10-25 Paris goes from 03:00 (+02:00) back to 02:00 (+01:00) at 01:00Z.
    early_sunday = window("01:30", "02:30", days={6})
    after_first_pass = utc(2026, 10, 25, 0, 45)  # 02:45 summer time: closed
    assert not is_open(early_sunday, after_first_pass)
    assert next_opening(early_sunday, after_first_pass) == utc(2026, 10, 25, 1, 0)


def test_overnight_window_across_a_clock_change_closes_at_local_time():
    nights = window("22:00", "06:00", days={5})  # Saturday night
    assert is_open(nights, utc(2026, 3, 29, 3, 59))  # 05:59 summer time
    assert not is_open(nights, utc(2026, 3, 29, 4, 0))  # 06:00 summer time


def test_window_in_another_zone_uses_that_zones_wall_clock():
    new_york = window("09:00", "17:00", zone="America/New_York")
    # 2026-03-09 is the Monday after the US clock change (-04:00), before Europe's.
    assert next_opening(new_york, utc(2026, 3, 9, 0, 0)) == utc(2026, 3, 9, 13, 0)
    assert next_opening(new_york, utc(2026, 3, 6, 22, 0)) == utc(2026, 3, 9, 13, 0)
    assert next_opening(new_york, utc(2026, 3, 6, 13, 0)) == utc(2026, 3, 6, 14, 0)


def test_next_opening_agrees_with_is_open_minute_by_minute():
    # Through both 2026 clock changes in Paris, for a few shapes of window.
    shapes = [
        window("09:00", "18:00"),
        window("22:00", "06:00", days={5, 6}),
        window("02:15", "02:45", days={6}),
        window("00:00", "24:00", days={6}),
    ]
    for start in (utc(2026, 3, 27, 0, 0), utc(2026, 10, 23, 0, 0)):
        for shape in shapes:
            moment = start
            while moment < start + timedelta(days=4):
                opening = next_opening(shape, moment)
                assert opening is not None and opening >= moment
                assert is_open(shape, opening)
                # Nothing open in between (checked every 15 minutes to keep it quick).
                probe = moment
                while probe < opening:
                    assert not is_open(shape, probe), (shape, moment, probe)
                    probe += timedelta(minutes=15)
                moment += timedelta(minutes=47)


def test_window_lost_entirely_to_the_clock_change_opens_the_next_week():
    inside_the_lost_hour = window("02:15", "02:45", days={6})
    assert next_opening(inside_the_lost_hour, paris(2026, 3, 28, 12, 0)) == paris(2026, 4, 5, 2, 15)
