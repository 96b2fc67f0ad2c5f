"""Compose and publish in the admin: pick a message, fill it, preview, publish; lists; roles.

The tests drive the pages the way a browser without JavaScript does: `Browser` reads the forms
and links of each page, so a test can only use what the page really offers, and it counts the
interactions (clicks and fields typed) of the fast path.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, Impact, IncidentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Component, Incident, IncidentUpdate
from statuspage.publishing import components as component_service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from tests.support.auth import csrf_token, make_user, signed_in

MESSAGES = Path(__file__).resolve().parent.parent / "messages"


# -- a small browser without JavaScript ---------------------------------------------------------


class Page(HTMLParser):
    """The links and the forms (with the values a browser would send) of one HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.forms: list[dict] = []
        self._link: list | None = None
        self._form: dict | None = None
        self._textarea: dict | None = None
        self._select: dict | None = None
        self._option: dict | None = None
        self.autofocus: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "autofocus" in a and self.autofocus is None:
            self.autofocus = a.get("id") or a.get("name") or a.get("href")
        if tag == "a" and "href" in a:
            self._link = [a["href"], ""]
        elif tag == "form":
            self._form = {"action": a.get("action", ""), "fields": [], "buttons": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            kind = a.get("type", "text")
            field = {"name": a.get("name"), "value": a.get("value", ""), "type": kind}
            if kind in ("checkbox", "radio"):
                field["checked"] = "checked" in a
            if field["name"]:
                self._form["fields"].append(field)
        elif tag == "textarea":
            self._textarea = {"name": a.get("name"), "value": "", "type": "textarea"}
            self._form["fields"].append(self._textarea)
        elif tag == "select":
            self._select = {"name": a.get("name"), "value": None, "type": "select", "options": []}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}
            self._select["options"].append(self._option)
        elif tag == "button":
            self._form["buttons"].append((a.get("name"), a.get("value", "")))

    def handle_data(self, data):
        if self._link is not None:
            self._link[1] += data
        if self._textarea is not None:
            self._textarea["value"] += data
        if self._option is not None:
            self._option["text"] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._link is not None:
            self.links.append((self._link[0], " ".join(self._link[1].split())))
            self._link = None
        elif tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the first newline after <textarea>.
            self._textarea["value"] = self._textarea["value"].removeprefix("\n")
            self._textarea = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            options = self._select["options"]
            chosen = next((o for o in options if o["selected"]), options[0] if options else None)
            if chosen is not None:
                value = chosen["value"]
                self._select["value"] = value if value is not None else chosen["text"]
            self._select = None


class Browser:
    """Follows links and submits forms like a browser; counts what the user did."""

    def __init__(self, client) -> None:
        self.client = client
        self.url = ""
        self.response = None
        self.page: Page | None = None
        self.interactions: list[str] = []
        self.form: dict | None = None

    @property
    def html(self) -> str:
        return self.response.get_data(as_text=True)

    def open(self, url: str) -> Browser:
        """Go to a URL by hand (not counted: the user is already there)."""
        return self._get(url)

    def _get(self, url: str) -> Browser:
        self.url = urljoin(self.url or "https://localhost/", url)
        self.response = self.client.get(self.url)
        while self.response.status_code in (301, 302, 303):
            self.url = urljoin(self.url, self.response.headers["Location"])
            self.response = self.client.get(self.url)
        self._parse()
        return self

    def _parse(self) -> None:
        self.page = Page(self.html)
        self.form = next((f for f in self.page.forms if _is_compose(f)), None)

    def click(self, text: str) -> Browser:
        """Click the first link whose text contains `text`."""
        for href, label in self.page.links:
            if text in label:
                self.interactions.append(f"click link {text!r}")
                return self._get(href)
        raise AssertionError(f"no link {text!r} on {self.url}: {self.page.links}")

    def type(self, name: str, value: str, *, count: bool = True) -> Browser:
        """Type into a field (counted once), replacing what it held."""
        field = self._field(name)
        field["value"] = value
        if count:
            self.interactions.append(f"type {name}")
        return self

    def choose(self, name: str, value: str) -> Browser:
        """Pick an option of a select."""
        field = self._field(name)
        assert any((o["value"] or o["text"]) == value for o in field["options"]), value
        field["value"] = value
        self.interactions.append(f"choose {name}")
        return self

    def tick(self, name: str, value: str, on: bool = True) -> Browser:
        """Click a checkbox into the wanted state."""
        for field in self.form["fields"]:
            if field["name"] == name and field["value"] == value:
                if field["checked"] != on:
                    field["checked"] = on
                    self.interactions.append(f"tick {name}={value}")
                return self
        raise AssertionError(f"no checkbox {name}={value}")

    def press(self, action: str, *, count: bool = True) -> Browser:
        """Press a submit button of the compose form (by its value)."""
        assert ("action", action) in self.form["buttons"], self.form["buttons"]
        if count:
            self.interactions.append(f"press {action}")
        data = self.values()
        data["action"] = action
        self.response = self.client.post(urljoin(self.url, self.form["action"]), data=data)
        if self.response.status_code in (301, 302, 303):
            return self._get(self.response.headers["Location"])
        self._parse()
        return self

    def values(self) -> dict:
        data: dict[str, list[str] | str] = {}
        for field in self.form["fields"]:
            if field["type"] in ("checkbox", "radio") and not field["checked"]:
                continue
            data.setdefault(field["name"], []).append(field["value"] or "")
        return data

    def value(self, name: str) -> str:
        return self._field(name)["value"]

    def _field(self, name: str) -> dict:
        assert self.form is not None, f"no compose form on {self.url}"
        for field in self.form["fields"]:
            if field["name"] == name:
                return field
        raise AssertionError(f"no field {name!r} on {self.url}")


def _is_compose(form: dict) -> bool:
    return any(name == "key" for name in (f["name"] for f in form["fields"]))


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def site(ctx):
    """The starter library and two components, API and Website."""
    now = utcnow()
    with write_transaction():
        library_service.sync_directory(MESSAGES, now=now)
        api = component_service.add_component("API", now=now - timedelta(days=10))
        web = component_service.add_component("Website", now=now - timedelta(days=10))
    return {"api": api.id, "web": web.id}


@pytest.fixture
def browser(site, editor):
    """A browser signed in as the editor (the shared `editor` client) on the `site`."""
    return Browser(editor)


def count_updates() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate))


def only_incident() -> Incident:
    db.session.rollback()
    return db.session.scalars(sa.select(Incident)).one()


def component(component_id: int) -> Component:
    db.session.rollback()
    return db.session.get(Component, component_id)


def open_incident(browser: Browser, component_name: str = "API") -> Browser:
    """Open an incident from `degraded-investigating` through the pages; return on its view."""
    browser.open("/admin/").click("New incident").click("Slow performance on")
    browser.type("var_component", component_name).choose("status_1", "degraded_performance")
    return browser.press("preview").press("publish")


# -- the fast path ----------------------------------------------------------------------------


def test_first_public_update_with_a_component_changed_takes_five_interactions(browser, client):
    browser.open("/admin/")
    browser.click("New incident")  # 1: the dashboard's button
    assert browser.page.autofocus is not None  # the first message link, for Enter
    browser.click("Slow performance on")  # 2: a canned message (a GET link)
    assert browser.page.autofocus == "var_component"  # the one blank without a default
    # One control per component, every one at "no change" until the PM picks a status.
    assert {browser.value(f"status_{n}") for n in (1, 2)} == {""}
    browser.choose("status_1", "degraded_performance")  # 3: API's status, which names it
    browser.press("preview")  # 4: a screen of its own
    assert browser.page.autofocus == "publish"
    browser.press("publish")  # 5
    assert len(browser.interactions) == 5, browser.interactions
    assert "Published" in browser.html

    incident = only_incident()
    assert incident.name == "Slow performance on API"
    assert component(1).status == ComponentStatus.DEGRADED_PERFORMANCE.value
    # The public side shows it at once.
    assert "Slow performance on API" in client.get("/").get_data(as_text=True)
    permalink = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "We are investigating slower than usual performance on API." in permalink
    rss = client.get("/history.rss").get_data(as_text=True)
    assert "Slow performance on API — Investigating" in rss
    summary = client.get("/api/v2/summary.json").get_json()
    [published] = summary["incidents"]
    assert published["name"] == "Slow performance on API"
    assert published["status"] == "investigating"
    assert summary["components"][0]["status"] == "degraded_performance"


def test_preview_shows_page_feed_and_email_and_publishes_nothing(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "Checkout").choose("status_1", "degraded_performance")
    browser.press("preview")
    html = browser.html
    assert "Slow performance on Checkout" in html
    assert "We are investigating slower than usual performance on Checkout." in html
    assert "Slow performance on Checkout — Investigating" in html  # the feed entry title
    assert "[Acme Status] Slow performance on Checkout — Investigating" in html  # email subject
    assert "the message “Slow performance on [Affected service]” (v1)" in html
    assert "Degraded Performance" in html  # the component change the page will show
    assert browser.value("body").startswith("We are investigating slower")
    assert count_updates() == 0


def test_turning_notify_off_says_no_email_goes_out(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").tick("notify", "1", on=False).press("preview")
    assert "no email goes out" in browser.html
    browser.press("publish")
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert update.deliver_notifications is False


def test_component_variable_left_blank_takes_the_changed_components_names(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.choose("status_1", "partial_outage").choose("status_2", "degraded_performance")
    browser.press("preview").press("publish")
    assert only_incident().name == "Slow performance on API, Website"


# -- double submits, errors, stale previews ------------------------------------------------------


def test_double_submitted_publish_publishes_once(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").press("preview")
    data = browser.values() | {"action": "publish"}
    first = browser.client.post("/admin/incidents/new", data=data)
    second = browser.client.post("/admin/incidents/new", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count_updates() == 1
    page = browser.client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already published" in page


def test_missing_required_variable_keeps_what_was_typed_and_names_the_field(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_symptom", "Search is slow <b>today</b>.").type("title", "My own title")
    browser.choose("impact", "major").tick("notify", "1", on=False).press("preview")
    assert browser.response.status_code == 422
    html = browser.html
    assert 'id="err-var_component"' in html and "Affected service: a value is required" in html
    assert browser.page.autofocus == "var_component"
    assert browser.value("var_symptom") == "Search is slow <b>today</b>."
    assert browser.value("title") == "My own title"
    assert browser.value("impact") == "major"
    assert "notify" not in browser.values()
    assert count_updates() == 0


def test_fields_changed_after_the_preview_need_a_new_preview(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").press("preview")
    browser.type("var_component", "Billing").press("publish")
    assert count_updates() == 0
    assert "Something changed since the preview" in browser.html
    assert "Slow performance on Billing" in browser.html
    browser.press("publish")
    assert only_incident().name == "Slow performance on Billing"


def test_a_component_status_chosen_names_it_and_the_others_stay_as_they_are(browser, site):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").choose(f"status_{site['web']}", "major_outage")
    browser.press("preview").press("publish")
    assert component(site["web"]).status == "major_outage"
    assert component(site["api"]).status == "operational"


HOSTILE = ["{{ config }}", "{{7*7}}", "${7*7}", "<script>alert(1)</script>", "API\r\n# Owned"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_shown_literally_on_the_public_page(browser, client, value):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", value).press("preview")
    assert "<script>alert" not in browser.html
    browser.press("publish")
    incident = only_incident()
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "<h1>Owned" not in page
    shown = " ".join(value.split())  # a line break in a value becomes a space
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"performance on {shown}" in text and "performance on 49" not in text
    assert f"Slow performance on {shown}" in text  # the title, autoescaped


# -- edits, corrections, provenance -----------------------------------------------------------


def test_edited_text_is_published_and_marked_edited_in_the_admin(browser, client):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").press("preview")
    browser.type("body", browser.value("body") + "\n\nUse the EU endpoint meanwhile.")
    browser.press("publish")
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert update.text_edited is True
    assert "(v1), edited</p>" in browser.html
    public = client.get(f"/incidents/{update.incident_id}").get_data(as_text=True)
    assert "Use the EU endpoint meanwhile." in public


def test_edited_text_survives_an_error_and_can_go_back_to_the_message(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").press("preview")
    browser.type("body", "My own words.").press("edit")  # back to the form, with the text
    assert browser.value("body") == "My own words."
    browser.type("var_component", "").press("preview")
    assert browser.response.status_code == 422 and browser.value("body") == "My own words."
    browser.type("var_component", "API").press("reset")
    assert browser.value("body").startswith("We are investigating slower")


def test_untouched_text_is_not_marked_edited(browser):
    open_incident(browser)
    assert "</a> (v1)</p>" in browser.html  # the message, by its title
    assert db.session.scalars(sa.select(IncidentUpdate)).one().text_edited is False


def test_free_text_incident_is_recorded_as_free_text(browser, client):
    browser.open("/admin/incidents/new").click("Write your own")
    browser.type("title", "Login trouble").type("body", "Some people **cannot** sign in.")
    browser.press("preview")
    assert "<strong>cannot</strong>" in browser.html
    browser.press("publish")
    update = db.session.scalars(sa.select(IncidentUpdate)).one()
    assert update.message_slug is None and update.incident.status == "investigating"
    assert "free text" in browser.html
    assert "Login trouble" in client.get("/").get_data(as_text=True)


def test_correcting_an_update_keeps_the_original_in_the_audit_log(browser, client):
    open_incident(browser)
    incident = only_incident()
    update = incident.updates[0]
    original = update.body
    token = csrf_token(browser.client, "/admin/")
    response = browser.client.post(
        f"/admin/incidents/{incident.id}/updates/{update.id}/correct",
        data={"body": "Corrected: only the EU region is slow.", "csrf_token": token},
    )
    assert response.status_code == 302
    [entry] = audit.entries(action="update.corrected")
    assert entry.before == {"body": original}
    public = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "only the EU region is slow" in public and ">edited<" in public
    admin = browser.client.get(f"/admin/incidents/{incident.id}").get_data(as_text=True)
    assert "corrected" in admin


def test_a_correction_that_changes_nothing_is_refused_with_the_text_kept(browser):
    open_incident(browser)
    incident = only_incident()
    update = incident.updates[0]
    token = csrf_token(browser.client, "/admin/")
    response = browser.client.post(
        f"/admin/incidents/{incident.id}/updates/{update.id}/correct",
        data={"body": update.body, "csrf_token": token},
    )
    assert response.status_code == 422 and b"nothing changed" in response.data


# -- the lifecycle -----------------------------------------------------------------------------


def test_update_picker_offers_the_next_statuses_related_messages_first(browser):
    open_incident(browser)
    browser.open(f"/admin/incidents/{only_incident().id}/update?status=identified")
    headings = re.findall(r'<h2 id="h-(\w+)">', browser.html)
    assert headings == ["identified"]
    picks = re.findall(r'href="[^"]*message=([a-z-]+)"', browser.html)
    assert picks[0] == "degraded-identified"
    browser.click("Next steps")
    assert re.findall(r'<h2 id="h-(\w+)">', browser.html) == [
        "identified",
        "monitoring",
        "resolved",
        "investigating",
    ]


def test_next_status_buttons_open_the_message_that_follows_the_incidents_own(browser):
    open_incident(browser)
    browser.click("Identified")
    assert "message=degraded-identified" in browser.url and browser.form is not None
    browser.click("Choose another message")  # the picker is a click away
    assert re.findall(r'href="[^"]*message=([a-z-]+)"', browser.html)[0] == "degraded-identified"


def test_two_updates_then_resolve_returns_components_to_operational(browser, client):
    open_incident(browser)
    incident = only_incident()
    browser.click("Identified").press("preview").press("publish")
    browser.click("Monitoring").press("preview").press("publish")
    browser.interactions.clear()
    browser.click("Resolve")  # 1: straight to degraded-resolved
    # Resolving offers the affected components back at operational, and "since" now.
    assert browser.value("status_1") == "operational"
    assert re.fullmatch(r"\d\d:\d\d UTC", browser.value("var_resolved_at"))
    browser.press("preview")  # 2
    assert "Operational" in browser.html
    browser.press("publish")  # 3
    assert len(browser.interactions) == 3, browser.interactions
    assert component(1).status == "operational"
    incident = only_incident()
    assert incident.status == "resolved" and len(incident.updates) == 4
    summary = client.get("/api/v2/summary.json").get_json()
    assert summary["incidents"] == [] and summary["status"]["indicator"] == "none"


def test_postmortem_is_published_on_the_incident_page(browser, client):
    open_incident(browser)
    browser.click("Resolve").type("var_resolved_at", "14:20 UTC").press("preview").press("publish")
    incident = only_incident()
    token = csrf_token(browser.client, "/admin/")
    response = browser.client.post(
        f"/admin/incidents/{incident.id}/postmortem",
        data={"body": "## What happened\n\nA bad **deploy**.", "csrf_token": token},
    )
    assert response.status_code == 302
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Postmortem" in page and "<strong>deploy</strong>" in page
    assert audit.entries(action="incident.postmortem")


def test_postmortem_of_an_open_incident_is_refused(browser):
    open_incident(browser)
    incident = only_incident()
    token = csrf_token(browser.client, "/admin/")
    response = browser.client.post(
        f"/admin/incidents/{incident.id}/postmortem",
        data={"body": "Too early.", "csrf_token": token},
    )
    assert response.status_code == 409 and b"resolve the incident" in response.data


def test_a_maintenance_message_cannot_update_an_incident(browser):
    open_incident(browser)
    incident = only_incident()
    response = browser.client.get(
        f"/admin/incidents/{incident.id}/update?message=maintenance-started"
    )
    assert response.status_code == 422


# -- maintenances -------------------------------------------------------------------------------


def test_maintenance_window_ending_before_it_starts_is_refused_with_values_kept(browser):
    browser.open("/admin/maintenances/new").click("Scheduled maintenance:")
    assert browser.page.autofocus == "scheduled_for"
    browser.type("scheduled_for", "2030-03-12T22:00").type("scheduled_until", "2030-03-12T21:00")
    browser.type("var_component", "Database").press("preview")
    assert browser.response.status_code == 422
    assert 'id="err-scheduled_until"' in browser.html and "end after it starts" in browser.html
    assert browser.value("scheduled_for") == "2030-03-12T22:00"
    assert browser.value("var_component") == "Database"


@pytest.mark.parametrize("field", ["scheduled_for", "scheduled_until"])
def test_maintenance_window_needs_both_times(browser, field):
    browser.open("/admin/maintenances/new").click("Scheduled maintenance:")
    browser.type("scheduled_for", "2030-03-12T22:00").type("scheduled_until", "2030-03-13T01:00")
    browser.type(field, "").press("preview")
    assert browser.response.status_code == 422 and f'id="err-{field}"' in browser.html


def test_maintenance_window_that_is_not_a_date_is_refused(browser):
    browser.open("/admin/maintenances/new?free=1")
    browser.type("scheduled_for", "next tuesday").press("preview")
    assert browser.response.status_code == 422
    assert "Starts: enter a date and time" in browser.html


def test_maintenance_from_message_takes_its_times_from_the_window(make_app, site, fast_hashing):
    app = make_app(site={"time_zone": "Europe/Paris"})
    make_user("pm2@example.com", "editor")
    browser = Browser(signed_in(app, "pm2@example.com"))
    browser.open("/admin/maintenances/new").click("Scheduled maintenance:")
    browser.type("scheduled_for", "2030-03-12T22:00").type("scheduled_until", "2030-03-13T01:00")
    browser.tick("component", str(site["api"])).press("preview")
    assert "from Tuesday 12 March, 22:00 CET to Wednesday 13 March, 01:00 CET" in browser.html
    browser.press("publish")
    maintenance = only_incident()
    assert maintenance.scheduled_for.isoformat() == "2030-03-12T21:00:00+00:00"  # Paris, UTC+1
    assert maintenance.status == "scheduled" and [c.name for c in maintenance.components] == ["API"]
    # Components go under maintenance when it starts (statuspage tick), not now.
    assert component(site["api"]).status == "operational"


def test_extending_a_maintenance_moves_its_end(browser):
    browser.open("/admin/maintenances/new?free=1")
    browser.type("title", "Database upgrade").type("body", "We will upgrade the database.")
    browser.type("scheduled_for", "2030-03-12T22:00").type("scheduled_until", "2030-03-13T01:00")
    browser.press("preview").press("publish")
    maintenance = only_incident()
    browser.open(f"/admin/maintenances/{maintenance.id}/update?message=maintenance-extended")
    browser.type("var_component", "Database").type("scheduled_until", "2030-03-13T03:00")
    browser.press("preview").press("publish")
    maintenance = only_incident()
    assert maintenance.scheduled_until.isoformat() == "2030-03-13T03:00:00+00:00"
    assert "03:00" in maintenance.updates[0].body  # window_end taken from the new end
    [entry] = audit.entries(action="incident.updated")
    assert entry.before["scheduled_until"].startswith("2030-03-13T01:00")


# -- lists and components -------------------------------------------------------------------


def test_incident_list_shows_open_incidents_first_then_closed_pages(site, editor):
    now = utcnow()
    with write_transaction():
        for n in range(27):
            closed = incident_service.open_incident(
                name=f"Old {n}", impact=Impact.MINOR, body="x", now=now - timedelta(days=30 - n)
            )
            incident_service.post_update(
                closed, status=IncidentStatus.RESOLVED, body="done", now=now - timedelta(days=29)
            )
        incident_service.open_incident(name="Ongoing", impact=Impact.MAJOR, body="x", now=now)
    first = editor.get("/admin/incidents").get_data(as_text=True)
    assert first.index("Ongoing") < first.index("Old 26")
    assert "Old 2<" in first and "Old 1<" not in first and "page=2" in first
    second = editor.get("/admin/incidents?page=2").get_data(as_text=True)
    assert "Old 1<" in second and "Old 0<" in second and "Ongoing" not in second
    assert editor.get("/admin/incidents?page=3").status_code == 404
    assert editor.get("/admin/incidents?page=x").status_code == 404


def test_maintenance_list_shows_scheduled_ones(site, editor):
    now = utcnow()
    with write_transaction():
        incident_service.schedule_maintenance(
            name="Network work",
            body="x",
            scheduled_for=now + timedelta(days=1),
            scheduled_until=now + timedelta(days=1, hours=1),
            now=now,
        )
    assert "Network work" in editor.get("/admin/maintenances").get_data(as_text=True)


def test_component_status_form_changes_it_and_audits(site, editor):
    token = csrf_token(editor, "/admin/components")
    response = editor.post(
        f"/admin/components/{site['api']}/status",
        data={"status": "partial_outage", "csrf_token": token},
    )
    assert response.status_code == 302
    assert component(site["api"]).status == "partial_outage"
    [entry] = audit.entries(action="component.status")
    assert entry.actor == "editor@example.com" and entry.after == {"status": "partial_outage"}


def test_component_status_form_refuses_an_unknown_status(site, editor):
    token = csrf_token(editor, "/admin/components")
    response = editor.post(
        f"/admin/components/{site['api']}/status",
        data={"status": "on_fire", "csrf_token": token},
        follow_redirects=True,
    )
    assert b"unknown component status" in response.data
    assert component(site["api"]).status == "operational"


# -- roles ------------------------------------------------------------------------------------


def _posts(ids: dict) -> list[str]:
    incident, update, component_id = ids["incident"], ids["update"], ids["component"]
    return [
        "/admin/incidents/new",
        "/admin/maintenances/new",
        f"/admin/incidents/{incident}/update",
        f"/admin/maintenances/{incident}/update",
        f"/admin/incidents/{incident}/updates/{update}/correct",
        f"/admin/incidents/{incident}/postmortem",
        f"/admin/components/{component_id}/status",
    ]


@pytest.fixture
def ids(site):
    with write_transaction():
        incident = incident_service.open_incident(
            name="Existing", impact=Impact.MINOR, body="Something.", now=utcnow()
        )
    return {"incident": incident.id, "update": incident.updates[0].id, "component": site["api"]}


def test_every_write_route_is_covered_by_the_role_tests(app):
    rules = {
        r.rule
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("admin.")
        and "POST" in r.methods
        and r.endpoint.split(".")[1]
        in {
            "incident_new",
            "maintenance_new",
            "incident_update",
            "maintenance_update",
            "update_correct",
            "incident_postmortem",
            "component_status",
        }
    }
    assert len(rules) == len(_posts({"incident": 1, "update": 1, "component": 1}))


@pytest.mark.parametrize("index", range(7))
def test_viewer_gets_403_on_every_write(ids, viewer, index):
    path = _posts(ids)[index]
    token = csrf_token(viewer, "/admin/")
    data = {"csrf_token": token, "body": "x", "status": "major_outage", "action": "publish"}
    assert viewer.post(path, data=data).status_code == 403
    assert count_updates() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/incidents",
        "/admin/maintenances",
        "/admin/components",
        "/admin/incidents/{incident}",
        "/admin/maintenances/{incident}",
    ],
)
def test_viewer_reads_every_page_without_publish_controls(ids, viewer, path):
    response = viewer.get(path.format(**ids))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for control in ("New incident", "Post update", "Save correction", 'name="status"'):
        assert control not in html


@pytest.mark.parametrize(
    "path",
    ["/admin/incidents/new", "/admin/maintenances/new", "/admin/incidents/{incident}/update"],
)
def test_viewer_cannot_open_the_compose_forms(ids, viewer, path):
    assert viewer.get(path.format(**ids)).status_code == 403


def test_signed_out_publish_is_refused(client, ids):
    response = client.post("/admin/incidents/new", data={"action": "publish"})
    assert response.status_code in (400, 401)
    assert count_updates() == 1


def test_publish_without_csrf_token_is_refused(site, editor):
    form = {"message": "degraded-investigating", "var_component": "API", "action": "publish"}
    assert editor.post("/admin/incidents/new", data=form).status_code == 400
    assert count_updates() == 0


def test_compose_pages_have_no_inline_script_or_style(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "API").press("preview")
    assert "<script" not in browser.html and "style=" not in browser.html


def test_a_message_archived_while_composing_is_refused_with_the_values_kept(browser):
    browser.open("/admin/incidents/new?message=degraded-investigating")
    browser.type("var_component", "Checkout").press("preview")
    with write_transaction():
        library_service.set_archived("degraded-investigating", True, now=utcnow(), actor=audit.CLI)
    browser.press("publish")
    assert browser.response.status_code == 422 and "is archived" in browser.html
    assert browser.value("var_component") == "Checkout"
    assert count_updates() == 0


def test_an_update_that_leaves_the_window_as_shown_keeps_it_exactly(browser, ctx):
    start = utcnow().replace(microsecond=0) + timedelta(days=1, seconds=17)
    with write_transaction():
        maintenance = incident_service.schedule_maintenance(
            name="Network work",
            body="We will move racks.",
            scheduled_for=start,
            scheduled_until=start + timedelta(hours=1),
            now=utcnow(),
        )
    browser.open(f"/admin/maintenances/{maintenance.id}/update?free=1&status=scheduled")
    browser.type("body", "Still on, same time.").press("preview").press("publish")
    maintenance = only_incident()
    assert (maintenance.scheduled_for, maintenance.scheduled_until) == (
        start,
        start + timedelta(hours=1),
    )
