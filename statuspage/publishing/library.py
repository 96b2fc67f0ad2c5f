"""The message library in the database: immutable versions, sync from files, edit, revert."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from statuspage.core import library, limits
from statuspage.core.frontmatter import id_for, valid_id
from statuspage.db import audit
from statuspage.db.extensions import db
from statuspage.db.models import Message, MessageVersion
from statuspage.errors import Conflict, NotFound, ValidationError


@dataclass
class SyncReport:
    """What a sync changed: (slug, version number) pairs per kind of change."""

    created: list[tuple[str, int]] = field(default_factory=list)
    updated: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.archived or self.restored)

    def lines(self) -> list[str]:
        """One line per change, for the CLI."""
        out = [f"new      {slug} v{n}" for slug, n in self.created]
        out += [f"updated  {slug} v{n}" for slug, n in self.updated]
        out += [f"restored {slug}" for slug in self.restored]
        out += [f"archived {slug} (its file is gone)" for slug in self.archived]
        return out


@lru_cache(maxsize=512)
def _parse(source: str, slug: str) -> library.Message:
    return library.parse_message(source, f"{slug}.md")


def as_message(version: MessageVersion) -> library.Message:
    """The domain message of a stored version (parsed once per distinct text)."""
    return _parse(version.source, version.message.slug)


def _version_row(
    message: Message,
    parsed: library.Message,
    number: int,
    *,
    now: datetime,
    actor: audit.Actor,
    reason: str,
) -> MessageVersion:
    return MessageVersion(
        message=message,
        number=number,
        title=parsed.title,
        body=parsed.body,
        status=parsed.status.value,
        impact=parsed.impact.value if parsed.impact else "",
        tags=list(parsed.tags),
        variables=[
            {
                "name": v.name,
                "label": v.label,
                "required": v.required,
                "default": v.default,
                "choices": list(v.choices),
                "help": v.help,
            }
            for v in parsed.variables.values()
        ],
        source=parsed.source,
        content_hash=parsed.content_hash,
        author=actor.user,
        reason=reason,
        created_at=now,
    )


def _add_version(
    message: Message,
    parsed: library.Message,
    *,
    now: datetime,
    actor: audit.Actor,
    reason: str,
    action: str,
) -> MessageVersion:
    """Append a new immutable version and make it current."""
    latest = db.session.scalar(
        sa.select(sa.func.max(MessageVersion.number)).where(MessageVersion.message_id == message.id)
    )
    number = (latest or 0) + 1
    version = _version_row(message, parsed, number, now=now, actor=actor, reason=reason)
    db.session.add(version)
    message.current_version = number
    message.updated_at = now
    db.session.flush()
    audit.record(
        actor,
        action,
        now=now,
        target_type="message",
        target_id=message.slug,
        summary=f"{message.slug} v{number}" + (f": {reason}" if reason else ""),
        after={"version": number, "content_hash": parsed.content_hash},
    )
    return version


def free_slug(name: str, *, prefix: str = "") -> str:
    """A message id made from a name (with `prefix`) that no message has yet: "db-slow",
    then "db-slow-2"."""
    base = (prefix + id_for(name)[: limits.MAX_MESSAGE_ID - len(prefix) - 8]).strip("-")
    base = base or "template"
    taken = set(db.session.scalars(sa.select(Message.slug).where(Message.slug.startswith(base))))
    slug, number = base, 1
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    return slug


def create_message(
    slug: str,
    *,
    title: str,
    body: str,
    status: str,
    impact: str | None,
    now: datetime,
    actor: audit.Actor,
    tags: Iterable[str] = (),
    reason: str = "",
) -> MessageVersion:
    """Add a new message to the library (version 1), checked as a message file would be; a
    slug already taken is a Conflict."""
    if not valid_id(slug):
        raise ValidationError(
            f"{slug!r} cannot be a message id: lowercase letters, digits and dashes, at most "
            f"{limits.MAX_MESSAGE_ID} characters",
            field="slug",
        )
    if db.session.scalar(sa.select(Message.id).filter_by(slug=slug)) is not None:
        raise Conflict(f"a message called {slug!r} exists already", field="slug")
    parsed = library.make_message(
        id=slug, title=title, status=status, impact=impact, tags=tags, variables=(), body=body
    )
    return _new_message(parsed, now=now, actor=actor, reason=reason)


def _new_message(
    parsed: library.Message, *, now: datetime, actor: audit.Actor, reason: str
) -> MessageVersion:
    message = Message(slug=parsed.id, current_version=0, created_at=now, updated_at=now)
    db.session.add(message)
    db.session.flush()
    return _add_version(
        message, parsed, now=now, actor=actor, reason=reason, action="message.created"
    )


def current_version(message: Message) -> MessageVersion:
    """The version PMs pick from now."""
    for version in message.versions:
        if version.number == message.current_version:
            return version
    raise NotFound(f"message {message.slug} has no version {message.current_version}")


class StaleEdit(Conflict):
    """A message was saved by someone else since the editor opened it."""

    def __init__(self, current: MessageVersion, base: int) -> None:
        who = current.author.email if current.author is not None else "someone"
        super().__init__(
            f"v{current.number} was saved by {who} while you were editing v{base}. "
            "Your text is kept below: compare, then save again to replace it."
        )
        self.current = current


def _locked(slug: str) -> Message:
    """The message and its versions, read afresh and locked until the write transaction ends
    (FOR UPDATE on PostgreSQL; SQLite's write transaction holds the database's write lock)."""
    message = db.session.scalar(
        sa.select(Message)
        .where(Message.slug == slug)
        .with_for_update(of=Message)
        .options(selectinload(Message.versions))
        .execution_options(populate_existing=True)
    )
    if message is None:
        raise NotFound(f"no message with id {slug!r}")
    return message


def get_message(slug: str) -> Message:
    """Return a message by its id (slug), or raise NotFound."""
    message = db.session.scalar(
        sa.select(Message).where(Message.slug == slug).options(selectinload(Message.versions))
    )
    if message is None:
        raise NotFound(f"no message with id {slug!r}")
    return message


def get_version(slug: str, number: int) -> MessageVersion:
    """Return one version of a message, or raise NotFound."""
    message = get_message(slug)
    for version in message.versions:
        if version.number == number:
            return version
    raise NotFound(f"message {slug!r} has no version {number}")


def list_messages(
    *,
    search: str = "",
    status: str = "",
    tag: str = "",
    impact: str = "",
    archived: bool = False,
) -> list[tuple[Message, MessageVersion]]:
    """Messages with their current version, filtered, sorted by id."""
    query = (
        sa.select(Message, MessageVersion)
        .join(
            MessageVersion,
            sa.and_(
                MessageVersion.message_id == Message.id,
                MessageVersion.number == Message.current_version,
            ),
        )
        .order_by(Message.slug)
    )
    query = query.where(
        Message.archived_at.is_not(None) if archived else Message.archived_at.is_(None)
    )
    if status:
        query = query.where(MessageVersion.status == status)
    if impact:
        query = query.where(MessageVersion.impact == impact)
    if search.strip():
        # autoescape: a '%' or '_' typed in the search box is matched as itself, not as a wildcard.
        term = search.strip().lower()
        query = query.where(
            sa.or_(
                sa.func.lower(Message.slug).contains(term, autoescape=True),
                sa.func.lower(MessageVersion.title).contains(term, autoescape=True),
                sa.func.lower(MessageVersion.body).contains(term, autoescape=True),
            )
        )
    rows = [(m, v) for m, v in db.session.execute(query).all()]
    if tag:
        # Tags are a JSON list; a handful of messages makes filtering here the simple way.
        rows = [(m, v) for m, v in rows if tag in (v.tags or [])]
    return rows


def all_tags() -> list[str]:
    """Every tag used by a current version, sorted."""
    tags: set[str] = set()
    for _, version in list_messages():
        tags.update(version.tags or [])
    return sorted(tags)


def sync_directory(
    path: str | os.PathLike[str], *, now: datetime, actor: audit.Actor = audit.CLI
) -> SyncReport:
    """Load a directory of message files: new versions where the content hash changed.

    Nothing is loaded when any file has a problem (raises library.LibraryError with all of
    them). Messages whose file is gone are archived; a file that comes back restores them.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise ValidationError(f"{directory}: not a directory")
    parsed, problems = library.check_directory(directory)
    if problems:
        raise library.LibraryError(problems)
    existing = {
        m.slug: m
        for m in db.session.scalars(sa.select(Message).options(selectinload(Message.versions)))
    }
    report = SyncReport()
    for item in sorted(parsed, key=lambda m: m.id):
        message = existing.get(item.id)
        if message is None:
            version = _new_message(item, now=now, actor=actor, reason="sync")
            report.created.append((item.id, version.number))
            continue
        if message.archived_at is not None:
            message.archived_at = None
            report.restored.append(item.id)
            audit.record(
                actor,
                "message.restored",
                now=now,
                target_type="message",
                target_id=item.id,
                summary=f"{item.id}: file is back",
            )
        if current_version(message).content_hash == item.content_hash:
            report.unchanged.append(item.id)
            continue
        version = _add_version(
            message, item, now=now, actor=actor, reason="sync", action="message.version"
        )
        report.updated.append((item.id, version.number))
    seen = {m.id for m in parsed}
    for slug, message in sorted(existing.items()):
        if slug not in seen and message.archived_at is None:
            message.archived_at = now
            report.archived.append(slug)
            audit.record(
                actor,
                "message.archived",
                now=now,
                target_type="message",
                target_id=slug,
                summary=f"{slug}: file removed",
            )
    return report


def edit(
    slug: str,
    *,
    title: str,
    body: str,
    reason: str,
    now: datetime,
    actor: audit.Actor,
    base: int | None = None,
) -> MessageVersion:
    """Save an edited title and body as a new version, with the editor's reason.

    `base` is the version the editor started from: if another was saved since, StaleEdit (409)
    and nothing is saved, so nobody silently undoes someone else's change.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError("say why you changed the message", field="reason")
    message = _locked(slug)
    current = current_version(message)
    if base is not None and base != current.number:
        raise StaleEdit(current, base)
    edited = library.edit_message(as_message(current), title=title, body=body)
    if edited.content_hash == current.content_hash:
        raise Conflict("nothing changed: the text is the same as the current version")
    return _add_version(
        message, edited, now=now, actor=actor, reason=reason, action="message.edited"
    )


def revert(
    slug: str, number: int, *, now: datetime, actor: audit.Actor, reason: str = ""
) -> MessageVersion:
    """Make a new version whose text is that of version `number`."""
    message = _locked(slug)
    old = get_version(slug, number)
    if old.content_hash == current_version(message).content_hash:
        raise Conflict(f"version {number} is already the current text")
    text = f"revert to v{number}" + (f": {reason.strip()}" if reason.strip() else "")
    return _add_version(
        message, as_message(old), now=now, actor=actor, reason=text, action="message.reverted"
    )


def set_archived(slug: str, archived: bool, *, now: datetime, actor: audit.Actor) -> Message:
    """Archive a message (hidden from composing) or restore it."""
    message = get_message(slug)
    if archived == (message.archived_at is not None):
        return message
    message.archived_at = now if archived else None
    audit.record(
        actor,
        "message.archived" if archived else "message.restored",
        now=now,
        target_type="message",
        target_id=slug,
        summary=slug,
    )
    return message


def export_directory(path: str | os.PathLike[str]) -> list[Path]:
    """Write the current version of every active message as `<id>.md`; return the paths."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for message, version in list_messages():
        target = directory / f"{message.slug}.md"
        target.write_text(version.source, encoding="utf-8")
        written.append(target)
    return written


def versions_for_text(title: str, body: str, status: str) -> list[tuple[str, int]]:
    """The messages (slug, version) whose current version has this title, body and status."""
    rows = db.session.execute(
        sa.select(Message.slug, MessageVersion.number)
        .join(MessageVersion, MessageVersion.message_id == Message.id)
        .where(
            MessageVersion.number == Message.current_version,
            MessageVersion.title == title,
            MessageVersion.body == body,
            MessageVersion.status == status,
        )
    )
    return [(slug, number) for slug, number in rows]


def versions_for(slugs: Iterable[str]) -> dict[str, MessageVersion]:
    """Current versions by slug, for the compose form."""
    return {m.slug: v for m, v in list_messages() if m.slug in set(slugs)}
