"""The admin console under /admin: every view declares who may use it (see web/auth.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from statuspage.core.roles import Permission, allows
from statuspage.web.auth import current_user, protect_blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
protect_blueprint(bp)

#: The admin menu: (endpoint, label, permission, endpoint prefix(es) that mark it current). API
#: tokens, everyone's own, sit with the account links instead (templates/admin/base.html).
NAV: tuple[tuple[str, str, Permission, str | tuple[str, ...]], ...] = (
    ("admin.dashboard", "Dashboard", Permission.READ, "admin.dashboard"),
    ("admin.alerts", "Alerts", Permission.READ, ("admin.alert", "admin.draft")),
    ("admin.incidents", "Incidents", Permission.READ, "admin.incident"),
    ("admin.maintenances", "Maintenance", Permission.READ, "admin.maintenance"),
    ("admin.components", "Components", Permission.READ, "admin.component"),
    ("admin.library", "Library", Permission.READ, "admin.library"),
    ("admin.plans", "Plans", Permission.READ, "admin.plan"),
    ("admin.deliveries", "Deliveries", Permission.READ, "admin.deliver"),
    ("admin.subscribers", "Subscribers", Permission.READ, "admin.subscriber"),
    ("admin.reports_page", "Reports", Permission.READ, "admin.reports"),
    ("admin.audit", "Audit log", Permission.AUDIT, "admin.audit"),
    ("admin.users", "Users", Permission.USERS, "admin.user"),
    ("admin.integrations", "Integrations", Permission.USERS, "admin.integration"),
)


@bp.app_context_processor
def admin_globals() -> dict:
    """Offer the signed-in user, a permission check and the menu to every template."""

    def can(permission: Permission) -> bool:
        user = current_user()
        return user is not None and allows(user.role, permission)

    def admin_nav() -> list[tuple[str, str, bool]]:
        endpoint = request.endpoint or ""
        return [
            (target, label, endpoint.startswith(prefix))
            for target, label, permission, prefix in NAV
            if target in current_app.view_functions and can(permission)
        ]

    return {"current_user": current_user, "can": can, "admin_nav": admin_nav}


# The view modules register their routes on `bp` when imported.
from statuspage.web.admin import (  # noqa: E402, F401
    accounts,
    action_items,
    audit,
    dashboard,
    escalations,
    incident_figures,
    incidents,
    intake,
    library,
    plans,
    reports,
    session,
    subscribers,
)
