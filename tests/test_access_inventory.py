"""The route inventory: every admin and /api/v1/ route has the access rule listed here, and
every role gets exactly what that rule allows.

A new route fails this suite until it is added to RULES below with the rule it should have.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from statuspage.accounts import tokens
from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.core.roles import Permission, allows
from statuspage.core.serializers import Site
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.web.auth import PUBLIC, SIGNED_IN, access_rule
from tests.support import PASSWORD
from tests.support.auth import csrf_token, signed_in

READ, PUBLISH, MESSAGES, USERS, AUDIT, PLANS = (
    Permission.READ,
    Permission.PUBLISH,
    Permission.MESSAGES,
    Permission.USERS,
    Permission.AUDIT,
    Permission.PLANS,
)

#: Every route of the protected blueprints, with the rule it must declare.
RULES: dict[str, str] = {
    # admin: session
    "admin.login": PUBLIC,
    "admin.logout": SIGNED_IN,
    "admin.password": SIGNED_IN,
    # admin: reading
    "admin.dashboard": READ,
    "admin.incidents": READ,
    "admin.incident": READ,
    "admin.maintenances": READ,
    "admin.maintenance": READ,
    "admin.components": READ,
    "admin.library": READ,
    "admin.library_message": READ,
    "admin.library_version": READ,
    "admin.library_diff": READ,
    # admin: publishing
    "admin.incident_new": PUBLISH,
    "admin.incident_update": PUBLISH,
    "admin.incident_postmortem": PUBLISH,
    "admin.update_correct": PUBLISH,
    "admin.action_item_add": PUBLISH,
    "admin.action_item_edit": PUBLISH,
    "admin.action_item_done": PUBLISH,
    "admin.action_item_reopen": PUBLISH,
    "admin.action_item_delete": PUBLISH,
    "admin.incident_postmortem_markdown": READ,
    "admin.maintenance_new": PUBLISH,
    "admin.maintenance_update": PUBLISH,
    "admin.component_status": PUBLISH,
    # admin: escalations and deliveries
    "admin.incident_acknowledge": PUBLISH,
    "admin.deliveries": READ,
    "admin.delivery": READ,
    "admin.delivery_retry": PUBLISH,
    "admin.channels": READ,
    "admin.channel_test": PUBLISH,
    # admin: alerts in (drafts, alerts; integrations hand out secrets: admins only)
    "admin.draft": READ,
    "admin.draft_publish": PUBLISH,
    "admin.draft_approve": PUBLISH,
    "admin.draft_return": PUBLISH,
    "admin.draft_publish_without_approval": PUBLISH,
    "admin.plans": READ,
    "admin.plan": READ,
    "admin.plan_version": READ,
    "admin.plan_diff": READ,
    "admin.plan_revert": PLANS,
    "admin.draft_dismiss": PUBLISH,
    "admin.alerts": READ,
    "admin.alert": READ,
    "admin.integrations": USERS,
    "admin.integration_create": USERS,
    "admin.integration_revoke": USERS,
    # admin: subscribers (bulk personal data: admins only)
    "admin.subscribers": READ,
    "admin.subscriber_deliveries": READ,
    "admin.subscribers_import": USERS,
    "admin.subscribers_export": USERS,
    "admin.subscriber_remove": USERS,
    # admin: the library
    "admin.library_edit": MESSAGES,
    "admin.library_revert": MESSAGES,
    "admin.library_archive": MESSAGES,
    "admin.library_restore": MESSAGES,
    # admin: one's own API tokens (admins: everyone's)
    "admin.tokens": READ,
    "admin.token_create": READ,
    "admin.token_revoke": READ,
    # admin: users and the audit log
    "admin.users": USERS,
    "admin.user_create": USERS,
    "admin.user_role": USERS,
    "admin.user_disable": USERS,
    "admin.user_enable": USERS,
    "admin.user_password_reset": USERS,
    "admin.audit": AUDIT,
    # admin: reliability reports and their exports
    "admin.reports_page": READ,
    "admin.reports_csv": READ,
    "admin.reports_json": READ,
    # management API
    "api_v1.openapi_document": PUBLIC,
    "api_v1.components": READ,
    "api_v1.set_component": PUBLISH,
    "api_v1.incidents": READ,
    "api_v1.incident": READ,
    "api_v1.create_incident": PUBLISH,
    "api_v1.post_incident_update": PUBLISH,
    "api_v1.resolve_incident": PUBLISH,
    "api_v1.maintenances": READ,
    "api_v1.maintenance": READ,
    "api_v1.report": READ,
    "api_v1.create_maintenance": PUBLISH,
    "api_v1.post_maintenance_update": PUBLISH,
    "api_v1.messages": READ,
    "api_v1.message": READ,
    "api_v1.preview_message": PUBLISH,
    "api_v1.list_drafts": READ,
    "api_v1.draft": READ,
    "api_v1.publish_draft": PUBLISH,
    "api_v1.approve_draft": PUBLISH,
    "api_v1.return_draft": PUBLISH,
    "api_v1.publish_draft_without_approval": PUBLISH,
    "api_v1.plans": READ,
    "api_v1.plan": READ,
    "api_v1.dismiss_draft": PUBLISH,
    "api_v1.list_alerts": READ,
    # the Statuspage-compatible API (/v1/pages/<page id>/...): tokens
    "statuspage_v1.pages": READ,
    "statuspage_v1.page": READ,
    "statuspage_v1.update_page": PUBLISH,
    "statuspage_v1.components": READ,
    "statuspage_v1.component": READ,
    "statuspage_v1.create_component": PUBLISH,
    "statuspage_v1.update_component": PUBLISH,
    "statuspage_v1.delete_component": PUBLISH,
    "statuspage_v1.groups": READ,
    "statuspage_v1.group": READ,
    "statuspage_v1.create_group": PUBLISH,
    "statuspage_v1.update_group": PUBLISH,
    "statuspage_v1.delete_group": PUBLISH,
    "statuspage_v1.incidents": READ,
    "statuspage_v1.unresolved": READ,
    "statuspage_v1.upcoming": READ,
    "statuspage_v1.active_maintenance": READ,
    "statuspage_v1.scheduled": READ,
    "statuspage_v1.incident": READ,
    "statuspage_v1.create_incident": PUBLISH,
    "statuspage_v1.update_incident": PUBLISH,
    "statuspage_v1.delete_incident": PUBLISH,
    "statuspage_v1.update_incident_update": PUBLISH,
    "statuspage_v1.postmortem": READ,
    "statuspage_v1.save_postmortem": PUBLISH,
    "statuspage_v1.publish_postmortem": PUBLISH,
    "statuspage_v1.revert_postmortem": PUBLISH,
    "statuspage_v1.delete_postmortem": PUBLISH,
    "statuspage_v1.templates": READ,
    "statuspage_v1.create_template": MESSAGES,
    "statuspage_v1.list_subscribers": READ,
    "statuspage_v1.count_subscribers": READ,
    "statuspage_v1.get_subscriber": READ,
    "statuspage_v1.create_subscriber": USERS,
    "statuspage_v1.unsubscribe": USERS,
    "statuspage_v1.delete_subscriber": USERS,
    "statuspage_v1.resend_confirmations": USERS,
    "statuspage_v1.resend_confirmation": USERS,
    "statuspage_v1.unsubscribed_subscribers": READ,
    "statuspage_v1.subscribers_by_state": READ,
    "statuspage_v1.reactivate_subscribers": USERS,
    "statuspage_v1.update_subscriber": USERS,
}

PROTECTED_BLUEPRINTS = ("admin", "api_v1", "statuspage_v1")
ROLES = ("anonymous", "viewer", "editor", "admin")
#: Placeholder values for URL parameters: ids point at the sample data (or at nothing).
PLACEHOLDERS = {
    "slug": "placeholder",
    "name": "placeholder",
    # The test site's page id (a wrong one is a 404 before any rule is read).
    "page_id": Site("", "https://status.example.com", "UTC").page_id,
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def protected_rules(app: Flask) -> dict[str, list]:
    """URL rules of the protected blueprints, by endpoint."""
    found: dict[str, list] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] in PROTECTED_BLUEPRINTS:
            found.setdefault(rule.endpoint, []).append(rule)
    return found


def expected_rules(app: Flask) -> dict[str, str]:
    """The inventory entries for the blueprints this app has (the API may be absent)."""
    present = {name for name in app.blueprints if name in PROTECTED_BLUEPRINTS}
    return {e: r for e, r in RULES.items() if e.partition(".")[0] in present}


def test_every_protected_route_declares_an_access_rule(app):
    missing = [
        endpoint
        for endpoint in protected_rules(app)
        if access_rule(app.view_functions[endpoint]) is None
    ]
    assert missing == [], "declare @requires(...) or @public on these views"


def test_every_protected_route_is_in_the_inventory(app):
    unlisted = sorted(set(protected_rules(app)) - set(RULES))
    assert unlisted == [], "add these endpoints, with their rule, to RULES in this file"


def test_the_inventory_lists_no_route_that_is_gone(app):
    assert sorted(set(expected_rules(app)) - set(protected_rules(app))) == []


def test_every_route_declares_the_rule_the_inventory_expects(app):
    declared = {e: access_rule(app.view_functions[e]) for e in protected_rules(app)}
    wrong = {e: (declared[e], RULES[e]) for e in declared if e in RULES and declared[e] != RULES[e]}
    assert wrong == {}, "endpoint: (declared, expected)"


def test_the_admin_blueprint_is_in_the_inventory(app):
    # Guards the guard: the loops above would pass vacuously if the blueprint were renamed.
    assert "admin.dashboard" in protected_rules(app)


def test_an_admin_route_without_a_rule_is_closed(make_app):
    app = make_app()
    # An admin endpoint whose view carries no @requires, as a forgotten decorator leaves it.
    app.add_url_rule("/admin/forgotten", "admin.forgotten", lambda: "open")
    assert app.test_client().get("/admin/forgotten").status_code == 403


# Each role against each route


def allowed(role: str, rule: str) -> bool:
    if rule == PUBLIC:
        return True
    if role == "anonymous":
        return False
    return rule == SIGNED_IN or allows(role, Permission(rule))


PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def url_for_rule(rule) -> str:
    """The rule's URL with numbers (id 1) and placeholder words for its parameters."""

    def value(match: re.Match) -> str:
        converter, name = match.groups()
        return "1" if converter in ("id", "int") else PLACEHOLDERS.get(name, "placeholder")

    return PARAMETER.sub(value, rule.rule)


@pytest.fixture
def world(app, sample, fast_hashing):
    """Sample data, a placeholder user and token with id 1, one user and token per role."""
    now = utcnow()
    with write_transaction():
        # Id 1 belongs to nobody under test, so a POST to .../users/1/... hurts no session.
        placeholder = user_service.create_user(
            "placeholder@example.com", password=PASSWORD, role="viewer", now=now, actor=audit.CLI
        )
        tokens.create(placeholder, "placeholder", now=now)
        bearer = {}
        for role in ROLES[1:]:
            user = user_service.create_user(
                f"{role}@example.com", password=PASSWORD, role=role, now=now, actor=audit.CLI
            )
            bearer[role] = tokens.create(user, "inventory", now=now)[1]
    return bearer


def browser(app, role: str):
    """A client signed in as `role` (its `world` user), or signed out for "anonymous"."""
    return app.test_client() if role == "anonymous" else signed_in(app, role)


def admin_check(app, role: str, rule_name: str, url: str, methods: set[str]) -> list[str]:
    """Request one admin URL as `role`; return what went wrong."""
    client = browser(app, role)
    problems = []
    ok = allowed(role, rule_name)
    if "GET" in methods:
        response = client.get(url)
        to_login = response.status_code == 302 and "/admin/login" in response.headers["Location"]
        if not ok and role == "anonymous" and not to_login:
            problems.append(
                f"GET {url} as anonymous: {response.status_code}, not a sign-in redirect"
            )
        if not ok and role != "anonymous" and response.status_code != 403:
            problems.append(f"GET {url} as {role}: {response.status_code}, expected 403")
        if ok and (response.status_code in (401, 403) or response.status_code >= 500 or to_login):
            problems.append(f"GET {url} as {role}: {response.status_code}, expected access")
    if "POST" in methods:
        token = csrf_token(client, "/admin/login" if role == "anonymous" else "/admin/password")
        response = client.post(url, data={"csrf_token": token})
        expected = 401 if role == "anonymous" else 403
        if not ok and response.status_code != expected:
            problems.append(f"POST {url} as {role}: {response.status_code}, expected {expected}")
        if ok and rule_name != PUBLIC and response.status_code in (401, 403):
            problems.append(f"POST {url} as {role}: {response.status_code}, expected access")
        if ok and response.status_code >= 500:
            problems.append(f"POST {url} as {role} with an empty form: {response.status_code}")
    return problems


def api_check(app, role: str, bearer: dict, rule_name: str, url: str, methods: set[str]):
    """Call one API URL as `role` (anonymous: no token); return what went wrong."""
    client = app.test_client()
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {bearer[role]}"}
    problems = []
    ok = allowed(role, rule_name)
    for method in sorted(methods - {"HEAD", "OPTIONS"}):
        body = {"json": {}} if method in UNSAFE else {}
        response = client.open(url, method=method, headers=headers, **body)
        code = response.status_code
        expected = 401 if role == "anonymous" else 403
        if not ok and code != expected:
            problems.append(f"{method} {url} as {role}: {code}, expected {expected}")
        if ok and (code in (401, 403) or code >= 500):
            problems.append(f"{method} {url} as {role}: {code}, expected access")
    return problems


@pytest.mark.parametrize("endpoint", sorted(RULES))
def test_each_role_gets_what_the_rule_allows(app, world, endpoint):
    rules = protected_rules(app).get(endpoint)
    if rules is None:
        pytest.skip(f"{endpoint} is not registered in this build")
    problems = []
    for rule in rules:
        url = url_for_rule(rule)
        for role in ROLES:
            if endpoint.startswith("admin."):
                problems += admin_check(app, role, RULES[endpoint], url, rule.methods)
            else:
                problems += api_check(app, role, world, RULES[endpoint], url, rule.methods)
    assert problems == [], "\n".join(problems)
