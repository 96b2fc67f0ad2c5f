"""Parse and check the escalation config ([channels.*], [windows.*], [paths.*]).

`parse_escalation` refuses anything malformed with one line naming the file and the key; it
runs at start-up, so a path naming an unknown channel or window stops the worker (the web app logs
that line and runs with escalation off: the public page stays up). `check_escalation`
finds what is well-formed but cannot work (a secret missing from the environment, a window that
never opens, a step or path that can never fire); `statuspage escalation check` reports both.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage.core.enums import Impact
from statuspage.core.escalation.windows import WEEKDAYS, Window, never_opens
from statuspage.errors import ConfigError

__all__ = [
    "CHANNEL_TYPES",
    "DEFAULT_SEVERITY",
    "Channel",
    "EscalationConfig",
    "EscalationPath",
    "Match",
    "Repeat",
    "Step",
    "UpdateReminders",
    "Window",
    "check_escalation",
    "matching_paths",
    "parse_escalation",
    "parse_path",
    "parse_window",
    "webhook_secret_key",
    "webhook_secret_problem",
]

CHANNEL_TYPES = ("smtp", "webhook", "slack", "teams", "pagerduty")
#: Impacts a path can match; maintenances never start an escalation run.
IMPACTS = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)
#: PagerDuty Events API v2 severities, and the default for each impact.
SEVERITIES = ("critical", "error", "warning", "info")
DEFAULT_SEVERITY = MappingProxyType(
    {"critical": "critical", "major": "error", "minor": "warning", "none": "info"}
)
CONDITIONS = ("unacknowledged", "unresolved")
OUTSIDE_WINDOW = ("defer", "skip")
STOP_ON = ("acknowledged", "resolved")
DEFAULT_PRIORITY = 100

# Names travel in idempotency keys ("<incident>:<path>:<step>:<loop>:<channel>"): no colons.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_PART_RE = re.compile(r"[A-Za-z0-9_-]+(\[[0-9]+\])?")
TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
# Deliberately loose: one @, no spaces or angle brackets, nothing that could end a header line.
EMAIL_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")

#: A Standard Webhooks secret: this prefix, then the base64 of 24 to 64 random bytes. The official
#: libraries base64-decode whatever secret they are given, so no other form can be verified.
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
WEBHOOK_SECRET_BYTES = (24, 64)

#: Keys where a secret would be written literally, by channel type: key -> what to do instead.
_ENV_HINT = "put it in an environment variable and give that variable's name as {}"
_SECRET_KEYS = {
    "webhook": {"secret": _ENV_HINT.format("secret_env")},
    "slack": {
        "url": "a Slack webhook URL is a secret: " + _ENV_HINT.format("url_env"),
        "secret": _ENV_HINT.format("url_env"),
    },
    "teams": {
        "url": "a Teams workflow URL is a secret: " + _ENV_HINT.format("url_env"),
        "secret": _ENV_HINT.format("url_env"),
    },
    "pagerduty": {
        "routing_key": _ENV_HINT.format("routing_key_env"),
        "secret": _ENV_HINT.format("routing_key_env"),
    },
    "smtp": {"password": "the SMTP password is set as STATUSPAGE_SMTP_PASSWORD, not here"},
}
_CHANNEL_KEYS = {
    "smtp": ("type", "to"),
    "webhook": ("type", "url", "url_env", "secret_env"),
    "slack": ("type", "url_env"),
    "teams": ("type", "url_env"),
    "pagerduty": ("type", "routing_key_env", "severity", "url"),
}


# -- the parsed config ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """Where notifications go; secrets are named by environment variable, read at send time."""

    name: str
    type: str
    #: smtp: the recipients.
    to: tuple[str, ...] = ()
    #: webhook: the URL (or url_env); pagerduty: another Events API endpoint (optional).
    url: str = ""
    #: webhook, slack, teams: the variable holding the URL (a Slack or Teams URL is a secret).
    url_env: str = ""
    #: webhook: the variable holding the signing secret.
    secret_env: str = ""
    #: pagerduty: the variable holding the integration's routing key.
    routing_key_env: str = ""
    #: pagerduty: impact -> severity (every impact present).
    severity: Mapping[str, str] = field(default_factory=dict, hash=False)

    def env_names(self) -> tuple[tuple[str, str], ...]:
        """The (key, variable) pairs of the environment variables this channel reads."""
        pairs = (
            ("url_env", self.url_env),
            ("secret_env", self.secret_env),
            ("routing_key_env", self.routing_key_env),
        )
        return tuple((key, name) for key, name in pairs if name)


@dataclass(frozen=True)
class Match:
    """Which incidents a path is for; an empty `components` with `any_component` matches all."""

    impacts: frozenset[Impact]
    components: tuple[str, ...] = ()
    any_component: bool = False

    def matches(self, impact: Impact | str, components: Iterable[str]) -> bool:
        """Whether an incident with this impact and these affected components matches."""
        try:
            impact = Impact(impact)
        except ValueError:
            return False
        if impact not in self.impacts:
            return False
        if self.any_component:
            return True
        wanted = {name.casefold() for name in self.components}
        return any(name.casefold() in wanted for name in components)


@dataclass(frozen=True)
class Step:
    """One escalation step: minutes after the run starts, who hears, and when it is skipped."""

    after_minutes: int
    notify: tuple[str, ...]
    condition: str = "unacknowledged"
    only_during: str | None = None
    outside_window: str = "defer"


@dataclass(frozen=True)
class Repeat:
    """Run the steps from `from_step` again, `times` times, `after_minutes` apart."""

    times: int
    from_step: int = 0
    after_minutes: int = 30


@dataclass(frozen=True)
class UpdateReminders:
    """Nag when the public page has gone `every_minutes` without an update."""

    every_minutes: int
    remind: tuple[str, ...]
    escalate_after_missed: int | None = None
    escalate_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationPath:
    """A named escalation path: a match, steps, repeats, stop rules and update reminders."""

    name: str
    match: Match
    steps: tuple[Step, ...] = ()
    priority: int = DEFAULT_PRIORITY
    continue_: bool = False
    stop_on: frozenset[str] = frozenset({"resolved"})
    repeat: Repeat | None = None
    update_reminders: UpdateReminders | None = None

    def channel_names(self) -> list[str]:
        """Every channel the path may notify, in first-mention order."""
        names: list[str] = []
        for step in self.steps:
            names += step.notify
        if self.update_reminders is not None:
            names += self.update_reminders.remind + self.update_reminders.escalate_to
        return list(dict.fromkeys(names))

    def window_names(self) -> list[str]:
        """Every window the path's steps name, in first-mention order."""
        return list(dict.fromkeys(s.only_during for s in self.steps if s.only_during))


@dataclass(frozen=True)
class EscalationConfig:
    """The checked [channels.*], [windows.*] and [paths.*] sections."""

    channels: Mapping[str, Channel] = field(default_factory=dict, hash=False)
    windows: Mapping[str, Window] = field(default_factory=dict, hash=False)
    paths: Mapping[str, EscalationPath] = field(default_factory=dict, hash=False)
    source: str = "defaults"

    def ordered_paths(self) -> list[EscalationPath]:
        """Paths in the order incidents are matched against them: priority, then name."""
        return sorted(self.paths.values(), key=lambda p: (p.priority, p.name))


def matching_paths(
    config: EscalationConfig, impact: Impact | str, components: Iterable[str]
) -> list[EscalationPath]:
    """The paths an incident starts runs on: matches in priority order, until one won't continue."""
    components = list(components)
    found = []
    for path in config.ordered_paths():
        if path.match.matches(impact, components):
            found.append(path)
            if not path.continue_:
                break
    return found


# -- parsing -------------------------------------------------------------------------------------

_REQUIRED = object()


class Table:
    """One TOML table being read: typed lookups, then a check that no key was left unread."""

    def __init__(self, source: str, key: str, data: Any) -> None:
        self.source = source
        self.key = key
        if not isinstance(data, Mapping):
            self.fail(f"expected a table, got {_kind(data)}")
        self.data = data
        self.read: set[str] = set()

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        where = self.key if key is None else _join(self.key, key)
        raise ConfigError(f"{self.source}: {where}: {message}")

    def has(self, name: str) -> bool:
        self.read.add(name)
        return name in self.data

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        """The value of `name`, of type `kind`; `default` if absent, an error if required."""
        self.read.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                self.fail("missing (required)", name)
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if wrong_bool or not isinstance(value, kinds):
            self.fail(f"expected {_words(kinds)}, got {_kind(value)}", name)
        return value

    def integer(self, name: str, default: Any = _REQUIRED, *, minimum: int = 0) -> Any:
        value = self.get(name, int, default)
        if value is not default and value < minimum:
            self.fail(f"expected at least {minimum}, got {value}", name)
        return value

    def choice(self, name: str, choices: Sequence[str], default: Any = _REQUIRED) -> Any:
        value = self.get(name, str, default)
        if value is not default and value not in choices:
            self.fail(f"expected one of {', '.join(choices)}, got {value!r}", name)
        return value

    def strings(self, name: str, default: Any = _REQUIRED, *, empty: bool = False) -> Any:
        value = self.get(name, list, default)
        if value is default:
            return value
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"expected a string, got {_kind(item)}", f"{name}[{index}]")
        if not value and not empty:
            self.fail("expected at least one entry", name)
        seen = set()
        for item in value:
            if item.casefold() in seen:
                self.fail(f"{item!r} is listed twice", name)
            seen.add(item.casefold())
        return tuple(value)

    def env_name(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.get(name, str, default)
        if value is not default and not ENV_NAME_RE.fullmatch(value):
            self.fail(
                f"expected the name of an environment variable (letters, digits, _), got {value!r}",
                name,
            )
        return value

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not silently mean the default."""
        for name in self.data:
            if name not in self.read:
                known = ", ".join(sorted(self.read))
                self.fail(f"unknown key (known: {known})", name)


def parse_escalation(
    raw: Mapping[str, Mapping[str, Any]], *, source: str, environ: Mapping[str, str]
) -> EscalationConfig:
    """Check the named sections and return the parsed config, or raise ConfigError.

    `environ` is not read here: a secret missing from the environment must not stop the site.
    `check_escalation` reports it, and that channel's deliveries fail visibly until it is set.
    """
    del environ
    channels = {
        name: _parse_channel(source, name, data)
        for name, data in named_tables(source, "channels", raw.get("channels", {}))
    }
    windows = {
        name: parse_window(source, f"windows.{name}", name, data)
        for name, data in named_tables(source, "windows", raw.get("windows", {}))
    }
    paths = {
        name: parse_path(
            source, f"paths.{name}", name, data, channels=list(channels), windows=list(windows)
        )
        for name, data in named_tables(source, "paths", raw.get("paths", {}))
    }
    return EscalationConfig(
        channels=MappingProxyType(channels),
        windows=MappingProxyType(windows),
        paths=MappingProxyType(paths),
        source=source,
    )


def named_tables(source: str, section: str, tables: Any) -> list[tuple[str, Any]]:
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{source}: {section}: expected tables ([{section}.NAME])")
    for name in tables:
        if not NAME_RE.fullmatch(name):
            raise ConfigError(
                f"{source}: {_join(section, name)}: a name is letters, digits, '-' and '_', "
                "starting with a letter or digit, at most 60 characters"
            )
    return list(tables.items())


def _parse_channel(source: str, name: str, data: Any) -> Channel:
    table = Table(source, f"channels.{name}", data)
    kind = table.choice("type", CHANNEL_TYPES)
    for literal, hint in _SECRET_KEYS[kind].items():
        if literal in table.data:
            table.fail(f"secrets do not belong in the config file: {hint}", literal)
    allowed = _CHANNEL_KEYS[kind]
    for key in table.data:
        if key not in allowed:  # before reading, so that the list names this type's keys
            table.fail(f"unknown key for a {kind} channel (known: {', '.join(allowed)})", key)
    if kind == "smtp":
        to = table.strings("to")
        for index, address in enumerate(to):
            if not EMAIL_RE.fullmatch(address):
                table.fail(f"expected an email address, got {address!r}", f"to[{index}]")
        channel = Channel(name=name, type=kind, to=to)
    elif kind == "webhook":
        url = table.get("url", str, "")
        url_env = table.env_name("url_env", "")
        if bool(url) == bool(url_env):
            table.fail("give the receiver's address as url or as url_env (one of them)", "url")
        if url:
            _check_url(table, "url", url)
        channel = Channel(
            name=name, type=kind, url=url, url_env=url_env, secret_env=table.env_name("secret_env")
        )
    elif kind in ("slack", "teams"):
        channel = Channel(name=name, type=kind, url_env=table.env_name("url_env"))
    else:
        url = table.get("url", str, "")
        if url:
            _check_url(table, "url", url)
        channel = Channel(
            name=name,
            type=kind,
            url=url,
            routing_key_env=table.env_name("routing_key_env"),
            severity=MappingProxyType(_severity(table)),
        )
    table.done()
    return channel


def _severity(table: Table) -> dict[str, str]:
    severity = dict(DEFAULT_SEVERITY)
    given = Table(table.source, _join(table.key, "severity"), table.get("severity", Mapping, {}))
    for impact in DEFAULT_SEVERITY:
        severity[impact] = given.choice(impact, SEVERITIES, severity[impact])
    given.done()
    return severity


def _check_url(table: Table, key: str, url: str) -> None:
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        table.fail(f"expected an http:// or https:// URL, got {url!r}", key)


def parse_window(source: str, key: str, name: str, data: Any) -> Window:
    """Read one [windows.NAME] table."""
    table = Table(source, key, data)
    zone = table.get("time_zone", str)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        table.fail(f"expected an IANA time zone such as 'Europe/Paris', got {zone!r}", "time_zone")
    days = table.strings("weekdays", WEEKDAYS, empty=True)
    for day in days:
        if day not in WEEKDAYS:
            table.fail(f"expected weekdays among {', '.join(WEEKDAYS)}, got {day!r}", "weekdays")
    start = _clock(table, "start", allow_midnight=False)
    end = _clock(table, "end", allow_midnight=True)
    table.done()
    return Window(
        name=name,
        time_zone=zone,
        weekdays=frozenset(WEEKDAYS.index(day) for day in days),
        start=start or time(),
        end=end,
    )


def _clock(table: Table, name: str, *, allow_midnight: bool) -> time | None:
    value = table.get(name, str)
    if allow_midnight and value == "24:00":
        return None
    found = TIME_RE.fullmatch(value)
    if not found:
        also = " or 24:00" if allow_midnight else ""
        table.fail(f'expected a time "HH:MM" (00:00-23:59{also}), got {value!r}', name)
    return time(int(found.group(1)), int(found.group(2)))


def parse_path(
    source: str,
    key: str,
    name: str,
    data: Any,
    *,
    channels: Sequence[str],
    windows: Sequence[str],
) -> EscalationPath:
    """Read one [paths.NAME] table; `channels` and `windows` are the names it may use."""
    table = Table(source, key, data)
    match = _parse_match(Table(source, _join(key, "match"), table.get("match", Mapping)))
    priority = table.get("priority", int, DEFAULT_PRIORITY)
    continue_ = table.get("continue", bool, False)
    stop_on = table.strings("stop_on", ("resolved",), empty=True)
    for index, item in enumerate(stop_on):
        if item not in STOP_ON:
            table.fail(f"expected one of {', '.join(STOP_ON)}, got {item!r}", f"stop_on[{index}]")
    raw_steps = table.get("steps", list, [])
    steps: list[Step] = []
    for index, raw in enumerate(raw_steps):
        step_key = f"{_join(key, 'steps')}[{index}]"
        step = _parse_step(Table(source, step_key, raw), channels, windows)
        if steps and step.after_minutes < steps[-1].after_minutes:
            raise ConfigError(
                f"{source}: {step_key}.after_minutes: steps are in time order: expected at least "
                f"{steps[-1].after_minutes} (the step before), got {step.after_minutes}"
            )
        steps.append(step)
    repeat = None
    if table.has("repeat"):
        repeat = _parse_repeat(
            Table(source, _join(key, "repeat"), table.get("repeat", Mapping)), len(steps)
        )
    reminders = None
    if table.has("update_reminders"):
        reminders = _parse_reminders(
            Table(source, _join(key, "update_reminders"), table.get("update_reminders", Mapping)),
            channels,
        )
    if not steps and reminders is None:
        table.fail("a path needs [[steps]] or [update_reminders] (it does nothing otherwise)")
    table.done()
    return EscalationPath(
        name=name,
        match=match,
        steps=tuple(steps),
        priority=priority,
        continue_=continue_,
        stop_on=frozenset(stop_on) | {"resolved"},
        repeat=repeat,
        update_reminders=reminders,
    )


def _parse_match(table: Table) -> Match:
    if table.has("impact_at_least") and table.has("impact_in"):
        table.fail("give impact_at_least or impact_in, not both")
    names = [impact.value for impact in IMPACTS]
    if table.has("impact_in"):
        listed = table.strings("impact_in")
        for index, item in enumerate(listed):
            if item not in names:
                table.fail(
                    f"expected one of {', '.join(names)}, got {item!r}", f"impact_in[{index}]"
                )
        impacts = frozenset(Impact(item) for item in listed)
    else:
        least = Impact(table.choice("impact_at_least", names, "none"))
        impacts = frozenset(i for i in IMPACTS if i.rank >= least.rank)
    any_component = table.get("any_component", bool, False)
    components = table.strings("components", ())
    if table.has("any_component") and not any_component:
        table.fail("write any_component = true, or leave it out and list components")
    if bool(components) == any_component:
        table.fail(
            "say which components: components = [names] or any_component = true (one of them)"
        )
    for index, component in enumerate(components):
        if not component.strip():
            table.fail("expected a component name, got an empty string", f"components[{index}]")
    table.done()
    return Match(impacts=impacts, components=components, any_component=any_component)


def _parse_step(table: Table, channels: Sequence[str], windows: Sequence[str]) -> Step:
    after = table.integer("after_minutes")
    notify = _channel_list(table, "notify", channels)
    condition = table.choice("condition", CONDITIONS, "unacknowledged")
    only_during = table.get("only_during", str, None)
    if only_during is not None and only_during not in windows:
        table.fail(f"unknown window {only_during!r} (known: {_known(windows)})", "only_during")
    outside = table.choice("outside_window", OUTSIDE_WINDOW, "defer")
    if table.has("outside_window") and only_during is None:
        table.fail("outside_window needs only_during (a window)", "outside_window")
    table.done()
    return Step(
        after_minutes=after,
        notify=notify,
        condition=condition,
        only_during=only_during,
        outside_window=outside,
    )


def _parse_repeat(table: Table, step_count: int) -> Repeat:
    times = table.integer("times", minimum=1)
    from_step = table.integer("from_step", 0)
    if from_step >= step_count:
        if step_count == 0:
            table.fail("repeat needs [[steps]] to repeat", "from_step")
        table.fail(
            f"expected a step index from 0 to {step_count - 1}, got {from_step}", "from_step"
        )
    after = table.integer("after_minutes", minimum=1)
    table.done()
    return Repeat(times=times, from_step=from_step, after_minutes=after)


def _parse_reminders(table: Table, channels: Sequence[str]) -> UpdateReminders:
    every = table.integer("every_minutes", minimum=1)
    remind = _channel_list(table, "remind", channels)
    missed = table.integer("escalate_after_missed", None, minimum=1)
    escalate_to = _channel_list(table, "escalate_to", channels, required=False)
    if (missed is None) != (not escalate_to):
        which = "escalate_to" if missed is not None else "escalate_after_missed"
        table.fail("escalate_after_missed and escalate_to go together: give both or neither", which)
    table.done()
    return UpdateReminders(
        every_minutes=every, remind=remind, escalate_after_missed=missed, escalate_to=escalate_to
    )


def _channel_list(
    table: Table, name: str, channels: Sequence[str], *, required: bool = True
) -> tuple[str, ...]:
    names: tuple[str, ...] = table.strings(name, _REQUIRED if required else ())
    for index, channel in enumerate(names):
        if channel not in channels:
            table.fail(
                f"unknown channel {channel!r} (known: {_known(channels)})", f"{name}[{index}]"
            )
    return names


# -- checks beyond the shape -----------------------------------------------------------------


def webhook_secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret, as the Standard Webhooks libraries decode it.

    Raises ValueError saying what is wrong with any other secret.
    """
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"it does not start with {WEBHOOK_SECRET_PREFIX}")
    encoded = secret[len(WEBHOOK_SECRET_PREFIX) :]
    try:
        # The libraries accept it without its `=` padding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"what follows {WEBHOOK_SECRET_PREFIX} is not base64") from None
    if not key:
        raise ValueError(f"it is empty after {WEBHOOK_SECRET_PREFIX}")
    return key


def webhook_secret_problem(secret: str) -> str | None:
    """Why `secret` is not a Standard Webhooks secret of 24 to 64 bytes (None: it is one)."""
    try:
        key = webhook_secret_key(secret)
    except ValueError as exc:
        return str(exc)
    low, high = WEBHOOK_SECRET_BYTES
    if not low <= len(key) <= high:
        return f"it decodes to {len(key)} bytes, not {low} to {high}"
    return None


def check_escalation(config: EscalationConfig, environ: Mapping[str, str]) -> list[str]:
    """What cannot work as configured, one `file: key: problem` line each (empty: all good)."""
    source = config.source
    problems: list[str] = []
    for channel in config.channels.values():
        for key, variable in channel.env_names():
            value = environ.get(variable)
            if not value:
                problems.append(
                    f"{source}: channels.{channel.name}.{key}: environment variable {variable} "
                    "is not set (this channel's messages will fail until it is)"
                )
            elif channel.type == "webhook" and key == "secret_env":
                problem = webhook_secret_problem(value)
                if problem is not None:
                    problems.append(
                        f"{source}: channels.{channel.name}.{key}: environment variable "
                        f"{variable} is not a Standard Webhooks secret ({problem}): expected "
                        f"{WEBHOOK_SECRET_PREFIX} and the base64 of {WEBHOOK_SECRET_BYTES[0]} to "
                        f"{WEBHOOK_SECRET_BYTES[1]} random bytes, e.g. "
                        f'"{WEBHOOK_SECRET_PREFIX}$(openssl rand -base64 32)"'
                    )
    for window in config.windows.values():
        if never_opens(window):
            why = "it has no weekdays" if not window.weekdays else "start and end are the same"
            problems.append(f"{source}: windows.{window.name}: never opens: {why}")
    for path in config.ordered_paths():
        for index, step in enumerate(path.steps):
            step_window = config.windows.get(step.only_during or "")
            if step_window is not None and never_opens(step_window):
                problems.append(
                    f"{source}: paths.{path.name}.steps[{index}]: unreachable: its window "
                    f"{step_window.name!r} never opens"
                )
        repeat = path.repeat
        if repeat is not None and all(
            _never_fires(step, config.windows) for step in path.steps[repeat.from_step :]
        ):
            problems.append(
                f"{source}: paths.{path.name}.repeat: unreachable: none of the steps it repeats "
                "can fire"
            )
        shadow = _shadowed_by(path, config.ordered_paths())
        if shadow is not None:
            problems.append(
                f"{source}: paths.{path.name}: unreachable: every incident it matches stops at "
                f"path {shadow.name!r} (priority {shadow.priority}, continue = false)"
            )
    return problems


def _never_fires(step: Step, windows: Mapping[str, Window]) -> bool:
    window = windows.get(step.only_during or "")
    return window is not None and never_opens(window)


def _shadowed_by(path: EscalationPath, ordered: list[EscalationPath]) -> EscalationPath | None:
    """An earlier path that takes every incident `path` matches and stops the search."""
    for earlier in ordered:
        if earlier is path:
            return None
        if earlier.continue_ or not path.match.impacts <= earlier.match.impacts:
            continue
        if earlier.match.any_component:
            return earlier
        mine = {name.casefold() for name in path.match.components}
        theirs = {name.casefold() for name in earlier.match.components}
        if not path.match.any_component and mine <= theirs:
            return earlier
    return None


# -- small helpers -------------------------------------------------------------------------------


def _join(key: str, name: str) -> str:
    """`key.name`, with a name TOML would need quotes for shown quoted."""
    return f"{key}.{name}" if _KEY_PART_RE.fullmatch(name) else f"{key}.{name!r}"


def _known(names: Sequence[str]) -> str:
    return ", ".join(names) or "none defined"


_WORDS = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "an array",
    Mapping: "a table",
}


def _words(kinds: tuple[type, ...]) -> str:
    return " or ".join(_WORDS.get(k, k.__name__) for k in kinds)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for typ, word in ((str, "a string"), (int, "an integer"), (float, "a number")):
        if isinstance(value, typ):
            return word
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
