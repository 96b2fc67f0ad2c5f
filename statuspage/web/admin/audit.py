"""The audit log in the admin: who changed what and when, filterable, newest first."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request

from statuspage.clock import utcnow
from statuspage.core.limits import MAX_ID
from statuspage.core.roles import Permission
from statuspage.db import audit as audit_service
from statuspage.errors import ValidationError
from statuspage.web.admin import bp
from statuspage.web.auth import requires

PAGE_SIZE = 50


def pretty_json(value: Any) -> str:
    """Format a before/after snapshot for reading."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@bp.get("/audit")
@requires(Permission.AUDIT)
def audit():
    """Audit entries matching the filters, a page at a time (keyset: `before_id`)."""
    form = {
        key: request.args.get(key, "").strip()[:200]
        for key in ("action", "actor", "target_type", "since")
    }
    before_id = request.args.get("before_id", type=int)
    if before_id is not None and not 0 < before_id <= MAX_ID:
        before_id = None
    since, error = None, None
    if form["since"]:
        tz = ZoneInfo(current_app.config["STATUSPAGE"].site["time_zone"])
        try:
            since = audit_service.parse_since(form["since"], now=utcnow(), tz=tz)
        except ValidationError as exc:
            error = exc.message
    rows = audit_service.entries(
        action=form["action"] or None,
        actor=form["actor"] or None,
        target_type=form["target_type"] or None,
        since=since,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    older_args = {k: v for k, v in form.items() if v and not (k == "since" and error)}
    page = render_template(
        "admin/audit/log.html",
        entries=rows[:PAGE_SIZE],
        form=form,
        actions=audit_service.actions(),
        target_types=audit_service.target_types(),
        older=older,
        older_args=older_args,
        paged=before_id is not None,
        filtered=any(form.values()),
        error=error,
        pretty_json=pretty_json,
    )
    return page, 422 if error else 200
