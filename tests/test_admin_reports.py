"""The admin Reports page (issue 15): last month's figures with SVG charts, its exports, and
who may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus as C
from statuspage.db.database import write_transaction
from statuspage.publishing import components as cs
from statuspage.reports import report as reports
from statuspage.web.admin import reports as page
from tests.support.reports import incident

# "Last month" is read twice (by the test and by the page): a month must not end in between.
pytestmark = pytest.mark.usefixtures("frozen_clock")

SLA = {"api": {"components": ["API"], "target": 99.9}}


@pytest.fixture
def app(make_app):
    """The app with an SLA on the API (the `people` and `ctx` fixtures use it)."""
    return make_app(sla=SLA)


def last_month(app):
    settings = app.config["STATUSPAGE"]
    text = page.last_month(utcnow(), reports.site_zone(settings))
    return text, reports.period_of(text, settings)


@pytest.fixture
def history(app, ctx):
    """Last month: the API down an hour, told after 10 minutes; a <script> in a name."""
    label, period = last_month(app)
    start = period.start
    with write_transaction():
        api = cs.add_component("API", now=start - timedelta(days=40))
        cs.add_component("<script>alert(1)</script> & co", now=start - timedelta(days=40))
        down = start + timedelta(days=10)
        cs.set_status(api, C.MAJOR_OUTAGE, now=down)
        cs.set_status(api, C.OPERATIONAL, now=down + timedelta(hours=1))
        incident(
            'API "down" <b>',
            impact="major",
            started=down,
            detected=down + timedelta(minutes=2),
            resolved=down + timedelta(hours=1),
            updates=[
                (down + timedelta(minutes=12), "investigating"),
                (down + timedelta(hours=1), "resolved"),
            ],
        )
    return label, period


def test_the_page_shows_last_months_time_to_first_update_and_the_apis_sla(history, viewer):
    label, period = history
    response = viewer.get("/admin/reports")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Reliability report {label}" in text
    assert f'value="{label}"' in text
    first = text[text.index('id="time-first-update"') :]
    assert first.startswith('id="time-first-update"><th scope="row">Time to first update</th>')
    assert '<td class="num">1</td><td class="num">10 min 00 s</td>' in first[:200]
    sla = text[text.index('id="sla-1"') :]
    hours = period.duration.total_seconds() / 3600
    achieved = f"{100 * (1 - 1 / hours):.3f} %"
    assert '<th scope="row">api</th>' in sla and "99.90 %" in sla and achieved in sla
    assert '<strong class="missed">missed</strong>' in sla[:600]
    assert 'aria-current="page">Reports</a>' in text


def test_the_charts_are_svg_images_with_titles_and_escaped_text(history, viewer):
    text = viewer.get("/admin/reports").get_data(as_text=True)
    assert text.count('role="img"') == 2
    assert '<title id="uptime-chart-title">' in text and '<title id="wait-chart-title">' in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "<b>" not in text and "API &#34;down&#34; &lt;b&gt;" in text
    assert 'class="c-target"' in text  # the API's SLA target mark
    assert "<script" not in text and "style=" not in text


def test_the_csv_export_is_the_reports_csv_of_the_same_period(app, history, viewer):
    label, period = history
    response = viewer.get(f"/admin/reports.csv?period={label}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="report-{label}.csv"'
    settings = app.config["STATUSPAGE"]
    expected = reports.as_csv(reports.build(period, settings, utcnow()))
    assert response.get_data(as_text=True) == expected
    # The page links to it.
    assert f'href="/admin/reports.csv?period={label}"' in viewer.get("/admin/reports").get_data(
        as_text=True
    )


def test_the_json_export_is_the_apis_document(app, history, viewer):
    label, _ = history
    response = viewer.get(f"/admin/reports.json?period={label}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    document = response.get_json()
    assert document["period"]["label"] == label
    assert document["incident_stats"]["time_to_first_update"]["mean_seconds"] == 600.0
    assert [sla["name"] for sla in document["slas"]] == ["api"]


def test_a_quarter_or_a_range_of_days_can_be_chosen(history, viewer):
    _, period = history
    day = period.start.date() + timedelta(days=10)
    response = viewer.get(f"/admin/reports?period={day}..{day}")
    assert response.status_code == 200
    assert f"Reliability report {day}..{day}" in response.get_data(as_text=True)
    quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    assert viewer.get(f"/admin/reports?period={quarter}").status_code == 200


@pytest.mark.parametrize("bad", ["June", "2026-13", "2026-12-01..2026-11-01", "x" * 500])
def test_a_bad_period_is_refused_with_the_fields_error(app, people, viewer, bad):
    response = viewer.get("/admin/reports", query_string={"period": bad})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="field-error" id="period-error">period: ' in text
    assert 'aria-invalid="true"' in text and "Download CSV" not in text
    assert viewer.get("/admin/reports.csv", query_string={"period": bad}).status_code == 422


def test_an_empty_site_still_has_a_report(people, viewer):
    response = viewer.get("/admin/reports")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No components yet." in text and "No incident that started" in text


def test_every_role_may_read_and_the_signed_out_are_sent_to_sign_in(app, people):
    from tests.support.auth import signed_in

    for role in ("viewer", "editor", "admin"):
        assert signed_in(app, role).get("/admin/reports").status_code == 200
    for path in ("/admin/reports", "/admin/reports.csv", "/admin/reports.json"):
        response = app.test_client().get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_uptime_axis_starts_below_every_bar_and_target():
    assert page.uptime_floor([99.95, 99.99]) == 99.9
    assert page.uptime_floor([99.9]) == 99.5
    assert page.uptime_floor([42.0]) == 0.0
    assert page.uptime_floor([]) == 99.9


def test_durations_read_as_words():
    assert page.duration(None) == "-"
    assert page.duration(timedelta(minutes=12, seconds=30)) == "12 min 30 s"
    assert page.duration(7500.0) == "2 h 05 min"
    assert page.duration(-40.0) == "-40 s"
    assert page.duration(timedelta(days=2, hours=3)) == "2 d 03 h"
