"""statuspage: a status page and customer-communication service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statuspage.app import create_app

__all__ = ["create_app"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the pure core (statuspage.core) does not import Flask.
    if name == "create_app":
        from statuspage.app import create_app

        return create_app
    raise AttributeError(name)
