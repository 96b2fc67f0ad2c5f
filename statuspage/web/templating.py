"""Template globals and filters: settings, enums, times shown in the site's time zone."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the template helpers."""
