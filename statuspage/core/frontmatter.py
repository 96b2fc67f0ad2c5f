"""Files of TOML front matter between `+++` lines and a Markdown body: messages and plans.

tomllib keeps no positions, so the reader here maps every key to its line and reports each problem
as `file:line: problem`, the way a linter does.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statuspage.core import limits
from statuspage.core.text import clean_text
from statuspage.errors import NotFound

DELIMITER = "+++"
#: A message's or plan's id: also its file name and its URL in the admin.
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


def id_for(name: str) -> str:
    """An id made from a name ("Database: slow!" -> "database-slow"), "" when none is left."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[: limits.MAX_MESSAGE_ID].strip("-")


def valid_id(value: str) -> bool:
    """Whether `value` can be the id of a message or a plan."""
    return len(value) <= limits.MAX_MESSAGE_ID and ID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, located as `file:line`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def normalise_source(text: str) -> str:
    """Return `text` with LF line endings, no trailing whitespace and one final newline."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n") + "\n"


def read_folder(path: str | os.PathLike[str]) -> Iterator[tuple[str, str | None]]:
    """Each `*.md` file directly in `path`, by name: (file, its text), or (file, None) when the
    file is not UTF-8 text. Hidden files (editors' lock and backup files) are skipped."""
    directory = Path(path)
    if not directory.is_dir():
        raise NotFound(f"{directory} is not a directory")
    for file in sorted(directory.glob("*.md")):
        if file.name.startswith(".") or not file.is_file():
            continue
        try:
            yield str(file), file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            yield str(file), None


NOT_UTF8 = "the file is not UTF-8 text"


class Reader:
    """Read one file, collecting every problem with the line it is on."""

    #: What the file is, for the message about a missing front matter ("a message").
    what = "a file"

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.source = normalise_source(text)
        self.lines = self.source.split("\n")[:-1]
        self.problems: list[Problem] = []
        self.key_lines: dict[tuple[str, ...], int] = {}

    def front_matter(self) -> tuple[dict[str, Any], int] | None:
        """The front matter's data and the index of its closing line; None (with problems) if
        it cannot be read. Lines with control characters are reported here too."""
        for lineno, line in enumerate(self.lines, 1):
            if clean_text(line) != line:
                self.problem(lineno, "control characters are not allowed")
        if not self.lines or self.lines[0] != DELIMITER:
            self.problem(1, f"{self.what} starts with a '+++' line, TOML front matter, then '+++'")
            return None
        try:
            close = self.lines.index(DELIMITER, 1)
        except ValueError:
            self.problem(1, "the front matter opened here is not closed by a '+++' line")
            return None
        front = self.lines[1:close]
        duplicates = self.index_keys(front, first=2)
        try:
            data = tomllib.loads("\n".join(front))
        except tomllib.TOMLDecodeError as exc:
            self.toml_problem(exc, duplicates, last=close)
            return None
        except RecursionError:
            # tomllib parses nested arrays and tables by recursion: thousands of "[" exhaust it.
            self.problem(2, "invalid TOML: arrays or tables nested too deeply")
            return None
        return data, close

    def body(self, close: int) -> tuple[str, int]:
        """The body after the front matter, without leading blank lines, and its first line."""
        body_lines = self.lines[close + 1 :]
        skipped = next((n for n, line in enumerate(body_lines) if line), len(body_lines))
        return "\n".join(body_lines[skipped:]), close + 2 + skipped

    def read_id(self, data: Mapping[str, object]) -> str | None:
        """The file's `id`, which must be a valid id and match the file's name."""
        id_ = self.string(data, ("id",), required=True)
        if id_ is None:
            return None
        line = self.line_of("id")
        stem = Path(self.path).stem
        if not valid_id(id_):
            self.problem(
                line,
                f"id '{id_}' must be lower-case letters, digits and '-', starting with a letter "
                f"or digit, at most {limits.MAX_MESSAGE_ID} characters",
            )
        elif id_ != stem:
            self.problem(line, f"id '{id_}' does not match the file name '{stem}.md'")
        return id_

    def unknown_keys(
        self, table: Mapping[str, object], allowed: tuple[str, ...], *prefix: str
    ) -> None:
        """A problem for each key of `table` (at `prefix`) that is not one of `allowed`."""
        for key in table:
            if key not in allowed:
                self.problem(
                    self.line_of(*prefix, key),
                    f"unknown key '{key}' (allowed: {', '.join(allowed)})",
                )

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def line_of(self, *key: str) -> int:
        """Return the line a front-matter key is on, or that of its nearest known parent."""
        for n in range(len(key), 0, -1):
            if key[:n] in self.key_lines:
                return self.key_lines[key[:n]]
        return 1

    def index_keys(self, front: list[str], first: int) -> list[tuple[tuple[str, ...], int]]:
        """Map each front-matter key to its line (tomllib keeps no positions); find repeats."""
        table: tuple[str, ...] = ()
        closing: str | None = None
        duplicates = []
        for offset, raw in enumerate(front):
            line = raw.strip()
            if closing is not None:
                if closing in line:
                    closing = None
                continue
            if not line or line.startswith("#"):
                continue
            header = re.match(r"\[\[?([^\]]*)\]\]?", line)
            if header:
                table = _split_key(header.group(1))
                self.key_lines.setdefault(table, first + offset)
                continue
            key = re.match(r"""((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'|\s*\.\s*)+?)\s*=(.*)""", line)
            if not key:
                continue
            path = table + _split_key(key.group(1))
            if path in self.key_lines:
                duplicates.append((path, first + offset))
            self.key_lines.setdefault(path, first + offset)
            rest = key.group(2)
            for quotes in ('"""', "'''"):
                if rest.count(quotes) == 1:
                    closing = quotes
        return duplicates

    def toml_problem(
        self,
        exc: tomllib.TOMLDecodeError,
        duplicates: list[tuple[tuple[str, ...], int]],
        last: int,
    ) -> None:
        if duplicates:
            for path, line in duplicates:
                first = self.key_lines[path]
                self.problem(line, f"'{'.'.join(path)}' is set twice (first on line {first})")
            return
        text = str(exc)
        where = re.search(r" \(at line (\d+), column (\d+)\)$", text)
        if where:
            line = int(where.group(1)) + 1
            text = f"{text[: where.start()]} (column {where.group(2)})"
        else:
            line = last
            text = text.removesuffix(" (at end of document)")
        self.problem(line, f"invalid TOML: {text}")

    def string(
        self, table: Mapping[str, object], key: tuple[str, ...], *, required: bool = False
    ) -> str | None:
        """Return a one-line string setting, or None (with a problem if it was wrong)."""
        name = key[-1]
        if name not in table:
            if required:
                self.problem(self.line_of(*key[:-1]), f"missing '{name}'")
            return None
        value = table[name]
        if not isinstance(value, str):
            self.problem(self.line_of(*key), f"'{name}' must be a string")
            return None
        if "\n" in value or "\r" in value:
            self.problem(self.line_of(*key), f"'{name}' must be one line")
            return None
        if clean_text(value) != value:
            self.problem(self.line_of(*key), f"'{name}' contains control characters")
            return None
        return value

    def strings(self, table: Mapping[str, object], key: tuple[str, ...]) -> tuple[str, ...]:
        value = table.get(key[-1], [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problem(self.line_of(*key), f"'{key[-1]}' must be a list of strings")
            return ()
        if any("\n" in item or clean_text(item) != item for item in value):
            self.problem(self.line_of(*key), f"'{key[-1]}' items must be one line of text")
            return ()
        return tuple(value)


def _split_key(text: str) -> tuple[str, ...]:
    """Split a dotted TOML key into its parts, unquoted."""
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""", text)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)
