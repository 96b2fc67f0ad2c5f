"""The audit log page: admins only, filters, keyset pages, before/after shown as text."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ApiToken
from statuspage.publishing import publish
from tests.support.auth import csrf_token, sign_in, signed_in


def add_entry(action="test.thing", *, age=timedelta(0), **fields) -> int:
    with write_transaction():
        entry = audit.record(
            fields.pop("actor", audit.CLI), action, now=utcnow() - age, summary=action, **fields
        )
    return entry.id


def actions_shown(response) -> list[str]:
    return re.findall(
        r"<td class=\"action\"><code>([^<]+)</code></td>", response.get_data(as_text=True)
    )


def test_audit_log_is_for_admins_only(app, people):
    for role in ("editor", "viewer"):
        assert signed_in(app, role).get("/admin/audit").status_code == 403


def test_audit_log_shows_time_actor_action_target_and_summary(admin):
    add_entry(
        "component.status",
        target_type="component",
        target_id=7,
        before={"status": "operational"},
        after={"status": "major_outage"},
    )
    response = admin.get("/admin/audit")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    row = text[text.index("<code>component.status</code>") - 600 :]
    assert "<time datetime=" in row and ">cli<" in row
    assert 'component <span class="mono">#7</span>' in text
    assert "<details" in text and "&#34;status&#34;: &#34;major_outage&#34;" in text


def test_audit_log_shows_logins_and_failed_logins_newest_first(app, admin):
    sign_in(app.test_client(), "editor@example.com", "wrong password!!")
    assert actions_shown(admin.get("/admin/audit"))[:2] == ["login.failed", "login"]


def test_signing_out_is_in_the_audit_log(app, admin):
    editor = signed_in(app, "editor")
    token = csrf_token(editor, "/admin/")
    assert editor.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    shown = actions_shown(admin.get("/admin/audit"))
    assert shown[0] == "logout"


def test_audit_log_escapes_what_it_shows(admin):
    add_entry("<script>alert(1)</script>", after={"name": "<img src=x onerror=alert(1)>"})
    text = admin.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_filter_by_action(admin):
    add_entry("user.role_changed")
    add_entry("token.created")
    response = admin.get("/admin/audit?action=token.created")
    assert actions_shown(response) == ["token.created"]
    assert '<option value="token.created" selected>' in response.get_data(as_text=True)


def test_filter_by_actor_text(admin, people):
    add_entry("by.editor", actor=audit.Actor.for_user(people["editor"]))
    add_entry("by.cli")
    assert actions_shown(admin.get("/admin/audit?actor=EDITOR@")) == ["by.editor"]


def test_actor_filter_treats_wildcards_as_text(admin):
    add_entry("by.cli")
    assert actions_shown(admin.get("/admin/audit?actor=%25")) == []


def test_filter_by_target_type(admin):
    add_entry("a", target_type="incident", target_id=1)
    add_entry("b", target_type="component", target_id=1)
    assert actions_shown(admin.get("/admin/audit?target_type=incident")) == ["a"]


def test_filter_by_age_and_by_date(admin):
    add_entry("old", age=timedelta(days=10))
    add_entry("new", age=timedelta(hours=1))
    assert "old" not in actions_shown(admin.get("/admin/audit?since=7d"))
    assert "new" in actions_shown(admin.get("/admin/audit?since=7d"))
    since = (utcnow() - timedelta(days=3)).date().isoformat()
    assert "old" not in actions_shown(admin.get(f"/admin/audit?since={since}"))


def test_unreadable_since_is_reported_and_kept(admin):
    add_entry("kept")
    response = admin.get("/admin/audit?since=last+tuesday")
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cannot read &#39;last tuesday&#39;" in text
    assert 'value="last tuesday"' in text
    assert "kept" in actions_shown(response)


def test_older_link_pages_through_the_log_by_id(admin):
    ids = [add_entry(f"entry.{n}") for n in range(60)]
    first = admin.get("/admin/audit?action=")
    shown = actions_shown(first)
    assert len(shown) == 50 and shown[0] == "entry.59"
    older = re.search(r'href="([^"]+)" rel="next"', first.get_data(as_text=True)).group(1)
    assert f"before_id={ids[10]}" in older.replace("&amp;", "&")
    second = admin.get(older.replace("&amp;", "&"))
    # The sign-in and the three users created before the entries come last.
    assert actions_shown(second) == [f"entry.{n}" for n in range(9, -1, -1)] + [
        "login",
        "user.created",
        "user.created",
        "user.created",
    ]
    assert 'rel="next"' not in second.get_data(as_text=True)


def test_older_link_keeps_the_filters(admin):
    for _ in range(51):
        add_entry("wanted")
    add_entry("other")
    page = admin.get("/admin/audit?action=wanted").get_data(as_text=True)
    older = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    assert "action=wanted" in older
    assert actions_shown(admin.get(older)) == ["wanted"]


@pytest.mark.parametrize("before_id", ["abc", "-5", "0", "99999999999999999999"])
def test_a_malformed_before_id_is_ignored(admin, before_id):
    add_entry("still.shown")
    response = admin.get(f"/admin/audit?before_id={before_id}")
    assert response.status_code == 200
    assert "still.shown" in actions_shown(response)


def test_account_actions_in_the_admin_are_all_audited(app, admin, people):
    token = csrf_token(admin, "/admin/users")
    editor_id = people["editor"].id

    def send(path, **data):
        return admin.post(path, data={"csrf_token": token, **data})

    send("/admin/users", email="new@example.com", role="viewer")
    send(f"/admin/users/{editor_id}/role", role="viewer")
    send(f"/admin/users/{editor_id}/disable")
    send(f"/admin/users/{editor_id}/enable")
    send(f"/admin/users/{editor_id}/password")
    send("/admin/tokens", name="ci")
    send(f"/admin/tokens/{db.session.scalar(sa.select(ApiToken.id))}/revoke")
    mine = [e.action for e in audit.entries(actor="admin@example.com")]
    assert mine[::-1] == [
        "login",
        "user.created",
        "user.role_changed",
        "user.disabled",
        "user.enabled",
        "user.password_reset",
        "token.created",
        "token.revoked",
    ]


def test_component_status_changes_are_audited(sample, people):
    actor = audit.Actor.for_user(people["editor"], "10.0.0.1")
    with write_transaction():
        publish.set_component_status(
            sample["cdn"], ComponentStatus.MAJOR_OUTAGE, now=utcnow(), actor=actor
        )
    [entry] = audit.entries(action="component.status")
    assert (entry.actor, entry.ip, entry.after) == (
        "editor@example.com",
        "10.0.0.1",
        {"status": "major_outage"},
    )
