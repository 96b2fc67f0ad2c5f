"""`statuspage export`, `backup` and `restore` from the command line.

The backup tests run on an SQLite file of their own, whichever database the suite uses.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from statuspage import backup as backups
from statuspage.cli import main
from tests.support.cli import write_config


def component_names(db_file: Path) -> list[str]:
    with sqlite3.connect(db_file) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM components ORDER BY id")]
    conn.close()
    return names


def generation(db_file: Path) -> int:
    conn = sqlite3.connect(db_file)
    try:
        return conn.execute("SELECT generation FROM site_state").fetchone()[0]
    finally:
        conn.close()


def test_backup_then_restore_brings_the_data_back(sqlite_site, tmp_path):
    assert sqlite_site("components", "add", "API").exit_code == 0
    result = sqlite_site("backup", "snapshot.db")
    assert result.exit_code == 0, result.output
    assert "backed up" in result.stdout
    assert sqlite_site("components", "add", "Added after the backup").exit_code == 0
    before = generation(tmp_path / "site.db")

    result = sqlite_site("restore", "snapshot.db", "--force")

    assert result.exit_code == 0, result.output
    assert component_names(tmp_path / "site.db") == ["API"]
    # Above every generation a web process may have cached pages for.
    assert generation(tmp_path / "site.db") > before


def test_backup_file_is_self_contained_and_private(sqlite_site, tmp_path):
    assert sqlite_site("components", "add", "API").exit_code == 0
    assert sqlite_site("backup", "snapshot.db").exit_code == 0
    backup = tmp_path / "snapshot.db"
    assert not Path(f"{backup}-wal").exists()
    assert backup.stat().st_mode & 0o777 == 0o600
    assert component_names(backup) == ["API"]


def test_backup_refuses_to_overwrite_a_file_without_force(sqlite_site, tmp_path):
    (tmp_path / "snapshot.db").write_text("keep me")
    result = sqlite_site("backup", "snapshot.db")
    assert result.exit_code == 1
    assert "--force" in result.stderr
    assert (tmp_path / "snapshot.db").read_text() == "keep me"


def test_restore_refuses_a_database_with_data_without_force(sqlite_site, tmp_path):
    assert sqlite_site("backup", "empty.db").exit_code == 0
    assert sqlite_site("components", "add", "API").exit_code == 0
    result = sqlite_site("restore", "empty.db")
    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert "components: 1" in result.stderr
    assert component_names(tmp_path / "site.db") == ["API"]


def test_restore_into_an_empty_database_needs_no_force(sqlite_site, tmp_path):
    assert sqlite_site("components", "add", "API").exit_code == 0
    assert sqlite_site("backup", "snapshot.db").exit_code == 0
    config = write_config(tmp_path / "new.toml", f"sqlite:///{tmp_path / 'new.db'}")
    result = CliRunner().invoke(main, ["restore", "snapshot.db", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert component_names(tmp_path / "new.db") == ["API"]


def test_restore_refuses_a_file_that_is_not_a_statuspage_backup(sqlite_site, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    result = sqlite_site("restore", "other.db", "--force")
    assert result.exit_code == 1
    assert "not a statuspage database" in result.stderr


def test_restore_refuses_a_backup_from_a_newer_version(sqlite_site, tmp_path):
    assert sqlite_site("backup", "snapshot.db").exit_code == 0
    conn = sqlite3.connect(tmp_path / "snapshot.db")
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    result = sqlite_site("restore", "snapshot.db", "--force")
    assert result.exit_code == 1
    assert "9999" in result.stderr


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_postgresql_gets_the_pg_dump_and_pg_restore_commands(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dump.pgc").write_text("")
    url = "postgresql+psycopg://status:secret@db.internal:5432/statuspage"
    config = write_config(tmp_path / "pg.toml", url)
    result = CliRunner().invoke(main, [command, "dump.pgc", "--config", str(config)])
    assert result.exit_code == 1
    assert (
        "pg_dump --format=custom --no-owner --file=dump.pgc "
        "postgresql://status@db.internal:5432/statuspage"
    ) in result.stdout
    assert "pg_restore --clean --if-exists --no-owner --single-transaction" in result.stdout
    assert "secret" not in result.output
    assert "SQLite only" in result.stderr


def test_postgres_commands_quote_the_file_name():
    import sqlalchemy as sa

    dump, restore = backups.postgres_commands(sa.make_url("postgresql://u@h/db"), "my backup.pgc")
    assert dump.endswith("--file='my backup.pgc' postgresql://u@h/db")
    assert restore.endswith("'my backup.pgc'")


def test_export_command_writes_the_site_and_says_what_it_did(sqlite_site, tmp_path):
    assert sqlite_site("components", "add", "API").exit_code == 0
    result = sqlite_site("export", "public")
    assert result.exit_code == 0, result.output
    assert "exported generation" in result.stdout
    assert (tmp_path / "public/index.html").is_file()
    assert (tmp_path / "public/components/1/badge.svg").is_file()


def test_export_command_refuses_a_folder_it_did_not_write(sqlite_site, tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public/notes.txt").write_text("precious")
    result = sqlite_site("export", "public")
    assert result.exit_code == 1
    assert "refusing to replace" in result.stderr
    assert (tmp_path / "public/notes.txt").read_text() == "precious"
