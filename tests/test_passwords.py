"""Password hashing: Argon2id, salted, verified in constant outcome for unknown accounts."""

import pytest
from argon2 import PasswordHasher

from statuspage.accounts.passwords import (
    MAX_LENGTH,
    check_new_password,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from statuspage.errors import ValidationError


def test_hash_is_argon2id():
    assert hash_password("correct horse battery").startswith("$argon2id$")


def test_hashes_of_one_password_differ_by_salt():
    assert hash_password("correct horse battery") != hash_password("correct horse battery")


def test_verify_accepts_the_right_password():
    assert verify_password(hash_password("correct horse battery"), "correct horse battery")


def test_verify_rejects_a_wrong_password():
    assert not verify_password(hash_password("correct horse battery"), "correct horse batterY")


def test_verify_rejects_a_hash_that_is_not_argon2():
    assert not verify_password("not-a-hash", "correct horse battery")


def test_verify_without_a_hash_fails():
    assert not verify_password(None, "correct horse battery")


def test_verify_refuses_an_overlong_password_without_hashing_it():
    encoded = hash_password("x" * (MAX_LENGTH + 1))
    assert not verify_password(encoded, "x" * (MAX_LENGTH + 1))


def test_needs_rehash_is_false_for_current_parameters():
    assert not needs_rehash(hash_password("correct horse battery"))


def test_needs_rehash_is_true_for_weaker_parameters():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    assert needs_rehash(weak)


def test_generated_passwords_are_long_and_different():
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(len(p) >= 16 for p in passwords)


def test_check_new_password_refuses_a_short_password():
    with pytest.raises(ValidationError, match="at least 12"):
        check_new_password("short")
