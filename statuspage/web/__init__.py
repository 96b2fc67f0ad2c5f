"""The web layer: blueprints, URL converters, error pages, security headers, template helpers."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

# Primary keys are INTEGER columns: PostgreSQL refuses (500) a larger number in a query.
from statuspage.core.limits import MAX_ID


class IdConverter(BaseConverter):
    """A database id: ASCII digits only, within a 32-bit integer (anything else is a 404)."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    """Register converters, blueprints, error handlers and per-response hooks."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.strict_slashes = False

    from statuspage.web import (
        ack,
        api,
        cache,
        compression,
        csrf,
        errors,
        feeds,
        public,
        security,
        templating,
    )

    templating.init_app(app)
    cache.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    compression.init_app(app)
    errors.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ack.bp)

    from statuspage.web import admin, intake, subscribe
    from statuspage.web.api_v1 import routes as api_v1
    from statuspage.web.statuspage_v1 import routes as statuspage_v1

    app.register_blueprint(admin.bp)
    app.register_blueprint(intake.bp)
    app.register_blueprint(api_v1.bp)
    app.register_blueprint(statuspage_v1.bp)
    app.register_blueprint(subscribe.bp)
    _observed(app)
    _behind_proxies(app)


def _observed(app: Flask) -> None:
    """Serve /metrics; give every request an id, a line in the access log and its metrics."""
    from statuspage.web import metrics, observe

    metrics.init_app(app)
    observe.init_app(app)  # wraps the fast path: inside the proxy layer, outside everything else


def _behind_proxies(app: Flask) -> None:
    """Wrap everything (the fast path included) in the proxy layer: it must be outermost."""
    from statuspage.delivery.netguard import parse_networks
    from statuspage.web.proxy import ProxyHeaders

    trusted = parse_networks(app.config["STATUSPAGE"].server["trusted_proxies"])
    app.wsgi_app = ProxyHeaders(app.wsgi_app, trusted)  # type: ignore[method-assign]
