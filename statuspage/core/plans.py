"""Communication plans: `messages/plans/*.md` files that say how to speak during an incident.

A plan matches incidents by impact and components (as escalation paths do) and says how often
customers hear from us per status (the cadence), which canned messages come in which order, who
must approve an update before customers read it, and who hears when an update is overdue. The
file is TOML front matter between `+++` lines, then the playbook in Markdown that the incident's
admin page shows. Pure: values in, values out; docs/plans.md is the reference.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from statuspage.core import limits
from statuspage.core.enums import (
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
    status_for,
)
from statuspage.core.frontmatter import NOT_UTF8, Problem, Reader, read_folder, valid_id
from statuspage.core.roles import GRANTS, Permission, Role
from statuspage.errors import ValidationError

__all__ = [
    "APPROVAL_UPDATES",
    "Approval",
    "Match",
    "MessageFacts",
    "Plan",
    "PlanError",
    "Problem",
    "Progress",
    "check_directory",
    "check_references",
    "matching_plan",
    "parse_plan",
    "progress",
]

PLAN_KEYS = (
    "id",
    "title",
    "kind",
    "priority",
    "match",
    "cadence",
    "sequence",
    "approval",
    "reminders",
    "audiences",
)
MATCH_KEYS = ("impact_at_least", "impact_in", "components", "any_component")
SEQUENCE_KEYS = ("messages", "postmortem_within_days")
APPROVAL_KEYS = ("updates", "role", "users", "count", "notify", "wait_minutes", "escalate_to")
REMINDER_KEYS = ("path",)
AUDIENCE_KEYS = ("subscribers", "internal")
#: Which updates need approval: the one that opens the incident, every one, the resolve.
APPROVAL_UPDATES = ("first", "every", "resolve")
DEFAULT_PRIORITY = 100
#: The longest cadence a plan may set (a week, as the longest promise).
MAX_CADENCE_MINUTES = 7 * 24 * 60
MAX_APPROVERS = 10
MAX_WAIT_MINUTES = 7 * 24 * 60
MAX_POSTMORTEM_DAYS = 90
MAX_SEQUENCE = 20
#: The roles that may approve: only those that may publish.
APPROVER_ROLES = tuple(r for r in Role if Permission.PUBLISH in GRANTS[r])
_ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}
_INCIDENT_IMPACTS = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)


class PlanError(ValidationError):
    """A plan was refused; `problems` says where and why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line))
        first = str(self.problems[0]) if self.problems else "the plan was refused"
        many = len(self.problems) > 1
        super().__init__(f"{len(self.problems)} problems, first: {first}" if many else first)


@dataclass(frozen=True)
class Match:
    """Which incidents a plan is for: these impacts, and any component or one of these."""

    impacts: frozenset[Impact]
    components: tuple[str, ...] = ()

    def matches(self, impact: Impact | str, components: Iterable[str]) -> bool:
        """Whether an incident with this impact and these components follows the plan."""
        if Impact(impact) not in self.impacts:
            return False
        if not self.components:
            return True
        wanted = {name.casefold() for name in self.components}
        return any(name.casefold() in wanted for name in components)


@dataclass(frozen=True)
class Approval:
    """Who must approve which updates before customers read them."""

    #: "first", "every" and/or "resolve".
    updates: frozenset[str]
    #: Anyone with this role or a higher one approves (None: only the named users).
    role: Role | None = None
    #: Named approvers, by email (casefolded), whatever their role (they must be able to publish).
    users: tuple[str, ...] = ()
    #: Approvals needed, from different people, none of them the author.
    count: int = 1
    #: The escalation path whose channels hear of each request.
    notify: str | None = None
    #: A request that waits longer than this is escalated to `escalate_to`.
    wait_minutes: int | None = None
    escalate_to: str | None = None

    def needed(self, *, opening: bool, closing: bool) -> bool:
        """Whether an update (opening the incident, resolving it, or neither) needs approval."""
        return (
            "every" in self.updates
            or (opening and "first" in self.updates)
            or (closing and "resolve" in self.updates)
        )

    def may_approve(self, role: str, email: str) -> bool:
        """Whether someone with this role and address is an approver (author or not)."""
        try:
            parsed = Role(role)
        except ValueError:
            return False
        if parsed not in APPROVER_ROLES:
            return False
        if email.casefold() in self.users:
            return True
        return self.role is not None and _ROLE_RANK[parsed] >= _ROLE_RANK[self.role]

    @property
    def approvers(self) -> str:
        """ "an admin or ana@example.com"; "2 different people among admins, ana@example.com"."""
        if self.count == 1:
            who = [f"an {self.role.value}"] if self.role is not None else []
            return " or ".join(who + list(self.users))
        who = [f"{self.role.value}s"] if self.role is not None else []
        return f"{self.count} different people among {', '.join(who + list(self.users))}"


@dataclass(frozen=True)
class Plan:
    """One version of a communication plan, as read from its file."""

    id: str
    title: str
    kind: IncidentKind
    priority: int
    match: Match
    #: Status -> minutes customers may wait for the next update while the incident is in it.
    cadence: Mapping[str, int] = field(hash=False)
    #: Canned message ids, in the order the updates usually go out.
    sequence: tuple[str, ...]
    postmortem_within_days: int | None
    approval: Approval | None
    #: The escalation path told when an update is overdue.
    reminders: str | None
    #: Whether the compose form notifies subscribers unless the PM says otherwise.
    notify_subscribers: bool
    #: The escalation path whose channels get a copy of every update published under the plan.
    internal: str | None
    #: The playbook (Markdown) for whoever runs the incident.
    body: str
    source: str = field(repr=False)
    content_hash: str

    def cadence_for(self, status: str) -> timedelta | None:
        """How long customers may wait for the next update in this status (None: no rule)."""
        minutes = self.cadence.get(status)
        return None if minutes is None else timedelta(minutes=minutes)

    def paths(self) -> list[tuple[str, str]]:
        """(key, path name) for every escalation path the plan names."""
        named = [("reminders.path", self.reminders), ("audiences.internal", self.internal)]
        if self.approval is not None:
            named += [
                ("approval.notify", self.approval.notify),
                ("approval.escalate_to", self.approval.escalate_to),
            ]
        return [(key, name) for key, name in named if name]


@dataclass(frozen=True)
class MessageFacts:
    """What a plan check needs to know of a canned message."""

    kind: IncidentKind
    status: str


def matching_plan(
    plans: Iterable[Plan], kind: IncidentKind | str, impact: Impact | str, components: Iterable[str]
) -> Plan | None:
    """The plan an incident follows: the first match by priority, then id."""
    names = list(components)
    for plan in sorted(plans, key=lambda p: (p.priority, p.id)):
        if plan.kind is IncidentKind(kind) and plan.match.matches(impact, names):
            return plan
    return None


# -- where an incident stands against its plan -----------------------------------------------


@dataclass(frozen=True)
class Progress:
    """What the plan asks next of an incident: the update due, the message, the postmortem."""

    #: When customers are owed the next update (the last update's promise wins), or None.
    next_update_due: datetime | None
    #: The canned message the plan suggests next, or None when the sequence is done.
    next_message: str | None
    #: When the postmortem is due (resolved incidents whose plan asks for one), or None.
    postmortem_due: datetime | None

    def overdue(self, now: datetime) -> bool:
        """Whether customers have waited longer than the plan (or the promise) allows."""
        return self.next_update_due is not None and now > self.next_update_due


def progress(
    plan: Plan,
    *,
    status: str,
    last_update_at: datetime | None,
    promised_at: datetime | None,
    resolved_at: datetime | None,
    postmortem_published: bool,
    used_messages: Sequence[str],
    message_statuses: Mapping[str, str],
) -> Progress:
    """Where an incident stands: next update due, next message of the sequence, postmortem due.

    The next message is the first of the sequence not used yet whose status comes after the
    incident's (a PM who skipped "identified" is offered "monitoring", not "identified").
    """
    closed = status_for(plan.kind, status).is_closed
    due = None
    cadence = plan.cadence_for(status)
    if not closed and last_update_at is not None:
        if promised_at is not None:
            due = promised_at
        elif cadence is not None:
            due = last_update_at + cadence
    order = _status_order(plan.kind)
    rank = order.get(status, -1)
    used = set(used_messages)
    suggestion = None
    for slug in plan.sequence:
        later = order.get(message_statuses.get(slug, ""), -1) > rank
        if slug not in used and later:
            suggestion = slug
            break
    postmortem_due = None
    if (
        plan.postmortem_within_days is not None
        and resolved_at is not None
        and not postmortem_published
    ):
        postmortem_due = resolved_at + timedelta(days=plan.postmortem_within_days)
    return Progress(due, suggestion, postmortem_due)


def _status_order(kind: IncidentKind) -> dict[str, int]:
    enum = MaintenanceStatus if kind is IncidentKind.MAINTENANCE else IncidentStatus
    return {s.value: n for n, s in enumerate(enum)}


# -- reading files -----------------------------------------------------------------------------


def parse_plan(text: str, path: str | os.PathLike[str]) -> Plan:
    """Parse one plan file; raise PlanError listing every problem found."""
    plan, problems = _Reader(text, os.fspath(path)).read()
    if problems or plan is None:
        raise PlanError(problems)
    return plan


def check_directory(path: str | os.PathLike[str]) -> tuple[list[Plan], list[Problem]]:
    """Read every `*.md` file directly in `path`; return the good plans and all problems."""
    plans: list[Plan] = []
    problems: list[Problem] = []
    for file, text in read_folder(path):
        if text is None:
            problems.append(Problem(file, 1, NOT_UTF8))
            continue
        plan, found = _Reader(text, file).read()
        problems += found
        if plan is not None and not found:
            plans.append(plan)
    plans.sort(key=lambda p: p.id)
    return plans, problems


def check_references(
    plans: Iterable[tuple[str, Plan]],
    *,
    messages: Mapping[str, MessageFacts],
    paths: Iterable[str],
    users: Mapping[str, str] | None = None,
) -> list[Problem]:
    """What a well-formed plan names that does not exist: messages, paths, users (file:line).

    `plans` pairs each plan with its file; `users` maps known emails (casefolded) to roles,
    or is None when no database is at hand to check them against.
    """
    known_paths = set(paths)
    problems: list[Problem] = []
    for file, plan in plans:
        lines = _Reader(plan.source, file)
        lines.front_matter()
        for index, slug in enumerate(plan.sequence):
            line = lines.line_of("sequence", "messages")
            facts = messages.get(slug)
            if facts is None:
                problems.append(
                    Problem(file, line, f"sequence.messages[{index}]: unknown message '{slug}'")
                )
            elif facts.kind is not plan.kind:
                problems.append(
                    Problem(
                        file,
                        line,
                        f"sequence.messages[{index}]: '{slug}' is a {facts.kind.value} message, "
                        f"the plan is for {plan.kind.value}s",
                    )
                )
        for key, name in plan.paths():
            if name not in known_paths:
                known = ", ".join(sorted(known_paths)) or "none: add [paths.*] to the config"
                problems.append(
                    Problem(
                        file,
                        lines.line_of(*key.split(".")),
                        f"{key}: unknown escalation path '{name}' (known: {known})",
                    )
                )
        if users is not None and plan.approval is not None:
            for email in plan.approval.users:
                role = users.get(email)
                line = lines.line_of("approval", "users")
                if role is None:
                    problems.append(Problem(file, line, f"approval.users: no user '{email}'"))
                elif role not in APPROVER_ROLES:
                    problems.append(
                        Problem(
                            file,
                            line,
                            f"approval.users: '{email}' is a {role} and cannot publish, "
                            "so cannot approve",
                        )
                    )
    return sorted(problems, key=lambda p: (p.path, p.line))


class _Reader(Reader):
    """Read one plan file."""

    what = "a plan"

    def read(self) -> tuple[Plan | None, list[Problem]]:
        read = self.front_matter()
        if read is None:
            return None, self.problems
        data, close = read
        self.unknown_keys(data, PLAN_KEYS)
        id_ = self.read_id(data)
        title = self.string(data, ("title",), required=True)
        if title is not None and not title.strip():
            self.problem(self.line_of("title"), "'title' is empty")
        elif title is not None and len(title) > limits.MAX_TITLE:
            self.problem(self.line_of("title"), f"'title' is over {limits.MAX_TITLE} characters")
        kind = self._kind(data)
        priority = self._integer(data, ("priority",), DEFAULT_PRIORITY, 0, 10_000)
        match = self._match(self._table(data, "match", required=True), kind)
        cadence = self._cadence(self._table(data, "cadence"), kind)
        sequence_table = self._table(data, "sequence")
        self.unknown_keys(sequence_table, SEQUENCE_KEYS, "sequence")
        sequence = self.strings(sequence_table, ("sequence", "messages"))
        if len(sequence) > MAX_SEQUENCE:
            self.problem(self.line_of("sequence", "messages"), f"at most {MAX_SEQUENCE} messages")
        for slug in sequence:
            if not valid_id(slug):
                self.problem(self.line_of("sequence", "messages"), f"'{slug}' is not a message id")
        if len(set(sequence)) < len(sequence):
            self.problem(self.line_of("sequence", "messages"), "a message is named twice")
        postmortem = self._integer(
            sequence_table, ("sequence", "postmortem_within_days"), None, 1, MAX_POSTMORTEM_DAYS
        )
        approval = self._approval(self._table(data, "approval"), "approval" in data)
        reminders_table = self._table(data, "reminders")
        self.unknown_keys(reminders_table, REMINDER_KEYS, "reminders")
        reminders = self._name(reminders_table, ("reminders", "path"))
        audiences = self._table(data, "audiences")
        self.unknown_keys(audiences, AUDIENCE_KEYS, "audiences")
        subscribers = audiences.get("subscribers", True)
        if not isinstance(subscribers, bool):
            self.problem(self.line_of("audiences", "subscribers"), "'subscribers' is true or false")
        internal = self._name(audiences, ("audiences", "internal"))
        if reminders is not None and not cadence:
            self.problem(
                self.line_of("reminders", "path"),
                "reminders fire when an update is overdue: give the plan a [cadence]",
            )
        body, body_line = self.body(close)
        if len(body) > limits.MAX_BODY:
            self.problem(body_line, f"the playbook is over {limits.MAX_BODY} characters")
        if self.problems or id_ is None or title is None or kind is None or match is None:
            return None, self.problems
        plan = Plan(
            id=id_,
            title=title,
            kind=kind,
            priority=priority if priority is not None else DEFAULT_PRIORITY,
            match=match,
            cadence=MappingProxyType(cadence),
            sequence=sequence,
            postmortem_within_days=postmortem,
            approval=approval,
            reminders=reminders,
            notify_subscribers=bool(subscribers),
            internal=internal,
            body=body,
            source=self.source,
            content_hash=hashlib.sha256(self.source.encode("utf-8")).hexdigest(),
        )
        return plan, self.problems

    def _kind(self, data: Mapping[str, object]) -> IncidentKind | None:
        value = self.string(data, ("kind",)) or IncidentKind.INCIDENT.value
        try:
            return IncidentKind(value)
        except ValueError:
            allowed = ", ".join(k.value for k in IncidentKind)
            self.problem(self.line_of("kind"), f"unknown kind '{value}' (allowed: {allowed})")
            return None

    def _table(
        self, data: Mapping[str, object], name: str, *, required: bool = False
    ) -> dict[str, object]:
        value = data.get(name)
        if value is None:
            if required:
                self.problem(1, f"missing [{name}]")
            return {}
        if not isinstance(value, dict):
            self.problem(self.line_of(name), f"'{name}' must be a table ([{name}])")
            return {}
        return value

    def _integer(
        self,
        table: Mapping[str, object],
        key: tuple[str, ...],
        default: int | None,
        minimum: int,
        maximum: int,
    ) -> int | None:
        value = table.get(key[-1], default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(self.line_of(*key), f"'{key[-1]}' must be a whole number")
            return default
        if not minimum <= value <= maximum:
            self.problem(
                self.line_of(*key), f"'{key[-1]}' must be from {minimum} to {maximum}, not {value}"
            )
            return default
        return value

    def _name(self, table: Mapping[str, object], key: tuple[str, ...]) -> str | None:
        value = self.string(table, key)
        if value is not None and not value.strip():
            self.problem(self.line_of(*key), f"'{key[-1]}' is empty")
            return None
        return value

    def _match(self, table: Mapping[str, object], kind: IncidentKind | None) -> Match | None:
        self.unknown_keys(table, MATCH_KEYS, "match")
        names = [i.value for i in _INCIDENT_IMPACTS]
        if "impact_at_least" in table and "impact_in" in table:
            self.problem(self.line_of("match"), "give impact_at_least or impact_in, not both")
            return None
        impacts: frozenset[Impact]
        if kind is IncidentKind.MAINTENANCE:
            if "impact_at_least" in table or "impact_in" in table:
                self.problem(self.line_of("match"), "a maintenance plan matches by components only")
            impacts = frozenset({Impact.MAINTENANCE})
        elif "impact_in" in table:
            listed = self.strings(table, ("match", "impact_in"))
            wrong = [item for item in listed if item not in names]
            if wrong or not listed:
                self.problem(
                    self.line_of("match", "impact_in"),
                    f"impact_in lists impacts from: {', '.join(names)}",
                )
                return None
            impacts = frozenset(Impact(item) for item in listed)
        else:
            least = self.string(table, ("match", "impact_at_least")) or Impact.NONE.value
            if least not in names:
                self.problem(
                    self.line_of("match", "impact_at_least"),
                    f"unknown impact '{least}' (allowed: {', '.join(names)})",
                )
                return None
            impacts = frozenset(i for i in _INCIDENT_IMPACTS if i.rank >= Impact(least).rank)
        components = self.strings(table, ("match", "components"))
        any_component = table.get("any_component", not components)
        if not isinstance(any_component, bool):
            self.problem(self.line_of("match", "any_component"), "'any_component' is true or false")
            return None
        if any_component == bool(components):
            self.problem(
                self.line_of("match"),
                "say which components: components = [names] or any_component = true (one of them)",
            )
            return None
        return Match(impacts=impacts, components=components)

    def _cadence(self, table: Mapping[str, object], kind: IncidentKind | None) -> dict[str, int]:
        enum = MaintenanceStatus if kind is IncidentKind.MAINTENANCE else IncidentStatus
        allowed = tuple(s.value for s in enum if not s.is_closed)
        self.unknown_keys(table, allowed, "cadence")
        cadence: dict[str, int] = {}
        for status in allowed:
            minutes = self._integer(table, ("cadence", status), None, 1, MAX_CADENCE_MINUTES)
            if minutes is not None:
                cadence[status] = minutes
        return cadence

    def _approval(self, table: Mapping[str, object], present: bool) -> Approval | None:
        if not present:
            return None
        self.unknown_keys(table, APPROVAL_KEYS, "approval")
        before = len(self.problems)
        raw = table.get("updates", ["first"])
        updates: list[str] = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        if not updates or any(u not in APPROVAL_UPDATES for u in updates):
            self.problem(
                self.line_of("approval", "updates"),
                f"'updates' is one or a list of: {', '.join(APPROVAL_UPDATES)}",
            )
        role = None
        role_name = self.string(table, ("approval", "role"))
        if role_name is not None:
            allowed = ", ".join(r.value for r in APPROVER_ROLES)
            try:
                role = Role(role_name)
            except ValueError:
                self.problem(
                    self.line_of("approval", "role"),
                    f"unknown role '{role_name}' (allowed: {allowed})",
                )
            else:
                if role not in APPROVER_ROLES:
                    self.problem(
                        self.line_of("approval", "role"),
                        f"a {role.value} cannot publish, so cannot approve (allowed: {allowed})",
                    )
        listed = [u.strip().casefold() for u in self.strings(table, ("approval", "users"))]
        users = tuple(dict.fromkeys(listed))
        if len(users) < len(listed):
            self.problem(self.line_of("approval", "users"), "a user is named twice")
        for email in users:
            if "@" not in email or len(email) > 254:
                self.problem(self.line_of("approval", "users"), f"'{email}' is not an email")
        if len(users) > MAX_APPROVERS:
            self.problem(self.line_of("approval", "users"), f"at most {MAX_APPROVERS} users")
        if role_name is None and not users:
            self.problem(
                self.line_of("approval"),
                'say who approves: role = "admin" or "editor", and/or users = [emails]',
            )
        count = self._integer(table, ("approval", "count"), 1, 1, MAX_APPROVERS)
        if users and role_name is None and count is not None and count > len(users):
            self.problem(
                self.line_of("approval", "count"),
                f"{count} approvals needed but only {len(users)} users named",
            )
        notify = self._name(table, ("approval", "notify"))
        wait = self._integer(table, ("approval", "wait_minutes"), None, 1, MAX_WAIT_MINUTES)
        escalate_to = self._name(table, ("approval", "escalate_to"))
        if (wait is None) != (escalate_to is None):
            self.problem(
                self.line_of("approval", "wait_minutes" if wait is not None else "escalate_to"),
                "wait_minutes and escalate_to go together: give both or neither",
            )
        if len(self.problems) > before:
            return None
        return Approval(
            updates=frozenset(updates),
            role=role,
            users=users,
            count=count or 1,
            notify=notify,
            wait_minutes=wait,
            escalate_to=escalate_to,
        )
