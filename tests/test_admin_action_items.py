"""Postmortem action items in the admin: the incident's panel, add, done and reopen with CSRF,
roles, the dashboard's overdue list, the Markdown export and the blameless template."""

from __future__ import annotations

from datetime import timedelta
from html import unescape as html_unescape
from pathlib import Path

import pytest

from statuspage.clock import utcnow
from statuspage.core.enums import Impact, IncidentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ActionItem
from statuspage.publishing import action_items as service
from statuspage.publishing import incidents as incident_service
from statuspage.publishing import library as library_service
from tests.support.auth import csrf_token

MESSAGES = Path(__file__).resolve().parent.parent / "messages"

pytestmark = pytest.mark.usefixtures("frozen_clock")


def resolved_incident() -> int:
    now = utcnow()
    with write_transaction():
        incident = incident_service.open_incident(
            name="Checkout failing", impact=Impact.MAJOR, body="Looking.", now=now - timedelta(2)
        )
        incident_service.post_update(
            incident, status=IncidentStatus.RESOLVED, body="Fixed.", now=now - timedelta(1)
        )
        db.session.flush()
        return incident.id


def page(client, incident_id: int) -> str:
    return client.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)


def post(client, path: str, incident_id: int, **data: str):
    token = csrf_token(client, f"/admin/incidents/{incident_id}")
    return client.post(path, data={"csrf_token": token, **data})


def test_an_editor_adds_an_item_and_marks_it_done_then_reopens_it(editor):
    incident_id = resolved_incident()
    html = page(editor, incident_id)
    assert "Action items" in html and "Postmortem <strong>not published yet</strong>" in html
    response = post(
        editor,
        f"/admin/incidents/{incident_id}/action-items",
        incident_id,
        title="Add a canary stage",
        owner="ada@example.com",
        due_on="2026-07-01",
        link="https://tickets.example.com/OPS-42",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/incidents/{incident_id}#action-items")
    html = page(editor, incident_id)
    assert "Add a canary stage" in html and "ada@example.com" in html and "2026-07-01" in html
    assert 'href="https://tickets.example.com/OPS-42"' in html
    assert "<strong>0 of 1 done</strong>" in html
    [item] = service.of_incident(incident_id)
    done = post(editor, f"/admin/incidents/{incident_id}/action-items/{item.id}/done", incident_id)
    assert done.status_code == 302
    assert "<strong>1 of 1 done</strong>" in page(editor, incident_id)
    [entry] = audit.entries(action="action_item.done")
    assert entry.actor == "editor@example.com"
    reopen = post(
        editor, f"/admin/incidents/{incident_id}/action-items/{item.id}/reopen", incident_id
    )
    assert reopen.status_code == 302
    assert "<strong>0 of 1 done</strong>" in page(editor, incident_id)


def test_a_refused_item_is_shown_again_with_what_was_typed(editor):
    incident_id = resolved_incident()
    response = post(
        editor,
        f"/admin/incidents/{incident_id}/action-items",
        incident_id,
        title="Keep <this> title",
        link="javascript:alert(1)",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "http:// or https://" in html
    assert 'value="Keep &lt;this&gt; title"' in html
    assert (
        'name="link" type="url" maxlength="2000" value="javascript:alert(1)" aria-invalid' in html
    )
    assert db.session.query(ActionItem).count() == 0


def test_without_csrf_nothing_is_added(editor):
    incident_id = resolved_incident()
    response = editor.post(f"/admin/incidents/{incident_id}/action-items", data={"title": "x"})
    assert response.status_code in (400, 403)
    assert db.session.query(ActionItem).count() == 0


def test_a_viewer_sees_the_items_but_cannot_change_them(viewer):
    incident_id = resolved_incident()
    with write_transaction():
        item = service.add(
            incident_id, service.ItemInput(title="Rotate keys"), now=utcnow(), actor=audit.CLI
        )
        item_id = item.id
    html = page(viewer, incident_id)
    assert "Rotate keys" in html and "Add action item" not in html
    token = csrf_token(viewer, f"/admin/incidents/{incident_id}")
    base = f"/admin/incidents/{incident_id}/action-items"
    for path in (base, f"{base}/{item_id}/done", f"{base}/{item_id}/delete"):
        response = viewer.post(path, data={"csrf_token": token, "title": "x"})
        assert response.status_code == 403, path
    assert [i.title for i in service.of_incident(incident_id)] == ["Rotate keys"]


def test_the_dashboard_lists_an_overdue_item(editor):
    incident_id = resolved_incident()
    today = utcnow().date()
    with write_transaction():
        for title, due in (("Late one", today - timedelta(days=3)), ("Not yet", today)):
            service.add(
                incident_id,
                service.ItemInput(title=title, owner="ada", due_on=due.isoformat()),
                now=utcnow(),
                actor=audit.CLI,
            )
    html = editor.get("/admin/").get_data(as_text=True)
    assert "Action items overdue" in html
    # The section alone: the recent activity below names both items.
    section = html.split('class="action-items-overdue"', 1)[1].split("</section>", 1)[0]
    assert "Late one" in section and "Not yet" not in section and "owner ada" in section
    [late] = [i for i in service.of_incident(incident_id) if i.title == "Late one"]
    assert f'href="/admin/incidents/{incident_id}#action-item-{late.id}"' in section


def test_the_dashboard_has_no_overdue_section_without_overdue_items(editor):
    assert "Action items overdue" not in editor.get("/admin/").get_data(as_text=True)


def test_the_postmortem_exports_as_markdown_with_its_items(viewer):
    incident_id = resolved_incident()
    with write_transaction():
        service.add(
            incident_id,
            service.ItemInput(title="Add a canary", link="https://example.com/t/1"),
            now=utcnow(),
            actor=audit.CLI,
        )
        incident = incident_service.get_incident(incident_id)
        incident_service.publish_postmortem(incident, body="## What happened\n\nA bad deploy.",
                                            now=utcnow())  # fmt: skip
    response = viewer.get(f"/admin/incidents/{incident_id}/postmortem.md")
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="postmortem-{incident_id}.md"'
    )
    text = response.get_data(as_text=True)
    assert text.startswith("# Postmortem: Checkout failing")
    assert "## What happened\n\nA bad deploy." in text
    assert "## Action items (0 of 1 done)" in text
    assert "- [ ] Add a canary (<https://example.com/t/1>)" in text
    html = page(viewer, incident_id)
    assert "Postmortem published" in html and "0 of 1 done" in html


def test_a_maintenance_has_no_postmortem_export(editor):
    now = utcnow()
    with write_transaction():
        maintenance = incident_service.schedule_maintenance(
            name="Upgrade",
            body="We will upgrade.",
            scheduled_for=now + timedelta(days=1),
            scheduled_until=now + timedelta(days=1, hours=1),
            now=now,
        )
        db.session.flush()
        maintenance_id = maintenance.id
    assert editor.get(f"/admin/incidents/{maintenance_id}/postmortem.md").status_code == 404
    assert editor.get("/admin/incidents/999999/postmortem.md").status_code == 404


def test_the_postmortem_form_starts_from_the_blameless_template(editor):
    with write_transaction():
        library_service.sync_directory(MESSAGES, now=utcnow())
    incident_id = resolved_incident()
    html = page(editor, incident_id)
    assert "Start from the blameless template" in html
    html = editor.get(f"/admin/incidents/{incident_id}?start=template").get_data(as_text=True)
    textarea = html.split('id="postmortem-body"', 1)[1].split("</textarea>", 1)[0]
    assert "We write our reviews without blame" in textarea
    assert "**What happened:** [What happened]" in textarea and "{{" not in textarea
    # Published as it is, the blanks would reach customers: refused, naming them.
    text = html_unescape(textarea.split(">", 1)[1])
    refused = editor.post(
        f"/admin/incidents/{incident_id}/postmortem",
        data={"csrf_token": csrf_token(editor, f"/admin/incidents/{incident_id}"), "body": text},
    )
    assert refused.status_code == 422
    assert "fill in the template&#39;s blanks" in refused.get_data(as_text=True)


pytestmark = pytest.mark.usefixtures("frozen_clock")


def an_item() -> tuple[int, int]:
    incident_id = resolved_incident()
    with write_transaction():
        item = service.add(
            incident_id,
            service.ItemInput(title="Add a canary stage", owner="ada", due_on="2026-07-01"),
            now=utcnow(),
            actor=audit.CLI,
        )
        return incident_id, item.id


def edit(client, incident_id: int, item_id: int, **fields: str):
    token = csrf_token(client, f"/admin/incidents/{incident_id}")
    data = {"csrf_token": token, "title": "", "owner": "", "due_on": "", "link": "", **fields}
    return client.post(f"/admin/incidents/{incident_id}/action-items/{item_id}/edit", data=data)


def test_an_editor_changes_an_item(editor):
    incident_id, item_id = an_item()
    assert f'id="edit-title-{item_id}"' in page(editor, incident_id)
    response = edit(
        editor,
        incident_id,
        item_id,
        title="Add a canary stage to deploys",
        owner="grace@example.com",
        due_on="2026-07-15",
        link="https://tickets.example.com/OPS-7",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#action-items")
    with write_transaction():
        item = db.session.get(ActionItem, item_id)
        assert item is not None
        assert (item.title, item.owner, item.due_on.isoformat(), item.link) == (
            "Add a canary stage to deploys",
            "grace@example.com",
            "2026-07-15",
            "https://tickets.example.com/OPS-7",
        )
    html = editor.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert "Action item changed." in html


def test_the_same_values_change_nothing(editor):
    incident_id, item_id = an_item()
    response = edit(
        editor, incident_id, item_id, title="Add a canary stage", owner="ada", due_on="2026-07-01"
    )
    assert response.status_code == 302
    html = editor.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert "Nothing to change in that action item." in html


def test_a_refused_edit_is_shown_again_open_with_what_was_typed(editor):
    incident_id, item_id = an_item()
    response = edit(editor, incident_id, item_id, title="Canary", due_on="next week")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "write the due date as YYYY-MM-DD" in html
    assert 'value="next week" aria-invalid="true"' in html
    assert '<details class="action-item-edit" open>' in html
    with write_transaction():
        item = db.session.get(ActionItem, item_id)
        assert item is not None and item.title == "Add a canary stage"


def test_a_viewer_cannot_edit(viewer):
    incident_id, item_id = an_item()
    assert f'id="edit-title-{item_id}"' not in page(viewer, incident_id)
    assert edit(viewer, incident_id, item_id, title="x").status_code == 403
