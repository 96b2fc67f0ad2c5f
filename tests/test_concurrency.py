"""Two PMs at the same moment: each act locks what it changes and re-checks inside the lock, so
the loser gets a 409 that says who won, never a 500 and never a second public update."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import tokens
from statuspage.clock import utcnow
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import IncidentUpdate, MessageVersion, OutboxMessage, Subscriber
from statuspage.publishing import components as cs
from statuspage.publishing import library as lib
from statuspage.resources import resource_dir
from tests.support.auth import csrf_token, make_user, signed_in
from tests.support.drafts import form_fields

ROUNDS = 20


@pytest.fixture
def pms(app, people):
    """Two editors with API tokens and browser sessions, a component, an email subscriber."""
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=utcnow())
        api = cs.add_component("API", now=utcnow() - timedelta(days=3))
        db.session.add(
            Subscriber(
                kind="email",
                email="reader@example.com",
                created_at=utcnow() - timedelta(days=1),
                confirmed_at=utcnow() - timedelta(days=1),
            )
        )
    second = make_user("second@example.com", "editor", name="Second")
    with write_transaction():
        _, one = tokens.create(people["editor"], "a", now=utcnow())
        _, two = tokens.create(db.session.merge(second), "b", now=utcnow())
    return {"api": api.id, "tokens": (one, two)}


def _race(*acts: Callable[[], object]) -> list[object]:
    """Run the acts in threads released at the same moment; return their results in order."""
    barrier = threading.Barrier(len(acts))
    results: list[object] = [None] * len(acts)

    def run(index: int, act: Callable[[], object]) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = act()
        except Exception as exc:  # reported by the test, not lost in a thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(acts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _api(app, token: str, method: str, path: str, body: dict):
    response = app.test_client().open(
        path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.get_json()


def test_two_simultaneous_resolves_publish_one_update_and_answer_409(app, pms):
    one, two = pms["tokens"]
    outcomes: Counter[tuple[int, ...]] = Counter()
    for round_ in range(ROUNDS):
        status, data = _api(
            app,
            one,
            "POST",
            "/api/v1/incidents",
            {
                "title": f"API down {round_}",
                "body": "Looking.",
                "impact": "major",
                "components": {str(pms["api"]): "major_outage"},
            },
        )
        assert status == 201, data
        path = f"/api/v1/incidents/{data['incident']['id']}/resolve"
        answers = _race(
            lambda path=path: _api(app, one, "POST", path, {"body": "Fixed (one)."}),
            lambda path=path: _api(app, two, "POST", path, {"body": "Fixed (two)."}),
        )
        codes = tuple(sorted(a[0] for a in answers))  # type: ignore[index]
        outcomes[codes] += 1
        assert codes == (201, 409), (round_, answers)
        loser = next(a[1] for a in answers if a[0] == 409)  # type: ignore[index]
        assert re.search(r"already resolved by \S+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC", str(loser))
    db.session.rollback()
    resolved = db.session.scalars(
        sa.select(IncidentUpdate.incident_id).where(IncidentUpdate.status == "resolved")
    ).all()
    assert sorted(Counter(resolved).values()) == [1] * ROUNDS, outcomes
    # One subscriber: one notification per public update, so one per resolve.
    fan_outs = [
        row.payload["message"]
        for row in db.session.scalars(sa.select(OutboxMessage)).all()
        if row.payload.get("message", {}).get("purpose") == "update"
    ]
    assert len(fan_outs) == 2 * ROUNDS, outcomes


def _compose(client, incident_id: int, message: str, values: dict[str, str]) -> dict:
    """Open the update form with a message and preview it; return the preview's form as a
    browser would send it to publish."""
    path = f"/admin/incidents/{incident_id}/update"
    form = form_fields(client.get(f"{path}?message={message}").get_data(as_text=True), path)
    form.update({f"var_{k}": v for k, v in values.items()})
    form.update({"action": "preview", "notify": "1"})
    preview = client.post(path, data=form)  # to the preview, a screen of its own
    form = form_fields(client.get(preview.headers["Location"]).get_data(as_text=True), path)
    form["action"] = "publish"
    return form


def test_a_resolve_racing_an_update_leaves_one_winner_and_a_consistent_incident(app, pms):
    one = signed_in(app, "editor")
    two = signed_in(app, "second@example.com")
    for round_ in range(5):
        status, data = _api(
            app,
            pms["tokens"][0],
            "POST",
            "/api/v1/incidents",
            {
                "title": f"API errors {round_}",
                "body": "Looking.",
                "impact": "major",
                "components": {str(pms["api"]): "partial_outage"},
            },
        )
        assert status == 201, data
        incident_id = data["incident"]["id"]
        resolve = _compose(
            one, incident_id, "errors-resolved", {"component": "API", "resolved_at": "10:00 UTC"}
        )
        still = _compose(two, incident_id, "errors-identified", {"component": "API"})
        path = f"/admin/incidents/{incident_id}/update"
        answers = _race(
            lambda path=path, form=resolve: one.post(path, data=form).status_code,
            lambda path=path, form=still: two.post(path, data=form).status_code,
        )
        assert sorted(answers) == [302, 409], (round_, answers)  # type: ignore[type-var]
        db.session.rollback()
        updates = db.session.scalars(
            sa.select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id)
        ).all()
        assert len(updates) == 2, (round_, [u.status for u in updates])
        incident = updates[0].incident
        component = db.session.get(cs.Component, pms["api"])
        resolved = incident.status == "resolved"
        # Resolved with the component back, or still identified with it still broken.
        assert (component.status == "operational") == resolved, (round_, incident.status)


def test_two_simultaneous_edits_of_a_message_save_one_and_refuse_the_other(app, people):
    with write_transaction():
        lib.sync_directory(resource_dir("messages"), now=utcnow())
    one = signed_in(app, "editor")
    two = signed_in(app, "admin")
    base = "/admin/library/outage-investigating/edit"
    body = (
        "We are looking into reports that {{ component }} is unavailable. "
        "Next update within {{ next_update }}."
    )
    forms = [
        {
            "title": f"{{{{ component }}}} is down ({who})",
            "body": body,
            "reason": who,
            "base": "1",
            "csrf_token": csrf_token(client, base),
        }
        for who, client in (("one", one), ("two", two))
    ]
    answers = _race(
        lambda: one.post(base, data=forms[0]),
        lambda: two.post(base, data=forms[1]),
    )
    codes = sorted(a.status_code for a in answers)  # type: ignore[attr-defined]
    assert codes == [302, 409], codes
    loser = next(a for a in answers if a.status_code == 409)  # type: ignore[attr-defined]
    text = loser.get_data(as_text=True)
    assert "v2 was saved by" in text and "is down (" in text, "the typed text is kept"
    db.session.rollback()
    numbers = db.session.scalars(sa.select(MessageVersion.number).order_by("number")).all()
    assert Counter(numbers)[2] == 1 and 3 not in numbers


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlock_victim_is_run_once_more_and_other_errors_are_not(ctx):
    from statuspage.db.database import run_write

    calls: list[int] = []

    def victim_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE ...", {}, _Deadlock("deadlock detected"))
        return "done"

    assert run_write(victim_once) == "done" and len(calls) == 2

    def always_broken() -> None:
        calls.append(1)
        raise sa.exc.OperationalError("UPDATE ...", {}, ValueError("disk I/O error"))

    calls.clear()
    with pytest.raises(sa.exc.OperationalError):
        run_write(always_broken)
    assert len(calls) == 1
