"""Sign-in throttling that attackers cannot turn against the PMs, and the login's `next`.

Each client is a test client with its own REMOTE_ADDR (no proxy here; tests/test_proxy.py
covers the forwarded addresses). The clock is frozen: the windows are counted from it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from statuspage.accounts import auth
from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.core.addresses import rate_key
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import AuditEntry, LoginAttempt
from tests.support import PASSWORD
from tests.support.auth import email_for, sign_in

EDITOR = email_for("editor")
WRONG = "wrong password!!"
OWNER_NET = "203.0.113.7"


@pytest.fixture
def clock(frozen_clock, people):
    """The frozen clock, with the `people` accounts made at NOW."""
    return frozen_clock


def client_at(app, address: str):
    """A test client connecting from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def fail(app, address: str, email: str = EDITOR, times: int = 1) -> None:
    """Wrong passwords for `email` from `address`, each answered 401."""
    client = client_at(app, address)
    for _ in range(times):
        assert sign_in(client, email, WRONG).status_code == 401


def attack_from_many_networks(app, count: int = auth.MAX_PER_ACCOUNT) -> None:
    """One wrong password each from `count` networks: the account is under attack."""
    for n in range(count):
        fail(app, f"198.51.100.{100 + n}")


# -- one account, one network


def test_hammering_one_account_from_one_network_locks_that_network_only(app, clock):
    fail(app, "198.51.100.1", times=auth.MAX_PER_PAIR)
    locked = sign_in(client_at(app, "198.51.100.1"), EDITOR)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert b"for this account from your network. Try again in 15 minutes" in locked.data
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302


def test_the_lock_lasts_the_window_and_refused_attempts_do_not_extend_it(app, clock):
    fail(app, "198.51.100.1", times=auth.MAX_PER_PAIR)
    clock.advance(minutes=10)
    attacker = client_at(app, "198.51.100.1")
    for _ in range(10):
        assert sign_in(attacker, EDITOR, WRONG).status_code == 429
    clock.advance(minutes=5)
    assert sign_in(attacker, EDITOR).status_code == 302


def test_a_throttled_attempt_is_refused_before_the_password_is_checked(app, clock, monkeypatch):
    fail(app, "198.51.100.1", times=auth.MAX_PER_PAIR)
    checked = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda *args: checked.append(args) or real(*args))
    attacker = client_at(app, "198.51.100.1")
    right, wrong = sign_in(attacker, EDITOR), sign_in(attacker, EDITOR, WRONG)
    assert checked == []
    # Nothing tells a right password from a wrong one while throttled.
    assert (right.status_code, right.data, right.headers.get("Retry-After")) == (
        wrong.status_code,
        wrong.data,
        wrong.headers.get("Retry-After"),
    )
    assert right.status_code == 429 and "Set-Cookie" not in right.headers


def test_a_success_forgets_the_networks_typos(app, clock):
    fail(app, OWNER_NET, times=auth.MAX_PER_PAIR - 1)
    owner = client_at(app, OWNER_NET)
    assert sign_in(owner, EDITOR).status_code == 302
    fail(app, OWNER_NET, times=auth.MAX_PER_PAIR - 1)
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302


def test_ipv6_clients_are_counted_by_their_64(app, clock):
    for n in range(auth.MAX_PER_PAIR):
        fail(app, f"2001:db8:1:2::{n + 1}")
    assert sign_in(client_at(app, "2001:db8:1:2:ffff::9"), EDITOR).status_code == 429
    assert sign_in(client_at(app, "2001:db8:1:3::1"), EDITOR).status_code == 302


# -- one network, many accounts


def test_spraying_many_accounts_from_one_network_is_stopped(app, clock):
    for n in range(auth.MAX_PER_ADDRESS):
        fail(app, "198.51.100.1", email=f"person{n}@example.com")
    refused = sign_in(client_at(app, "198.51.100.1"), EDITOR)
    assert refused.status_code == 429 and b"sign-ins from your network. Try" in refused.data
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302


# -- one account, many networks


def test_an_account_under_attack_still_hears_a_network_that_has_not_failed(app, clock):
    attack_from_many_networks(app, 30)
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302


def test_an_account_under_attack_gives_each_network_one_guess(app, clock):
    attack_from_many_networks(app)
    again = sign_in(client_at(app, "198.51.100.100"), EDITOR)
    assert again.status_code == 429 and b"from many networks, one of them yours" in again.data
    # Below the account's threshold the same network would have had MAX_PER_PAIR guesses.
    fail(app, "192.0.2.1")
    assert sign_in(client_at(app, "192.0.2.1"), EDITOR, WRONG).status_code == 429
    clock.advance(minutes=15)
    assert sign_in(client_at(app, "198.51.100.100"), EDITOR).status_code == 302


def test_below_the_account_threshold_a_network_keeps_its_allowance(app, clock):
    attack_from_many_networks(app, auth.MAX_PER_ACCOUNT - 2)
    fail(app, "192.0.2.1")
    assert sign_in(client_at(app, "192.0.2.1"), EDITOR).status_code == 302


def test_the_owners_usual_network_keeps_its_allowance_during_an_attack(app, clock):
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302
    clock.advance(days=1)
    attack_from_many_networks(app)
    fail(app, OWNER_NET, times=auth.MAX_PER_PAIR - 1)  # typos, on the owner's usual network
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302


def test_a_network_stops_being_usual_after_a_while(app, clock):
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 302
    clock.advance(auth.KNOWN_FOR)
    attack_from_many_networks(app)
    fail(app, OWNER_NET)
    assert sign_in(client_at(app, OWNER_NET), EDITOR).status_code == 429


# -- the service: the throttle read again when the outcome is recorded


def test_the_throttle_is_read_again_when_the_outcome_is_recorded(clock, people):
    now = utcnow()
    auth.check_throttle(EDITOR, "198.51.100.1", now)
    right = auth.check_password(EDITOR, PASSWORD)
    # Meanwhile, concurrent requests from the same network use up its guesses.
    for _ in range(auth.MAX_PER_PAIR):
        wrong = auth.check_password(EDITOR, WRONG)
        with write_transaction():
            assert auth.record(wrong, ip="198.51.100.1", now=now) is None
    with pytest.raises(auth.TooManyAttempts), write_transaction():
        auth.record(right, ip="198.51.100.1", now=now)
    assert audit_actions() == ["login.failed"] * auth.MAX_PER_PAIR


def test_a_password_changed_during_the_check_does_not_sign_in(clock, people):
    checked = auth.check_password(EDITOR, PASSWORD)
    assert checked.ok
    with write_transaction():
        user_service.set_password(
            people["editor"], "a brand new passphrase", now=utcnow(), actor=audit.CLI
        )
    with write_transaction():
        assert auth.record(checked, ip=OWNER_NET, now=utcnow()) is None


def test_a_disabled_account_does_not_sign_in_with_its_password(app, clock, people):
    with write_transaction():
        user_service.set_active(people["viewer"], False, now=utcnow(), actor=audit.CLI)
    response = sign_in(client_at(app, OWNER_NET), email_for("viewer"))
    assert response.status_code == 401


def test_rows_that_no_longer_count_are_deleted_and_sign_up_limits_kept(clock, people):
    now = utcnow()
    stale_key = f"pair:{rate_key('192.0.2.9')}|someone@example.com"
    with write_transaction():
        db.session.add_all(
            [
                LoginAttempt(key=stale_key, attempted_at=now - auth.WINDOW),
                LoginAttempt(
                    key="known:192.0.2.9|x@example.com", attempted_at=now - auth.KNOWN_FOR
                ),
                LoginAttempt(key="known:192.0.2.8|x@example.com", attempted_at=now - timedelta(1)),
                # The per-email sign-up limit counts a day: a sign-in must not forget it.
                LoginAttempt(
                    key="subscribe:email:a@example.com", attempted_at=now - timedelta(hours=2)
                ),
            ]
        )
    checked = auth.check_password(EDITOR, PASSWORD)
    with write_transaction():
        assert auth.record(checked, ip=OWNER_NET, now=now) is not None
    keys = set(db.session.scalars(sa.select(LoginAttempt.key)))
    assert keys == {
        "known:192.0.2.8|x@example.com",
        "subscribe:email:a@example.com",
        f"known:{OWNER_NET}|{EDITOR}",
    }


def audit_actions() -> list[str]:
    """The sign-in entries of the audit log, oldest first."""
    query = sa.select(AuditEntry.action).where(AuditEntry.action.like("login%"))
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


# -- where the login sends you: `next`

UNSAFE_NEXT = [
    "/admin/\r\nSet-Cookie: stolen=1",
    "/admin/\n",
    "/admin/\r",
    "/admin/\x00",
    "/admin/\x1b[31m",
    "/admin/\x7f",
    "/admin/\x85",  # C1 NEL
    "/admin/\u2028",
    "/admin/caf\u00e9",
    "/admin\\..\\..\\evil.example",
    "\\\\evil.example/admin/",
    "//evil.example/admin/",
    "/admin@evil.example",
    "javascript:alert(1)//admin",
]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_an_unsafe_next_after_signing_in_goes_to_the_dashboard(app, people, target):
    response = sign_in(app.test_client(), EDITOR, next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_an_unsafe_next_when_already_signed_in_goes_to_the_dashboard(editor, target):
    response = editor.get("/admin/login", query_string={"next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_an_unsafe_next_is_harmless_on_the_form(client, people):
    response = client.get("/admin/login", query_string={"next": "/admin/\r\n\x00<script>"})
    assert response.status_code == 200 and b"<script>" not in response.data


def test_a_next_inside_the_admin_keeps_its_query(client, people):
    target = "/admin/incidents?page=2"
    assert sign_in(client, EDITOR, next_url=target).headers["Location"] == target
