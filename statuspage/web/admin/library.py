"""Admin views of the message library: browse, read, compare, edit, revert, archive."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from statuspage.clock import utcnow
from statuspage.core import markup, placeholders
from statuspage.core.enums import Impact, IncidentStatus, MaintenanceStatus
from statuspage.core.frontmatter import valid_id
from statuspage.core.library import LibraryError, Problem
from statuspage.core.limits import MAX_SEARCH
from statuspage.core.roles import Permission
from statuspage.db.database import write_transaction
from statuspage.db.models import Message, MessageVersion
from statuspage.errors import Conflict, ValidationError
from statuspage.publishing import library as library_service
from statuspage.web.admin import bp
from statuspage.web.admin.common import Section, actor, revert_version, version_diff
from statuspage.web.auth import requires

# Private-use characters survive Markdown and sanitising untouched and never occur in messages.
_MARK_RE = re.compile("\ue000([0-9]+)\ue001")
_TAG_RE = re.compile(r"(<[^>]*>)")

STATUS_LABELS = {s.value: s.label for s in (*IncidentStatus, *MaintenanceStatus)}
IMPACTS = [i.value for i in Impact]
#: The library pages, for the diff page the library shares with the plans.
SECTION = Section(
    "Library",
    "admin/library/_macros.html",
    "admin.library",
    "admin.library_message",
    "admin.library_version",
)


def _checked(slug: str) -> str:
    """A message id from the URL, or 404: ids are short lower-case words joined by hyphens."""
    if not valid_id(slug):
        abort(404)
    return slug


# -- showing a message ------------------------------------------------------------------------


def title_parts(title: str) -> list[tuple[str, bool]]:
    """Split a title into (text, is_placeholder) parts, so placeholders can be shown as such."""
    parts: list[tuple[str, bool]] = []
    position = 0
    # Stored versions passed the library's checks, so every `{{ ... }}` left is a placeholder.
    for start, end, name in placeholders.scan_line(title)[0]:
        if start > position:
            parts.append((title[position:start], False))
        parts.append((name, True))
        position = end
    if position < len(title):
        parts.append((title[position:], False))
    return parts


def body_preview(body: str, labels: Mapping[str, str]) -> Markup:
    """Render a message body as the public page would, with each placeholder marked."""
    names: list[str] = []

    def stand_in(name: str) -> str:
        names.append(name)
        return f"\ue000{len(names) - 1}\ue001"

    html = markup.render_markdown(placeholders.replace(body, stand_in))
    out = []
    for piece in _TAG_RE.split(html):
        if piece.startswith("<"):
            # Inside a tag (a link's href): plain text, no markup.
            out.append(_MARK_RE.sub(lambda m: str(escape(_braced(names[int(m[1])]))), piece))
        else:
            out.append(_MARK_RE.sub(lambda m: _chip(names[int(m[1])], labels), piece))
    return Markup("".join(out))  # noqa: S704 (sanitised HTML; chips hold escaped names)


def _braced(name: str) -> str:
    return "{{ " + name + " }}"


def _chip(name: str, labels: Mapping[str, str]) -> str:
    label = labels.get(name, "")
    return str(Markup('<span class="ph" title="{}">{}</span>').format(label or name, _braced(name)))


def _labels(version: MessageVersion) -> dict[str, str]:
    return {v["name"]: v.get("label") or v["name"] for v in version.variables or []}


def _text_context(version: MessageVersion) -> dict:
    """What the templates need to show one version's text."""
    return {
        "title_parts": title_parts(version.title),
        "body_html": body_preview(version.body, _labels(version)),
        "status_label": STATUS_LABELS.get(version.status, version.status),
    }


# -- browsing ---------------------------------------------------------------------------------


@bp.route("/library")
@requires(Permission.READ)
def library():
    """The library: search and filter the messages, active or archived."""
    filters = {
        "search": request.args.get("q", "").strip()[:MAX_SEARCH],
        "status": _choice(request.args.get("status", ""), STATUS_LABELS),
        "tag": request.args.get("tag", "").strip()[:MAX_SEARCH],
        "impact": _choice(request.args.get("impact", ""), IMPACTS),
        "archived": request.args.get("archived", "") == "1",
    }
    rows = library_service.list_messages(**filters)
    return render_template(
        "admin/library/list.html",
        rows=rows,
        filters=filters,
        filtered=any(filters[k] for k in ("search", "status", "tag", "impact")),
        tags=library_service.all_tags(),
        statuses=STATUS_LABELS,
        impacts=IMPACTS,
        title_parts=title_parts,
    )


def _choice(value: str, allowed) -> str:
    """A filter value if it is one of `allowed`, else no filter."""
    return value if value in allowed else ""


@bp.route("/library/<slug>")
@requires(Permission.READ)
def library_message(slug: str):
    """One message: its current text, declared variables and version history."""
    message = library_service.get_message(_checked(slug))
    current = library_service.current_version(message)
    return render_template(
        "admin/library/message.html",
        message=message,
        version=current,
        current=current,
        history=list(reversed(message.versions)),
        **_text_context(current),
    )


@bp.route("/library/<slug>/v/<int:number>")
@requires(Permission.READ)
def library_version(slug: str, number: int):
    """One version of a message, current or old."""
    message = library_service.get_message(_checked(slug))
    version = library_service.get_version(slug, number)
    return render_template(
        "admin/library/version.html",
        message=message,
        version=version,
        current=library_service.current_version(message),
        **_text_context(version),
    )


@bp.route("/library/<slug>/diff")
@requires(Permission.READ)
def library_diff(slug: str):
    """Two versions of a message side by side (`?a=1&b=3`; default: the last change)."""
    message = library_service.get_message(_checked(slug))
    return version_diff(SECTION, message, library_service.get_version)


# -- changing ---------------------------------------------------------------------------------


@bp.route("/library/<slug>/edit", methods=["GET", "POST"])
@requires(Permission.MESSAGES)
def library_edit(slug: str):
    """Edit a message's title and body; saving makes a new version with the editor's reason."""
    message = library_service.get_message(_checked(slug))
    current = library_service.current_version(message)
    if request.method == "GET":
        form = {"title": current.title, "body": current.body, "reason": "", "base": current.number}
        return _edit_page(message, current, form)
    base: int = request.form.get("base", type=int) or current.number
    form = {
        "title": request.form.get("title", ""),
        "body": request.form.get("body", ""),
        "reason": request.form.get("reason", ""),
        "base": base,
    }
    try:
        with write_transaction():
            version = library_service.edit(
                slug,
                title=str(form["title"]),
                body=str(form["body"]),
                reason=str(form["reason"]),
                now=utcnow(),
                actor=actor(),
                base=base,
            )
            number = version.number
    except library_service.StaleEdit as exc:
        # Someone saved while this editor typed: saving now would silently undo their change.
        message = library_service.get_message(slug)
        current = library_service.current_version(message)
        form["base"] = current.number
        return _edit_page(message, current, form, error=exc.message, newer=True), 409
    except LibraryError as exc:
        return _refused(slug, form, exc.problems), 422
    except ValidationError as exc:
        return _refused(slug, form, [], error=exc.message, field=exc.field), 422
    except Conflict as exc:
        return _refused(slug, form, [], error=exc.message), 409
    flash(f"Saved as v{number}.", "ok")
    return redirect(url_for("admin.library_message", slug=slug))


def _refused(
    slug: str,
    form: dict,
    problems: list[Problem],
    *,
    error: str | None = None,
    field: str | None = None,
) -> str:
    """The edit form again, with what the editor typed and why it was refused."""
    message = library_service.get_message(slug)  # the failed transaction was rolled back
    current = library_service.current_version(message)
    if problems and error is None:
        error = "The message was not saved: fix the lines below."
    return _edit_page(message, current, form, error=error, field=field, problems=problems)


def _edit_page(
    message: Message,
    current: MessageVersion,
    form: dict,
    *,
    error: str | None = None,
    field: str | None = None,
    problems: list[Problem] | None = None,
    newer: bool = False,
) -> str:
    problems = problems or []
    invalid = {p.path for p in problems} | ({field} if field else set())
    return render_template(
        "admin/library/edit.html",
        message=message,
        current=current,
        form=form,
        error=error,
        invalid=invalid,
        problems=problems,
        newer=newer,
    )


@bp.route("/library/<slug>/v/<int:number>/revert", methods=["POST"])
@requires(Permission.MESSAGES)
def library_revert(slug: str, number: int):
    """Make a new version with the text of version `number`."""
    _checked(slug)
    revert_version(
        lambda: library_service.revert(slug, number, now=utcnow(), actor=actor()), number
    )
    return redirect(url_for("admin.library_message", slug=slug))


@bp.route("/library/<slug>/archive", methods=["POST"])
@requires(Permission.MESSAGES)
def library_archive(slug: str):
    """Archive a message: it stays in history but is no longer offered when composing."""
    return _set_archived(_checked(slug), True)


@bp.route("/library/<slug>/restore", methods=["POST"])
@requires(Permission.MESSAGES)
def library_restore(slug: str):
    """Bring an archived message back into the library."""
    return _set_archived(_checked(slug), False)


def _set_archived(slug: str, archived: bool):
    with write_transaction():
        library_service.set_archived(slug, archived, now=utcnow(), actor=actor())
    flash(f"{slug} is {'archived' if archived else 'back in the library'}.", "ok")
    return redirect(url_for("admin.library_message", slug=slug))
