"""RSS and Atom feeds of the status history, for the whole page and for each component."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, request

from statuspage.core import feeds
from statuspage.db import queries
from statuspage.publishing import components as component_service
from statuspage.web.cache import cached

bp = Blueprint("feeds", __name__)

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
#: How many updates a feed carries; readers that poll often never miss one.
FEED_LIMIT = 50


@bp.get("/history.rss")
@cached()
def history_rss() -> Response:
    """Every incident and maintenance update, newest first, as RSS."""
    return _feed(feeds.rss, RSS_TYPE)


@bp.get("/history.atom")
@cached()
def history_atom() -> Response:
    """Every incident and maintenance update, newest first, as Atom."""
    return _feed(feeds.atom, ATOM_TYPE)


@bp.get("/components/<id:component_id>/history.rss")
@cached()
def component_history_rss(component_id: int) -> Response:
    """The updates of incidents that touched one component, as RSS."""
    return _feed(feeds.rss, RSS_TYPE, component_id)


@bp.get("/components/<id:component_id>/history.atom")
@cached()
def component_history_atom(component_id: int) -> Response:
    """The updates of incidents that touched one component, as Atom."""
    return _feed(feeds.atom, ATOM_TYPE, component_id)


def _feed(
    render: Callable[..., bytes], content_type: str, component_id: int | None = None
) -> Response:
    site = current_app.config["STATUSPAGE"].site
    component_name = None
    if component_id is not None:
        component_name = component_service.get_component(component_id).name
    body = render(
        queries.feed_updates(FEED_LIMIT, component_id=component_id),
        site_url=site["url"],
        site_name=site["name"],
        self_url=site["url"] + request.path,
        component_name=component_name,
        postmortems=queries.feed_postmortems(FEED_LIMIT, component_id=component_id),
    )
    return Response(body, content_type=content_type)
