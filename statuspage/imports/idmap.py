"""The import map: which local object an object of another status page became."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from statuspage.db.extensions import db
from statuspage.db.models import ImportedObject

#: A Statuspage object code: lowercase letters and digits (never digits alone: those are ours).
CODE = re.compile(r"^(?![0-9]+$)[a-z0-9]{1,64}$")


def find(source: str, kind: str, external_id: str) -> str | None:
    """The local id an object of `source` became, or None when it was not imported."""
    return db.session.scalar(
        sa.select(ImportedObject.local_id).where(
            ImportedObject.source == source,
            ImportedObject.kind == kind,
            ImportedObject.external_id == external_id,
        )
    )


def known(source: str, kind: str) -> dict[str, str]:
    """Every object of one kind imported from `source`: external id -> local id."""
    rows = db.session.execute(
        sa.select(ImportedObject.external_id, ImportedObject.local_id).where(
            ImportedObject.source == source, ImportedObject.kind == kind
        )
    )
    return {external: local for external, local in rows}


def remember(source: str, kind: str, external_id: str, local_id: object, *, now: datetime) -> None:
    """Record what an object became, in the transaction that created it."""
    db.session.add(
        ImportedObject(
            source=source,
            kind=kind,
            external_id=external_id,
            local_id=str(local_id),
            created_at=now,
        )
    )
    db.session.flush()


def incident_for_code(code: str) -> int | None:
    """The local id of the incident an old permalink's code names, or None."""
    if not CODE.match(code):
        return None
    local = db.session.scalar(
        sa.select(ImportedObject.local_id)
        .where(ImportedObject.kind == "incident", ImportedObject.external_id == code)
        .order_by(ImportedObject.id)
        .limit(1)
    )
    return int(local) if local is not None and local.isdigit() else None


def is_source(page_id: str) -> bool:
    """Whether a page was imported from `page_id` (its old id keeps naming this page)."""
    found = db.session.scalar(
        sa.select(ImportedObject.id).where(ImportedObject.source == page_id).limit(1)
    )
    return found is not None
