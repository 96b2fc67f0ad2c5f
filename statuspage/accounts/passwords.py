"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory profile) and generation."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from statuspage.errors import ValidationError

MIN_LENGTH = 12
#: Argon2 accepts any length; a cap keeps a hostile form post from costing more than a login.
MAX_LENGTH = 1024

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return an encoded Argon2id hash of `password` (salt and parameters included)."""
    return _hasher.hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    """Return whether `password` matches `encoded`; with no hash, spend the same time and fail."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        if encoded is None:
            # An unknown account costs as much as a known one: timing does not reveal emails.
            _hasher.verify(_dummy_hash(), password)
            return False
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """Return whether `encoded` was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(encoded)
    except InvalidHashError:
        return True


def generate_password() -> str:
    """Return a random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def check_new_password(password: str) -> str:
    """Return `password` if it is acceptable as a new password, or raise ValidationError."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_LENGTH} characters", field="password"
        )
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"a password has at most {MAX_LENGTH} characters", field="password")
    return password


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
