"""The compose form of the admin: its first values, what the PM sent back, and the Draft it makes.

No routes here (see incidents.py): the form state is a plain object so that every re-render,
after a preview or an error, shows exactly what the PM typed, and so that the preview screen
(a GET of its own) can carry it as form fields.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from statuspage.core import incident_rules, library
from statuspage.core import plans as plan_format
from statuspage.core.enums import (
    ComponentStatus,
    Impact,
    IncidentKind,
    IncidentStatus,
    MaintenanceStatus,
)
from statuspage.core.text import same_text
from statuspage.core.times import format_window_time
from statuspage.db.models import Component, Incident, MessageVersion
from statuspage.db.models import Draft as StoredDraft
from statuspage.errors import ValidationError
from statuspage.publishing import library as library_service
from statuspage.publishing.publish import Draft, Prepared

#: What comes next in a lifecycle: the statuses offered first when posting an update.
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    IncidentStatus.INVESTIGATING: ("identified", "monitoring", "resolved"),
    IncidentStatus.IDENTIFIED: ("monitoring", "resolved"),
    IncidentStatus.MONITORING: ("resolved",),
    IncidentStatus.RESOLVED: (),
    IncidentStatus.POSTMORTEM: (),
    MaintenanceStatus.SCHEDULED: ("in_progress", "completed"),
    MaintenanceStatus.IN_PROGRESS: ("verifying", "completed"),
    MaintenanceStatus.VERIFYING: ("completed",),
    MaintenanceStatus.COMPLETED: (),
}

#: Maintenance message blanks that the window fields fill when left empty.
WINDOW_VARIABLES = {"window_start": "scheduled_for", "window_end": "scheduled_until"}
#: The blank that the names of the components the update names fill when left empty (the
#: publishing core does the same for every way in; the form shows it filled).
COMPONENT_VARIABLE = incident_rules.COMPONENT_VARIABLE
#: The blank of resolving messages ("Working normally since") that a resolve fills with now.
RESOLVED_VARIABLE = "resolved_at"
#: The blank that promises the next update ("30 minutes"): a plan's cadence is its default.
PROMISE_VARIABLE = incident_rules.PROMISE_VARIABLE
#: The hidden field carrying the promise the form offered: a promise still as offered follows
#: the plan the preview finds; any other is the PM's own and is never changed.
PROMISE_OFFERED = f"{PROMISE_VARIABLE}_offered"

LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def statuses_of(kind: IncidentKind) -> list[str]:
    """Every status of incidents or of maintenances, in lifecycle order."""
    enum = MaintenanceStatus if kind is IncidentKind.MAINTENANCE else IncidentStatus
    return [s.value for s in enum]


def next_statuses(incident: Incident | None, kind: IncidentKind) -> list[str]:
    """The statuses an update plausibly moves to: the next stages, then another at this one."""
    if incident is None:
        first = MaintenanceStatus.SCHEDULED if kind is IncidentKind.MAINTENANCE else "investigating"
        return [str(first)]
    if incident.is_closed:
        # A closed incident that flares up again is reopened.
        return [] if incident.is_maintenance else [IncidentStatus.INVESTIGATING.value]
    return [*NEXT_STATUSES[incident.status], incident.status]


def message_kind(version: MessageVersion) -> IncidentKind:
    """Whether a stored message version is for incidents or maintenances."""
    if version.status in {s.value for s in MaintenanceStatus}:
        return IncidentKind.MAINTENANCE
    return IncidentKind.INCIDENT


def message_choices(
    kind: IncidentKind, statuses: Iterable[str], *, prefer_tags: Iterable[str] = ()
) -> list[tuple[str, list[MessageVersion]]]:
    """Current messages per status, in the order of `statuses`; related messages first."""
    wanted = list(statuses)
    preferred = set(prefer_tags)
    grouped: dict[str, list[MessageVersion]] = {status: [] for status in wanted}
    for _, version in library_service.list_messages():
        if message_kind(version) is kind and version.status in grouped:
            grouped[version.status].append(version)
    for versions in grouped.values():
        # After `degraded-investigating`, the `degraded-*` messages are the likely next ones.
        versions.sort(key=lambda v: (not preferred.intersection(v.tags or []), v.message.slug))
    return [(status, grouped[status]) for status in wanted]


def parse_local(value: str, tz: ZoneInfo, *, field: str, label: str) -> datetime | None:
    """Read a datetime-local input, in the site's time zone; blank gives None."""
    value = value.strip()
    if not value:
        return None
    for pattern in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(value, pattern)
        except ValueError:
            continue
        return naive.replace(tzinfo=tz).astimezone(UTC)
    raise ValidationError(f"{label}: enter a date and time, e.g. 2026-06-20 22:00", field=field)


def local_input(value: datetime | None, tz: ZoneInfo) -> str:
    """Format an instant for a datetime-local input in the site's time zone."""
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


@dataclass
class ComponentRow:
    """One component line of the form: the status it will get ("" for no change), whether the
    update names it (a chosen status, or already affected), and whether the incident has it."""

    component: Component
    status: str
    checked: bool
    affected: bool


@dataclass
class Compose:
    """Everything the compose form holds, as the PM left it."""

    kind: IncidentKind
    incident: Incident | None
    version: MessageVersion | None  # None: the PM writes their own text
    key: str
    values: dict[str, str] = field(default_factory=dict)
    title: str = ""
    status: str = ""
    impact: str = ""
    impact_shown: str = ""  # the impact the form offered: a different one is the PM's choice
    body: str | None = None  # the text area: the filled text after a preview, or free text
    filled: str = ""  # the filled message text the last preview showed
    promise_offered: str = ""  # the promise the form offered ("": none, or the PM's own)
    checked: set[int] = field(default_factory=set)  # the components the update names
    statuses: dict[int, str] = field(default_factory=dict)  # their new status, when it changes
    notify: bool = True
    window_start: str = ""
    window_end: str = ""
    fingerprint: str = ""  # of the last preview; Publish needs it to match
    seen: int | None = None  # the incident's newest update when the form was built
    draft: int | None = None  # the stored draft (from alerts) this form edits, if any
    revision: int | None = None  # the revision of the approval request this form revises

    @property
    def message(self) -> library.Message | None:
        return library_service.as_message(self.version) if self.version else None

    @property
    def is_new(self) -> bool:
        return self.incident is None

    @property
    def is_maintenance(self) -> bool:
        return self.kind is IncidentKind.MAINTENANCE

    @property
    def edited(self) -> bool:
        """Whether the PM changed the filled text in the preview's text area."""
        return (
            self.version is not None
            and self.body is not None
            and not same_text(self.body, self.filled)
        )

    @property
    def ticks_components(self) -> bool:
        """Whether components are ticked rather than given a status: a new maintenance's go
        under maintenance when its window starts, not now."""
        return self.is_maintenance and self.is_new

    @property
    def affected(self) -> set[int]:
        """The components the incident already has (an update names them again)."""
        return {c.id for c in self.incident.components} if self.incident is not None else set()

    def effective_status(self) -> str:
        return self.version.status if self.version is not None else self.status

    def component_rows(self, components: Iterable[Component]) -> list[ComponentRow]:
        """Every component with the status chosen for it ("" for no change), for the template."""
        affected = self.affected
        rows = []
        for c in components:
            status = self.statuses.get(c.id, "")
            if status == c.status and c.id in affected:
                status = ""  # an affected component kept as it is: "no change"
            rows.append(ComponentRow(c, status, c.id in self.checked, c.id in affected))
        return rows


def new_key() -> str:
    """A one-time key for a form: publishing twice with it publishes once."""
    return "form-" + secrets.token_urlsafe(18)


def initial(
    *,
    kind: IncidentKind,
    incident: Incident | None,
    version: MessageVersion | None,
    status: str,
    components: Iterable[Component],
    tz: ZoneInfo,
    now: datetime,
) -> Compose:
    """The form as first shown: defaults from the message and the incident everywhere."""
    compose = Compose(kind=kind, incident=incident, version=version, key=new_key())
    compose.seen = latest_update_id(incident)
    message = compose.message
    if message is not None:
        compose.values = {
            name: variable.default or "" for name, variable in message.variables.items()
        }
        if RESOLVED_VARIABLE in compose.values and not compose.values[RESOLVED_VARIABLE]:
            # "Working normally since": now, so a resolve needs no typing; the PM may change it.
            compose.values[RESOLVED_VARIABLE] = local_clock(now, tz)
        compose.promise_offered = compose.values.get(PROMISE_VARIABLE, "")
    compose.status = version.status if version is not None else status
    if kind is IncidentKind.INCIDENT:
        if incident is not None:
            compose.impact = incident.impact
        elif version is not None and version.impact:
            compose.impact = version.impact
        else:
            compose.impact = Impact.MINOR.value
        compose.impact_shown = compose.impact
    if incident is not None:
        compose.window_start = local_input(incident.scheduled_for, tz)
        compose.window_end = local_input(incident.scheduled_until, tz)
        for name, value in derived_values(compose, incident.components, tz).items():
            # Window blanks stay empty: they follow the window fields, which the PM may move.
            blank = name in compose.values and not compose.values[name]
            if blank and name not in WINDOW_VARIABLES:
                compose.values[name] = value
    _default_components(compose, list(components))
    return compose


def local_clock(value: datetime, tz: ZoneInfo) -> str:
    """A time of day as customers read it, in the site's time zone: "14:20 UTC"."""
    return value.astimezone(tz).strftime("%H:%M %Z")


def _default_components(compose: Compose, components: list[Component]) -> None:
    """Every component starts at "no change"; an update names the incident's components again,
    and a resolve (or a maintenance moving on) offers them their status after it."""
    status = compose.effective_status()
    affected = compose.affected
    if compose.is_maintenance:
        new = {
            MaintenanceStatus.IN_PROGRESS.value: ComponentStatus.UNDER_MAINTENANCE.value,
            MaintenanceStatus.VERIFYING.value: ComponentStatus.UNDER_MAINTENANCE.value,
            MaintenanceStatus.COMPLETED.value: ComponentStatus.OPERATIONAL.value,
        }.get(status)
    elif status in (IncidentStatus.RESOLVED.value, IncidentStatus.POSTMORTEM.value):
        # Resolving offers to bring the affected components back to operational.
        new = ComponentStatus.OPERATIONAL.value
    else:
        new = None
    for component in components:
        if component.id in affected:
            compose.checked.add(component.id)
            if new is not None and new != component.status:
                compose.statuses[component.id] = new


def apply_draft(compose: Compose, row: StoredDraft, *, title: str = "") -> None:
    """Fill a first form with what a stored draft (from alerts) proposes, for the PM to edit.

    `title` is the free-text title to start from when the draft names no usable message.
    """
    compose.draft = row.id
    for name, value in (row.variables or {}).items():
        if name in compose.values:
            compose.values[name] = value
            if name == PROMISE_VARIABLE:
                compose.promise_offered = ""  # the rule's promise: kept as the PM's own
    statuses = {int(k): v for k, v in (row.component_statuses or {}).items()}
    if statuses:
        compose.checked |= set(statuses)
        compose.statuses.update(statuses)
    if row.impact and compose.kind is IncidentKind.INCIDENT:
        # The rule chose the impact: the form sends it as a choice, as the draft would.
        compose.impact, compose.impact_shown = row.impact, ""
    if compose.version is None and compose.is_new and not compose.title:
        compose.title = title


def apply_request(compose: Compose, row: StoredDraft, tz: ZoneInfo, *, filled: str = "") -> None:
    """Fill a first form with exactly what an approval request holds, for its author to revise.

    `filled` is the message text filled with the request's values: a stored text that differs
    from it is the author's edit and stays one.
    """
    compose.draft = row.id
    compose.revision = row.revision
    message = compose.message
    stored = dict(row.variables or {})
    if message is not None:
        compose.values = {name: stored.get(name, "") for name in message.variables}
    compose.promise_offered = ""  # the author's promise stays theirs
    if compose.is_new:
        compose.title = row.title or ""
    if compose.version is None:
        compose.status = row.status or compose.status
        compose.body = row.body or ""
    elif row.body is not None:
        compose.body, compose.filled = row.body, filled
    statuses = {int(k): v for k, v in (row.component_statuses or {}).items()}
    compose.checked = set(statuses) | compose.affected
    compose.statuses = {} if compose.ticks_components else statuses
    if compose.kind is IncidentKind.INCIDENT and row.impact:
        compose.impact, compose.impact_shown = row.impact, ""
    compose.notify = row.notify
    if row.scheduled_for is not None:
        compose.window_start = local_input(row.scheduled_for, tz)
    if row.scheduled_until is not None:
        compose.window_end = local_input(row.scheduled_until, tz)


def apply_plan(compose: Compose, plan: plan_format.Plan | None, *, promise: bool = True) -> None:
    """A first form's defaults from the plan the incident follows (or would follow): notify
    subscribers as the plan says, and (with `promise`) promise the next update within the
    plan's cadence for the status. Only defaults: the PM changes them like any other field."""
    if plan is None:
        return
    compose.notify = plan.notify_subscribers
    message = compose.message
    cadence = plan.cadence_for(compose.effective_status())
    if not promise or message is None or cadence is None:
        return
    if PROMISE_VARIABLE not in message.variables:
        return
    text = promise_text(cadence, message.variables[PROMISE_VARIABLE].choices)
    if text:
        compose.values[PROMISE_VARIABLE] = compose.promise_offered = text


def follow_cadence(compose: Compose, cadence: timedelta) -> str:
    """Give a promise still as the form offered it the words of `cadence` (the cadence of the
    plan the prepared update follows, which may not be the plan the form guessed); return
    them, or "" when the promise stays. A promise of the PM's own, or in a text they edited,
    is never changed."""
    message = compose.message
    if message is None or PROMISE_VARIABLE not in message.variables or compose.edited:
        return ""
    current = compose.values.get(PROMISE_VARIABLE, "")
    if not compose.promise_offered or current != compose.promise_offered:
        return ""
    text = promise_text(cadence, message.variables[PROMISE_VARIABLE].choices)
    if not text or text == current:
        return ""
    compose.values[PROMISE_VARIABLE] = compose.promise_offered = text
    return text


def cadence_words(cadence: timedelta) -> str:
    """How often a cadence asks for an update: "every 30 minutes", "every hour"."""
    return "every " + promise_text(cadence).removeprefix("1 ")


def promise_text(cadence: timedelta, choices: Iterable[str] = ()) -> str:
    """The words of a promise within `cadence`: "30 minutes", "1 hour"; with choices, the longest
    one that keeps the promise ("" if none does)."""
    options = list(choices)
    if options:
        fitting = [
            (promise, choice)
            for choice in options
            if (promise := incident_rules.parse_promise(choice)) is not None and promise <= cadence
        ]
        return max(fitting)[1] if fitting else ""
    minutes = int(cadence.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


def from_form(
    form: Mapping[str, str],
    ticked: Iterable[str],
    *,
    kind: IncidentKind,
    incident: Incident | None,
    version: MessageVersion | None,
    components: Iterable[Component],
) -> Compose:
    """The form as the PM sent it back."""
    compose = Compose(
        kind=kind,
        incident=incident,
        version=version,
        key=form.get("key", "")[:100] or new_key(),
        title=form.get("title", ""),
        status=form.get("status", ""),
        impact=form.get("impact", ""),
        impact_shown=form.get("impact_shown", ""),
        body=form.get("body"),
        filled=form.get("filled", ""),
        promise_offered=form.get(PROMISE_OFFERED, ""),
        notify=form.get("notify") == "1",
        window_start=form.get("scheduled_for", ""),
        window_end=form.get("scheduled_until", ""),
        fingerprint=form.get("fingerprint", ""),
        seen=_int(form.get("seen", "")),
        draft=_int(form.get("draft", "")),
        revision=_int(form.get("revision", "")),
    )
    message = compose.message
    if message is not None:
        compose.values = {name: form.get(f"var_{name}", "") for name in message.variables}
    ticked_ids = {value for value in ticked if value.isascii() and value.isdigit()}
    affected = compose.affected
    for component in components:
        key = str(component.id)
        value = form.get(f"status_{key}", "")
        if value:
            # A status chosen in the row names the component, even its current status.
            compose.statuses[component.id] = value
            compose.checked.add(component.id)
        elif key in ticked_ids or component.id in affected:
            compose.checked.add(component.id)
    return compose


def fields(compose: Compose) -> dict[str, str | list[str]]:
    """The form fields that `from_form` turns back into this form: what the preview screen and
    its address carry. The text goes along only when it is the PM's own."""
    out: dict[str, str | list[str]] = {"key": compose.key}
    if compose.seen is not None:
        out["seen"] = str(compose.seen)
    if compose.draft is not None:
        out["draft"] = str(compose.draft)
    if compose.revision is not None:
        out["revision"] = str(compose.revision)
    if compose.version is not None:
        out["message"] = compose.version.message.slug
        out["message_version"] = str(compose.version.number)
        out.update({f"var_{name}": value for name, value in compose.values.items()})
        if compose.promise_offered:
            out[PROMISE_OFFERED] = compose.promise_offered
    else:
        out["status"] = compose.status
    if compose.version is None or compose.edited:
        out["body"] = compose.body or ""
        if compose.version is not None:
            out["filled"] = compose.filled
    if compose.is_new:
        out["title"] = compose.title
    if compose.impact:
        out["impact"] = compose.impact
        out["impact_shown"] = compose.impact_shown
    if compose.notify:
        out["notify"] = "1"
    if compose.is_maintenance:
        out["scheduled_for"] = compose.window_start
        out["scheduled_until"] = compose.window_end
    if compose.ticks_components:
        out["component"] = [str(i) for i in sorted(compose.checked)]
    else:
        out.update({f"status_{cid}": value for cid, value in sorted(compose.statuses.items())})
    return out


def latest_update_id(incident: Incident | None) -> int | None:
    """The id of an incident's newest update (None for a new incident)."""
    if incident is None or not incident.updates:
        return None
    return max(incident.updates, key=lambda u: (u.display_at, u.id)).id


def _int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def derived_values(
    compose: Compose, ticked: Iterable[Component], tz: ZoneInfo, *, window: tuple = (None, None)
) -> dict[str, str]:
    """Values for blanks the PM left empty, taken from the components and the window."""
    values: dict[str, str] = {}
    names = [c.name for c in ticked]
    if names:
        values[COMPONENT_VARIABLE] = ", ".join(names)
    if compose.is_maintenance:
        start, end = window
        if compose.incident is not None:
            start = start or compose.incident.scheduled_for
            end = end or compose.incident.scheduled_until
        if start is not None:
            values["window_start"] = format_window_time(start, tz)
        if end is not None:
            values["window_end"] = format_window_time(end, tz)
    return values


def to_draft(compose: Compose, components: Iterable[Component], tz: ZoneInfo) -> Draft:
    """The Draft the form asks for; raise ValidationError naming the field."""
    components = list(components)
    start = end = None
    if compose.is_maintenance:
        start = parse_local(compose.window_start, tz, field="scheduled_for", label="Starts")
        end = parse_local(compose.window_end, tz, field="scheduled_until", label="Ends")
        if compose.is_new and start is None:
            raise ValidationError("Starts: when does the maintenance start?", field="scheduled_for")
        if compose.is_new and end is None:
            raise ValidationError("Ends: when does the maintenance end?", field="scheduled_until")
        if compose.incident is not None:
            # A field left as shown keeps the stored time (the form only shows minutes).
            if compose.window_start == local_input(compose.incident.scheduled_for, tz):
                start = None
            if compose.window_end == local_input(compose.incident.scheduled_until, tz):
                end = None
    ticked = [c for c in components if c.id in compose.checked]  # in display order
    if compose.ticks_components:
        # Components go under maintenance when the work starts, not when it is announced.
        statuses = {c.id: c.status for c in ticked}
    else:
        statuses = {c.id: compose.statuses.get(c.id, c.status) for c in ticked}
    variables: dict[str, str] = {}
    body = compose.body
    if compose.version is not None:
        variables = dict(compose.values)
        derived = derived_values(compose, ticked, tz, window=(start, end))
        for name, value in variables.items():
            # The component blank is the publishing core's to fill, as on every way in.
            if not value.strip() and name in derived and name != COMPONENT_VARIABLE:
                variables[name] = derived[name]
        # An untouched text area is refilled, so fields changed since the preview count.
        body = compose.body if compose.edited else None
    return Draft(
        incident_id=compose.incident.id if compose.incident else None,
        kind=compose.kind,
        message=compose.version.message.slug if compose.version else None,
        message_version=compose.version.number if compose.version else None,
        variables=variables,
        title=compose.title if compose.is_new else None,
        body=body,
        status=None if compose.version is not None else compose.status,
        impact=_chosen_impact(compose),
        component_statuses=statuses,
        notify=compose.notify,
        idempotency_key=compose.key,
        scheduled_for=start,
        scheduled_until=end,
        seen_update_id=compose.seen,
    )


def _chosen_impact(compose: Compose) -> str | None:
    """The impact the PM picked; an untouched select lets the impact follow the components."""
    if compose.kind is not IncidentKind.INCIDENT or not compose.impact:
        return None
    if compose.impact == compose.impact_shown:
        return None
    return compose.impact


def fingerprint(prepared: Prepared, compose: Compose) -> str:
    """What a preview showed, condensed: Publish goes ahead only if it is still the same."""
    text = prepared.filled_body if compose.version is not None else prepared.body
    data = {
        "title": prepared.title,
        "text": text,
        "status": prepared.status.value,
        "impact": prepared.impact.value,
        "changes": sorted((c.component.id, c.new.value) for c in prepared.changes),
        "components": sorted(c.id for c in prepared.components),
        "notify": prepared.notify,
        "window": [
            v.isoformat() if v else None for v in (prepared.scheduled_for, prepared.scheduled_until)
        ],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def focus(compose: Compose, errors: Mapping[str, str]) -> str:
    """The field that gets the cursor: an error, else the first empty required one."""
    if errors:
        return next(iter(errors))
    if compose.is_maintenance and compose.is_new:
        for name, value in (
            ("scheduled_for", compose.window_start),
            ("scheduled_until", compose.window_end),
        ):
            if not value:
                return name
    message = compose.message
    if message is not None:
        for name, variable in message.variables.items():
            derivable = compose.is_maintenance and name in WINDOW_VARIABLES
            if variable.required and not compose.values.get(name) and not derivable:
                return f"var_{name}"
        return "preview"
    if compose.is_new and not compose.title:
        return "title"
    return "body" if not compose.body else "preview"
