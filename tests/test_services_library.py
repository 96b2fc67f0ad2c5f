"""The message library in the database: versions from sync, edit, revert, archive, export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from statuspage.core import library
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.models import AuditEntry
from statuspage.errors import Conflict, ValidationError
from statuspage.publishing import library as lib
from tests.support import NOW

MESSAGES = Path(__file__).resolve().parent.parent / "messages"


@pytest.fixture
def messages_dir(tmp_path):
    target = tmp_path / "messages"
    target.mkdir()
    for name in ("outage-investigating.md", "outage-resolved.md", "degraded-identified.md"):
        shutil.copy(MESSAGES / name, target / name)
    return target


def sync(path):
    with write_transaction():
        return lib.sync_directory(path, now=NOW)


def test_first_sync_creates_version_one_of_each(ctx, messages_dir):
    report = sync(messages_dir)
    assert sorted(report.created) == [
        ("degraded-identified", 1),
        ("outage-investigating", 1),
        ("outage-resolved", 1),
    ]
    assert lib.current_version(lib.get_message("outage-investigating")).number == 1


def test_unchanged_files_create_nothing(ctx, messages_dir):
    sync(messages_dir)
    report = sync(messages_dir)
    assert not report.changed and len(report.unchanged) == 3


def test_changed_file_gets_a_new_version_and_keeps_the_old(ctx, messages_dir):
    sync(messages_dir)
    path = messages_dir / "outage-investigating.md"
    path.write_text(path.read_text().replace("We are investigating", "We are looking into"))
    report = sync(messages_dir)
    assert report.updated == [("outage-investigating", 2)]
    message = lib.get_message("outage-investigating")
    assert [v.number for v in message.versions] == [1, 2]
    assert "We are investigating" in message.versions[0].body
    assert "We are looking into" in message.versions[1].body


def test_crlf_only_change_is_not_a_new_version(ctx, messages_dir):
    sync(messages_dir)
    path = messages_dir / "outage-resolved.md"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert not sync(messages_dir).changed


def test_removed_file_archives_and_returning_file_restores(ctx, messages_dir):
    sync(messages_dir)
    kept = (messages_dir / "outage-resolved.md").read_text()
    (messages_dir / "outage-resolved.md").unlink()
    assert sync(messages_dir).archived == ["outage-resolved"]
    assert [m.slug for m, _ in lib.list_messages(archived=True)] == ["outage-resolved"]
    (messages_dir / "outage-resolved.md").write_text(kept)
    report = sync(messages_dir)
    assert report.restored == ["outage-resolved"] and not report.updated


def test_a_bad_file_loads_nothing(ctx, messages_dir):
    (messages_dir / "bad.md").write_text('+++\nid = "bad"\n+++\n{% evil %}\n')
    with pytest.raises(library.LibraryError) as info:
        sync(messages_dir)
    assert "bad.md:" in str(info.value)
    assert lib.list_messages() == []


def test_edit_makes_a_version_with_author_reason_and_audit(ctx, messages_dir):
    sync(messages_dir)
    current = lib.current_version(lib.get_message("outage-resolved"))
    with write_transaction():
        version = lib.edit(
            "outage-resolved",
            title=current.title,
            body=current.body + "\n\nThank you.",
            reason="warmer close",
            now=NOW,
            actor=audit.CLI,
        )
    assert version.number == 2 and version.reason == "warmer close"
    from statuspage.db.extensions import db

    actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions[-1] == "message.edited"


def test_edit_refuses_template_syntax_and_undeclared_placeholders(ctx, messages_dir):
    sync(messages_dir)
    current = lib.current_version(lib.get_message("outage-resolved"))
    for body in ("{% if x %}", "{{ x.__class__ }}", "{0}", "{{ nope }}"):
        with pytest.raises(ValidationError), write_transaction():
            lib.edit(
                "outage-resolved",
                title=current.title,
                body=body,
                reason="r",
                now=NOW,
                actor=audit.CLI,
            )
    assert len(lib.get_message("outage-resolved").versions) == 1


def test_edit_without_reason_or_change_is_refused(ctx, messages_dir):
    sync(messages_dir)
    current = lib.current_version(lib.get_message("outage-resolved"))
    with pytest.raises(ValidationError), write_transaction():
        lib.edit(
            "outage-resolved", title=current.title, body="x", reason=" ", now=NOW, actor=audit.CLI
        )
    with pytest.raises(Conflict), write_transaction():
        lib.edit(
            "outage-resolved",
            title=current.title,
            body=current.body,
            reason="r",
            now=NOW,
            actor=audit.CLI,
        )


def test_revert_makes_a_new_version_with_the_old_text(ctx, messages_dir):
    sync(messages_dir)
    original = lib.current_version(lib.get_message("outage-resolved"))
    with write_transaction():
        lib.edit(
            "outage-resolved",
            title=original.title,
            body=original.body + " Changed.",
            reason="r",
            now=NOW,
            actor=audit.CLI,
        )
    with write_transaction():
        reverted = lib.revert("outage-resolved", 1, now=NOW, actor=audit.CLI)
    assert reverted.number == 3 and reverted.body == original.body
    assert reverted.content_hash == original.content_hash
    assert reverted.reason == "revert to v1"


def test_export_writes_current_versions_back(ctx, messages_dir, tmp_path):
    sync(messages_dir)
    out = tmp_path / "out"
    with write_transaction():
        written = lib.export_directory(out)
    assert len(written) == 3
    messages, problems = library.check_directory(out)
    assert problems == [] and len(messages) == 3


def test_starter_library_syncs(ctx):
    report = sync(MESSAGES)
    assert len(report.created) >= 20
