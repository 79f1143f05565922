"""Every staff route declares a permission and refuses every role that lacks it (policy §7).

The routes are enumerated from the application's URL map, so routes other packages add later under
``/admin/api`` are covered without touching this test. Only the staff's own session endpoints
(login, who am I, logout, TOTP enrolment) need no permission, and they are listed explicitly.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from werkzeug.routing.converters import NumberConverter

from app.staff.auth import STAFF_API_PREFIX
from app.staff.models import AuditEntry, StaffAccount
from app.staff.permissions import ROLE_PERMISSIONS, Permission, Role
from tests.staff.helpers import StaffClient, create_staff, json_of

SESSION_ENDPOINTS = {"staff_session.login", "staff_session.whoami", "staff_session.logout",
                     "staff_session.totp_begin", "staff_session.totp_confirm"}
NO_ROLE = "no_role"


def staff_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route under /admin/api, path values filled with dummies."""
    adapter = app.url_map.bind("localhost", url_scheme="https")
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(STAFF_API_PREFIX + "/") and rule.rule != STAFF_API_PREFIX:
            continue
        values = {name: 1 if isinstance(converter, NumberConverter) else "dummy"
                  for name, converter in rule._converters.items()}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)))
    return routes


def test_the_map_holds_the_staff_core_routes(app):
    endpoints = {endpoint for endpoint, _, _ in staff_routes(app)}
    assert endpoints >= SESSION_ENDPOINTS
    assert {"staff_manage.list_staff", "staff_manage.search_audit", "staff_manage.verify_audit"} <= endpoints


def undeclared_routes(app) -> list[str]:
    undeclared = []
    for endpoint, method, url in staff_routes(app):
        permission = getattr(app.view_functions[endpoint], "staff_permission", "missing")
        if endpoint in SESSION_ENDPOINTS:
            if endpoint != "staff_session.login" and permission is not None:
                undeclared.append(f"{method} {url} ({endpoint}) should be staff_required(None)")
            continue
        if not isinstance(permission, Permission):
            undeclared.append(f"{method} {url} ({endpoint})")
    return undeclared


def test_every_staff_route_declares_a_permission(app):
    undeclared = undeclared_routes(app)
    assert undeclared == [], "staff routes without @staff_required(Permission.…): " + ", ".join(undeclared)


def test_a_route_without_a_permission_would_be_caught():
    from flask import Flask

    from app.staff.auth import staff_required

    probe = Flask("probe")
    probe.add_url_rule("/admin/api/forgotten/<int:item>", "forgotten", lambda item: "")
    probe.add_url_rule("/admin/api/fine", "fine", staff_required(Permission.ORDERS_READ)(lambda: ""))
    assert undeclared_routes(probe) == ["GET /admin/api/forgotten/1 (forgotten)"]


@pytest.fixture
def clients_by_role(app, dbx) -> dict[str, StaffClient]:
    clients = {}
    for role in Role:
        create_staff(app, f"r-{role.value.replace('_', '-')}", [role.value])
        clients[role.value] = StaffClient.login(app, f"r-{role.value.replace('_', '-')}")
    # An account whose roles were all removed (or renamed away) holds no permission at all.
    create_staff(app, "r-none", ["support"])
    dbx.execute(update(StaffAccount).where(StaffAccount.username == "r-none").values(roles=""))
    clients[NO_ROLE] = StaffClient.login(app, "r-none")
    return clients


def test_each_route_refuses_anonymous_callers_and_every_role_without_its_permission(app, dbx, clients_by_role):
    anonymous = StaffClient(app)
    checked, failures = 0, []
    for endpoint, method, url in staff_routes(app):
        if endpoint in SESSION_ENDPOINTS:
            continue
        permission = app.view_functions[endpoint].staff_permission
        kwargs = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
        response = anonymous.request(method, url, **kwargs)
        if response.status_code != 401 or json_of(response)["error"]["code"] != "staff_authentication_required":
            failures.append(f"anonymous {method} {url}: {response.status_code} {json_of(response)}")
        for role, client in clients_by_role.items():
            granted = ROLE_PERMISSIONS.get(Role(role), frozenset()) if role != NO_ROLE else frozenset()
            if permission in granted:
                continue
            response = client.request(method, url, **kwargs)
            body = json_of(response) or {}
            if response.status_code != 403 or body.get("error", {}).get("code") != "permission_denied":
                failures.append(f"{role} {method} {url} ({permission}): {response.status_code} {body}")
            checked += 1
    assert failures == [], "\n".join(failures)
    assert checked >= 10
    # Every refusal is in the audit log, and the sessions are still fine afterwards.
    assert dbx.count(AuditEntry, AuditEntry.action == "staff.permission_denied") == checked
    for client in clients_by_role.values():
        assert client.get("/admin/api/session").status_code == 200


def test_every_permission_is_granted_to_some_role_and_admin_is_not_all_powerful():
    granted = set().union(*ROLE_PERMISSIONS.values())
    assert granted == set(Permission)
    assert ROLE_PERMISSIONS[Role.ADMIN] == {Permission.STAFF_MANAGE, Permission.DASHBOARD_READ}
    assert Permission.ORDERS_REFUND not in ROLE_PERMISSIONS[Role.SUPPORT]
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.AUDIT_READ, Permission.ACCESS_REVIEW,
                                              Permission.DASHBOARD_READ}
