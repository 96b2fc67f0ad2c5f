"""The canned-message library: read, check, fill and write back `messages/*.md` files.

Placeholders are `{{ name }}` and nothing else; a value goes in as text and is never evaluated.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from statuspage.core import limits, placeholders
from statuspage.core.enums import Impact, IncidentKind, IncidentStatus, MaintenanceStatus
from statuspage.core.frontmatter import (
    DELIMITER,
    ID_RE,
    NOT_UTF8,
    Problem,
    Reader,
    normalise_source,
    read_folder,
)
from statuspage.core.text import clean_line, clean_text
from statuspage.errors import ValidationError

__all__ = [
    "Filled",
    "LibraryError",
    "Message",
    "Problem",
    "Variable",
    "check_directory",
    "content_hash",
    "edit_message",
    "escape_markdown",
    "escape_markdown_strict",
    "fill",
    "make_message",
    "normalise_source",
    "parse_message",
    "render_source",
    "validate_template",
]

MESSAGE_KEYS = ("id", "title", "status", "impact", "tags", "variables")
VARIABLE_KEYS = ("label", "required", "default", "help", "choices")

# Markdown that a value must not start, wherever it stands in a line: emphasis, code, links
# and images (with brackets escaped, "(", ")" and "!" are plain), table cells, escapes.
_INLINE = frozenset("\\`*_[]|")
# Only the start of a line makes these into blocks (headings, lists, quotes, rules, setext
# underlines); a value has no line breaks, so only its first character can stand there.
_LINE_START = frozenset("#+->")
_ORDERED = re.compile(r"(\d+)\.(?=[ \t]|$)")
# "<" opening a tag or an autolink, "&" opening an entity, "=" starting a line (a setext
# underline) cannot be backslash-escaped; as entities they render as the character itself.
_TAG_OR_ENTITY = re.compile(r"<(?=[A-Za-z/!?])|&(?=#?\w+;)")
# For chat dialects that read more (Slack's <@user> and <!channel>): every character
# Python-Markdown accepts a backslash escape for, and entities for the rest.
_STRICT_BACKSLASHED = frozenset("\\`*_{}[]()#+-.!|>")
_STRICT_ENTITIES = {"<": "&lt;", "&": "&amp;", "=": "&#61;"}


class LibraryError(ValidationError):
    """A message was refused; `problems` says where and why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line))
        if not self.problems:
            text = "the message was refused"
        elif len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            text = f"{len(self.problems)} problems, first: {self.problems[0]}"
        super().__init__(text)


@dataclass(frozen=True)
class Variable:
    """A blank in a message that the editor fills in."""

    name: str
    label: str
    required: bool = True
    default: str | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Message:
    """One version of a canned message, as read from its file."""

    id: str
    title: str
    status: IncidentStatus | MaintenanceStatus
    impact: Impact | None
    tags: tuple[str, ...]
    variables: Mapping[str, Variable] = field(hash=False)
    body: str
    source: str = field(repr=False)
    content_hash: str

    @property
    def kind(self) -> IncidentKind:
        """Whether the message is for incidents or for scheduled maintenances."""
        if isinstance(self.status, MaintenanceStatus):
            return IncidentKind.MAINTENANCE
        return IncidentKind.INCIDENT


@dataclass(frozen=True)
class Filled:
    """A message with its blanks filled in: plain-text title, Markdown body, values used."""

    title: str
    body: str
    variables_used: Mapping[str, str] = field(hash=False)


# -- source text ---------------------------------------------------------------------------


def content_hash(text: str) -> str:
    """Return the SHA-256 hex digest of the normalised source, the identity of a version."""
    return hashlib.sha256(normalise_source(text).encode("utf-8")).hexdigest()


def render_source(message: Message) -> str:
    """Write a message in the file format, in canonical layout (comments are not kept)."""
    return _render(
        id=message.id,
        title=message.title,
        status=message.status,
        impact=message.impact,
        tags=message.tags,
        variables=message.variables.values(),
        body=message.body,
    )


def make_message(
    *,
    id: str,
    title: str,
    status: str,
    impact: str | None,
    tags: Iterable[str],
    variables: Iterable[Variable],
    body: str,
) -> Message:
    """Build a message from its parts, checked by the same rules as a file (LibraryError)."""
    source = _render(
        id=id,
        title=title,
        status=status,
        impact=impact,
        tags=tags,
        variables=variables,
        body=normalise_source(body).strip("\n"),
    )
    return parse_message(source, f"{id}.md")


def edit_message(message: Message, *, title: str, body: str) -> Message:
    """Return a new version of `message` with an edited title and body (LibraryError)."""
    problems = validate_template(title, body, message.variables)
    if problems:
        raise LibraryError(problems)
    return make_message(
        id=message.id,
        title=title.strip(),
        status=message.status,
        impact=message.impact,
        tags=message.tags,
        variables=message.variables.values(),
        body=body,
    )


def _render(
    *,
    id: str,
    title: str,
    status: str,
    impact: str | None,
    tags: Iterable[str],
    variables: Iterable[Variable],
    body: str,
) -> str:
    lines = [DELIMITER, f"id = {_toml(id)}", f"title = {_toml(title)}", f"status = {_toml(status)}"]
    if impact is not None:
        lines.append(f"impact = {_toml(impact)}")
    lines.append(f"tags = {_toml_list(tags)}")
    for variable in variables:
        lines += ["", f"[variables.{variable.name}]", f"label = {_toml(variable.label)}"]
        lines.append(f"required = {'true' if variable.required else 'false'}")
        if variable.default is not None:
            lines.append(f"default = {_toml(variable.default)}")
        if variable.help:
            lines.append(f"help = {_toml(variable.help)}")
        if variable.choices:
            lines.append(f"choices = {_toml_list(variable.choices)}")
    lines += [DELIMITER, body]
    return "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    """Quote `value` as a TOML basic string."""
    escaped = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
    out = []
    for char in str(value):
        if char in escaped:
            out.append(escaped[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml(value) for value in values) + "]"


# -- reading and checking --------------------------------------------------------------------


def parse_message(text: str, path: str | os.PathLike[str]) -> Message:
    """Parse one message file; raise LibraryError listing every problem found."""
    message, problems, _ = _Reader(text, os.fspath(path)).read()
    if problems or message is None:
        raise LibraryError(problems)
    return message


def check_directory(path: str | os.PathLike[str]) -> tuple[list[Message], list[Problem]]:
    """Read every `*.md` file directly in `path`; return the good messages and all problems."""
    messages: list[Message] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file, text in read_folder(path):
        if text is None:
            problems.append(Problem(file, 1, NOT_UTF8))
            continue
        message, found, declared = _Reader(text, file).read()
        if declared is not None:
            id_, line = declared
            if id_ in seen:
                found.append(Problem(file, line, f"duplicate id '{id_}' (also in {seen[id_]})"))
            else:
                seen[id_] = Path(file).name
        if found:
            problems += found
        elif message is not None:
            messages.append(message)
    messages.sort(key=lambda m: m.id)
    problems.sort(key=lambda p: (p.path, p.line))
    return messages, problems


def validate_template(title: str, body: str, variables: Mapping[str, Variable]) -> list[Problem]:
    """Check an edited title and body against declared variables; paths are title and body."""
    problems: list[Problem] = []
    used: set[str] = set()
    title_lines = title.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(title_lines) > 1:
        problems.append(Problem("title", 1, "the title must be one line"))
    elif not title.strip():
        problems.append(Problem("title", 1, "the title is empty"))
    problems += _check_template(title, "title", 1, variables, used)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.strip():
        problems.append(Problem("body", 1, "the body is empty"))
    for line, text in _too_long(title, body, 1):
        problems.append(Problem("title" if "title" in text else "body", line, text))
    problems += _check_template(body, "body", 1, variables, used)
    for name in variables:
        if name not in used:
            problems.append(Problem("body", 1, _unused(name)))
    return problems


def _too_long(title: str, body: str, body_line: int) -> list[tuple[int, str]]:
    """The size limits of a message's title and text (filled values are checked when used)."""
    problems = []
    if len(title) > limits.MAX_TITLE:
        problems.append((1, f"the title has at most {limits.MAX_TITLE:,} characters"))
    if len(body) > limits.MAX_MESSAGE_BODY:
        text = f"the body has at most {limits.MAX_MESSAGE_BODY:,} characters ({len(body):,})"
        problems.append((body_line, text))
    return problems


def _unused(name: str) -> str:
    return f"variable '{name}' is declared but not used in the title or the body"


def _check_template(
    text: str, path: str, first_line: int, declared: Mapping[str, object], used: set[str]
) -> list[Problem]:
    """Check every line of a template; record the placeholder names it uses in `used`."""
    problems = []
    for offset, line in enumerate(text.split("\n")):
        lineno = first_line + offset
        if clean_text(line) != line:
            problems.append(Problem(path, lineno, "control characters are not allowed"))
        spans, found = placeholders.scan_line(line)
        problems += [Problem(path, lineno, message) for message in found]
        for _start, _end, name in spans:
            used.add(name)
            if name not in declared:
                problems.append(
                    Problem(
                        path,
                        lineno,
                        f"placeholder {{{{ {name} }}}} is not declared: "
                        f"add [variables.{name}] to the front matter",
                    )
                )
    return problems


class _Reader(Reader):
    """Read one message file, collecting every problem with the line it is on."""

    what = "a message"

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text, path)
        # Every variable named in the front matter, valid or not, so that a variable refused for
        # a bad setting is not reported a second time as undeclared where it is used.
        self.declared: list[str] = []

    def read(self) -> tuple[Message | None, list[Problem], tuple[str, int] | None]:
        """Return the message (None if refused), the problems and the declared id with its line."""
        read = self.front_matter()
        if read is None:
            return None, self.problems, None
        data, close = read
        declared = None
        if isinstance(data.get("id"), str):
            declared = (data["id"], self.line_of("id"))
        self.unknown_keys(data, MESSAGE_KEYS)
        id_ = self.read_id(data)
        title = self.string(data, ("title",), required=True)
        if title is not None and not title.strip():
            self.problem(self.line_of("title"), "'title' is empty")
        status = self._status(data)
        impact = self._impact(data, status)
        tags = self._tags(data)
        variables = self._variables(data)

        body, body_line = self.body(close)
        if not body:
            self.problem(close + 1, "the body is empty")
        self.problems += [
            Problem(self.path, line, text) for line, text in _too_long(title or "", body, body_line)
        ]
        used: set[str] = set()
        if title is not None:
            self.problems += _check_template(
                title, self.path, self.line_of("title"), dict.fromkeys(self.declared), used
            )
        self.problems += _check_template(
            body, self.path, body_line, dict.fromkeys(self.declared), used
        )
        for name in self.declared:
            if name not in used:
                self.problem(self.line_of("variables", name), _unused(name))

        if self.problems or id_ is None or title is None or status is None:
            return None, self.problems, declared
        message = Message(
            id=id_,
            title=title,
            status=status,
            impact=impact,
            tags=tags,
            variables=MappingProxyType(variables),
            body=body,
            source=self.source,
            content_hash=hashlib.sha256(self.source.encode("utf-8")).hexdigest(),
        )
        return message, self.problems, declared

    def _status(self, data: Mapping[str, object]) -> IncidentStatus | MaintenanceStatus | None:
        value = self.string(data, ("status",), required=True)
        if value is None:
            return None
        for enum in (IncidentStatus, MaintenanceStatus):
            if value in enum._value2member_map_:
                return enum(value)
        allowed = [s.value for s in IncidentStatus] + [s.value for s in MaintenanceStatus]
        self.problem(
            self.line_of("status"), f"unknown status '{value}' (allowed: {', '.join(allowed)})"
        )
        return None

    def _impact(
        self, data: Mapping[str, object], status: IncidentStatus | MaintenanceStatus | None
    ) -> Impact | None:
        value = self.string(data, ("impact",))
        if value is None:
            return None
        line = self.line_of("impact")
        if value not in Impact._value2member_map_:
            allowed = ", ".join(i.value for i in Impact)
            self.problem(line, f"unknown impact '{value}' (allowed: {allowed})")
            return None
        impact = Impact(value)
        maintenance = isinstance(status, MaintenanceStatus)
        if status is not None and maintenance != (impact is Impact.MAINTENANCE):
            if maintenance:
                self.problem(line, "a maintenance message suggests impact 'maintenance' or none")
            else:
                self.problem(line, "impact 'maintenance' is only for maintenance messages")
        return impact

    def _tags(self, data: Mapping[str, object]) -> tuple[str, ...]:
        tags = self.strings(data, ("tags",))
        for tag in tags:
            if not ID_RE.fullmatch(tag):
                self.problem(self.line_of("tags"), f"tag '{tag}' must be lower-case words and '-'")
        return tags

    def _variables(self, data: Mapping[str, object]) -> dict[str, Variable]:
        table = data.get("variables", {})
        if not isinstance(table, dict):
            self.problem(self.line_of("variables"), "'variables' must be a table of variables")
            return {}
        variables = {}
        for name, settings in table.items():
            self.declared.append(name)
            line = self.line_of("variables", name)
            if not placeholders.NAME_RE.fullmatch(name):
                self.problem(
                    line,
                    f"variable name '{name}' must be lower-case letters, digits and '_', "
                    "starting with a letter",
                )
                continue
            if not isinstance(settings, dict):
                self.problem(line, f"variable '{name}' must be a table ([variables.{name}])")
                continue
            variable = self._variable(name, settings)
            if variable is not None:
                variables[name] = variable
        return variables

    def _variable(self, name: str, settings: Mapping[str, object]) -> Variable | None:
        key = ("variables", name)
        before = len(self.problems)
        for setting in settings:
            if setting not in VARIABLE_KEYS:
                self.problem(
                    self.line_of(*key, setting),
                    f"unknown key '{setting}' in variable '{name}' "
                    f"(allowed: {', '.join(VARIABLE_KEYS)})",
                )
        label = self.string(settings, (*key, "label"), required=True)
        if label is not None and not label.strip():
            self.problem(self.line_of(*key, "label"), f"variable '{name}' has an empty label")
        required = settings.get("required", True)
        if not isinstance(required, bool):
            self.problem(self.line_of(*key, "required"), "'required' must be true or false")
        default = self.string(settings, (*key, "default"))
        help_ = self.string(settings, (*key, "help")) or ""
        choices = self.strings(settings, (*key, "choices"))
        clean_choices = [clean_line(choice) for choice in choices]
        if len(set(clean_choices)) != len(clean_choices):
            self.problem(self.line_of(*key, "choices"), f"variable '{name}' repeats a choice")
        if "" in clean_choices:
            self.problem(self.line_of(*key, "choices"), f"variable '{name}' has an empty choice")
        if default is not None and choices and clean_line(default) not in clean_choices:
            self.problem(
                self.line_of(*key, "default"),
                f"default '{default}' of variable '{name}' is not one of its choices",
            )
        if len(self.problems) > before or label is None or not isinstance(required, bool):
            return None
        return Variable(
            name=name, label=label, required=required, default=default, choices=choices, help=help_
        )


# -- filling in --------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Escape one line of `text` so Markdown shows it as it is: no links, HTML, emphasis or blocks.

    Only what could mean something is escaped, so the text a PM edits in the preview stays
    readable ("api.example.com", "eu-west-1" are left alone).
    """
    escaped = "".join("\\" + char if char in _INLINE else char for char in text)
    escaped = _TAG_OR_ENTITY.sub(lambda m: "&lt;" if m.group() == "<" else "&amp;", escaped)
    if escaped[:1] in _LINE_START:
        escaped = "\\" + escaped
    elif escaped[:1] == "=":
        escaped = "&#61;" + escaped[1:]
    elif ordered := _ORDERED.match(escaped):  # "1. item" would start an ordered list
        escaped = f"{ordered.group(1)}\\.{escaped[ordered.end() :]}"
    return escaped


def escape_markdown_strict(text: str) -> str:
    """Escape every Markdown character of `text`, for chat platforms (see `_STRICT_BACKSLASHED`)."""
    return "".join(
        "\\" + char if char in _STRICT_BACKSLASHED else _STRICT_ENTITIES.get(char, char)
        for char in text
    )


def fill(
    message: Message,
    values: Mapping[str, str | None],
    *,
    escape: Callable[[str], str] = escape_markdown,
) -> Filled:
    """Fill a message's blanks with `values`, as text; raise ValidationError naming the field."""
    problems = validate_template(message.title, message.body, message.variables)
    if problems:
        raise LibraryError(problems)
    for name in values:
        if name not in message.variables:
            raise ValidationError(
                f"'{name}' is not a variable of message '{message.id}'", field=f"var_{name}"
            )
    used = {
        name: _value(variable, values.get(name)) for name, variable in message.variables.items()
    }
    escaped = {name: escape(value) for name, value in used.items()}
    return Filled(
        title=clean_line(placeholders.substitute(message.title, used)),
        body=_tidy(placeholders.substitute(message.body, escaped)),
        variables_used=MappingProxyType(used),
    )


def _value(variable: Variable, raw: object) -> str:
    """Return the cleaned value for one variable, its default if blank; refuse a bad one."""
    field_name = f"var_{variable.name}"
    if raw is not None and not isinstance(raw, str):
        raise ValidationError(f"{variable.label}: the value must be text", field=field_name)
    value = clean_line(raw or "")
    if not value and variable.default is not None:
        value = clean_line(variable.default)
    if not value:
        if variable.required:
            raise ValidationError(f"{variable.label}: a value is required", field=field_name)
        return ""
    if len(value) > limits.MAX_VALUE:
        raise ValidationError(
            f"{variable.label}: at most {limits.MAX_VALUE} characters (this is {len(value)})",
            field=field_name,
        )
    choices = [clean_line(choice) for choice in variable.choices]
    if choices and value not in choices:
        raise ValidationError(
            f"{variable.label}: choose one of {', '.join(choices)}", field=field_name
        )
    return value


def _tidy(body: str) -> str:
    """Drop the blank lines an empty optional value leaves behind."""
    lines = [line.rstrip() for line in body.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
