"""The history's filters (one component, one day) and the uptime bars' days that lead there."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus, MaintenanceStatus
from statuspage.db.database import write_transaction
from statuspage.publishing import incidents as inc

# Days and months are counted from "now": a frozen clock keeps them where the test put them.
pytestmark = pytest.mark.usefixtures("frozen_clock")

ROW_TITLE = re.compile(r'<a class="row-title" href="/incidents/\d+">.*?</svg>([^<]*)</a>')


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def listed(html: str) -> list[str]:
    """The incidents a history page lists, in order."""
    return ROW_TITLE.findall(html)


def day_links(html: str, component_id: int) -> dict[str, str]:
    """The day links of a component's bar: href -> accessible name."""
    pattern = (
        rf'<a href="(/history\?day=[0-9-]+&amp;component={component_id})" aria-label="([^"]*)"'
    )
    return {href.replace("&amp;", "&"): label for href, label in re.findall(pattern, html)}


def today() -> str:
    return utcnow().date().isoformat()


def days_ago(n: int) -> str:
    return (utcnow() - timedelta(days=n)).date().isoformat()


# --- the component filter ----------------------------------------------------------------------


def test_history_of_one_component_lists_only_its_incidents(sample, client):
    html = page(client, f"/history?component={sample['api'].id}")
    assert listed(html) == ["Elevated API errors"]
    assert "Only incidents and maintenances that affected" in html
    assert f'<option value="{sample["api"].id}" selected>API</option>' in html
    web = page(client, f"/history?component={sample['web'].id}")
    assert listed(web) == ["Website slow to load"]
    assert listed(page(client, "/history?component=")) == [
        "Website slow to load",
        "Elevated API errors",
    ]


@pytest.mark.parametrize("value", ["0", "01", "-1", "x", "\uff11", "99999", "99999999999"])
def test_history_refuses_a_component_that_does_not_exist(sample, client, value):
    assert client.get(f"/history?component={value}").status_code == 404


def test_the_pages_of_one_components_history_keep_the_filter(ctx, client):
    from statuspage.publishing import components as cs

    with write_transaction():
        api = cs.add_component("API", now=utcnow() - timedelta(days=400))
        web = cs.add_component("Website", now=utcnow() - timedelta(days=400))
        for name, component, days in (("Old API", api, 200), ("Older web", web, 300)):
            inc.open_incident(
                name=name,
                impact=Impact.MINOR,
                body="Errors.",
                now=utcnow() - timedelta(days=days),
                component_statuses={component: ComponentStatus.PARTIAL_OUTAGE},
            )
    first = page(client, f"/history?component={api.id}")
    assert f'rel="next" href="/history?page=2&amp;component={api.id}"' in first
    second = page(client, f"/history?page=2&component={api.id}")
    third = page(client, f"/history?page=3&component={api.id}")
    assert "Old API" in second + third and "Older web" not in second + third
    assert f'rel="prev" href="/history?component={api.id}"' in second
    # No page beyond the component's oldest incident, though the page has older ones.
    assert client.get(f"/history?page=4&component={api.id}").status_code == 404
    assert client.get("/history?page=4").status_code == 200


# --- the day filter ----------------------------------------------------------------------------


def test_a_day_of_the_history_lists_what_was_going_on_that_day(sample, client):
    assert listed(page(client, f"/history?day={days_ago(2)}")) == ["Elevated API errors"]
    assert listed(page(client, f"/history?day={today()}")) == ["Website slow to load"]
    quiet = page(client, f"/history?day={days_ago(1)}")
    assert listed(quiet) == [] and "No incidents reported on this day." in quiet
    assert f'href="/history?day={days_ago(2)}">← Previous day' in quiet
    assert f'href="/history?day={today()}">Next day →' in quiet


def test_an_incident_over_several_days_is_on_each_of_them(ctx, client):
    with write_transaction():
        incident = inc.open_incident(
            name="Long one", impact=Impact.MINOR, body="Slow.", now=utcnow() - timedelta(days=3)
        )
        inc.post_update(
            incident,
            status=IncidentStatus.RESOLVED,
            body="Fixed.",
            now=utcnow() - timedelta(days=1),
        )
    for n, expected in ((4, []), (3, ["Long one"]), (2, ["Long one"]), (1, ["Long one"])):
        assert listed(page(client, f"/history?day={days_ago(n)}")) == expected, n
    assert listed(page(client, f"/history?day={today()}")) == []


def test_a_day_and_a_component_together(sample, client):
    api, web = sample["api"].id, sample["web"].id
    assert listed(page(client, f"/history?day={days_ago(2)}&component={api}")) == [
        "Elevated API errors"
    ]
    html = page(client, f"/history?day={days_ago(2)}&component={web}")
    assert listed(html) == []
    assert f'<input type="hidden" name="day" value="{days_ago(2)}">' in html
    assert f'href="/history?day={days_ago(2)}">Show all components</a>' in html


def test_a_day_links_its_month_in_the_history(sample, client):
    html = page(client, f"/history?day={days_ago(2)}")
    month = (utcnow() - timedelta(days=2)).date().replace(day=1)
    assert f'href="/history#m-{month.isoformat()}"' in html
    assert f'id="m-{month.isoformat()}"' in page(client, "/history")


@pytest.mark.parametrize(
    "query",
    [
        "day=x",
        "day=2026-6-1",
        "day=2026-02-30",
        "day=20260601",
        "day=1969-12-31",
        "day=tomorrow",
        "day=2026-06-01&page=2",
        "day=2026-06-01&part=1",
    ],
)
def test_history_refuses_a_day_it_cannot_show(sample, client, query):
    query = query.replace("tomorrow", (utcnow().date() + timedelta(days=1)).isoformat())
    assert client.get(f"/history?{query}").status_code == 404


# --- the bars' days lead there -----------------------------------------------------------------


def test_each_day_of_a_bar_links_that_days_incidents_of_the_component(sample, client):
    links = day_links(page(client, "/"), sample["api"].id)
    assert len(links) == 90
    troubled = f"/history?day={days_ago(2)}&component={sample['api'].id}"
    assert links[troubled].startswith(f"API, {(utcnow() - timedelta(days=2)).day} ")
    assert links[troubled].endswith(", 1 incident")
    assert "partial outage 2 h" in links[troubled]
    # What the day says is what its page lists.
    assert listed(page(client, troubled)) == ["Elevated API errors"]
    quiet = f"/history?day={days_ago(1)}&component={sample['api'].id}"
    assert links[quiet].endswith(": 100\u202f% up, no incidents")


def test_the_component_page_bar_links_its_days_too(sample, client):
    html = page(client, f"/components/{sample['web'].id}")
    links = day_links(html, sample["web"].id)
    assert len(links) == 90
    assert links[f"/history?day={today()}&component={sample['web'].id}"].endswith(", 1 incident")
    assert f'href="/history?component={sample["web"].id}">All incidents of Website' in html


def test_a_maintenance_counts_as_such_on_its_days(sample, client):
    with write_transaction():
        started = inc.schedule_maintenance(
            name="Network work",
            body="We will move the network.",
            scheduled_for=utcnow() - timedelta(hours=1),
            scheduled_until=utcnow() + timedelta(hours=1),
            now=utcnow() - timedelta(days=1),
            components=[sample["cdn"]],
        )
        inc.post_update(
            started, status=MaintenanceStatus.IN_PROGRESS, body="Started.", now=utcnow()
        )
    links = day_links(page(client, "/"), sample["cdn"].id)
    label = links[f"/history?day={today()}&component={sample['cdn'].id}"]
    assert label.endswith(": 100\u202f% up, 1 maintenance")
    assert listed(page(client, f"/history?day={today()}&component={sample['cdn'].id}")) == [
        "Network work"
    ]


# --- cached per filter -------------------------------------------------------------------------


def test_each_filter_is_cached_apart_and_other_arguments_are_ignored(sample, client):
    api = sample["api"].id
    one = client.get(f"/history?component={api}")
    other = client.get(f"/history?component={sample['web'].id}")
    assert one.headers["ETag"] != other.headers["ETag"]
    again = client.get(f"/history?component={api}&utm_source=x")
    assert again.headers["ETag"] == one.headers["ETag"]
    day = client.get(f"/history?day={days_ago(2)}&component={api}")
    assert day.headers["ETag"] not in (one.headers["ETag"], other.headers["ETag"])
    assert client.get(f"/history?day={days_ago(2)}&component={api}").data == day.data
