"""`statuspage backup` checks the copy it wrote and fails loudly, keeping nothing, when the copy
is damaged, at another schema revision, or cut short by a full disk.

The tests run on an SQLite file of their own, whichever database the suite uses.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from statuspage import backup as backups
from tests.support.cli import assert_one_line_error
from tests.support.disks import damage_table, fill, small_disk


@pytest.fixture
def site(sqlite_site):
    """`sqlite_site` with one component."""
    assert sqlite_site("components", "add", "API").exit_code == 0
    return sqlite_site


def leftovers(folder: Path) -> list[Path]:
    return list(folder.glob(".*.partial-*"))


def damaging_copy(monkeypatch, damage) -> None:
    """Make the backup's copy step call `damage(copy_file)` once it has copied."""
    copy = backups._copy

    def copy_then_damage(source, target_file):
        copy(source, target_file)
        damage(target_file)

    monkeypatch.setattr(backups, "_copy", copy_then_damage)


def test_a_good_backup_says_it_was_checked(site, tmp_path):
    result = site("backup", "snapshot.db")
    assert result.exit_code == 0, result.output
    assert "integrity checked" in result.stdout
    assert (tmp_path / "snapshot.db").is_file()


def test_backup_of_a_damaged_database_fails_and_keeps_nothing(site, tmp_path):
    damage_table(tmp_path / "site.db", "components")

    result = site("backup", "snapshot.db")

    assert_one_line_error(result, "backup failed", "the database is damaged", "snapshot.db")
    assert result.exit_code == 1
    assert not (tmp_path / "snapshot.db").exists()
    assert leftovers(tmp_path) == []


def test_a_copy_damaged_on_the_way_is_removed(site, tmp_path, monkeypatch):
    damaging_copy(monkeypatch, lambda copy_file: damage_table(copy_file, "components"))

    result = site("backup", "snapshot.db")

    assert_one_line_error(result, "backup failed", "the copy is damaged")
    assert not (tmp_path / "snapshot.db").exists()
    assert leftovers(tmp_path) == []


def test_a_failed_backup_leaves_the_file_it_would_have_replaced(site, tmp_path, monkeypatch):
    (tmp_path / "snapshot.db").write_text("last night's backup")
    damaging_copy(monkeypatch, lambda copy_file: damage_table(copy_file, "components"))

    result = site("backup", "snapshot.db", "--force")

    assert result.exit_code == 1
    assert (tmp_path / "snapshot.db").read_text() == "last night's backup"
    assert leftovers(tmp_path) == []


def test_a_copy_at_another_schema_revision_is_refused(site, tmp_path, monkeypatch):
    def other_revision(copy_file: Path) -> None:
        conn = sqlite3.connect(copy_file)
        with conn:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
        conn.close()

    damaging_copy(monkeypatch, other_revision)

    result = site("backup", "snapshot.db")

    assert_one_line_error(result, "backup failed", "schema revision 0001")
    assert not (tmp_path / "snapshot.db").exists()
    assert leftovers(tmp_path) == []


def test_backup_onto_a_full_disk_fails_in_one_line(site, tmp_path):
    with small_disk(tmp_path, 256 * 1024) as disk:
        fill(disk)
        result = site("backup", str(disk / "snapshot.db"))
        assert_one_line_error(result, "backup failed", "is full")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_restore_of_a_file_that_is_not_a_database_fails_in_one_line(site, tmp_path):
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    result = site("restore", "junk.db", "--force")
    assert_one_line_error(result, "restore failed", "not a database")
