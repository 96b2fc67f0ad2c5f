"""Communication plans for tests: the starter library loaded, or a plan of the test's own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.publishing import approvals
from statuspage.publishing import library as library_service
from statuspage.publishing import plans as plan_service
from statuspage.publishing import publish as core
from tests.support import NOW

MESSAGES = Path(__file__).resolve().parents[2] / "messages"
PLANS = MESSAGES / "plans"

#: A plan of one page: critical incidents, approval of the first update and the resolve by one
#: admin, a 30-minute cadence while investigating.
CRITICAL = """\
+++
id = "{id}"
title = "Critical"
priority = 10

[match]
impact_in = ["critical"]

[cadence]
investigating = 30
identified = 30
monitoring = 60

[sequence]
messages = ["outage-investigating", "outage-identified", "outage-monitoring", "outage-resolved"]
postmortem_within_days = 5

[approval]
updates = {updates}
role = "admin"
count = {count}
{approval_extra}
{rest}
+++
Call the incident lead first.
"""


def plan_text(
    id: str = "critical",
    *,
    updates: str = '["first", "resolve"]',
    count: int = 1,
    approval_extra: str = "",
    rest: str = "",
) -> str:
    """The text of a critical-incident plan, with what the test changes."""
    return CRITICAL.format(
        id=id, updates=updates, count=count, approval_extra=approval_extra, rest=rest
    )


def load(
    tmp_path: Path | None = None,
    texts: Iterable[str] = (),
    *,
    paths: Iterable[str] = (),
    messages: bool = True,
) -> Path:
    """Load the message library, then the starter plans or (with `texts`) plans of the test's
    own, written to `tmp_path/plans`; return the plans folder."""
    folder = PLANS
    if tmp_path is not None:
        folder = tmp_path / "plans"
        folder.mkdir(exist_ok=True)
        for text in texts:
            slug = text.split('id = "', 1)[1].split('"', 1)[0]
            (folder / f"{slug}.md").write_text(text, encoding="utf-8")
    with write_transaction():
        if messages:
            library_service.sync_directory(MESSAGES, now=NOW)
        plan_service.sync_directory(folder, now=NOW, paths=list(paths))
    return folder


def site_notices(escalation=None) -> approvals.Notices:
    """What the approval notices need, for a test site."""
    return approvals.Notices(
        escalation=escalation, site_name="Example", site_url="https://status.example.com"
    )


def critical_draft(component, **changes) -> core.Draft:
    """The first update of a critical incident on `component` (major outage)."""
    values = {
        "message": "outage-investigating",
        "variables": {"component": component.name},
        "component_statuses": {component.id: "major_outage"},
    }
    return core.Draft(**(values | changes))


def submit(draft: core.Draft, who, *, when=NOW, notices=None, **kwargs) -> approvals.Outcome:
    """Publish `draft` as user `who` (or send it for approval, as the plan says) in a write
    transaction of its own; the ids are read before the session ends."""
    with write_transaction():
        outcome = approvals.submit(
            draft,
            now=when,
            actor=audit.Actor.for_user(who),
            notices=notices or site_notices(),
            **kwargs,
        )
        if outcome.draft is not None:
            outcome.draft.id  # noqa: B018
        if outcome.published is not None:
            outcome.published.update.incident_id  # noqa: B018
        return outcome
