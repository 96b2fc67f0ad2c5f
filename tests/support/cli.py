"""The command line in tests: config files, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

SECRET = "test-secret-key-not-for-production"


def write_config(path: Path, url: str, extra: str = "") -> Path:
    """A config file at `path` for the database at `url`; `extra` goes before the sections."""
    path.write_text(
        f'secret_key = "{SECRET}"\n{extra}\n[site]\nname = "CLI Status"\n'
        f"[database]\nurl = {json.dumps(url)}\n"
    )
    return path


def assert_one_line_error(result, *fragments: str) -> None:
    """The command failed with one line on stderr, holding every fragment, and no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
