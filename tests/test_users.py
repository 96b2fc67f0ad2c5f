"""The users service: email rules, creation, password changes."""

import pytest

from statuspage.accounts import users
from statuspage.accounts.passwords import verify_password
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.errors import Conflict, ValidationError
from tests.support import NOW


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign",
        "two@@example.com",
        "a@b@example.com",
        "@example.com",
        "someone@",
        "some one@example.com",
        "someone@example.com\r\nBcc: victim@example.com",
        "someone@example.com\n",
        "a" * 250 + "@example.com",
    ],
)
def test_normalize_email_refuses_malformed_addresses(email):
    with pytest.raises(ValidationError):
        users.normalize_email(email)


def test_normalize_email_trims_and_lowercases():
    assert users.normalize_email("  Ann@Example.COM ") == "ann@example.com"


def test_create_user_stores_an_argon2_hash_of_the_password(ctx):
    with write_transaction():
        user = users.create_user(
            "ann@example.com", password="a" * 16, role="admin", now=NOW, actor=audit.CLI
        )
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "a" * 16)


def test_create_user_refuses_a_taken_email_in_any_case(ctx):
    with write_transaction():
        users.create_user("ann@example.com", password="a" * 16, now=NOW, actor=audit.CLI)
    with pytest.raises(Conflict, match="already exists"), write_transaction():
        users.create_user("ANN@example.com", password="b" * 16, now=NOW, actor=audit.CLI)


def test_create_user_refuses_an_unknown_role(ctx):
    with pytest.raises(ValidationError, match="unknown role"), write_transaction():
        users.create_user(
            "ann@example.com", password="a" * 16, role="owner", now=NOW, actor=audit.CLI
        )


def test_get_user_by_email_ignores_case(ctx):
    with write_transaction():
        users.create_user("ann@example.com", password="a" * 16, now=NOW, actor=audit.CLI)
    assert users.get_user_by_email("Ann@Example.com").email == "ann@example.com"


def test_set_password_replaces_it_and_ends_sessions(ctx):
    with write_transaction():
        user = users.create_user("ann@example.com", password="a" * 16, now=NOW, actor=audit.CLI)
        epoch = user.session_epoch
    with write_transaction():
        users.set_password(user, "b" * 16, now=NOW, actor=audit.CLI)
    assert verify_password(user.password_hash, "b" * 16)
    assert not verify_password(user.password_hash, "a" * 16)
    assert user.session_epoch == epoch + 1


def test_create_user_is_audited(ctx):
    with write_transaction():
        user = users.create_user("ann@example.com", password="a" * 16, now=NOW, actor=audit.CLI)
    [entry] = audit.entries(action="user.created")
    assert (entry.actor, entry.target_id, entry.at) == ("cli", str(user.id), NOW)
    assert "a" * 16 not in str(entry.after)
