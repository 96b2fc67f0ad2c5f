"""Broken storage for tests: a damaged SQLite table, and a small disk that can be filled."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def damage_table(db_file: Path, table: str) -> None:
    """Overwrite the root page of `table` with garbage; the rest of the file stays readable."""
    conn = sqlite3.connect(db_file)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        page = root.fetchone()[0]
    finally:
        conn.close()
    with db_file.open("r+b") as out:
        out.seek((page - 1) * page_size)
        out.write(b"\xff" * page_size)


@contextlib.contextmanager
def small_disk(parent: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted under `parent` (the test is skipped where not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    mount = parent / f"small-disk-{secrets.token_hex(3)}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its disk is full; return it (delete it to free space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = b"\0" * 65536
        while True:
            try:
                os.write(fd, chunk)
            except OSError:
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler
