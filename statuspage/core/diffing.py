"""Side-by-side diffs of two texts, line by line, as rows a template can lay out."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Cell", "Kind", "Row", "Summary", "side_by_side", "summarise"]


class Kind(StrEnum):
    """What happened to one side of a row; the values are the CSS classes of `.diff`."""

    SAME = "same"
    DEL = "del"
    ADD = "add"
    EMPTY = "empty"


@dataclass(frozen=True)
class Cell:
    """One side of a row: a line number (None on the empty side), its text and its kind."""

    number: int | None
    text: str
    kind: Kind


@dataclass(frozen=True)
class Row:
    """One line of the old text beside one line of the new text."""

    left: Cell
    right: Cell

    @property
    def changed(self) -> bool:
        """Whether either side was removed or added."""
        return self.left.kind is not Kind.SAME


@dataclass(frozen=True)
class Summary:
    """How many lines were added and removed."""

    added: int
    removed: int

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed)


_BLANK = Cell(None, "", Kind.EMPTY)


def _lines(text: str) -> list[str]:
    """Split into lines; a final newline ends the last line rather than starting an empty one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def side_by_side(old: str, new: str) -> list[Row]:
    """Pair the lines of `old` and `new`: unchanged lines side by side, changes highlighted.

    A changed block puts its removed lines beside its added ones, so an edited line reads
    across the row; the shorter side is padded with empty cells.
    """
    a, b = _lines(old), _lines(new)
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row(Cell(i + 1, a[i], Kind.SAME), Cell(j + 1, b[j], Kind.SAME))
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        removed = [Cell(i + 1, a[i], Kind.DEL) for i in range(i1, i2)]
        added = [Cell(j + 1, b[j], Kind.ADD) for j in range(j1, j2)]
        for n in range(max(len(removed), len(added))):
            left = removed[n] if n < len(removed) else _BLANK
            right = added[n] if n < len(added) else _BLANK
            rows.append(Row(left, right))
    return rows


def summarise(rows: list[Row]) -> Summary:
    """Count the added and removed lines of a diff."""
    return Summary(
        added=sum(row.right.kind is Kind.ADD for row in rows),
        removed=sum(row.left.kind is Kind.DEL for row in rows),
    )
