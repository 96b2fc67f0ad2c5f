"""The admin dashboard: what needs attention now."""

from __future__ import annotations

from flask import render_template

from ...roles import Permission
from ..auth import requires
from . import bp


@bp.route("/")
@requires(Permission.READ)
def dashboard():
    """Open incidents, upcoming maintenances, recent activity."""
    return render_template("admin/dashboard.html")
