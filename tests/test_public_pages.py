"""The public pages over HTTP: content, 404s, hostile input, headers, weight; and their helpers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.core.uptime import DayUptime
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.publishing import components as cs
from statuspage.publishing import incidents as inc
from statuspage.web import public
from statuspage.web.templating import (
    TimeFormatter,
    count_words,
    day_label,
    format_duration,
    format_percent,
    tone,
)

BAR = re.compile(r'<ol class="bar"[^>]*>(.*?)</ol>', re.S)

# The pages show days, durations and months counted from "now": a frozen clock keeps what a
# test set up "yesterday" yesterday however long the test takes, and at any time of day.
pytestmark = pytest.mark.usefixtures("frozen_clock")


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def parse_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of a page with its attributes, as a browser would see them."""
    parser = _TagCollector()
    parser.feed(html)
    parser.close()
    return parser.tags


def bar_cells(html: str) -> list[list[str]]:
    """The accessible name of every cell (a link) of every uptime bar on a page."""
    return [re.findall(r'<li[^>]*><a [^>]*aria-label="([^"]*)"', bar) for bar in BAR.findall(html)]


# --- the front page --------------------------------------------------------------------------


def test_home_banner_shows_overall_status_as_text_and_icon(sample, client):
    html = page(client, "/")
    banner = re.search(r'<section class="banner t-major".*?</section>', html, re.S)
    assert banner is not None
    assert "Partial System Outage" in banner.group()
    assert '<use href="#i-major"/>' in banner.group()


def test_home_banner_reads_all_operational_without_problems(ctx, client):
    with write_transaction():
        cs.add_component("API", now=utcnow() - timedelta(days=3))
    assert "All Systems Operational" in page(client, "/")


def test_home_lists_active_incident_with_its_latest_update(sample, client):
    html = page(client, "/")
    active = html.split('id="h-incidents"')[1].split("</section>")[0]
    assert "Website slow to load" in active
    assert "Pages load slowly for some customers" in active
    assert f'href="/incidents/{sample["open"].id}"' in active
    assert "Elevated API errors" not in active


def test_home_lists_upcoming_maintenance_with_its_window(sample, client):
    html = page(client, "/")
    upcoming = html.split('id="h-maint-next"')[1].split("</section>")[0]
    assert "Database upgrade" in upcoming
    assert "Scheduled for" in upcoming


def test_home_lists_maintenance_in_progress(sample, client):
    with write_transaction():
        inc.post_update(
            sample["maintenance"],
            status=MaintenanceStatus.IN_PROGRESS,
            body="Work has started.",
            now=utcnow(),
        )
    html = page(client, "/")
    assert "Maintenance in progress" in html
    assert "Work has started." in html


def test_home_group_with_a_problem_is_open_details_showing_its_worst_member_status(sample, client):
    html = page(client, "/")
    core = re.search(r'<details class="group" open>\s*<summary>(.*?)</summary>', html, re.S)
    assert core is not None
    assert "Core" in core.group(1)
    assert "Degraded Performance" in core.group(1)
    assert '<use href="#i-minor"/>' in core.group(1)


def test_home_group_of_operational_components_starts_collapsed(sample, client):
    html = page(client, "/")
    edge = re.search(r'<details class="group">\s*<summary>(.*?)</summary>', html, re.S)
    assert edge is not None
    assert "Edge" in edge.group(1)
    assert html.count('<details class="group" open>') == 1


def test_home_shows_a_90_day_bar_for_each_showcased_component(sample, client):
    bars = bar_cells(page(client, "/"))
    assert len(bars) == 4
    assert all(len(cells) == 90 for cells in bars)


def test_home_shows_no_bar_for_a_component_without_showcase(ctx, client):
    with write_transaction():
        cs.add_component("Hidden", now=utcnow() - timedelta(days=3), showcase=False)
    html = page(client, "/")
    assert "Hidden" in html
    assert bar_cells(html) == []


def test_bar_day_names_its_downtime_and_uptime(ctx, client):
    yesterday = (utcnow() - timedelta(days=1)).date()

    def at(hour: int, minute: int) -> datetime:
        return datetime.combine(yesterday, time(hour, minute), tzinfo=UTC)

    with write_transaction():
        api = cs.add_component("API", now=utcnow() - timedelta(days=5))
        incident = inc.open_incident(
            name="Errors",
            impact=Impact.MINOR,
            body="Errors.",
            now=at(10, 0),
            component_statuses={api: ComponentStatus.PARTIAL_OUTAGE},
        )
        inc.post_update(
            incident,
            status=IncidentStatus.RESOLVED,
            body="Fixed.",
            now=at(12, 10),
            component_statuses={api: ComponentStatus.OPERATIONAL},
        )
    (cells,) = bar_cells(page(client, "/"))
    label = f"API, {yesterday.day} {yesterday:%b %Y}"
    # 2 h 10 min of partial outage counts 30%: 39 min down out of 1440.
    assert cells[-2] == f"{label}: 97.29\u202f% up (partial outage 2 h 10 min), 1 incident"


def test_bar_days_before_the_component_existed_show_no_data(ctx, client):
    with write_transaction():
        cs.add_component("New", now=utcnow() - timedelta(days=10))
    (cells,) = bar_cells(page(client, "/"))
    assert cells[0].endswith(": no data")
    assert cells[-1].endswith(": 100\u202f% up, no incidents")
    assert sum(c.endswith(": no data") for c in cells) in (79, 80)


def test_home_shows_seven_past_days_with_their_incidents(sample, client):
    html = page(client, "/")
    past = html.split('id="h-past"')[1]
    days = re.findall(r'<div class="day">(.*?)</div>', past, re.S)
    assert len(days) == 7
    assert "Elevated API errors" in past
    assert "The error rate is back to normal." in past
    assert "No incidents reported." in past
    assert "Database upgrade" not in past  # still to come


def test_home_links_component_pages(sample, client):
    assert f'href="/components/{sample["cdn"].id}"' in page(client, "/")


# --- incident pages --------------------------------------------------------------------------


def test_incident_page_shows_timeline_newest_first_with_anchors(sample, client):
    incident = sample["resolved"]
    html = page(client, f"/incidents/{incident.id}")
    newest, oldest = incident.updates[0], incident.updates[-1]
    assert html.index(f'id="update-{newest.id}"') < html.index(f'id="update-{oldest.id}"')
    assert html.index("The error rate is back to normal.") < html.index(
        "We are investigating elevated error rates"
    )
    assert '<strong class="update-status">Resolved</strong>' in html


def test_incident_page_shows_impact_duration_and_affected_components(sample, client):
    html = page(client, f"/incidents/{sample['resolved'].id}")
    assert "Minor" in html
    assert "2 h" in html
    assert f'<a href="/components/{sample["api"].id}">API</a>' in html


def test_incident_page_shows_the_component_changes_of_an_update(sample, client):
    html = page(client, f"/incidents/{sample['resolved'].id}")
    assert "API: Partial Outage →" in html


def test_incident_page_renders_update_markdown(sample, client):
    html = page(client, f"/incidents/{sample['open'].id}")
    assert "<strong>investigating</strong>" in html


def test_maintenance_page_shows_its_window(sample, client):
    html = page(client, f"/incidents/{sample['maintenance'].id}")
    assert "Window" in html
    assert "We will upgrade the primary database." in html


def test_incident_page_shows_a_published_postmortem(sample, client):
    with write_transaction():
        inc.publish_postmortem(sample["resolved"], body="## Cause\n\nA bad *deploy*.", now=utcnow())
    html = page(client, f"/incidents/{sample['resolved'].id}")
    assert "Postmortem" in html
    assert "<em>deploy</em>" in html


def test_incident_page_marks_an_edited_update(sample, client):
    update = sample["resolved"].updates[0]
    with write_transaction():
        update.edited_at = utcnow()
    html = page(client, f"/incidents/{sample['resolved'].id}")
    meta = html.split(f'id="update-{update.id}"')[1].split('<p class="meta">')[1].split("</p>")[0]
    assert 'class="edited"' in meta


def test_incident_page_does_not_mark_unedited_updates(sample, client):
    assert 'class="edited"' not in page(client, f"/incidents/{sample['resolved'].id}")


def test_times_are_shown_in_the_site_time_zone(make_app):
    app = make_app(site={"time_zone": "Europe/Paris"})
    with app.app_context():
        with write_transaction():
            incident = inc.open_incident(
                name="Winter",
                impact=Impact.MINOR,
                body="Cold.",
                now=datetime(2026, 1, 15, 13, 5, tzinfo=UTC),
            )
        html = page(app.test_client(), f"/incidents/{incident.id}")
    assert '<time datetime="2026-01-15T13:05:00.000Z"' in html
    assert "Jan 15, 14:05 CET" in html


def test_hostile_update_body_renders_inert(ctx, client):
    body = (
        "<script>alert(1)</script> <img src=x onerror=alert(2)> "
        "[x](javascript:alert(3)) <a href='javascript:alert(4)'>y</a>"
    )
    with write_transaction():
        incident = inc.open_incident(
            name="<script>alert('title')</script>", impact=Impact.MINOR, body=body, now=utcnow()
        )
    for url in (f"/incidents/{incident.id}", "/", "/history"):
        html = page(client, url)
        tags = parse_tags(html)
        # The one script is the site's own (page.js, from the head), none from the text.
        scripts = [dict(attrs).get("src") or "" for t, attrs in tags if t == "script"]
        assert len(scripts) == 1 and scripts[0].startswith("/static/page.js?v=")
        assert not [t for t, _ in tags if t in ("img", "iframe", "object")]
        assert not [a for _, attrs in tags for a, _ in attrs if a.startswith("on")]
        urls = [v or "" for _, attrs in tags for a, v in attrs if a in ("href", "src")]
        assert not [u for u in urls if u.strip().lower().startswith("javascript:")]
    assert "&lt;script&gt;alert" in page(client, f"/incidents/{incident.id}")


# --- history ---------------------------------------------------------------------------------


def test_history_lists_recent_incidents_and_maintenances(sample, client):
    html = page(client, "/history")
    assert "Elevated API errors" in html
    assert "Website slow to load" in html
    assert "Database upgrade" not in html  # still to come
    assert len(re.findall(r'<section class="month"', html)) == 3


def test_history_pages_back_to_the_oldest_incident(ctx, client):
    with write_transaction():
        inc.open_incident(
            name="Ancient outage",
            impact=Impact.MAJOR,
            body="Old.",
            now=utcnow() - timedelta(days=200),
        )
    first = page(client, "/history")
    assert "Ancient outage" not in first
    assert 'href="/history?page=2"' in first
    pages = [page(client, f"/history?page={n}") for n in (2, 3)]
    assert any("Ancient outage" in html for html in pages)
    assert 'rel="prev" href="/history"' in pages[0]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "\uff11", "99999", "12"])
def test_history_refuses_a_page_that_does_not_exist(sample, client, value):
    assert client.get(f"/history?page={value}").status_code == 404


# --- component pages -------------------------------------------------------------------------


def test_component_page_shows_status_uptime_bar_and_incidents(sample, client):
    html = page(client, f"/components/{sample['api'].id}")
    assert "Operational" in html
    assert "Last 30 days" in html and "Last 90 days" in html
    assert len(bar_cells(html)) == 1
    assert "Elevated API errors" in html


def test_component_page_links_its_own_feeds(sample, client):
    cid = sample["api"].id
    html = page(client, f"/components/{cid}")
    head = html.split("</head>")[0]
    assert (
        f'type="application/rss+xml" title="API history (RSS)" href="/components/{cid}/history.rss"'
        in head
    )
    assert f'href="/components/{cid}/history.atom"' in head


# --- every page ------------------------------------------------------------------------------


def _urls(sample) -> list[str]:
    return [
        "/",
        "/history",
        f"/incidents/{sample['open'].id}",
        f"/incidents/{sample['maintenance'].id}",
        f"/components/{sample['web'].id}",
        "/no-such-page",
    ]


def test_every_page_links_the_site_feeds_in_its_head(sample, client):
    for url in _urls(sample):
        head = client.get(url).get_data(as_text=True).split("</head>")[0]
        assert '<link rel="alternate" type="application/rss+xml"' in head
        assert 'href="/history.rss"' in head
        assert 'href="/history.atom"' in head


def test_every_page_has_no_inline_script_or_style(sample, client):
    for url in _urls(sample):
        html = client.get(url).get_data(as_text=True)
        # One external script, from the site's own static files (CSP script-src 'self').
        scripts = re.findall(r"<script[^>]*>", html)
        assert len(scripts) == 1
        assert re.fullmatch(r'<script src="/static/page\.js\?v=[0-9a-f]{10}" defer>', scripts[0])
        assert "</script>" in html and not re.search(r"<script[^>]*>[^<]", html)
        assert "<style" not in html
        assert not re.search(r"\sstyle=", html)


def test_pages_carry_security_headers(sample, client):
    for url in _urls(sample):
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "style-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


def test_footer_shows_site_links_support_feeds_and_api(make_app):
    app = make_app(
        site={
            "support_url": "https://help.example.com/",
            "footer_links": [{"label": "Privacy & terms", "url": "https://example.com/privacy"}],
        }
    )
    html = page(app.test_client(), "/")
    footer = html.split('<footer class="site">')[1]
    assert 'href="https://help.example.com/"' in footer
    assert '<a href="https://example.com/privacy" rel="noopener">Privacy &amp; terms</a>' in footer
    assert 'href="/api/v2/summary.json"' in footer
    assert 'href="/history.rss"' in footer


def test_front_page_with_its_css_script_and_icon_weighs_under_60_kb(sample, client):
    """What a first visit downloads, as served: gzip, the coding every browser takes (brotli,
    smaller, only over https)."""
    wire = {"Accept-Encoding": "gzip"}
    response = client.get("/", headers=wire)
    assert response.headers["Content-Encoding"] == "gzip"
    total = len(response.get_data())
    html = client.get("/").get_data()
    assets = re.findall(rb'<link rel="(?:stylesheet|icon)" href="([^"]+)"', html)
    assets += re.findall(rb'<script src="([^"]+)"', html)
    assert len(assets) == 3
    for href in assets:
        response = client.get(href.decode(), headers=wire)
        assert response.status_code == 200
        total += len(response.get_data())
        response.close()
    assert total < 60_000, total


# --- not found and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/incidents/99999999999999999999",
        "/incidents/\uff11\uff12"  # full-width digits,
        "/incidents/%00",
        "/incidents/0",
        "/incidents/-1",
        "/incidents/12345",
        "/incidents/2147483647",
        "/incidents/2147483648",
        "/incidents/9223372036854775807",
        "/components/0",
        "/components/12345",
        "/components/abc",
        "/components/12345/badge.svg",
    ],
)
def test_unknown_or_malformed_ids_are_404_pages(sample, client, url):
    response = client.get(url)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html
    assert 'href="/"' in html


def test_errors_other_than_404_use_the_error_page(client):
    response = client.post("/")
    assert response.status_code == 405
    html = response.get_data(as_text=True)
    assert '<p class="error-code">405</p>' in html
    assert 'class="button" href="/"' in html


# --- health and badges -----------------------------------------------------------------------


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_badge_shows_the_overall_status(sample, client):
    response = client.get("/badge.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "Acme Status" in svg
    assert "Partial System Outage" in svg


def test_component_badge_shows_the_component_status(sample, client):
    response = client.get(f"/components/{sample['web'].id}/badge.svg")
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "Website" in svg
    assert "Degraded Performance" in svg


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (7800, "2 h 10 min"),
        (7200, "2 h"),
        (93600, "1 d 2 h"),
    ],
)
def test_format_duration_reads_naturally(seconds, text):
    assert format_duration(timedelta(seconds=seconds)) == text


def test_format_percent_never_rounds_downtime_to_100():
    assert format_percent(99.999, exact_hundred=False) == "99.99"
    assert format_percent(100.0) == "100"
    assert format_percent(99.1) == "99.1"
    assert format_percent(None) == "—"


def test_day_label_without_data_says_so():
    day = DayUptime(day=date(2026, 11, 12), seconds={})
    assert day_label("API", day) == "API, 12 Nov 2026: no data"


@pytest.mark.parametrize(
    ("count", "words"),
    [
        ((0, 0), "no incidents"),
        ((1, 0), "1 incident"),
        ((2, 0), "2 incidents"),
        ((0, 1), "1 maintenance"),
        ((3, 2), "3 incidents, 2 maintenances"),
    ],
)
def test_day_count_reads_naturally(count, words):
    assert count_words(count) == words


def test_time_formatter_shows_local_time_with_zone_abbreviation():
    times = TimeFormatter("Europe/Paris")
    summer = datetime(2026, 7, 1, 12, 5, tzinfo=UTC)
    assert times.short(summer) == "Jul 1, 14:05 CEST"
    assert times.full(summer) == "Jul 1, 2026, 14:05 CEST"
    assert times.day(summer) == "Jul 1, 2026"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ComponentStatus.OPERATIONAL, "ok"),
        ("major_outage", "critical"),
        ("major", "major"),
        (Impact.NONE, "none"),
        ("nonsense", "none"),
    ],
)
def test_tone_maps_statuses_and_impacts_to_colour_families(value, expected):
    assert tone(value) == expected


def test_page_queries_stay_bounded(sample, client):
    """The front page costs a fixed number of queries, whatever the number of components."""
    from sqlalchemy import event

    def count() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page(client, "/")
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    before = count()
    with write_transaction():
        for n in range(5):
            cs.add_component(f"Extra {n}", now=utcnow() - timedelta(days=1))
    assert count() == before


def test_a_busy_history_page_lists_the_cap_and_counts_the_rest(ctx, client, monkeypatch):
    monkeypatch.setattr(public, "HISTORY_PAGE_CAP", 3)
    with write_transaction():
        api = cs.add_component("API", now=utcnow() - timedelta(days=5))
        for n in range(5):
            inc.open_incident(
                name=f"Incident {n}",
                impact=Impact.MINOR,
                body="Errors.",
                now=utcnow() - timedelta(minutes=60 - n),
                component_statuses={api: ComponentStatus.PARTIAL_OUTAGE},
            )
    html = page(client, "/history")
    assert html.count('class="incident-row') == 3
    assert "Incident 4" in html and "Incident 1" not in html
    assert "These months had 2 more incidents" in html
    # The rest is one link away: nothing in the history is out of reach.
    assert 'href="/history?page=1&amp;part=2">the next 2 →' in html
    rest = page(client, "/history?page=1&part=2")
    assert rest.count('class="incident-row') == 2
    assert "Incident 1" in rest and "Incident 0" in rest and "Incident 4" not in rest
    assert 'href="/history">← The newest incidents' in rest and "more incident" not in rest
    assert "No incidents reported" not in rest  # months without any in this part are left out
    for bad in ("3", "0", "x", "99999", "²"):
        assert client.get(f"/history?page=1&part={bad}").status_code == 404, bad
