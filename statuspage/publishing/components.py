"""Component groups and components: create, list, change status (with history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.enums import ComponentStatus
from statuspage.db import audit, generation
from statuspage.db.extensions import db
from statuspage.db.models import Component, ComponentGroup, ComponentStatusChange
from statuspage.errors import NotFound, ValidationError


def parse_status(value: str, field: str = "status") -> ComponentStatus:
    """Parse a component status, or raise ValidationError naming the choices."""
    try:
        return ComponentStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in ComponentStatus)
        raise ValidationError(
            f"unknown component status {value!r} (expected one of: {choices})", field=field
        ) from None


def get_or_create_group(name: str, *, position: int | None = None) -> ComponentGroup:
    """Return the group called `name`, creating it at the end of the list if needed."""
    name = limits.name(name, field="group", what="a group name")
    group = db.session.scalar(sa.select(ComponentGroup).filter_by(name=name))
    if group is None:
        if position is None:
            position = (db.session.scalar(sa.select(sa.func.max(ComponentGroup.position))) or 0) + 1
        group = ComponentGroup(name=name, position=position)
        db.session.add(group)
        db.session.flush()
    return group


def add_component(
    name: str,
    *,
    now: datetime,
    group: ComponentGroup | None = None,
    description: str = "",
    status: ComponentStatus = ComponentStatus.OPERATIONAL,
    showcase: bool = True,
    position: int | None = None,
) -> Component:
    """Create a component and open its status history at `now`."""
    name = limits.name(name, what="a component name")
    if position is None:
        position = (db.session.scalar(sa.select(sa.func.max(Component.position))) or 0) + 1
    component = Component(
        name=name,
        group=group,
        description=limits.description(description),
        status=status.value,
        showcase=showcase,
        position=position,
        start_date=now.date(),
        created_at=now,
        updated_at=now,
    )
    db.session.add(component)
    db.session.flush()
    db.session.add(ComponentStatusChange(component_id=component.id, status=status, started_at=now))
    return component


def create_component(
    name: str,
    *,
    now: datetime,
    actor: audit.Actor,
    group: ComponentGroup | None = None,
    description: str = "",
    status: ComponentStatus = ComponentStatus.OPERATIONAL,
    showcase: bool = True,
    position: int | None = None,
    start_date: date | None = None,
) -> Component:
    """Add a component, audited (`add_component` with the record of who did it)."""
    created = add_component(
        name,
        now=now,
        group=group,
        description=description,
        status=status,
        showcase=showcase,
        position=position,
    )
    if start_date is not None:
        created.start_date = start_date
    audit.record(
        actor,
        "component.created",
        now=now,
        target_type="component",
        target_id=created.id,
        summary=f"component {created.name} created",
        after={"name": created.name, "status": created.status},
    )
    generation.bump_once(now)
    return created


def set_status(component: Component, status: ComponentStatus, *, now: datetime) -> bool:
    """Change a component's status and record it in the history; return whether it changed."""
    if component.status == status.value:
        return False
    component.status = status.value
    component.updated_at = now
    # The history row voids the rolled-up uptime days it reaches, in this transaction: a
    # listener in db/models.py does it, the one place that sees every writer (restore too).
    db.session.add(
        ComponentStatusChange(component_id=component.id, status=status.value, started_at=now)
    )
    return True


def get_component(component_id: int) -> Component:
    """Return the component or raise NotFound."""
    component = db.session.get(Component, component_id)
    if component is None:
        raise NotFound(f"no component with id {component_id}")
    return component


def find_component(ref: str) -> Component:
    """Find a component by id or by exact name (case-insensitive), for the CLI."""
    if ref.isascii() and ref.isdigit() and len(ref) < 19:
        component = db.session.get(Component, int(ref))
        if component is not None:
            return component
    matches = db.session.scalars(
        sa.select(Component).where(sa.func.lower(Component.name) == ref.strip().lower())
    ).all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValidationError(f"several components are called {ref!r}; use the id")
    raise NotFound(f"no component with id or name {ref!r}")


# -- edits: every way in (the Statuspage-compatible API, the importer) changes them here -------


def _next_position(model: type[Component] | type[ComponentGroup]) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.position))) or 0) + 1


def create_group(
    name: str,
    *,
    now: datetime,
    actor: audit.Actor,
    description: str = "",
    position: int | None = None,
    members: Sequence[Component] = (),
) -> ComponentGroup:
    """Create a component group (at the end unless `position` is given), with its members."""
    group = ComponentGroup(
        name=limits.name(name, field="name", what="a group name"),
        description=limits.description(description),
        position=_next_position(ComponentGroup) if position is None else position,
        created_at=now,
        updated_at=now,
    )
    db.session.add(group)
    db.session.flush()
    for member in members:
        member.group = group
        member.updated_at = now
    audit.record(
        actor,
        "group.created",
        now=now,
        target_type="group",
        target_id=group.id,
        summary=f"group {group.name} created",
        after={"name": group.name, "components": [m.id for m in members]},
    )
    generation.bump_once(now)
    return group


@dataclass(frozen=True)
class ComponentEdit:
    """What an edit of a component changes; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    showcase: bool | None = None
    position: int | None = None
    start_date: date | None = None
    #: Move the component into a group (`group_set` with None: out of any group).
    group: ComponentGroup | None = None
    group_set: bool = False


def edit_component(
    component: Component, edit: ComponentEdit, *, now: datetime, actor: audit.Actor
) -> Component:
    """Change a component's name, description, group, position or showcase, audited."""
    before = _component_fields(component)
    if edit.name is not None:
        component.name = limits.name(edit.name, field="name", what="a component name")
    if edit.description is not None:
        component.description = limits.description(edit.description)
    if edit.showcase is not None:
        component.showcase = edit.showcase
    if edit.position is not None:
        component.position = edit.position
    if edit.start_date is not None:
        component.start_date = edit.start_date
    if edit.group_set:
        component.group = edit.group
    after = _component_fields(component)
    if after != before:
        component.updated_at = now
        audit.record(
            actor,
            "component.edited",
            now=now,
            target_type="component",
            target_id=component.id,
            summary=f"component {component.name} edited",
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
        generation.bump_once(now)
    return component


def _component_fields(component: Component) -> dict[str, object]:
    return {
        "name": component.name,
        "description": component.description,
        "showcase": component.showcase,
        "position": component.position,
        "start_date": component.start_date.isoformat() if component.start_date else None,
        "group_id": component.group_id if component.group is None else component.group.id,
    }


def delete_component(component: Component, *, now: datetime, actor: audit.Actor) -> None:
    """Delete a component and its status history; incidents keep their text and the names in
    their updates' component changes."""
    audit.record(
        actor,
        "component.deleted",
        now=now,
        target_type="component",
        target_id=component.id,
        summary=f"component {component.name} deleted",
        before={"name": component.name, "status": component.status},
    )
    db.session.delete(component)
    generation.bump_once(now)


def edit_group(
    group: ComponentGroup,
    *,
    now: datetime,
    actor: audit.Actor,
    name: str | None = None,
    description: str | None = None,
    position: int | None = None,
    members: Sequence[Component] | None = None,
) -> ComponentGroup:
    """Rename a group, change its description or position, or set its members (those left out
    leave the group)."""
    before = {"name": group.name, "description": group.description, "position": group.position}
    before_members = sorted(c.id for c in group.components)
    if name is not None:
        group.name = limits.name(name, field="name", what="a group name")
    if description is not None:
        group.description = limits.description(description)
    if position is not None:
        group.position = position
    if members is not None:
        for old in list(group.components):
            if old not in members:
                old.group = None
                old.updated_at = now
        for member in members:
            if member.group is not group:
                member.group = group
                member.updated_at = now
    after = {"name": group.name, "description": group.description, "position": group.position}
    after_members = sorted(c.id for c in members) if members is not None else before_members
    if after != before or after_members != before_members:
        group.updated_at = now
        audit.record(
            actor,
            "group.edited",
            now=now,
            target_type="group",
            target_id=group.id,
            summary=f"group {group.name} edited",
            before={**before, "components": before_members},
            after={**after, "components": after_members},
        )
        generation.bump_once(now)
    return group


def delete_group(group: ComponentGroup, *, now: datetime, actor: audit.Actor) -> None:
    """Delete a group; its components stay, outside any group."""
    for member in list(group.components):
        member.group = None
        member.updated_at = now
    audit.record(
        actor,
        "group.deleted",
        now=now,
        target_type="group",
        target_id=group.id,
        summary=f"group {group.name} deleted",
        before={"name": group.name},
    )
    db.session.delete(group)
    generation.bump_once(now)


def get_group(group_id: int) -> ComponentGroup:
    """Return the group or raise NotFound."""
    group = db.session.get(ComponentGroup, group_id)
    if group is None:
        raise NotFound(f"no component group with id {group_id}")
    return group
