"""The one exception tree of statuspage; the web layer maps it to HTTP in one place.

StatuspageError                 base: a problem we can describe to the user in one line
├── ConfigError                 the configuration is wrong (file, key, what was expected)
├── ValidationError             input was refused (carries the field name)
├── NotAuthenticated            no credentials, or wrong ones (401)
├── NotFound                    the thing asked for does not exist
├── PermissionDenied            the caller may not do this
├── Conflict                    the request clashes with the current state
└── DatabaseUnavailable         the database cannot be reached now (503, try again)
"""

from __future__ import annotations


class StatuspageError(Exception):
    """A problem with a message fit to show to the person who caused it."""

    http_status = 500
    code = "error"
    #: Seconds after which the same request may succeed (sent as Retry-After); None: never.
    retry_after: int | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class ConfigError(StatuspageError):
    """The configuration cannot be used."""

    code = "config_error"


class ValidationError(StatuspageError):
    """Input was refused."""

    http_status = 422
    code = "invalid"


class NotAuthenticated(StatuspageError):
    """The request carries no credentials we accept."""

    http_status = 401
    code = "unauthorized"


class NotFound(StatuspageError):
    """The thing asked for does not exist."""

    http_status = 404
    code = "not_found"


class PermissionDenied(StatuspageError):
    """The caller may not do this."""

    http_status = 403
    code = "forbidden"


class Conflict(StatuspageError):
    """The request clashes with the current state."""

    http_status = 409
    code = "conflict"


class DatabaseUnavailable(StatuspageError):
    """The database cannot be reached (down, restarting, locked): the request may be repeated."""

    http_status = 503
    code = "database_unavailable"
    retry_after = 5

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(
            message or "The database cannot be reached at the moment; try again in a few seconds.",
            field=field,
        )
