"""Approval under a communication plan: who may approve, what is published, what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, Incident, IncidentUpdate
from statuspage.errors import Conflict, PermissionDenied, ValidationError
from statuspage.publishing import approvals, drafts
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as core
from tests.support import NOW
from tests.support import plans as plan_support
from tests.support.auth import make_user


@pytest.fixture
def site(ctx, fast_hashing, tmp_path):
    """Messages, one critical plan, a component, an author (editor) and two admins."""
    plan_support.load(tmp_path, [plan_support.plan_text()])
    with write_transaction():
        api = component_service.add_component("API", now=NOW - timedelta(days=1))
    people = {
        "author": make_user("author@example.com", "editor", name="Ana Author"),
        "editor": make_user("other@example.com", "editor"),
        "boss": make_user("boss@example.com", "admin", name="Bo Boss"),
        "chief": make_user("chief@example.com", "admin"),
    }
    return api, people


def as_(user) -> audit.Actor:
    return audit.Actor.for_user(user)


def seen(draft_id: int) -> str:
    row = drafts.get(draft_id)
    return approvals.fingerprint(row, drafts.preview(row))


def approve(draft_id, who, fingerprint=None, when=NOW) -> approvals.Outcome:
    fingerprint = fingerprint or seen(draft_id)
    with write_transaction():
        return approvals.approve(
            draft_id,
            seen=fingerprint,
            now=when,
            actor=as_(who),
            notices=plan_support.site_notices(),
        )


def test_the_first_update_of_a_critical_incident_waits_for_approval(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    assert outcome.pending and outcome.draft.state == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0
    assert api.status == "operational"


def test_an_admin_approves_and_exactly_that_text_is_published_by_its_author(site):
    api, people = site
    body = "We are looking into errors on the API.\n\nNext update in 30 minutes."
    outcome = plan_support.submit(plan_support.critical_draft(api, body=body), people["author"])
    result = approve(outcome.draft.id, people["boss"])
    update = result.published.update
    assert update.body == body
    assert update.author.email == "author@example.com"
    assert update.incident.impact == "critical"
    assert update.incident.plan_slug == "critical"
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    opened = next(e for e in entries if e.action == "incident.opened")
    assert "Ana Author" in opened.actor and "boss@example.com" in opened.actor
    assert [e.action for e in entries if e.action.startswith("draft.")] == [
        "draft.requested",
        "draft.approved",
    ]


def test_the_author_cannot_approve_their_own_draft(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["boss"])
    with pytest.raises(PermissionDenied, match="you wrote this update"):
        approve(outcome.draft.id, people["boss"])


def test_an_editor_cannot_approve_what_the_plan_gives_to_admins(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    with pytest.raises(PermissionDenied, match="an admin"):
        approve(outcome.draft.id, people["editor"])


def test_an_approval_of_an_earlier_revision_is_refused(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    old = seen(outcome.draft.id)
    with write_transaction():
        approvals.revise(
            outcome.draft.id,
            plan_support.critical_draft(api, body="Shorter text."),
            now=NOW,
            actor=as_(people["author"]),
            notices=plan_support.site_notices(),
        )
    with pytest.raises(approvals.StaleApproval):
        approve(outcome.draft.id, people["boss"], fingerprint=old)
    assert approve(outcome.draft.id, people["boss"]).published.update.body == "Shorter text."


def test_a_second_approval_after_publishing_is_a_conflict_and_publishes_nothing(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    fingerprint = seen(outcome.draft.id)
    approve(outcome.draft.id, people["boss"], fingerprint)
    with pytest.raises(Conflict, match="already approved and published"):
        approve(outcome.draft.id, people["chief"], fingerprint)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentUpdate)) == 1


def test_two_approvals_needed_publish_on_the_second(ctx, fast_hashing, tmp_path):
    plan_support.load(tmp_path, [plan_support.plan_text(count=2)])
    with write_transaction():
        api = component_service.add_component("API", now=NOW)
    author = make_user("author@example.com", "editor")
    boss, chief = make_user("boss@example.com", "admin"), make_user("chief@example.com", "admin")
    outcome = plan_support.submit(plan_support.critical_draft(api), author)
    assert approve(outcome.draft.id, boss).pending
    with pytest.raises(Conflict, match="already approved"):
        approve(outcome.draft.id, boss)
    assert not approve(outcome.draft.id, chief).pending


def test_an_admin_publishes_without_approval_only_with_a_reason(site):
    api, people = site
    with pytest.raises(ValidationError, match="say why"):
        plan_support.submit(plan_support.critical_draft(api), people["boss"], without_approval="  ")
    with pytest.raises(PermissionDenied, match="only an admin"):
        plan_support.submit(
            plan_support.critical_draft(api), people["author"], without_approval="urgent"
        )
    outcome = plan_support.submit(
        plan_support.critical_draft(api), people["boss"], without_approval="no approver awake"
    )
    assert outcome.published.created
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "draft.published_without_approval")
    )
    assert entry.after["reason"] == "no approver awake"


def test_publishing_straight_through_the_core_is_refused_when_the_plan_asks(site):
    api, _ = site
    with pytest.raises(core.ApprovalRequired, match="needs approval"), write_transaction():
        core.publish(plan_support.critical_draft(api), now=NOW, actor=audit.CLI)


def test_updates_in_between_go_out_at_once_and_the_resolve_waits(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    incident = approve(outcome.draft.id, people["boss"]).published.update.incident
    update = plan_support.submit(
        core.Draft(
            incident_id=incident.id, message="outage-identified", variables={"component": "API"}
        ),
        people["author"],
    )
    assert not update.pending
    resolve = plan_support.submit(
        core.Draft(
            incident_id=incident.id,
            message="outage-resolved",
            variables={"component": "API", "resolved_at": "12:40 UTC"},
            component_statuses={api.id: "operational"},
        ),
        people["author"],
    )
    assert resolve.pending and resolve.draft.purpose == "resolve"


def test_returning_needs_a_comment_and_leaves_the_draft_to_its_author(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    with pytest.raises(ValidationError), write_transaction():
        approvals.send_back(outcome.draft.id, comment=" ", now=NOW, actor=as_(people["boss"]))
    with write_transaction():
        row = approvals.send_back(
            outcome.draft.id, comment="Name the region.", now=NOW, actor=as_(people["boss"])
        )
        assert row.state == "returned"
    with pytest.raises(Conflict, match="nothing to approve"):
        approve(outcome.draft.id, people["chief"])


def test_only_the_author_or_an_admin_withdraws_or_revises_a_request(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    for act in (
        lambda: approvals.withdraw(outcome.draft.id, now=NOW, actor=as_(people["editor"])),
        lambda: approvals.revise(
            outcome.draft.id,
            plan_support.critical_draft(api, body="Mine now."),
            now=NOW,
            actor=as_(people["editor"]),
            notices=plan_support.site_notices(),
        ),
    ):
        with (
            pytest.raises(PermissionDenied, match="only its author or an admin"),
            write_transaction(),
        ):
            act()
    with write_transaction():
        row = approvals.withdraw(outcome.draft.id, now=NOW, actor=as_(people["boss"]))
        assert row.state == "dismissed"


def test_a_request_is_refused_once_another_update_went_out_on_its_incident(site):
    api, people = site
    opened = plan_support.submit(
        plan_support.critical_draft(api), people["boss"], without_approval="test"
    )
    incident_id = opened.published.update.incident_id
    resolve = plan_support.submit(
        core.Draft(
            incident_id=incident_id,
            message="outage-resolved",
            variables={"component": "API", "resolved_at": "12:40 UTC"},
            component_statuses={api.id: "operational"},
        ),
        people["author"],
    )
    fingerprint = seen(resolve.draft.id)
    plan_support.submit(
        core.Draft(
            incident_id=incident_id, message="outage-identified", variables={"component": "API"}
        ),
        people["editor"],
    )
    with pytest.raises(Conflict, match="its author can revise it"):
        approve(resolve.draft.id, people["chief"], fingerprint)
    with pytest.raises(Conflict, match="its author can revise it"), write_transaction():
        approvals.publish_without_approval(
            resolve.draft.id, reason="now", now=NOW, actor=as_(people["chief"]), seen=fingerprint
        )


def test_text_a_database_cannot_store_is_cleaned_before_the_request_is_kept(site):
    api, people = site
    body = "Errors on the API\x00 since 10:00.\x1b[31m"
    outcome = plan_support.submit(
        plan_support.critical_draft(api, body=body, title="API\x00 down"), people["author"]
    )
    row = drafts.get(outcome.draft.id)
    assert "\x00" not in row.body and "\x1b" not in row.body and "\x00" not in row.title
    assert approve(outcome.draft.id, people["boss"]).published.update.body == row.body.strip()


def test_a_plan_tightened_while_a_request_waits_applies_to_its_approval(site, tmp_path):
    api, people = site
    text = plan_support.plan_text().replace('role = "admin"', 'role = "editor"')
    plan_support.load(tmp_path, [text])  # v2: an editor approves
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    plan_support.load(tmp_path, [plan_support.plan_text()])  # v3: an admin again
    with pytest.raises(PermissionDenied, match="changed since this was asked"):
        approve(outcome.draft.id, people["editor"])
    assert not approve(outcome.draft.id, people["boss"]).pending


def test_a_returned_request_is_revised_before_it_goes_out_even_without_approval(site):
    api, people = site
    outcome = plan_support.submit(plan_support.critical_draft(api), people["author"])
    with write_transaction():
        approvals.send_back(outcome.draft.id, comment="Region?", now=NOW, actor=as_(people["boss"]))
    with pytest.raises(Conflict, match="returned to its author"), write_transaction():
        approvals.publish_without_approval(
            outcome.draft.id, reason="urgent", now=NOW, actor=as_(people["chief"])
        )


def test_a_withdrawn_request_sent_again_with_its_key_is_a_conflict(site):
    api, people = site
    draft = plan_support.critical_draft(api, idempotency_key="k-1")
    outcome = plan_support.submit(draft, people["author"])
    with write_transaction():
        approvals.withdraw(outcome.draft.id, now=NOW, actor=as_(people["author"]))
    with pytest.raises(Conflict, match="this request was dismissed"):
        plan_support.submit(draft, people["author"])
