"""Changes to the `sample` page of tests/conftest.py."""

from __future__ import annotations

from statuspage.clock import utcnow
from statuspage.core.enums import ComponentStatus, IncidentStatus
from statuspage.db.database import write_transaction
from statuspage.publishing import incidents as inc


def resolve_open_incident(sample, body: str = "Fixed: pages load quickly again.") -> None:
    """Publish the resolution of the sample's open incident; the Website is operational again."""
    with write_transaction():
        inc.post_update(
            sample["open"],
            status=IncidentStatus.RESOLVED,
            body=body,
            now=utcnow(),
            component_statuses={sample["web"]: ComponentStatus.OPERATIONAL},
        )
