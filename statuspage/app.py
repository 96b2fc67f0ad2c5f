"""The application factory: defaults, config file, environment, test overrides, database, web."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flask.logging
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from statuspage import logs
from statuspage.config import Settings, database_uri, load_settings
from statuspage.db import database
from statuspage.resources import PACKAGE_DIR, resource_dir

log = logging.getLogger(__name__)


def create_app(
    config: Mapping[str, Any] | None = None, *, config_file: str | os.PathLike[str] | None = None
) -> Flask:
    """Create the app from built-in defaults, the config file, the environment and `config`."""
    settings = load_settings(config_file, overrides=config, escalation_optional=True)
    instance = Path.cwd() / "instance"
    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(PACKAGE_DIR / "static"),
        instance_path=str(instance),
    )
    configure_flask(app, settings, instance)
    # Flask gives its logger a handler of its own (its format, not [logging] format) when the
    # root logger had none at the moment: the app's lines go through the root's, like the rest.
    app.logger.removeHandler(flask.logging.default_handler)
    # What the web processes log (errors, tracebacks) may quote a webhook URL a subscriber typed.
    logs.install(app.logger.handlers)
    if settings.escalation_error:
        _say_once(f"{settings.escalation_error} (escalation is off until it is fixed)")
    if settings.intake_error:
        _say_once(f"{settings.intake_error} (alerts are recorded, no rule acts until it is fixed)")
    database.init_app(app)

    from statuspage.web import init_app as init_web

    init_web(app)
    return app


def configure_flask(app: Flask, settings: Settings, instance: Path) -> None:
    """Translate settings into Flask's own configuration keys."""
    uri = database_uri(settings.get("database", "url"), Path.cwd())
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    app.config.update(
        STATUSPAGE=settings,
        SECRET_KEY=settings.secret_key or _instance_secret(instance),
        SQLALCHEMY_DATABASE_URI=uri,
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(uri),
        MAX_CONTENT_LENGTH=settings.get("server", "max_request_bytes"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.get("site", "url").startswith("https://"),
        # Static URLs carry a content hash (?v=...), so browsers may keep them for a year.
        SEND_FILE_MAX_AGE_DEFAULT=365 * 24 * 3600,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
    )
    if not isinstance(app.json, DefaultJSONProvider):  # the settings below are its own
        raise TypeError(f"unexpected JSON provider {type(app.json).__name__}")
    app.json.sort_keys = False
    app.json.compact = True


#: What `_say_once` said in this process, and so in the web workers forked from it.
_said: set[str] = set()


def _say_once(warning: str) -> None:
    """Log `warning` unless this process (or the one it was forked from) already did."""
    if warning not in _said:
        _said.add(warning)
        log.warning("%s", warning)


def _instance_secret(instance: Path) -> str:
    """Read the generated secret key, creating it (mode 0600) on first start."""
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
