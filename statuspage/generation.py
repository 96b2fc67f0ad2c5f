"""The public-side generation: bumped in the same transaction as any change customers see."""

from __future__ import annotations

from datetime import datetime
from itertools import chain

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .extensions import db
from .models import PUBLIC_MODELS, SiteState
from .timeutil import utcnow

_BUMPED = "statuspage_generation_bumped"


def init_app() -> None:
    """Watch every flush of the app's sessions (idempotent)."""
    if not sa.event.contains(db.session, "after_flush", _after_flush):
        sa.event.listen(db.session, "after_flush", _after_flush)
        for name in ("after_commit", "after_rollback", "after_soft_rollback"):
            sa.event.listen(db.session, name, _forget)


def _after_flush(session: Session, _context) -> None:
    if session.info.get(_BUMPED):
        return
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, PUBLIC_MODELS) for obj in changed):
        bump(session, utcnow())
        session.info[_BUMPED] = True


def _forget(session: Session, *_args) -> None:
    session.info.pop(_BUMPED, None)


def bump(session: Session, now: datetime) -> None:
    """Increment the generation (creating the row if a tool emptied the table)."""
    result = session.execute(
        sa.update(SiteState.__table__)
        .where(SiteState.__table__.c.id == 1)
        .values(generation=SiteState.__table__.c.generation + 1, changed_at=now)
    )
    if result.rowcount == 0:
        session.execute(sa.insert(SiteState.__table__).values(id=1, generation=1, changed_at=now))


def read() -> tuple[int, datetime | None]:
    """The current generation and when it last moved; (0, None) before the first change."""
    row = db.session.execute(
        sa.select(SiteState.generation, SiteState.changed_at).where(SiteState.id == 1)
    ).first()
    return (row[0], row[1]) if row else (0, None)
