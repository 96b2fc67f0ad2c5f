"""Component groups and components: create, list, change status (with history)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from statuspage.core import limits
from statuspage.core.enums import ComponentStatus
from statuspage.core.text import clean_text
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
        description=clean_text(description),
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
