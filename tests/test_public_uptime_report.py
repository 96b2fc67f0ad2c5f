"""The public uptime report (issue 15, `[reports] public`): opt-in, the admin report's figures,
cached like every public page, and strict about which months exist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus
from statuspage.db.database import write_transaction
from statuspage.publishing import components as cs
from statuspage.reports import report as reports
from statuspage.web import uptime_report
from statuspage.web.templating import format_percent
from tests.support.sample import resolve_open_incident

# NOW is 2026-06-15 12:00 UTC; the sample's components exist since mid-February 2026.
pytestmark = pytest.mark.usefixtures("frozen_clock")

ROW = re.compile(
    r'<tr id="c-(\d+)">\s*<th scope="row"><a href="/components/\d+">(.*?)</a></th>\s*'
    r'<td class="uptime">(?:<data value="([^"]+)">([^<]*)&#8239;%</data>|no data)</td>\s*'
    r'<td class="downtime"><data value="([^"]+)">(\d+)</data>'
)


@pytest.fixture
def app(make_app):
    """The app with the public uptime report on."""
    return make_app(reports={"public": True})


def rows(html: str) -> dict[int, dict]:
    found = {}
    for cid, name, exact, shown, downtime, minutes in ROW.findall(html):
        found[int(cid)] = {
            "name": name,
            "percent": float(exact) if exact else None,
            "shown": shown,
            "downtime": float(downtime),
            "minutes": int(minutes),
        }
    return found


def admin_json(app, label: str) -> dict:
    settings = app.config["STATUSPAGE"]
    report = reports.build(reports.period_of(label, settings), settings, utcnow())
    return reports.as_json(report)


def test_off_by_default(make_app, sample):
    off = make_app().test_client()
    for path in ("/uptime", "/uptime/2026-06", "/uptime/2026-05"):
        assert off.get(path).status_code == 404, path
    assert b'href="/uptime"' not in off.get("/").data


def test_footer_links_the_report_when_on(client, sample):
    assert b'<a href="/uptime">Uptime report</a>' in client.get("/").data


def test_the_list_names_the_months_with_data_newest_first(client, sample):
    html = client.get("/uptime").get_data(as_text=True)
    listed = re.findall(r'<a href="/uptime/([0-9-]+)">', html)
    assert listed == ["2026-06", "2026-05", "2026-04", "2026-03", "2026-02"]


def test_the_list_is_bounded(client, ctx):
    with write_transaction():
        cs.add_component("Old", now=utcnow() - timedelta(days=800))
    html = client.get("/uptime").get_data(as_text=True)
    listed = re.findall(r'<a href="/uptime/([0-9-]+)">', html)
    assert len(listed) == uptime_report.MONTHS_LISTED
    assert listed[0] == "2026-06" and listed[-1] == "2025-07"
    assert client.get("/uptime/2025-06").status_code == 404


@pytest.mark.parametrize("label", ["2026-05", "2026-06"])
def test_each_components_uptime_is_the_admin_reports(app, client, sample, label):
    with write_transaction():
        # Two hours of major outage on the API in May.
        cs.set_status(
            sample["api"], ComponentStatus.MAJOR_OUTAGE, now=datetime(2026, 5, 10, tzinfo=UTC)
        )
        cs.set_status(
            sample["api"], ComponentStatus.OPERATIONAL, now=datetime(2026, 5, 10, 2, tzinfo=UTC)
        )
    response = client.get(f"/uptime/{label}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    shown = rows(html)
    expected = admin_json(app, label)["components"]
    assert sorted(shown) == sorted(c["id"] for c in expected)
    for component in expected:
        row = shown[component["id"]]
        assert row["name"] == component["name"]
        assert row["percent"] == component["uptime_percent"]
        assert row["downtime"] == component["downtime_seconds"]
        assert row["minutes"] == round(component["downtime_seconds"] / 60)
        exact_hundred = component["downtime_seconds"] <= 0
        assert row["shown"] == format_percent(
            component["uptime_percent"], exact_hundred=exact_hundred
        )
    api = shown[sample["api"].id]
    assert api["downtime"] > 0 and api["percent"] < 100
    if label == "2026-05":
        assert api["minutes"] == 120
        assert "not over" not in html
    else:
        assert "This month is not over: figures up to" in html
    # Grouped as on the home page; SLA targets stay internal.
    assert html.index(">Core</h2>") < html.index(">Edge</h2>") < html.index(">Other components<")
    assert "target" not in html.lower()


def test_components_without_an_uptime_bar_are_left_out(client, sample):
    with write_transaction():
        sample["cdn"].showcase = False
    assert sample["cdn"].id not in rows(client.get("/uptime/2026-05").get_data(as_text=True))


def test_the_month_page_is_cached_until_a_publish(client, sample, frozen_clock, monkeypatch):
    calls = []
    original = uptime_report.month_context
    monkeypatch.setattr(uptime_report, "month_context", lambda *a: calls.append(1) or original(*a))
    first = client.get("/uptime/2026-06")
    second = client.get("/uptime/2026-06")
    assert first.status_code == second.status_code == 200
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert len(calls) == 1
    frozen_clock.advance(hours=1)
    resolve_open_incident(sample)
    third = client.get("/uptime/2026-06")
    assert len(calls) == 2
    assert third.data != first.data


def test_the_fast_path_serves_it_again(app, client, sample, monkeypatch):
    fastpath = app.extensions["statuspage_fastpath"]
    inner, seen = fastpath.wsgi_app, []

    def counting(environ, start_response):
        seen.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(fastpath, "wsgi_app", counting)
    first = client.get("/uptime/2026-05")
    second = client.get("/uptime/2026-05")
    assert second.data == first.data
    assert seen == ["/uptime/2026-05"]


@pytest.mark.parametrize(
    "month",
    [
        "2026-6",
        "2026-13",
        "2026-00",
        "202605",
        "2026-05-01",
        "june",
        "2026-0\uff15",
        "0000-01",
        "x" * 300,
    ],
)
def test_bad_month_text_is_404(client, sample, month):
    assert client.get(f"/uptime/{month}").status_code == 404


@pytest.mark.parametrize("month", ["2026-07", "2027-01", "9999-12"])
def test_a_month_that_has_not_started_is_404(client, sample, month):
    assert client.get(f"/uptime/{month}").status_code == 404


def test_a_month_before_any_data_is_404(client, sample):
    assert client.get("/uptime/2026-01").status_code == 404


def test_no_components_no_months(client, ctx):
    assert b"No uptime data yet." in client.get("/uptime").data
    assert client.get("/uptime/2026-06").status_code == 404


def test_component_names_are_escaped(client, ctx):
    with write_transaction():
        cs.add_component("<script>alert(1)</script>", now=utcnow() - timedelta(days=40))
    html = client.get("/uptime/2026-06").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
