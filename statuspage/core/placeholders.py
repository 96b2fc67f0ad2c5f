"""The placeholder grammar of canned messages, written once: `{{ name }}` and nothing else.

No expressions, filters or loops: a template engine is a code-execution surface. Every other use
of braces is reported, so a message that loads is a message whose blanks are exactly its
placeholders. The library, the admin's previews and the compose form all use this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

#: A variable's name: what goes between the braces.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_INNER_RE = re.compile(r"[ \t]*([a-z][a-z0-9_]*)[ \t]*")


def scan_line(line: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """Find the `{{ name }}` placeholders on one line, and everything else that uses braces."""
    spans: list[tuple[int, int, str]] = []
    problems: list[str] = []
    i = 0
    while i < len(line):
        pair = line[i : i + 2]
        if pair == "{{":
            end = line.find("}}", i + 2)
            if end == -1:
                problems.append("'{{' is not closed on the same line")
                break
            match = _INNER_RE.fullmatch(line[i + 2 : end])
            if match:
                spans.append((i, end + 2, match.group(1)))
            else:
                problems.append(
                    f"{_quote(line[i : end + 2])} is not a placeholder: write {{{{ name }}}} "
                    "with a lower-case name; expressions, attributes and filters are not allowed"
                )
            i = end + 2
        elif pair in ("{%", "{#"):
            kind = "tags {% ... %}" if pair == "{%" else "comments {# ... #}"
            problems.append(
                f"template {kind} are not allowed; placeholders are {{{{ name }}}} only"
            )
            end = line.find(pair[1] + "}", i + 2)
            i = len(line) if end == -1 else end + 2
        elif pair == "${":
            problems.append("'${...}' is not allowed; placeholders are {{ name }} only")
            end = line.find("}", i + 2)
            i = len(line) if end == -1 else end + 1
        elif pair == "}}":
            problems.append("'}}' without a matching '{{'")
            i += 2
        elif line[i] == "{":
            end = line.find("}", i + 1)
            if end != -1 and "{" not in line[i + 1 : end]:
                problems.append(
                    f"single-brace field {_quote(line[i : end + 1])} is not a placeholder "
                    "(format fields are not allowed): write {{ name }}"
                )
                i = end + 1
            else:
                problems.append("stray '{': braces are only allowed in {{ name }} placeholders")
                i += 1
        elif line[i] == "}":
            problems.append("stray '}': braces are only allowed in {{ name }} placeholders")
            i += 1
        else:
            i += 1
    return spans, problems


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def names(text: str) -> list[str]:
    """The placeholder names `text` uses, in order (a name used twice is listed twice)."""
    return [name for line in text.split("\n") for _s, _e, name in scan_line(line)[0]]


def replace(text: str, value: Callable[[str], str]) -> str:
    """Replace each placeholder by `value(name)` in one pass: values are never scanned again."""
    lines = []
    for line in text.split("\n"):
        spans, _ = scan_line(line)
        parts, position = [], 0
        for start, end, name in spans:
            parts += [line[position:start], value(name)]
            position = end
        parts.append(line[position:])
        lines.append("".join(parts))
    return "\n".join(lines)


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder from `values` (each name must be there)."""
    return replace(template, values.__getitem__)


def with_labels(text: str, labels: Mapping[str, str]) -> str:
    """A template with each blank shown by its label, for people: "[Affected service]"."""
    return replace(text, lambda name: f"[{labels.get(name) or name}]")
