"""Small helpers shared by the admin views: who is acting, from where, form handling, and the
pages the versioned texts (plans, the message library) share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import flash, render_template, request

from statuspage.core import diffing
from statuspage.db.audit import Actor
from statuspage.db.database import write_transaction
from statuspage.db.models import Message, MessageVersion, Plan, PlanVersion, User
from statuspage.errors import Conflict
from statuspage.web.auth import current_token, current_user


def client_ip() -> str:
    """The address of the client, as the WSGI server saw it."""
    return request.remote_addr or ""


def signed_in_user() -> User:
    """The signed-in user, whom enforce() guarantees on protected routes."""
    user = current_user()
    if user is None:
        raise RuntimeError("no signed-in user")
    return user


def actor() -> Actor:
    """The signed-in user as the actor of a change, with their address."""
    user = signed_in_user()
    token = current_token()
    via = f"api token {token.name}" if token is not None else ""
    return Actor.for_user(user, client_ip(), via=via)


@dataclass(frozen=True)
class Section:
    """An admin section of versioned texts (the plans, the message library), as the pages it
    shares with the other (admin/version_diff.html) name and link it."""

    #: The section's name in page titles and breadcrumbs: "Plans".
    name: str
    #: The section's macros: their `head()` fills the page's head.
    macros: str
    #: The endpoints of the list, of one item and of one version of an item.
    index: str
    item: str
    version: str


def version_diff(
    section: Section,
    item: Plan | Message,
    get_version: Callable[[str, int], PlanVersion | MessageVersion],
) -> str:
    """Two versions of an item side by side (`?a=1&b=3`; default: the last change); an unknown
    version is NotFound, from `get_version`."""
    b = request.args.get("b", type=int) or item.current_version
    a = request.args.get("a", type=int) or max(1, b - 1)
    old = get_version(item.slug, a)
    new = get_version(item.slug, b)
    rows = diffing.side_by_side(old.source, new.source)
    return render_template(
        "admin/version_diff.html",
        section=section,
        item=item,
        old=old,
        new=new,
        rows=rows,
        summary=diffing.summarise(rows),
    )


def revert_version(revert: Callable[[], PlanVersion | MessageVersion], number: int) -> None:
    """Make a new version with the text of version `number` (`revert` does, in a transaction)
    and flash what came of it: the version made, or why there was nothing to revert."""
    try:
        with write_transaction():
            made = revert().number
    except Conflict as exc:
        flash(f"Nothing to revert: {exc.message}.", "warn")
    else:
        flash(f"Saved v{made} with the text of v{number}.", "ok")
