"""Postmortem action items, the service: checks of hostile input, the audit trail, done and
reopened, the overdue ones at a controlled date, the Markdown export."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.enums import Impact, IncidentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ActionItem, Incident
from statuspage.errors import NotFound, ValidationError
from statuspage.publishing import action_items as service
from statuspage.publishing import incidents as incident_service
from tests.support import NOW

ItemInput = service.ItemInput


def resolved_incident(name: str = "Checkout failing") -> int:
    with write_transaction():
        incident = incident_service.open_incident(
            name=name, impact=Impact.MAJOR, body="Looking into it.", now=NOW - timedelta(days=3)
        )
        incident_service.post_update(
            incident, status=IncidentStatus.RESOLVED, body="Fixed.", now=NOW - timedelta(days=2)
        )
        db.session.flush()
        return incident.id


def add(incident_id: int, **fields: str) -> ActionItem:
    with write_transaction():
        return service.add(
            incident_id, ItemInput(**{"title": "x", **fields}), now=NOW, actor=audit.CLI
        )


def refused(incident_id: int, **fields: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        add(incident_id, **fields)
    return caught.value


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ActionItem)) or 0


def test_an_item_is_added_cleaned_and_audited(ctx):
    incident_id = resolved_incident()
    item = add(
        incident_id,
        title="  Add a \u202econfig   check\x00 ",
        owner=" Ada\u200b Lovelace ",
        due_on="2026-07-01",
        link="https://tickets.example.com/OPS-42?x=1#y",
    )
    assert item.title == "Add a config check"
    assert item.owner == "Ada Lovelace"
    assert item.due_on == date(2026, 7, 1)
    assert item.link == "https://tickets.example.com/OPS-42?x=1#y"
    assert item.done_at is None and item.created_by == "cli" and item.created_at == NOW
    [entry] = audit.entries(action="action_item.added")
    assert entry.target_type == "incident" and entry.target_id == str(incident_id)
    assert "Add a config check" in entry.summary and entry.after["link"] == item.link


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "\x00\u200b \t"}, "title"),
        ({"title": "x" * (limits.MAX_TITLE + 1)}, "title"),
        ({"title": "x" * 1_000_000}, "title"),
        ({"owner": "o" * (limits.MAX_OWNER + 1)}, "owner"),
        ({"due_on": "tomorrow"}, "due_on"),
        ({"due_on": "2026-02-30"}, "due_on"),
        ({"due_on": "20260701"}, "due_on"),
        ({"due_on": "2026-07-01" + "9" * 10_000}, "due_on"),
        ({"link": "javascript:alert(1)"}, "link"),
        ({"link": "JavaScript://example.com/%0aalert(1)"}, "link"),
        ({"link": "data:text/html,<script>alert(1)</script>"}, "link"),
        ({"link": "file:///etc/passwd"}, "link"),
        ({"link": "https://"}, "link"),
        ({"link": "https:example.com"}, "link"),
        ({"link": "//example.com/x"}, "link"),
        ({"link": 'https://example.com/"><script>'}, "link"),
        ({"link": "https://example.com/a b"}, "link"),
        ({"link": "https://[::1"}, "link"),
        ({"link": "https://example.com/" + "a" * limits.MAX_LINK}, "link"),
    ],
)
def test_hostile_input_is_refused_naming_the_field(ctx, fields, field):
    incident_id = resolved_incident()
    assert refused(incident_id, **fields).field == field
    assert count() == 0
    assert audit.entries(action="action_item.added") == []


def test_nul_and_controls_in_a_link_are_removed_before_it_is_checked(ctx):
    incident_id = resolved_incident()
    assert add(incident_id, link="https://exa\x00mple.com/\u200bx").link == "https://example.com/x"


def test_an_incident_holds_a_bounded_number_of_items(ctx, monkeypatch):
    from statuspage.errors import Conflict

    monkeypatch.setattr(service, "MAX_ITEMS", 2)
    incident_id = resolved_incident()
    add(incident_id, title="one")
    add(incident_id, title="two")
    with pytest.raises(Conflict):
        add(incident_id, title="three")
    assert [i.title for i in service.of_incident(incident_id)] == ["one", "two"]


def test_an_unknown_incident_or_a_maintenance_has_no_items(ctx):
    with pytest.raises(NotFound):
        add(999_999)
    with write_transaction():
        maintenance = incident_service.schedule_maintenance(
            name="Database upgrade",
            body="We will upgrade the database.",
            scheduled_for=NOW + timedelta(days=1),
            scheduled_until=NOW + timedelta(days=1, hours=1),
            now=NOW,
        )
        db.session.flush()
        maintenance_id = maintenance.id
    with pytest.raises(ValidationError):
        add(maintenance_id)


def test_complete_and_reopen_are_audited_and_idempotent(ctx):
    incident_id = resolved_incident()
    item_id = add(incident_id, title="Alert on queue depth").id
    later = NOW + timedelta(hours=1)
    with write_transaction():
        assert service.complete(incident_id, item_id, now=later, actor=audit.CLI)
    with write_transaction():
        assert not service.complete(incident_id, item_id, now=later, actor=audit.CLI)
    item = db.session.get(ActionItem, item_id)
    assert item.done_at == later and item.done_by == "cli"
    assert str(service.progress(service.of_incident(incident_id))) == "1 of 1 done"
    with write_transaction():
        assert service.reopen(incident_id, item_id, now=later, actor=audit.CLI)
    with write_transaction():
        assert not service.reopen(incident_id, item_id, now=later, actor=audit.CLI)
    item = db.session.get(ActionItem, item_id)
    assert item.done_at is None and item.done_by == ""
    assert len(audit.entries(action="action_item.done")) == 1
    [reopened] = audit.entries(action="action_item.reopened")
    assert reopened.before["done"] is True and reopened.after["done"] is False


def test_an_item_is_reached_only_through_its_own_incident(ctx):
    first, second = resolved_incident("one"), resolved_incident("two")
    item_id = add(first).id
    with pytest.raises(NotFound), write_transaction():
        service.complete(second, item_id, now=NOW, actor=audit.CLI)
    with pytest.raises(NotFound), write_transaction():
        service.delete(first, item_id + 1, now=NOW, actor=audit.CLI)


def test_edit_checks_like_add_and_records_before_and_after(ctx):
    incident_id = resolved_incident()
    item_id = add(incident_id, title="Old", owner="ada").id
    with pytest.raises(ValidationError), write_transaction():
        service.edit(
            incident_id, item_id, ItemInput(title="New", link="javascript:x"), now=NOW,
            actor=audit.CLI,
        )  # fmt: skip
    with write_transaction():
        assert service.edit(
            incident_id, item_id, ItemInput(title="New", owner="ada"), now=NOW, actor=audit.CLI
        )
    with write_transaction():
        assert not service.edit(
            incident_id, item_id, ItemInput(title="New", owner="ada"), now=NOW, actor=audit.CLI
        )
    [entry] = audit.entries(action="action_item.edited")
    assert entry.before["title"] == "Old" and entry.after["title"] == "New"


def test_delete_keeps_what_the_item_said_in_the_audit_log(ctx):
    incident_id = resolved_incident()
    item_id = add(incident_id, title="Rotate the keys").id
    with write_transaction():
        service.delete(incident_id, item_id, now=NOW, actor=audit.CLI)
    assert count() == 0
    [entry] = audit.entries(action="action_item.deleted")
    assert entry.before["title"] == "Rotate the keys" and entry.after is None


def test_items_go_with_their_incident(ctx):
    incident_id = resolved_incident()
    add(incident_id)
    with write_transaction():
        db.session.execute(sa.delete(Incident).where(Incident.id == incident_id))
    assert count() == 0


def test_overdue_lists_open_items_past_their_due_date_longest_first(ctx):
    incident_id = resolved_incident()
    today = date(2026, 6, 15)
    add(incident_id, title="due today", due_on="2026-06-15")
    add(incident_id, title="yesterday", due_on="2026-06-14")
    add(incident_id, title="last month", due_on="2026-05-15")
    add(incident_id, title="no date")
    done = add(incident_id, title="done late", due_on="2026-06-01")
    with write_transaction():
        service.complete(incident_id, done.id, now=NOW, actor=audit.CLI)
    found = service.overdue(today)
    assert [i.title for i in found] == ["last month", "yesterday"]
    assert found[0].incident.name == "Checkout failing"
    assert [i.title for i in service.overdue(today, limit=1)] == ["last month"]
    assert [i.title for i in service.overdue(today + timedelta(days=1))][-1] == "due today"
    assert service.overdue(today, limit=-5) == []


def test_overdue_is_bounded(ctx, monkeypatch):
    monkeypatch.setattr(service, "MAX_OVERDUE", 3)
    incident_id = resolved_incident()
    for n in range(5):
        add(incident_id, title=f"item {n}", due_on="2026-01-01")
    assert len(service.overdue(date(2026, 6, 15), limit=1000)) == 3


def test_the_markdown_export_escapes_what_people_typed(ctx):
    incident_id = resolved_incident("Checkout *failing*")
    add(
        incident_id,
        title="[click](javascript:alert(1)) <b>x</b>",
        owner="# ada",
        due_on="2026-07-01",
        link="https://tickets.example.com/OPS-42",
    )
    done = add(incident_id, title="Add a canary")
    with write_transaction():
        service.complete(incident_id, done.id, now=NOW, actor=audit.CLI)
    incident = db.session.get(Incident, incident_id)
    text = service.as_markdown(incident, service.of_incident(incident_id), tz=ZoneInfo("UTC"))
    assert text.startswith("# Postmortem: Checkout \\*failing\\*\n")
    assert "- Postmortem: not published yet" in text
    assert "## Action items (1 of 2 done)" in text
    # Neither a link nor HTML: the bracket and the angle brackets are escaped.
    assert "- [ ] \\[click\\](javascript:alert(1)) &lt;b>x&lt;/b>" in text
    assert "[click](" not in text and "<b>" not in text
    assert "owner: \\# ada; due 2026-07-01; <https://tickets.example.com/OPS-42>" in text
    assert "- [x] Add a canary (done 2026-06-15 12:00 UTC by cli)" in text


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("2026-02-30", "2026-02-30 is not a date of the calendar"),
        ("0001-01-01", "a due date falls in the years 2000 to 2199"),
        ("26-2-3", "write the due date as YYYY-MM-DD"),
    ],
)
def test_a_due_date_that_is_no_date_or_far_off_is_refused_saying_why(due, message):
    with pytest.raises(ValidationError, match=message):
        service.due_date(due)


def test_a_link_carrying_a_password_is_refused():
    with pytest.raises(ValidationError, match="user name or password"):
        service.link("https://ada:secret@tickets.example.com/OPS-1")
