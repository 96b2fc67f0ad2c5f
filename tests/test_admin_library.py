"""The message library in the admin: browse, read, diff, edit, revert, archive; who may do what."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Message
from statuspage.publishing import library as lib
from tests.support import NOW
from tests.support.auth import csrf_token

STARTER = Path(__file__).resolve().parent.parent / "messages"
NAMES = (
    "outage-investigating.md",
    "outage-resolved.md",
    "degraded-identified.md",
    "maintenance-scheduled.md",
)
SLUG = "outage-investigating"
BASE = f"/admin/library/{SLUG}"

# Every test here reads or writes the library: `editor` and `viewer` are the shared role clients.
pytestmark = pytest.mark.usefixtures("messages")


@pytest.fixture
def messages(ctx, tmp_path):
    """A few starter messages, synced."""
    target = tmp_path / "messages"
    target.mkdir()
    for name in NAMES:
        shutil.copy(STARTER / name, target / name)
    with write_transaction():
        lib.sync_directory(target, now=NOW)
    return target


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post(client, path: str, data: dict | None = None):
    return client.post(
        path, data={"csrf_token": csrf_token(client, "/admin/library"), **(data or {})}
    )


def edit(client, title: str, body: str, reason: str = "clearer wording", **extra):
    return post(client, f"{BASE}/edit", {"title": title, "body": body, "reason": reason, **extra})


def slugs_listed(text: str) -> list[str]:
    return re.findall(r'href="/admin/library/([a-z0-9-]+)"><code>', text)


def version_numbers(slug: str = SLUG) -> list[int]:
    db.session.expire_all()
    return [v.number for v in lib.get_message(slug).versions]


GOOD_BODY = (
    "We are looking into reports that {{ component }} is down.\n\n"
    "Next update within {{ next_update }}."
)


# -- browsing --------------------------------------------------------------------------------


def test_library_lists_each_message_with_status_impact_tags_and_version(editor):
    text = page(editor, "/admin/library")
    assert slugs_listed(text) == [
        "degraded-identified",
        "maintenance-scheduled",
        "outage-investigating",
        "outage-resolved",
    ]
    row = text[text.index(f'href="{BASE}"') :].split("</tr>")[0]
    assert "Investigating" in row and "Major" in row and ">outage<" in row
    assert f'href="{BASE}/v/1">v1<' in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=RESOLVED", ["outage-resolved"]),  # the id, whatever the case
        ("q=cause+found", ["degraded-identified"]),  # the title
        ("q=thank+you+for+your+patience", ["outage-resolved"]),  # the body
        ("status=investigating", ["outage-investigating"]),
        ("status=scheduled", ["maintenance-scheduled"]),
        ("impact=major", ["outage-investigating"]),
        ("tag=outage", ["outage-investigating", "outage-resolved"]),
        ("tag=outage&status=resolved", ["outage-resolved"]),
    ],
)
def test_library_search_and_filters(editor, query, expected):
    assert slugs_listed(page(editor, f"/admin/library?{query}")) == expected


@pytest.mark.parametrize("wildcard", ["%25", "_"])
def test_library_search_matches_sql_wildcards_literally(editor, wildcard):
    assert slugs_listed(page(editor, f"/admin/library?q=outage{wildcard}")) == []


def test_library_ignores_an_unknown_filter_value(editor):
    assert len(slugs_listed(page(editor, "/admin/library?status=%3Cscript%3E"))) == 4


def test_archived_view_shows_only_archived_messages(editor):
    assert slugs_listed(page(editor, "/admin/library?archived=1")) == []
    with write_transaction():
        lib.set_archived("outage-resolved", True, now=NOW, actor=audit.CLI)
    assert slugs_listed(page(editor, "/admin/library?archived=1")) == ["outage-resolved"]
    assert "outage-resolved" not in slugs_listed(page(editor, "/admin/library"))


# -- one message -----------------------------------------------------------------------------


def test_message_page_previews_text_with_placeholders_visible(editor):
    text = page(editor, BASE)
    assert '<span class="ph" title="Affected service">{{ component }}</span>' in text
    assert "is unavailable for some or all customers." in text
    assert "<p>Our team is working on it now" in text  # Markdown rendered


def test_message_page_lists_declared_variables(editor):
    text = page(editor, BASE)
    table = text[text.index('class="list vars"') :].split("</table>")[0]
    assert "<code>component</code>" in table and "Affected service" in table
    assert "<code>next_update</code>" in table and "30 minutes" in table
    assert "15 minutes, 30 minutes, 1 hour" in table


def test_message_page_shows_history_and_links_to_compose(editor):
    text = page(editor, BASE)
    history = text[text.index('id="history"') :]
    version = lib.current_version(lib.get_message(SLUG))
    assert version.content_hash[:10] in history and ">sync<" in history
    assert f'href="/admin/incidents/new?message={SLUG}"' in text


def test_preview_escapes_html_from_a_message_file(editor, messages):
    path = messages / "outage-resolved.md"
    path.write_text(
        path.read_text()
        .replace('label = "Affected service"', 'label = "\\"><script>alert(1)</script>"')
        .replace("We are sorry", "<script>alert(2)</script> We are sorry")
    )
    with write_transaction():
        lib.sync_directory(messages, now=NOW)
    text = page(editor, "/admin/library/outage-resolved")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(2)" in text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/library/no-such-message",
        "/admin/library/Outage-Investigating",
        "/admin/library/-leading-hyphen",
        "/admin/library/under_score",
        "/admin/library/" + "a" * 101,
        f"{BASE}/v/9",
        f"{BASE}/diff?a=1&b=9",
    ],
)
def test_unknown_or_malformed_messages_are_404(editor, path):
    assert editor.get(path).status_code == 404


def test_a_malformed_slug_is_404_even_if_such_a_row_exists(editor):
    # Rows only come from checked files, so this one is planted to prove the URL check itself.
    with write_transaction():
        db.session.add(Message(slug="Bad_Slug", current_version=1, created_at=NOW, updated_at=NOW))
    assert editor.get("/admin/library/Bad_Slug").status_code == 404
    assert post(editor, "/admin/library/Bad_Slug/archive").status_code == 404
    assert (
        db.session.scalar(sa.select(Message.archived_at).where(Message.slug == "Bad_Slug")) is None
    )


# -- versions and diffs ----------------------------------------------------------------------


def test_edit_saves_a_new_version_with_author_and_reason_in_history(editor):
    response = edit(editor, "{{ component }} is down", GOOD_BODY, reason="shorter title")
    assert response.status_code == 302 and response.headers["Location"] == BASE
    assert version_numbers() == [1, 2]
    text = page(editor, BASE)
    assert "Saved as v2." in text
    history = text[text.index('id="history"') :]
    newest = history.split("</tr>")[1]
    assert ">v2<" in newest and "editor@example.com" in newest and "shorter title" in newest
    assert "We are looking into reports that" in text


def test_edit_is_recorded_in_the_audit_log(editor):
    edit(editor, "{{ component }} is down", GOOD_BODY, reason="shorter title")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "message.edited"))
    assert entry.actor == "editor@example.com" and entry.target_id == SLUG
    assert entry.summary == f"{SLUG} v2: shorter title"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{% if vip %}Dear VIP{% endif %}", "template tags {% ... %} are not allowed"),
        ("{{ x.__class__ }}", "is not a placeholder"),
        ("{0}", "format fields are not allowed"),
        ("{{ customer }}", "placeholder {{ customer }} is not declared"),
    ],
)
def test_edit_refuses_template_syntax_with_the_line_and_keeps_the_text(editor, bad, problem):
    body = f"First line with {{{{ component }}}}.\n\nThird line {bad} within {{{{ next_update }}}}."
    response = edit(editor, "{{ component }} is down", body)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    problems = html.unescape(text[text.index('class="problems"') :].split("</ul>")[0])
    assert any(
        line.startswith("<li>Body, line 3: ") and problem in line for line in problems.splitlines()
    ), problems
    assert f">{html.escape(body, quote=False)}</textarea>" in text.replace("&#34;", '"')
    assert 'value="clearer wording"' in text
    assert version_numbers() == [1]


def test_edit_refuses_an_undeclared_placeholder_in_the_title(editor):
    response = edit(editor, "{{ region }} is down", GOOD_BODY)
    assert response.status_code == 422
    assert "Title, line 1: placeholder {{ region }} is not declared" in html.unescape(
        response.get_data(as_text=True)
    )


def test_edit_without_a_reason_is_refused_and_keeps_the_text(editor):
    response = edit(editor, "{{ component }} is down", GOOD_BODY, reason="  ")
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert "say why you changed the message" in text and "We are looking into reports" in text
    assert version_numbers() == [1]


def test_edit_with_unchanged_text_is_refused(editor):
    current = lib.current_version(lib.get_message(SLUG))
    response = edit(editor, current.title, current.body)
    assert response.status_code == 409 and b"nothing changed" in response.data
    assert version_numbers() == [1]


def test_edit_of_a_stale_version_is_refused_and_keeps_the_text(editor):
    edit(editor, "{{ component }} is down", GOOD_BODY, reason="first", base="1")
    response = edit(editor, "{{ component }} is offline", GOOD_BODY, reason="second", base="1")
    assert response.status_code == 409
    text = html.unescape(response.get_data(as_text=True))
    assert "v2 was saved by editor@example.com while you were editing v1" in text
    assert 'value="{{ component }} is offline"' in text
    assert version_numbers() == [1, 2]


def test_version_page_shows_an_old_text(editor):
    edit(editor, "{{ component }} is down", GOOD_BODY)
    old = page(editor, f"{BASE}/v/1")
    assert "is unavailable for some or all customers" in old
    assert "We are looking into reports" not in old
    assert f'action="{BASE}/v/1/revert"' in old


def test_diff_shows_removed_and_added_lines_side_by_side(editor):
    edit(editor, "{{ component }} is down", GOOD_BODY)
    text = page(editor, f"{BASE}/diff?a=1&b=2")
    removed = re.findall(r'<td class="del">(?:<span[^>]*>removed: </span>)?([^<]*)</td>', text)
    added = re.findall(r'<td class="add">(?:<span[^>]*>added: </span>)?([^<]*)</td>', text)
    assert any("title = &#34;{{ component }} unavailable&#34;" in line for line in removed)
    assert any("We are looking into reports that" in line for line in added)
    assert '<td class="same">id = &#34;outage-investigating&#34;</td>' in text


def test_diff_defaults_to_the_last_change(editor):
    edit(editor, "{{ component }} is down", GOOD_BODY)
    assert "Changes from v1 to v2" in page(editor, f"{BASE}/diff")


def test_revert_makes_a_new_version_with_the_old_text(editor):
    original = lib.current_version(lib.get_message(SLUG)).content_hash
    edit(editor, "{{ component }} is down", GOOD_BODY)
    response = post(editor, f"{BASE}/v/1/revert")
    assert response.status_code == 302
    assert version_numbers() == [1, 2, 3]
    current = lib.current_version(lib.get_message(SLUG))
    assert current.content_hash == original and current.reason == "revert to v1"
    assert "Saved v3 with the text of v1." in page(editor, BASE)


def test_revert_to_the_current_text_changes_nothing(editor):
    response = post(editor, f"{BASE}/v/1/revert")
    assert response.status_code == 302 and version_numbers() == [1]
    assert "Nothing to revert" in page(editor, BASE)


def test_archive_then_restore(editor):
    assert post(editor, f"{BASE}/archive").status_code == 302
    assert SLUG in slugs_listed(page(editor, "/admin/library?archived=1"))
    archived_page = page(editor, BASE)
    assert "/admin/incidents/new" not in archived_page and "Restore" in archived_page
    assert post(editor, f"{BASE}/restore").status_code == 302
    assert SLUG in slugs_listed(page(editor, "/admin/library"))
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.target_id == SLUG).order_by(AuditEntry.id)
    ).all()
    assert actions[-2:] == ["message.archived", "message.restored"]


# -- who may do what ---------------------------------------------------------------------------

READ_PAGES = [
    "/admin/library",
    "/admin/library?archived=1&q=x&status=resolved&tag=outage&impact=major",
    BASE,
    f"{BASE}/v/1",
    f"{BASE}/diff?a=1&b=1",
]
WRITES = [f"{BASE}/edit", f"{BASE}/v/1/revert", f"{BASE}/archive", f"{BASE}/restore"]


def test_viewer_can_read_every_library_page_without_write_buttons(viewer):
    for path in READ_PAGES:
        text = page(viewer, path)
        assert "/edit" not in text and "/revert" not in text and "/archive" not in text


def test_viewer_gets_403_on_every_write(viewer):
    assert viewer.get(f"{BASE}/edit").status_code == 403
    for path in WRITES:
        data = {"title": "x {{ component }}", "body": GOOD_BODY, "reason": "r"}
        assert post(viewer, path, data).status_code == 403, path
    assert version_numbers() == [1]


def test_signed_out_reads_redirect_to_login(client, messages):
    for path in [*READ_PAGES, f"{BASE}/edit"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/admin/login?next=")


def test_signed_out_writes_are_refused(client, messages):
    token = csrf_token(client, "/admin/login")
    for path in WRITES:
        assert client.post(path, data={"csrf_token": token}).status_code == 401, path
    assert version_numbers() == [1]


def test_writes_without_a_csrf_token_are_refused(editor):
    response = editor.post(f"{BASE}/archive")
    assert response.status_code == 400
    assert lib.get_message(SLUG).archived_at is None
