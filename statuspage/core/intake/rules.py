"""Intake rules from the config (`[intake.NAME]`): which alerts they take and what follows.

A rule matches an alert by its labels (exact or regular expression), severity and the
integration that sent it; the first matching rule in priority order (then name) decides. It names
the components the alert is about (fixed, and/or from a label), the status they get while it
fires, the canned messages for the first update and the resolve, the message's values (the
`{{ name }}` grammar of the library, filled from the alert's labels, annotations and fields), and
the action: `draft` (the PM publishes), `component_status` (set and reset component status, with
flap damping) or `publish` (published at once, audited as the rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from statuspage.core import placeholders
from statuspage.core.enums import ComponentStatus, Impact
from statuspage.core.escalation.config import DEFAULT_PRIORITY, Table, named_tables
from statuspage.core.intake.payloads import SEVERITIES, AlertIn

SECTION = "intake"
ACTIONS = ("draft", "component_status", "publish")
#: What the components become while an alert fires, when the rule does not say.
STATUS_BY_SEVERITY = MappingProxyType(
    {
        "critical": ComponentStatus.MAJOR_OUTAGE,
        "error": ComponentStatus.PARTIAL_OUTAGE,
        "warning": ComponentStatus.DEGRADED_PERFORMANCE,
        "info": ComponentStatus.DEGRADED_PERFORMANCE,
    }
)
_STATUSES = tuple(s.value for s in ComponentStatus if s is not ComponentStatus.UNDER_MAINTENANCE)
_IMPACTS = tuple(i.value for i in Impact if i is not Impact.MAINTENANCE)
NO_RULES = f"no [{SECTION}.NAME] rules: every alert is recorded, none acts"
#: A regular expression in a rule: bounded, so a config cannot make matching slow.
MAX_PATTERN = 500


@dataclass(frozen=True)
class Rule:
    """One checked `[intake.NAME]` table."""

    name: str
    action: str = "draft"
    priority: int = DEFAULT_PRIORITY
    integrations: tuple[str, ...] = ()
    match: Mapping[str, str] = field(default_factory=dict)
    match_re: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    severities: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    component_label: str | None = None
    component_status: ComponentStatus | None = None
    impact: Impact | None = None
    message: str | None = None
    resolve_message: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    notify: str | None = None
    next_update_minutes: int | None = None
    min_alerts: int = 1
    min_state_seconds: int = 0

    def matches(self, alert: AlertIn, integration: str) -> bool:
        """Whether this rule takes `alert`, sent by the integration named `integration`."""
        if self.integrations and integration not in self.integrations:
            return False
        if self.severities and alert.severity not in self.severities:
            return False
        fields = alert.fields()
        for key, wanted in self.match.items():
            if fields.get(key) != wanted:
                return False
        for key, pattern in self.match_re.items():
            if pattern.fullmatch(fields.get(key, "")) is None:
                return False
        return True

    def component_names(self, alert: AlertIn) -> list[str]:
        """The components this alert is about: the listed ones, then the label's (if any)."""
        names = list(self.components)
        if self.component_label:
            value = alert.fields().get(self.component_label)
            if value and value.casefold() not in {n.casefold() for n in names}:
                names.append(value)
        return names

    def status_for(self, alert: AlertIn) -> ComponentStatus:
        """The components' status while `alert` fires."""
        return self.component_status or STATUS_BY_SEVERITY[alert.severity]

    def message_values(self, alert: AlertIn) -> dict[str, str]:
        """The canned message's values, each `{{ name }}` filled from the alert ("" if absent)."""
        fields = alert.fields()
        return {
            name: placeholders.replace(template, lambda key: fields.get(key, ""))
            for name, template in self.values.items()
        }


@dataclass(frozen=True)
class IntakeConfig:
    """Every rule, by name."""

    rules: Mapping[str, Rule] = field(default_factory=dict)

    def ordered(self) -> list[Rule]:
        """Rules in the order they are tried: priority, then name."""
        return sorted(self.rules.values(), key=lambda r: (r.priority, r.name))

    def rule_for(self, alert: AlertIn, integration: str) -> Rule | None:
        """The first rule that takes `alert`, or None."""
        return next((r for r in self.ordered() if r.matches(alert, integration)), None)


def parse_intake(raw: Any, *, source: str, paths: Sequence[str] = ()) -> IntakeConfig:
    """Check the `[intake.NAME]` tables; `paths` are the escalation paths `notify` may name."""
    rules = {
        name: parse_rule(source, f"{SECTION}.{name}", name, data, paths=paths)
        for name, data in named_tables(source, SECTION, raw)
    }
    return IntakeConfig(rules=MappingProxyType(rules))


def parse_rule(source: str, key: str, name: str, data: Any, *, paths: Sequence[str]) -> Rule:
    """Read one `[intake.NAME]` table, or raise ConfigError naming the key."""
    table = Table(source, key, data)
    action = table.choice("action", ACTIONS, "draft")
    match = _string_map(table, "match")
    match_re = {k: _pattern(table, k, v) for k, v in _string_map(table, "match_re").items()}
    severities = table.strings("severities", ())
    for index, item in enumerate(severities):
        if item not in SEVERITIES:
            table.fail(
                f"expected one of {', '.join(SEVERITIES)}, got {item!r}", f"severities[{index}]"
            )
    components = table.strings("components", ())
    component_label = table.get("component_label", str, None)
    if component_label is not None:
        component_label = component_label.lower()
    if not components and not component_label:
        table.fail('say which components: components = [names] and/or component_label = "label"')
    status = table.choice("component_status", _STATUSES, None)
    impact = table.choice("impact", _IMPACTS, None)
    message = table.get("message", str, None)
    resolve_message = table.get("resolve_message", str, None)
    values = _string_map(table, "values", lower=False)
    for variable, template in values.items():
        if not placeholders.NAME_RE.fullmatch(variable):
            table.fail(f"{variable}: a blank's name is lower case (a-z, 0-9, _)", "values")
        problems = [p for line in template.split("\n") for p in placeholders.scan_line(line)[1]]
        if problems:
            table.fail(f"{variable}: {problems[0]}", "values")
    notify = table.get("notify", str, None)
    if notify is not None and notify not in paths:
        known = ", ".join(paths) or "none are configured"
        table.fail(f"unknown escalation path {notify!r} (known: {known})", "notify")
    next_update = table.get("next_update_minutes", int, None)
    if next_update is not None and not 0 < next_update <= 7 * 24 * 60:
        table.fail("expected minutes within a week (1-10080)", "next_update_minutes")
    min_alerts = table.integer("min_alerts", 1, minimum=1)
    min_state = table.integer("min_state_seconds", 0)
    priority = table.get("priority", int, DEFAULT_PRIORITY)
    integrations = table.strings("integrations", ())
    if action in ("draft", "publish"):
        if message is None:
            table.fail(f"a {action!r} rule names the canned message of its first update", "message")
        if resolve_message is None:
            table.fail(
                f"a {action!r} rule names the canned message proposed when the alert resolves",
                "resolve_message",
            )
    else:
        for unused in ("message", "resolve_message", "notify", "next_update_minutes", "impact"):
            if table.data.get(unused) is not None:
                table.fail("only draft and publish rules write updates", unused)
        if values:
            table.fail("only draft and publish rules write updates", "values")
    if action != "component_status":
        for unused in ("min_alerts", "min_state_seconds"):
            if unused in table.data:
                table.fail("flap damping is for component_status rules", unused)
    table.done()
    return Rule(
        name=name,
        action=action,
        priority=priority,
        integrations=integrations,
        match=MappingProxyType(match),
        match_re=MappingProxyType(match_re),
        severities=severities,
        components=components,
        component_label=component_label,
        component_status=ComponentStatus(status) if status else None,
        impact=Impact(impact) if impact else None,
        message=message,
        resolve_message=resolve_message,
        values=MappingProxyType(values),
        notify=notify,
        next_update_minutes=next_update,
        min_alerts=min_alerts,
        min_state_seconds=min_state,
    )


def _string_map(table: Table, name: str, *, lower: bool = True) -> dict[str, str]:
    """A table of strings; label names are matched without regard to case."""
    value = table.get(name, Mapping, {})
    out = {}
    for key, item in value.items():
        if not isinstance(item, str):
            table.fail(f"{key}: expected a string", name)
        out[key.lower() if lower else key] = item
    return out


def _pattern(table: Table, key: str, text: str) -> re.Pattern[str]:
    if len(text) > MAX_PATTERN:
        table.fail(f"{key}: at most {MAX_PATTERN} characters", "match_re")
    try:
        return re.compile(text)
    except re.error as exc:
        table.fail(f"{key}: not a regular expression: {exc}", "match_re")


def rule_from_config(config: IntakeConfig | None, name: str) -> Rule | None:
    """The rule called `name`, if the config still has it."""
    if config is None:
        return None
    return config.rules.get(name)


@dataclass(frozen=True)
class MessageFacts:
    """What `check_references` needs to know of a library message."""

    kind: str  # "incident" or "maintenance"
    status: str  # the status its update moves to
    variables: tuple[str, ...] = ()


def check_references(
    config: IntakeConfig,
    *,
    messages: Mapping[str, MessageFacts],
    components: Sequence[str],
    source: str,
    integrations: Sequence[str] | None = None,
) -> list[str]:
    """Problems with what rules name that only the database knows: messages, components and
    integrations (None: not checked)."""
    problems = []
    known = {c.casefold() for c in components}
    for rule in config.ordered():
        key = f"{source}: {SECTION}.{rule.name}"
        blanks: set[str] = set()
        for field_name in ("message", "resolve_message"):
            slug = getattr(rule, field_name)
            if slug is None:
                continue
            facts = messages.get(slug)
            if facts is None:
                problems.append(f"{key}.{field_name}: no canned message {slug!r} in the library")
                continue
            blanks.update(facts.variables)
            if facts.kind != "incident":
                problems.append(f"{key}.{field_name}: {slug!r} is a {facts.kind} message")
            elif (facts.status == "resolved") != (field_name == "resolve_message"):
                wanted = "a resolved" if field_name == "resolve_message" else "an open"
                problems.append(
                    f"{key}.{field_name}: {slug!r} moves the incident to {facts.status}; "
                    f"expected {wanted} incident's message"
                )
        if blanks:
            for variable in rule.values:
                if variable not in blanks:
                    problems.append(
                        f"{key}.values: {variable}: neither message has that blank "
                        f"(they have: {', '.join(sorted(blanks))})"
                    )
        for index, name in enumerate(rule.components):
            if name.casefold() not in known:
                problems.append(f"{key}.components[{index}]: no component named {name!r}")
        if integrations is not None:
            for index, name in enumerate(rule.integrations):
                if name not in integrations:
                    problems.append(f"{key}.integrations[{index}]: no integration named {name!r}")
    if not config.rules:
        problems.append(f"{source}: {NO_RULES}")
    return problems
