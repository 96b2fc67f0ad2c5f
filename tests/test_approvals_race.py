"""Two approvers approving one request at the same moment publish it once (SQLite and
PostgreSQL): the approval locks the draft and re-checks its state inside the lock."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import run_write, write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import IncidentUpdate
from statuspage.db.models import User as UserRow
from statuspage.errors import Conflict
from statuspage.publishing import approvals, drafts
from statuspage.publishing import components as component_service
from statuspage.publishing import publish as core
from tests.support import plans as plan_support
from tests.support.auth import make_user

ROUNDS = 10


@pytest.fixture
def site(app, ctx, fast_hashing, tmp_path):
    plan_support.load(tmp_path, [plan_support.plan_text()])
    with write_transaction():
        api = component_service.add_component("API", now=utcnow() - timedelta(days=1))
    ids = [
        make_user(email, role).id
        for email, role in (
            ("author@example.com", "editor"),
            ("one@example.com", "admin"),
            ("two@example.com", "admin"),
        )
    ]
    return api.id, ids


def _approve(app, draft_id: int, user_id: int, seen: str, barrier: threading.Barrier):
    with app.app_context():
        barrier.wait(timeout=30)
        try:

            def act():
                user = db.session.get(UserRow, user_id)
                return approvals.approve(
                    draft_id,
                    seen=seen,
                    now=utcnow(),
                    actor=audit.Actor.for_user(user),
                    notices=plan_support.site_notices(),
                ).pending

            return run_write(act)
        except Conflict as exc:
            return exc
        finally:
            db.session.remove()


def test_two_approvers_at_once_publish_once_and_the_other_hears_who_won(app, site):
    api, (author, one, two) = site
    outcomes: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        with write_transaction():
            outcome = approvals.submit(
                core.Draft(
                    title=f"API down {round_}",
                    body="Looking into it.",
                    status="investigating",
                    component_statuses={api: "major_outage"},
                ),
                now=utcnow(),
                actor=audit.Actor.for_user(db.session.get(UserRow, author)),
                notices=plan_support.site_notices(),
            )
            draft_id = outcome.draft.id
        row = drafts.get(draft_id)
        seen = approvals.fingerprint(row, drafts.preview(row))
        db.session.rollback()
        barrier = threading.Barrier(2)
        results: list[object] = [None, None]

        def run(index, user_id, draft_id=draft_id, seen=seen, barrier=barrier, results=results):
            results[index] = _approve(app, draft_id, user_id, seen, barrier)

        threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate((one, two))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        kinds = sorted("conflict" if isinstance(r, Conflict) else repr(r) for r in results)
        outcomes[" ".join(kinds)] += 1
        assert kinds == ["False", "conflict"], (round_, results)
        loser = next(r for r in results if isinstance(r, Conflict))
        assert "already approved and published by" in str(loser), (round_, loser)
    db.session.rollback()
    per_incident = Counter(db.session.scalars(sa.select(IncidentUpdate.incident_id)).all())
    assert sorted(per_incident.values()) == [1] * ROUNDS, outcomes
