"""Reliability reports (issue 15): a history in the database to the figures of every export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.accounts import tokens
from statuspage.cli import main
from statuspage.clock import utcnow
from statuspage.config import load_settings
from statuspage.core.enums import ComponentStatus as C
from statuspage.core.enums import IncidentKind
from statuspage.core.reliability import Period, parse_period
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, UpdateComponentChange
from statuspage.errors import ConfigError, ValidationError
from statuspage.publishing import components as cs
from statuspage.reports import report as reports
from statuspage.reports.report import percent
from tests.support.auth import signed_in
from tests.support.cli import write_config
from tests.support.reports import incident

JUNE = "2025-06"
HOUR = 3600.0
DAY = 24 * HOUR
MONTH = 30 * DAY
#: `api` covers two components (the worse decides); `search` one added mid-month.
SLA = {
    "api": {
        "components": ["API", "Website"],
        "target": 99.9,
        "count_degraded": 0.5,
        "exclude_maintenance": True,
    },
    "search": {"components": ["Search"], "target": 99.0},
}


def at(day: int, hour: int = 0, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def app(make_app):
    """The app with the SLAs of SLA (the `people`, `ctx` and `client` fixtures use it)."""
    return make_app(sla=SLA)


@pytest.fixture
def site(app, ctx):
    """June 2025: API down an hour, Website in maintenance then degraded, Search added on the
    16th; three incidents touch June (one began in May), a maintenance besides."""
    with write_transaction():
        api = cs.add_component("API", now=at(1, month=5))
        web = cs.add_component("Website", now=at(1, month=5))
        cs.add_component("Search", now=at(16))
        cs.set_status(api, C.MAJOR_OUTAGE, now=at(10, 10))
        cs.set_status(api, C.OPERATIONAL, now=at(10, 11))
        cs.set_status(api, C.MAJOR_OUTAGE, now=at(2, month=7))  # after June: never read
        cs.set_status(web, C.UNDER_MAINTENANCE, now=at(20, 0))
        cs.set_status(web, C.OPERATIONAL, now=at(20, 2))
        cs.set_status(web, C.DEGRADED_PERFORMANCE, now=at(25, 0))
        cs.set_status(web, C.OPERATIONAL, now=at(25, 10))
        down = incident(
            "API down",
            impact="major",
            started=at(10, 10),
            detected=at(10, 10, 2),
            acknowledged=at(10, 10, 5),
            resolved=at(10, 11),
            updates=[
                (at(10, 10, 12), "investigating", at(10, 10, 42)),
                (at(10, 10, 40), "identified", at(10, 11, 10)),
                (at(10, 11), "resolved", None),
            ],
        )
        # Its first update took the API down, its resolve brought it back.
        for update, old, new in (
            (0, "operational", "major_outage"),
            (2, "major_outage", "operational"),
        ):
            down.updates[update].component_changes.append(
                UpdateComponentChange(
                    component_id=api.id, component_name="API", old_status=old, new_status=new
                )
            )
        incident(
            "Late May errors",
            impact="minor",
            started=datetime(2025, 5, 31, 22, tzinfo=UTC),
            resolved=at(1, 1),
            updates=[(datetime(2025, 5, 31, 22, 30, tzinfo=UTC), "investigating", None)],
        )
        incident(
            "Slow pages",
            impact="minor",
            started=at(20, 8),
            resolved=at(20, 10),
            updates=[
                (at(20, 8, 45), "investigating", at(20, 9)),
                (at(20, 9, 30), "monitoring", None),
                (at(20, 10), "resolved", None),
            ],
        )
        incident(
            "Website maintenance",
            impact="maintenance",
            started=at(20, 0),
            resolved=at(20, 2),
            updates=[(at(20, 0), "in_progress", None), (at(20, 2), "completed", None)],
            kind=IncidentKind.MAINTENANCE,
        )
        incident(
            "July outage",
            impact="critical",
            started=at(2, month=7),
            resolved=at(2, 1, month=7),
            updates=[(at(2, month=7), "resolved", None)],
        )
    return app


def api_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Component.id).where(Component.name == "API"))


def june_report(app) -> reports.Report:
    with app.app_context():
        settings = app.config["STATUSPAGE"]
        return reports.build(reports.period_of(JUNE, settings), settings, utcnow())


# -- the figures ---------------------------------------------------------------------------------


def test_components_uptime_counts_outages_and_leaves_out_maintenance(site):
    rows = {row.name: row.uptime for row in june_report(site).components}
    assert rows["API"].known_seconds == MONTH
    assert rows["API"].downtime_seconds == HOUR
    assert rows["API"].percent == pytest.approx(100 * (1 - HOUR / MONTH))
    # Default counting: degraded is not downtime, maintenance leaves the known time.
    assert rows["Website"].known_seconds == MONTH - 2 * HOUR
    assert rows["Website"].downtime_seconds == 0
    assert rows["Website"].seconds[C.DEGRADED_PERFORMANCE] == 10 * HOUR


def test_a_component_added_mid_month_counts_from_its_creation(site):
    rows = {row.name: row.uptime for row in june_report(site).components}
    assert rows["Search"].known_seconds == 15 * DAY
    assert rows["Search"].percent == 100.0


def test_an_sla_is_judged_by_its_worst_component_with_its_own_counting(site):
    slas = {f.sla.name: f for f in june_report(site).slas}
    api = slas["api"]
    known = MONTH - 2 * HOUR
    assert api.binding == "Website"
    assert api.achieved == pytest.approx(100 * (1 - 5 * HOUR / known))
    assert api.met is False
    assert api.budget_allowed == pytest.approx(known * 0.001)
    assert api.budget_left == pytest.approx(known * 0.001 - 5 * HOUR)
    assert slas["search"].met is True
    assert slas["search"].budget_allowed == pytest.approx(15 * DAY * 0.01)


def test_incident_stats_count_what_touched_the_period_and_time_what_started_in_it(site):
    stats = june_report(site).stats
    assert dict(stats.counts) == {"none": 0, "minor": 2, "major": 1, "critical": 0}
    # First updates after 10 and 45 minutes; resolves after 1 and 2 hours.
    assert stats.time_to_first_update.count == 2
    assert stats.time_to_first_update.mean == timedelta(minutes=27, seconds=30)
    assert stats.time_to_first_update.p90 == timedelta(minutes=45)
    assert stats.time_to_resolve.mean == timedelta(minutes=90)
    assert stats.time_to_resolve.p90 == timedelta(hours=2)


def test_the_periods_incidents_carry_their_figures(site):
    report = june_report(site)
    assert [row.title for row in report.incidents] == ["Late May errors", "API down", "Slow pages"]
    down = reports.figures_json(report.incidents[1].figures)
    assert down == {
        "time_to_acknowledge_seconds": 180.0,
        "time_to_first_update_seconds": 600.0,
        "longest_gap_seconds": 1680.0,
        "promises_kept": 2,
        "promises_broken": 0,
        "promises_pending": 0,
        "time_to_resolve_seconds": 3600.0,
        "components": [{"component_id": api_id(site), "seconds": {"major_outage": 2880.0}}],
    }
    slow = report.incidents[2].figures
    assert (slow.promises_kept, slow.promises_broken) == (0, 1)


def test_the_markdown_names_the_slas_verdict_and_the_incidents(site):
    text = reports.as_markdown(june_report(site))
    assert text.startswith("# Reliability report 2025-06\n")
    assert "| api | 99.9 % | 99.304 % | **no** | Website |" in text
    assert "| API down | major | 3 min 00 s | 10 min 00 s |" in text


# -- one set of figures, whichever way out -------------------------------------------------------


def test_the_cli_the_api_the_csv_and_the_admin_page_carry_the_same_figures(
    site, people, db_url, tmp_path
):
    with write_transaction():
        _, token = tokens.create(people["viewer"], "ci", now=utcnow())
    auth = {"Authorization": f"Bearer {token}"}
    client = site.test_client()
    api = client.get(f"/api/v1/reports?period={JUNE}", headers=auth)
    assert api.status_code == 200
    from_api = api.get_json()
    exported = client.get(f"/api/v1/reports?period={JUNE}&format=csv", headers=auth)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"

    tables = "".join(
        f"[sla.{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
        for name, table in SLA.items()
    )
    config = tmp_path / "cli.toml"
    write_config(config, db_url)
    config.write_text(config.read_text() + tables)
    result = CliRunner().invoke(
        main, ["report", "--period", JUNE, "--format", "json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.output)

    def figures(document: dict) -> dict:
        document = dict(document)
        del document["generated_at"]
        return document

    assert figures(from_cli) == figures(from_api)
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert tuple(rows[0]) == reports.CSV_COLUMNS
    for component in from_api["components"]:
        row = next(r for r in rows if r["row"] == "component" and r["name"] == component["name"])
        assert float(row["uptime_percent"]) == component["uptime_percent"]
        assert float(row["downtime_seconds"]) == component["downtime_seconds"]
        assert float(row["known_seconds"]) == component["known_seconds"]
    for sla in from_api["slas"]:
        row = next(r for r in rows if r["row"] == "sla" and r["name"] == sla["name"])
        assert float(row["uptime_percent"]) == sla["achieved_percent"]
        assert float(row["budget_left_seconds"]) == sla["budget_left_seconds"]
        assert row["met"] == ("true" if sla["met"] else "false")
        assert row["binding_component"] == sla["binding_component"]

    # The admin's Reports page shows the same uptime per component, as it formats it.
    admin = signed_in(site, "viewer")
    html = admin.get(f"/admin/reports?period={JUNE}").get_data(as_text=True)
    for component in from_api["components"]:
        cell = f'<tr><th scope="row">{component["name"]}</th>'
        assert cell in html, component["name"]
        row_html = html.split(cell, 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{percent(component["uptime_percent"])}</td>' in row_html


def test_the_incident_api_gives_the_incidents_figures(site, people):
    with write_transaction():
        _, token = tokens.create(people["viewer"], "ci", now=utcnow())
        down = db.session.query(Incident).filter_by(name="API down").one().id
    client = site.test_client()
    answer = client.get(f"/api/v1/incidents/{down}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.get_json()["figures"]["longest_gap_seconds"] == 1680.0


def test_the_report_api_refuses_a_bad_period_or_format(site, people):
    with write_transaction():
        _, token = tokens.create(people["viewer"], "ci", now=utcnow())
    client = site.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for query, field in (
        ("period=2025-13", "period"),
        ("", "period"),
        ("period=2025-06&format=x", "format"),
    ):
        answer = client.get(f"/api/v1/reports?{query}", headers=auth)
        assert answer.status_code == 422, query
        assert answer.get_json()["error"]["field"] == field


def test_the_report_api_needs_a_token(site):
    assert site.test_client().get(f"/api/v1/reports?period={JUNE}").status_code == 401


def test_the_cli_prints_markdown_and_names_a_bad_period(site, db_url, tmp_path):
    config = write_config(tmp_path / "cli.toml", db_url)
    good = CliRunner().invoke(main, ["report", "--period", JUNE, "--config", str(config)])
    assert good.exit_code == 0 and "# Reliability report 2025-06" in good.output
    bad = CliRunner().invoke(main, ["report", "--period", "June", "--config", str(config)])
    assert bad.exit_code == 1
    assert "period: 'June' is not a period (expected YYYY-MM, YYYY-Qn" in bad.stderr


# -- the period grammar --------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        (
            "2026-11",
            datetime(2026, 10, 31, 23, tzinfo=UTC),
            datetime(2026, 11, 30, 23, tzinfo=UTC),
            "2026-11",
        ),
        (
            "2026-Q1",
            datetime(2025, 12, 31, 23, tzinfo=UTC),
            datetime(2026, 3, 31, 22, tzinfo=UTC),
            "2026-Q1",
        ),
        (
            "2026-03-29..2026-03-29",
            datetime(2026, 3, 28, 23, tzinfo=UTC),
            datetime(2026, 3, 29, 22, tzinfo=UTC),
            "2026-03-29..2026-03-29",
        ),
    ],
)
def test_periods_are_read_in_the_sites_time_zone(text, start, end, label):
    assert parse_period(text, BERLIN) == Period(start, end, label)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "a month is 1-12"),
        ("2026-Q5", "is not a period"),
        ("2026-11-31..2026-12-01", "day is out of range"),
        ("2026-12-01..2026-11-01", "ends (2026-11-01) before it starts"),
        ("2025-01-01..2026-12-31", "at most 366 days"),
        ("November", "expected YYYY-MM, YYYY-Qn or YYYY-MM-DD..YYYY-MM-DD"),
        ("", "is not a period"),
    ],
)
def test_a_bad_period_is_refused_with_what_was_expected(text, says):
    with pytest.raises(ValidationError, match=r"^period: ") as caught:
        parse_period(text, BERLIN)
    assert says in str(caught.value) and caught.value.field == "period"


# -- the config ----------------------------------------------------------------------------------


def test_sla_tables_are_read_into_the_settings():
    settings = load_settings(overrides={"sla": SLA}, environ={})
    assert settings.sla["api"].target == 99.9
    assert settings.sla["api"].counting.count_degraded == 0.5
    assert settings.sla["search"].components == ("Search",)


def test_a_bad_sla_fails_start_up_naming_the_file_and_key(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('[sla.api]\ncomponents = ["API"]\ntarget = 120\n')
    with pytest.raises(ConfigError, match=r"site.toml: sla\.api\.target: expected a percentage"):
        load_settings(config, environ={})


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(app, ctx):
    with write_transaction():
        cs.add_component("=cmd|' /C calc'!A0", now=at(1, month=5))
        cs.add_component("-2+3", now=at(1, month=5))
    with app.app_context():
        settings = app.config["STATUSPAGE"]
        text = reports.as_csv(reports.build(reports.period_of(JUNE, settings), settings, at(30)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["name"] for row in rows if row["row"] == "component"} == {
        "'=cmd|' /C calc'!A0",
        "'-2+3",
    }
    assert all(not row["uptime_percent"].startswith("'") for row in rows)


def test_the_markdown_escapes_html_in_names(app, ctx):
    with write_transaction():
        cs.add_component("<script>alert(1)</script>", now=at(1, month=5))
    with app.app_context():
        settings = app.config["STATUSPAGE"]
        text = reports.as_markdown(
            reports.build(reports.period_of(JUNE, settings), settings, at(30))
        )
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_a_period_at_the_edge_of_the_calendar_is_refused_not_a_crash():
    with pytest.raises(ValidationError, match="period"):
        parse_period("0001-01", ZoneInfo("Europe/Berlin"))
