"""`statuspage users|tokens|audit`: secrets printed once, every write audited as "cli"."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.accounts import tokens
from statuspage.accounts.passwords import verify_password
from statuspage.cli import main
from statuspage.clock import utcnow
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ApiToken, User
from tests.support.cli import assert_one_line_error


@pytest.fixture
def cli(config_file):
    """Run `statuspage ARGS --config FILE` on this test's database."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [*args, "--config", str(config_file)])

    return invoke


@pytest.fixture
def look(app):
    """Run a function in a fresh app context and return its result."""

    def run(fn):
        with app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    return run


def get_user(email: str):
    return lambda: db.session.scalar(sa.select(User).where(User.email == email))


def printed_secret(result, label: str) -> str:
    assert result.exit_code == 0, result.output
    return re.search(rf"^  {label}: (\S+)$", result.stdout, re.M).group(1)


@pytest.fixture
def boss(cli):
    """The only admin, added with `statuspage users add`: boss@example.com."""
    printed_secret(
        cli("users", "add", "--email", "boss@example.com", "--role", "admin"), "password"
    )


# users


def test_users_add_prints_a_password_that_works(cli, look):
    result = cli("users", "add", "--email", "Ann@Example.com", "--role", "editor", "--name", "Ann")
    password = printed_secret(result, "password")
    assert result.stdout.startswith("Created editor ann@example.com\n")
    user = look(get_user("ann@example.com"))
    assert (user.name, user.role, user.active) == ("Ann", "editor", True)
    assert verify_password(user.password_hash, password)


def test_users_add_is_audited_as_cli(cli, look):
    cli("users", "add", "--email", "ann@example.com", "--role", "viewer")
    [entry] = look(lambda: audit.entries(action="user.created"))
    assert (entry.actor, entry.after) == ("cli", {"email": "ann@example.com", "role": "viewer"})


def test_users_add_with_an_unknown_role_lists_the_choices(cli, look):
    result = cli("users", "add", "--email", "ann@example.com", "--role", "owner")
    assert_one_line_error(result, "'owner'", "admin, editor, viewer")
    assert look(get_user("ann@example.com")) is None


def test_users_add_with_a_taken_email_fails(cli, boss):
    result = cli("users", "add", "--email", "BOSS@example.com", "--role", "viewer")
    assert_one_line_error(result, "boss@example.com", "already exists")
    assert "password" not in result.stdout


def test_users_list_shows_role_state_and_last_sign_in(cli, boss, look):
    cli("users", "add", "--email", "ann@example.com", "--role", "viewer", "--name", "Ann")
    cli("users", "disable", "ann@example.com")
    lines = cli("users", "list").stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "EMAIL",
        "NAME",
        "ROLE",
        "STATE",
        "CREATED",
        "LAST",
        "SIGN-IN",
    ]
    ann = next(line for line in lines if "ann@example.com" in line)
    assert ann.split()[2:5] == ["Ann", "viewer", "disabled"]
    assert ann.endswith("-")


def test_users_list_without_users_says_how_to_add_one(cli):
    assert cli("users", "list").stdout.startswith("no users yet")


def test_users_set_role_changes_it_and_audits(cli, boss, look):
    cli("users", "add", "--email", "ann@example.com", "--role", "viewer")
    result = cli("users", "set-role", "Ann@example.com", "editor")
    assert result.stdout == "ann@example.com: viewer -> editor\n"
    assert look(get_user("ann@example.com")).role == "editor"
    [entry] = look(lambda: audit.entries(action="user.role_changed"))
    assert (entry.actor, entry.before, entry.after) == (
        "cli",
        {"role": "viewer"},
        {"role": "editor"},
    )


def test_users_set_role_to_the_same_role_changes_nothing(cli, boss, look):
    assert cli("users", "set-role", "boss@example.com", "admin").stdout == (
        "boss@example.com is already admin\n"
    )
    assert look(lambda: audit.entries(action="user.role_changed")) == []


def test_users_set_role_of_an_unknown_user_fails(cli):
    assert_one_line_error(cli("users", "set-role", "nobody@example.com", "admin"), "no user")


def test_users_set_role_with_an_unknown_role_lists_the_choices(cli, boss):
    result = cli("users", "set-role", "boss@example.com", "root")
    assert_one_line_error(result, "'root'", "admin, editor, viewer")


def test_users_set_role_refuses_to_demote_the_last_admin(cli, boss, look):
    result = cli("users", "set-role", "boss@example.com", "viewer")
    assert_one_line_error(result, "last active admin")
    assert look(get_user("boss@example.com")).role == "admin"


def test_users_reset_password_prints_a_new_one_and_ends_sessions(cli, boss, look):
    old_epoch = look(get_user("boss@example.com")).session_epoch
    password = printed_secret(cli("users", "reset-password", "boss@example.com"), "password")
    user = look(get_user("boss@example.com"))
    assert verify_password(user.password_hash, password)
    assert user.session_epoch == old_epoch + 1
    [entry] = look(lambda: audit.entries(action="user.password_reset"))
    assert entry.actor == "cli" and password not in repr(audit.as_dict(entry))


def test_users_reset_password_of_an_unknown_user_fails(cli):
    assert_one_line_error(cli("users", "reset-password", "nobody@example.com"), "no user")


def test_users_disable_ends_sessions_and_enable_restores(cli, boss, look):
    cli("users", "add", "--email", "ann@example.com", "--role", "editor")
    epoch = look(get_user("ann@example.com")).session_epoch
    disabled = cli("users", "disable", "ann@example.com")
    assert disabled.stdout.startswith("ann@example.com is disabled")
    user = look(get_user("ann@example.com"))
    assert (user.active, user.session_epoch) == (False, epoch + 1)
    assert cli("users", "enable", "ann@example.com").stdout == "ann@example.com is enabled\n"
    assert look(get_user("ann@example.com")).active
    actions = [e.action for e in look(lambda: audit.entries(actor="cli"))]
    assert actions[:2] == ["user.enabled", "user.disabled"]


def test_users_disable_refuses_the_last_admin(cli, boss, look):
    assert_one_line_error(cli("users", "disable", "boss@example.com"), "last active admin")
    assert look(get_user("boss@example.com")).active


# tokens


def test_tokens_create_prints_the_token_once_and_stores_its_hash(cli, boss, look):
    result = cli("tokens", "create", "--user", "boss@example.com", "--name", "deploys")
    text = printed_secret(result, "token")
    assert text.startswith("sp_")
    stored = look(lambda: db.session.scalar(sa.select(ApiToken)))
    assert (stored.name, stored.prefix) == ("deploys", text[:10])
    assert stored.token_hash != text
    assert look(lambda: tokens.user_for(text, now=utcnow())[0].email) == "boss@example.com"
    [entry] = look(lambda: audit.entries(action="token.created"))
    assert entry.actor == "cli" and text not in repr(audit.as_dict(entry))


def test_tokens_create_for_an_unknown_user_fails(cli):
    result = cli("tokens", "create", "--user", "nobody@example.com", "--name", "x")
    assert_one_line_error(result, "no user", "nobody@example.com")


def test_tokens_list_shows_prefixes_never_tokens(cli, boss):
    text = printed_secret(
        cli("tokens", "create", "--user", "boss@example.com", "--name", "ci"), "token"
    )
    listed = cli("tokens", "list").stdout
    assert text not in listed
    assert listed.splitlines()[0].split()[:4] == ["ID", "USER", "NAME", "PREFIX"]
    assert f"{text[:10]}..." in listed and "active" in listed


def test_tokens_list_filters_by_user(cli, boss):
    cli("users", "add", "--email", "ann@example.com", "--role", "editor")
    cli("tokens", "create", "--user", "boss@example.com", "--name", "boss-token")
    cli("tokens", "create", "--user", "ann@example.com", "--name", "ann-token")
    listed = cli("tokens", "list", "--user", "ann@example.com").stdout
    assert "ann-token" in listed and "boss-token" not in listed


def test_tokens_revoke_stops_the_token(cli, boss, look):
    text = printed_secret(
        cli("tokens", "create", "--user", "boss@example.com", "--name", "ci"), "token"
    )
    token_id = look(lambda: db.session.scalar(sa.select(ApiToken.id)))
    result = cli("tokens", "revoke", str(token_id))
    assert result.stdout == f"revoked token {token_id} (ci, boss@example.com)\n"
    assert look(lambda: tokens.user_for(text, now=utcnow())) is None
    assert "already revoked" in cli("tokens", "revoke", str(token_id)).stdout
    assert [e.actor for e in look(lambda: audit.entries(action="token.revoked"))] == ["cli"]


def test_tokens_revoke_of_an_unknown_token_fails(cli):
    assert_one_line_error(cli("tokens", "revoke", "42"), "no token with id 42")


# audit export


def add_entry(action: str, age: timedelta) -> None:
    with write_transaction():
        audit.record(audit.CLI, action, now=utcnow() - age, summary=action)


def exported(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_audit_export_prints_json_lines_oldest_first(cli, look):
    look(lambda: add_entry("first", timedelta(days=3)))
    look(lambda: add_entry("second", timedelta(hours=1)))
    rows = exported(cli("audit", "export"))
    assert [r["action"] for r in rows] == ["first", "second"]
    assert set(rows[0]) == {
        "id",
        "at",
        "actor",
        "action",
        "target_type",
        "target_id",
        "summary",
        "before",
        "after",
        "ip",
    }


def test_audit_export_since_an_age(cli, look):
    look(lambda: add_entry("old", timedelta(days=3)))
    look(lambda: add_entry("recent", timedelta(hours=1)))
    assert [r["action"] for r in exported(cli("audit", "export", "--since", "24h"))] == ["recent"]
    assert len(exported(cli("audit", "export", "--since", "7d"))) == 2


def test_audit_export_since_a_date(cli, look):
    look(lambda: add_entry("ancient", timedelta(days=800)))
    look(lambda: add_entry("recent", timedelta(hours=1)))
    since = (utcnow() - timedelta(days=30)).date().isoformat()
    assert [r["action"] for r in exported(cli("audit", "export", "--since", since))] == ["recent"]


def test_audit_export_by_action(cli, boss):
    cli("users", "add", "--email", "ann@example.com", "--role", "viewer")
    cli("users", "set-role", "ann@example.com", "editor")
    rows = exported(cli("audit", "export", "--action", "user.role_changed"))
    assert [(r["action"], r["actor"]) for r in rows] == [("user.role_changed", "cli")]


def test_audit_export_reads_a_long_log_in_batches(look):
    def fill():
        with write_transaction():
            for i in range(1203):
                audit.record(audit.CLI, "bulk", now=utcnow(), target_id=i)
        return [int(e.target_id) for e in audit.export(batch=500)]

    assert look(fill) == list(range(1203))


@pytest.mark.parametrize("since", ["yesterday", "7 days", "2026-13-01", "99999999w", "999999w"])
def test_audit_export_with_a_bad_since_fails_in_one_line(cli, since):
    assert_one_line_error(cli("audit", "export", "--since", since), "cannot read", "7d")
