"""RSS and Atom feeds: well-formed, one entry per update, stable ids, per-component filtering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import etree

from statuspage.clock import utcnow
from statuspage.core import feeds
from statuspage.core.enums import ComponentStatus, Impact, IncidentKind, IncidentStatus
from statuspage.db.database import write_transaction
from statuspage.db.models import Component, Incident, IncidentUpdate
from statuspage.publishing import incidents as incident_service

SITE_URL = "https://status.example.com"
T0 = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FORMATS = {
    "rss": ("/history.rss", "application/rss+xml; charset=utf-8"),
    "atom": ("/history.atom", "application/atom+xml; charset=utf-8"),
}
HOSTILE_TITLE = "Broken \x00 title \x0b with ]]> inside"


def render(kind: str, updates, **extra) -> bytes:
    build = feeds.rss if kind == "rss" else feeds.atom
    return build(
        updates,
        site_url=SITE_URL,
        site_name="Acme Status",
        self_url=f"{SITE_URL}/history.{kind}",
        **extra,
    )


def parse(body: bytes) -> feedparser.FeedParserDict:
    etree.fromstring(body)  # strict XML: raises on anything ill-formed
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def fetch(client, path: str, content_type: str) -> feedparser.FeedParserDict:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    return parse(response.data)


def make_update(name: str, body_html: str, *, component: str = "API") -> IncidentUpdate:
    incident = Incident(id=7, kind=IncidentKind.INCIDENT.value, name=name, status="investigating")
    incident.components = [Component(id=1, name=component)]
    return IncidentUpdate(
        id=9,
        incident=incident,
        incident_id=7,
        status="investigating",
        display_at=T0,
        body=body_html,
        body_html=body_html,
    )


# Pure: the feed builder on its own.


@pytest.mark.parametrize("kind", FORMATS)
def test_builder_strips_characters_xml_forbids(kind):
    update = make_update(HOSTILE_TITLE, "<p>bad \x00 body \x0b ]]> end</p>", component="C\x01DN")
    parsed = parse(render(kind, [update]))
    entry = parsed.entries[0]
    assert entry.title == "Broken title with ]]> inside — Investigating"
    assert "]]>" in entry.summary
    assert [t.term for t in entry.tags] == ["CDN"]


@pytest.mark.parametrize("kind", FORMATS)
def test_builder_output_does_not_depend_on_the_clock(kind):
    update = make_update("Slow API", "<p>Slow.</p>")
    assert render(kind, [update]) == render(kind, [update])
    assert render(kind, []) == render(kind, [])


@pytest.mark.parametrize("kind", FORMATS)
def test_builder_titles_component_feeds_with_the_component(kind):
    parsed = parse(render(kind, [], component_name="CDN"))
    assert parsed.feed.title == "Acme Status status history: CDN"


# HTTP: the feeds of the sample page.


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_has_one_entry_per_update_newest_first(sample, client, kind):
    parsed = fetch(client, *FORMATS[kind])
    incidents = [sample["maintenance"], sample["open"], sample["resolved"]]
    expected = sorted(
        (u for i in incidents for u in i.updates), key=lambda u: u.display_at, reverse=True
    )
    assert [e.id for e in parsed.entries] == [
        f"{SITE_URL}/incidents/{u.incident_id}#update-{u.id}" for u in expected
    ]


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_entry_links_to_the_update_permalink(sample, client, kind):
    parsed = fetch(client, *FORMATS[kind])
    for entry in parsed.entries:
        assert entry.link == entry.id
        assert entry.link.startswith(f"{SITE_URL}/incidents/")


def test_rss_guids_are_permalinks(sample, client):
    channel = etree.fromstring(client.get("/history.rss").data).find("channel")
    guids = [item.find("guid") for item in channel.iter("item")]
    assert guids
    assert {g.get("isPermaLink") for g in guids} == {"true"}
    assert [g.text for g in guids] == [item.findtext("link") for item in channel.iter("item")]


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_ids_stay_the_same_when_updates_are_added(sample, client, kind):
    before = [e.id for e in fetch(client, *FORMATS[kind]).entries]
    with write_transaction():
        incident_service.post_update(
            sample["open"], status=IncidentStatus.IDENTIFIED, body="Found it.", now=utcnow()
        )
    after = [e.id for e in fetch(client, *FORMATS[kind]).entries]
    assert after[1:] == before


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_entry_carries_title_content_date_and_categories(sample, client, kind):
    parsed = fetch(client, *FORMATS[kind])
    update = sample["resolved"].updates[0]
    entry = next(e for e in parsed.entries if e.id.endswith(f"#update-{update.id}"))
    assert entry.title == "Elevated API errors — Resolved"
    assert entry.summary == update.body_html
    assert [t.term for t in entry.tags] == ["API"]
    assert entry.published_parsed[:6] == update.display_at.utctimetuple()[:6]


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_names_the_site_and_links_to_it(sample, client, kind):
    path, content_type = FORMATS[kind]
    parsed = fetch(client, path, content_type)
    assert parsed.feed.title == "Acme Status status history"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == f"{SITE_URL}{path}"
    assert links["alternate"] == SITE_URL


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_carries_at_most_fifty_updates(ctx, client, kind):
    now = utcnow()
    with write_transaction():
        for n in range(51):
            incident_service.open_incident(
                name=f"Incident {n}", impact=Impact.MINOR, body="Looking.", now=now - timedelta(n)
            )
    entries = fetch(client, *FORMATS[kind]).entries
    assert len(entries) == 50
    assert entries[0].title == "Incident 0 — Investigating"


@pytest.mark.parametrize("kind", FORMATS)
def test_hostile_title_keeps_feed_well_formed(ctx, client, kind):
    with write_transaction():
        incident = incident_service.open_incident(
            name=HOSTILE_TITLE,
            impact=Impact.MINOR,
            body="Body with \x00 NUL, \x0b and ]]> too.",
            now=utcnow(),
        )
    assert "\x00" not in incident.name
    assert "\x00" not in incident.updates[0].body
    entry = fetch(client, *FORMATS[kind]).entries[0]
    assert entry.title == "Broken title with ]]> inside — Investigating"
    assert "\x0b" not in incident.name
    assert entry.summary == incident.updates[0].body_html


# Per-component feeds.


@pytest.mark.parametrize("kind", FORMATS)
def test_component_feed_only_has_updates_of_incidents_touching_it(sample, client, kind):
    web = sample["web"]
    parsed = fetch(client, f"/components/{web.id}/history.{kind}", FORMATS[kind][1])
    assert {e.id.split("#")[0] for e in parsed.entries} == {
        f"{SITE_URL}/incidents/{sample['open'].id}"
    }
    assert parsed.feed.title == "Acme Status status history: Website"


@pytest.mark.parametrize("kind", FORMATS)
def test_component_feed_includes_maintenances(sample, client, kind):
    api = sample["api"]
    parsed = fetch(client, f"/components/{api.id}/history.{kind}", FORMATS[kind][1])
    incident_ids = {e.id.split("#")[0].rsplit("/", 1)[1] for e in parsed.entries}
    assert incident_ids == {str(sample["resolved"].id), str(sample["maintenance"].id)}
    assert len(parsed.entries) == 3


@pytest.mark.parametrize("kind", FORMATS)
def test_component_feed_of_a_quiet_component_is_empty(sample, client, kind):
    email = sample["email"]
    parsed = fetch(client, f"/components/{email.id}/history.{kind}", FORMATS[kind][1])
    assert parsed.entries == []


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_of_unknown_component_is_404(ctx, client, kind):
    assert client.get(f"/components/999/history.{kind}").status_code == 404


def test_component_status_change_alone_adds_no_entry(sample, client):
    from statuspage.publishing import components as component_service

    with write_transaction():
        component_service.set_status(sample["cdn"], ComponentStatus.MAJOR_OUTAGE, now=utcnow())
    parsed = fetch(client, f"/components/{sample['cdn'].id}/history.rss", FORMATS["rss"][1])
    assert parsed.entries == []


def test_published_postmortem_is_an_entry_of_the_feeds(client, sample):
    import feedparser

    from statuspage.db.database import write_transaction
    from statuspage.publishing import incidents as inc

    with write_transaction():
        inc.publish_postmortem(
            sample["resolved"], body="## What happened\n\nA bad deploy.", now=utcnow()
        )
    for path in ("/history.rss", "/history.atom"):
        parsed = feedparser.parse(client.get(path).data)
        assert parsed.bozo == 0
        first = parsed.entries[0]
        assert first.title == "Elevated API errors — Postmortem"
        assert first.id.endswith(f"/incidents/{sample['resolved'].id}#postmortem")
        assert "A bad deploy." in first.summary
