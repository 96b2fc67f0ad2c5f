"""`statuspage export`: the public side as static files, equal to what the app serves."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from statuspage import export as exporter
from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus
from statuspage.db.database import write_transaction
from statuspage.errors import Conflict
from statuspage.publishing import incidents as inc
from tests.support.sample import resolve_open_incident

LINK = re.compile(r'(?:href|src)="([^"]*)"')

# The export and the pages it is compared with show durations, uptime and months counted from
# "now": a frozen clock keeps them equal however long a test takes, and the months the same
# whatever the date.
pytestmark = pytest.mark.usefixtures("frozen_clock")


def files_in(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def resolve(root: Path, url: str) -> Path | None:
    """The file a static server with `try_files $uri $uri/index.html` answers, or None.

    Static servers ignore query strings: only the assets' `?v=` may carry one.
    """
    path, _, query = url.split("#")[0].partition("?")
    if query and not path.startswith("/static/"):
        return None
    path = path.lstrip("/")
    for candidate in (root / path, root / path / "index.html"):
        if candidate.is_file():
            return candidate
    return None


def add_old_incident(months_ago: int, *, component=None):
    """A resolved incident that started about `months_ago` months ago."""
    began = utcnow() - timedelta(days=31 * months_ago)
    with write_transaction():
        incident = inc.open_incident(
            name=f"Old trouble {months_ago}",
            impact=Impact.MINOR,
            body="Something old.",
            now=began,
            component_statuses={component: ComponentStatus.PARTIAL_OUTAGE} if component else None,
        )
        inc.post_update(
            incident,
            status=IncidentStatus.RESOLVED,
            body="Fixed long ago.",
            now=began + timedelta(hours=1),
            component_statuses={component: ComponentStatus.OPERATIONAL} if component else None,
        )
    return incident


def exporter_list_limit() -> int:
    from statuspage.web.api import LIST_LIMIT
    from statuspage.web.feeds import FEED_LIMIT

    return max(LIST_LIMIT, FEED_LIMIT)


def test_export_writes_every_public_file(app, sample, tmp_path):
    out = tmp_path / "site"
    result = exporter.export(app, out)
    written = files_in(out)
    expected = {
        "index.html",
        "history/index.html",
        "history.rss",
        "history.atom",
        "badge.svg",
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
        "static/style.css",
        "static/favicon.svg",
        exporter.MARKER,
    }
    for key in ("api", "web", "cdn", "email"):
        cid = sample[key].id
        for name in ("index.html", "history.rss", "history.atom", "badge.svg"):
            expected.add(f"components/{cid}/{name}")
    for key in ("resolved", "open", "maintenance"):
        expected.add(f"incidents/{sample[key].id}/index.html")
    assert expected <= written
    assert result.files == len(written) - 1  # all but the marker


def test_exported_files_are_the_bytes_the_app_serves(app, sample, client, tmp_path):
    """As served, but for the links to the history's filtered views (each day of an uptime bar
    leads to its month on an exported history page)."""
    out = tmp_path / "site"
    result = exporter.export(app, out)
    with app.app_context():
        today = utcnow().date()  # the site's zone is UTC
    for name in files_in(out) - {exporter.MARKER}:
        url = "/" + name.removesuffix("index.html").removesuffix("/")
        with client.get(url) as response:
            assert response.status_code == 200, url
            served = response.data
        if name.endswith(".html"):
            html = exporter.rewrite_history_links(served.decode(), result.history_pages)
            served = exporter.rewrite_filter_links(html, result.history_pages, today).encode()
        assert (out / name).read_bytes() == served, url
    home = (out / "index.html").read_text()
    assert f'href="/history#m-{today.replace(day=1).isoformat()}" aria-label="API, ' in home


def test_history_pages_get_static_urls_and_the_last_has_no_older_link(ctx, sample, tmp_path):
    add_old_incident(4)  # page 2
    add_old_incident(8)  # page 3: beyond six months
    out = tmp_path / "site"
    result = exporter.export(ctx, out, months=6)
    assert result.history_pages == 2
    first = (out / "history/index.html").read_text()
    second = (out / "history/page/2/index.html").read_text()
    assert 'href="/history/page/2"' in first
    assert "?page=" not in first + second
    assert 'href="/history"' in second
    assert "Older" not in second
    client = ctx.test_client()
    served = client.get("/history?page=2").get_data(as_text=True)
    assert exporter.rewrite_history_links(served, 2) == second


def test_a_busy_history_page_is_exported_in_parts_with_links_between_them(
    ctx, sample, tmp_path, monkeypatch
):
    from statuspage.web import public

    monkeypatch.setattr(public, "HISTORY_PAGE_CAP", 2)
    for months_ago in (4, 4, 4, 5, 5):
        add_old_incident(months_ago)  # five on page 2: parts of 2, 2 and 1
    out = tmp_path / "site"
    exporter.export(ctx, out, months=6)
    second = (out / "history/page/2/index.html").read_text()
    part_2 = (out / "history/page/2/part/2/index.html").read_text()
    part_3 = (out / "history/page/2/part/3/index.html").read_text()
    assert not (out / "history/page/2/part/4").exists()
    assert 'href="/history/page/2/part/2"' in second
    assert 'href="/history/page/2/part/3"' in part_2 and 'href="/history/page/2"' in part_2
    assert "?page=" not in second + part_2 + part_3
    for html in out.rglob("*.html"):
        for url in LINK.findall(html.read_text()):
            if url.startswith("/history"):
                assert resolve(out, url) is not None, f"{url} in {html.relative_to(out)}"


def test_every_link_in_the_export_resolves_inside_it(ctx, sample, tmp_path):
    add_old_incident(4, component=sample["api"])
    add_old_incident(8)
    out = tmp_path / "site"
    exporter.export(ctx, out, months=6)
    checked = 0
    for html in out.rglob("*.html"):
        for url in LINK.findall(html.read_text()):
            if url.startswith("/") and not url.startswith("//"):
                assert resolve(out, url) is not None, f"{url} in {html.relative_to(out)}"
                checked += 1
    assert checked > 50


def test_incidents_older_than_the_bound_are_left_out_unless_linked(ctx, sample, tmp_path):
    linked = add_old_incident(20, component=sample["cdn"])  # on the CDN's page
    unlinked = add_old_incident(20)
    with write_transaction():
        # Enough newer incidents to push the old ones out of the feeds and the JSON lists.
        for n in range(exporter_list_limit()):
            inc.open_incident(
                name=f"Blip {n}", impact=Impact.MINOR, body="A blip.", now=utcnow() - timedelta(1)
            )
    out = tmp_path / "site"
    exporter.export(ctx, out, months=3)
    assert (out / f"incidents/{linked.id}/index.html").is_file()
    assert not (out / f"incidents/{unlinked.id}").exists()


def test_export_swaps_atomically_and_leaves_no_staging_folders(app, sample, tmp_path):
    out = tmp_path / "site"
    exporter.export(app, out)
    (out / "stale.html").write_text("from an older export")
    exporter.export(app, out)
    assert not (out / "stale.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == []


def test_a_failed_export_keeps_the_previous_one_and_cleans_up(app, sample, tmp_path, monkeypatch):
    out = tmp_path / "site"
    exporter.export(app, out)
    before = (out / "index.html").read_bytes()

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(exporter, "_write", fail)
    with pytest.raises(OSError, match="disk full"):
        exporter.export(app, out)
    assert (out / "index.html").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_export_refuses_to_replace_a_folder_it_did_not_write(app, sample, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(Conflict, match="did not write"):
        exporter.export(app, out)
    assert (out / "notes.txt").read_text() == "precious"


def test_reexport_after_a_publish_changes_the_files(app, sample, tmp_path):
    out = tmp_path / "site"
    first = exporter.export_if_changed(app, out, -1)
    permalink = out / f"incidents/{sample['open'].id}/index.html"
    home = (out / "index.html").read_bytes()
    resolve_open_incident(sample)
    second = exporter.export_if_changed(app, out, first)
    assert second > first
    assert (out / "index.html").read_bytes() != home
    assert "Fixed: pages load quickly again." in permalink.read_text()


def test_unchanged_generation_is_not_exported_again(app, sample, tmp_path):
    out = tmp_path / "site"
    number = exporter.export_if_changed(app, out, -1)
    marker = (out / exporter.MARKER).read_bytes()
    assert exporter.export_if_changed(app, out, number) == number
    assert (out / exporter.MARKER).read_bytes() == marker


def test_unchanged_permalinks_are_reused_and_changed_ones_rendered(app, sample, tmp_path):
    out = tmp_path / "site"
    exporter.export(app, out)
    with write_transaction():
        inc.publish_postmortem(sample["resolved"], body="What went wrong.", now=utcnow())
    result = exporter.export(app, out)
    # The resolved incident changed; the maintenance and the open incident are never reused.
    assert result.reused == 0
    result = exporter.export(app, out)
    assert result.reused == 1
    assert "What went wrong." in (out / f"incidents/{sample['resolved'].id}/index.html").read_text()


def test_on_publish_loop_exports_then_stops_when_asked(app, sample, tmp_path):
    out = tmp_path / "site"
    stop = threading.Event()
    exported = []

    def on_export(number):
        exported.append(number)
        stop.set()

    thread = threading.Thread(
        target=exporter.run_on_publish,
        args=(app, out),
        kwargs={"stop": stop, "interval": 0.05, "on_export": on_export},
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(exported) == 1
    assert (out / "index.html").is_file()


def test_on_publish_loop_keeps_the_export_when_rendering_fails(
    app, sample, tmp_path, caplog, monkeypatch
):
    out = tmp_path / "site"
    exporter.export(app, out)
    stop = threading.Event()
    calls = []

    def broken(*_args, **_kwargs):
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        raise exporter.ExportError("/ answered HTTP 500")

    monkeypatch.setattr(exporter, "export_if_changed", broken)
    exporter.run_on_publish(app, out, stop=stop, interval=0.01)
    assert len(calls) == 2
    assert (out / "index.html").is_file()
    assert "keeping the previous one" in caplog.text


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("/", "index.html"),
        ("/history", "history/index.html"),
        ("/history/page/3", "history/page/3/index.html"),
        ("/incidents/12", "incidents/12/index.html"),
        ("/components/3/history.rss", "components/3/history.rss"),
        ("/api/v2/incidents/unresolved.json", "api/v2/incidents/unresolved.json"),
        ("/static/style.css", "static/style.css"),
    ],
)
def test_file_for_maps_urls_to_static_files(url, file):
    assert exporter.file_for(url) == file
