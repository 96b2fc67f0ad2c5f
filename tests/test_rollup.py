"""The daily uptime rollup: bars read from it equal bars computed from the raw history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from statuspage import demo
from statuspage.core import uptime
from statuspage.core.enums import ComponentStatus
from statuspage.db import queries, rollup
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentStatusChange, UptimeRollup
from statuspage.publishing import components as cs

# Berlin changes its clocks on 25 Oct 2026, inside the 90 days before NOW: a 25-hour day.
NOW = datetime(2026, 11, 10, 15, 30, 12, 345678, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def random_history(rng: random.Random, name: str) -> Component:
    """A component created 20-150 days ago with random status changes since (raw rows)."""
    created = NOW - timedelta(days=rng.uniform(20, 150))
    component = cs.add_component(name, now=created)
    at = created
    for _ in range(rng.randint(0, 40)):
        at += timedelta(seconds=rng.uniform(1, 6 * 86400))
        if at >= NOW:
            break
        status = rng.choice(list(ComponentStatus))
        db.session.add(
            ComponentStatusChange(component_id=component.id, status=status, started_at=at)
        )
    return component


def raw_bars(components: list[Component], tz) -> dict[int, list[uptime.DayUptime]]:
    """The bars from the pure rules on the raw history, with no rollup involved."""
    changes = queries.status_changes([c.id for c in components], NOW - timedelta(days=92))
    return {
        c.id: uptime.daily_uptime(
            changes[c.id], now=NOW, days=queries.UPTIME_DAYS, tz=tz, data_start=c.created_at
        )
        for c in components
    }


def shape(day: uptime.DayUptime) -> tuple:
    return (day.day, day.known_seconds, uptime.problem_seconds(day), day.worst, day.uptime)


def assert_same_as_raw(components: list[Component], tz) -> None:
    raw = raw_bars(components, tz)
    read = queries.uptimes(components, now=NOW, tz=tz)
    for component in components:
        expected = raw[component.id]
        got = read[component.id]
        assert [shape(d) for d in got.days] == [shape(d) for d in expected]
        assert got.percent_90 == uptime.uptime_percent(expected)
        assert got.percent_30 == uptime.uptime_percent(expected[-30:])


def rollup_days(component_id: int) -> list:
    table = UptimeRollup.__table__
    return list(
        db.session.scalars(
            sa.select(table.c.day).where(table.c.component_id == component_id).order_by("day")
        )
    )


@pytest.mark.parametrize("seed", range(6))
def test_bars_from_the_rollup_equal_bars_from_the_raw_history(ctx, seed):
    rng = random.Random(seed)
    tz = BERLIN if seed % 2 else UTC
    with write_transaction():
        components = [random_history(rng, f"C{n}") for n in range(4)]
    assert_same_as_raw(components, tz)  # nothing rolled up yet: all raw
    with write_transaction():
        written = rollup.fill(NOW, tz)
    assert written == 4 * (queries.UPTIME_DAYS - 1)
    assert_same_as_raw(components, tz)
    # Some days missing (a void, a worker that was down): filled in from the raw history.
    table = UptimeRollup.__table__
    with write_transaction():
        for component in components:
            cut = NOW.date() - timedelta(days=rng.randint(1, 95))
            db.session.execute(
                table.delete().where(table.c.component_id == component.id, table.c.day >= cut)
            )
    assert_same_as_raw(components, tz)


def test_filling_twice_writes_nothing_more(ctx):
    with write_transaction():
        cs.add_component("API", now=NOW - timedelta(days=200))
        assert rollup.fill(NOW, UTC) == queries.UPTIME_DAYS - 1
    with write_transaction():
        assert rollup.fill(NOW, UTC) == 0
    assert rollup.tick(NOW, UTC) == 0


def test_only_closed_days_are_rolled_up(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=3))
        rollup.fill(NOW, BERLIN)
    days = rollup_days(api.id)
    today = NOW.astimezone(BERLIN).date()
    assert days[-1] == today - timedelta(days=1)
    assert len(days) == queries.UPTIME_DAYS - 1


def test_a_backdated_status_change_voids_the_days_it_reaches(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=100))
        rollup.fill(NOW, UTC)
    backdated = NOW - timedelta(days=10)
    with write_transaction():
        db.session.add(
            ComponentStatusChange(
                component_id=api.id, status=ComponentStatus.MAJOR_OUTAGE, started_at=backdated
            )
        )
    days = rollup_days(api.id)
    assert days[-1] == backdated.date() - timedelta(days=1)
    assert_same_as_raw([api], UTC)
    major = [d for d in queries.uptimes([api], now=NOW, tz=UTC)[api.id].days if d.worst]
    assert major[-1].worst is ComponentStatus.MAJOR_OUTAGE
    with write_transaction():
        assert rollup.fill(NOW, UTC) == 10
    assert_same_as_raw([api], UTC)


def test_a_status_change_now_keeps_the_closed_days(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=100))
        rollup.fill(NOW, UTC)
    with write_transaction():
        cs.set_status(api, ComponentStatus.PARTIAL_OUTAGE, now=NOW)
    assert len(rollup_days(api.id)) == queries.UPTIME_DAYS - 1


def test_a_rolled_up_day_in_another_time_zone_is_not_read(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=100))
        rollup.fill(NOW, BERLIN)
        # A corrupt row under another zone name must not leak into the UTC bars.
        db.session.execute(
            sa.update(UptimeRollup)
            .where(UptimeRollup.component_id == api.id)
            .values(major_outage_seconds=3600.0)
        )
    assert_same_as_raw([api], UTC)
    assert rollup.missing_days(NOW, UTC) == {api.id: rollup_days_for(NOW, UTC)}


def rollup_days_for(now: datetime, tz) -> list:
    today = now.astimezone(tz).date()
    return [today - timedelta(days=n) for n in range(queries.UPTIME_DAYS - 1, 0, -1)]


def test_deleting_a_component_deletes_its_rolled_up_days(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=100))
        rollup.fill(NOW, UTC)
    with write_transaction():
        db.session.delete(db.session.get(Component, api.id))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UptimeRollup)) == 0


def test_the_demo_rolls_up_its_closed_days(ctx):
    with write_transaction():
        demo.load(NOW, tz=UTC)
    assert rollup.missing_days(NOW, UTC) == {}


def rolled_statements(components: list[Component], tz) -> int:
    """How many statements `queries.uptimes` runs for these components."""
    for component in components:
        assert component.created_at is not None  # loads what the last commit expired
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        queries.uptimes(components, now=NOW, tz=tz)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])


@pytest.mark.parametrize("tz", [UTC, BERLIN])
def test_bars_read_through_holes_in_the_rollup_equal_the_raw_history(ctx, tz):
    rng = random.Random(7)
    with write_transaction():
        components = [random_history(rng, f"C{n}") for n in range(3)]
        rollup.fill(NOW, tz)
    assert rolled_statements(components, tz) == 2  # the rollup and today's changes
    table = UptimeRollup.__table__
    today = NOW.astimezone(tz).date()
    with write_transaction():
        # One day missing in the middle, a missing tail, and no row at all.
        first, second, third = components
        db.session.execute(
            table.delete().where(
                table.c.component_id == first.id, table.c.day == today - timedelta(days=40)
            )
        )
        db.session.execute(
            table.delete().where(
                table.c.component_id == second.id, table.c.day >= today - timedelta(days=5)
            )
        )
        db.session.execute(table.delete().where(table.c.component_id == third.id))
    assert_same_as_raw(components, tz)
    assert rolled_statements(components, tz) == 3  # and the days of the one with a hole
    assert rolled_statements(components[1:], tz) == 2  # a shorter rollup is seen from its count


def test_quiet_days_are_counted_not_read(ctx):
    with write_transaction():
        api = cs.add_component("API", now=NOW - timedelta(days=100))
        rollup.fill(NOW, UTC)
        cs.set_status(api, ComponentStatus.MAJOR_OUTAGE, now=NOW - timedelta(days=20, hours=3))
        cs.set_status(api, ComponentStatus.OPERATIONAL, now=NOW - timedelta(days=20, hours=1))
    with write_transaction():
        rollup.fill(NOW, UTC)
    today = NOW.date()
    first_day = today - timedelta(days=queries.UPTIME_DAYS - 1)
    until, noisy = queries.rolled_up_days([api.id], tz=UTC, first_day=first_day, today=today)[
        api.id
    ]
    assert until == today
    assert list(noisy) == [(NOW - timedelta(days=20)).date()]
    assert noisy[(NOW - timedelta(days=20)).date()][2] == 7200.0  # major outage seconds
    assert_same_as_raw([api], UTC)
