"""The dashboard, and a sweep over every staff route this package serves: each declares a permission
and refuses anonymous callers and every role that lacks it."""

from __future__ import annotations

import re

import pytest

from app.staff.permissions import ROLE_PERMISSIONS, Role
from tests.admin.conftest import error_code


def test_the_dashboard_gives_the_monitoring_snapshot_and_the_work_waiting(uploader, staff, anonymous):
    ticket = uploader.call("POST", "/api/v1/tickets", json={"category": "other", "subject": "hello",
                                                             "body": "a question"})
    assert ticket.status_code == 201, ticket.get_json()
    for role in Role:  # every role may see it: counts and ages only
        response = staff(role.value).get("/admin/api/dashboard")
        assert response.status_code == 200, (role, response.get_json())
    data = response.get_json()["data"]
    assert {"queues", "jobs", "deletion_backlog", "rights_requests", "alerts"} <= set(data["monitoring"])
    assert data["tickets"] == {"open": 1, "waiting_user": 0}
    assert data["rights_requests"] == {"pending": 0, "overdue": 0}
    assert anonymous.get("/admin/api/dashboard").status_code == 401


def admin_routes(app) -> list[tuple[str, str, object]]:
    from app.admin.blueprints import admin_blueprints

    names = {bp.name for bp in admin_blueprints()}
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in names:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule, app.view_functions[rule.endpoint]))
    return routes


def test_every_route_declares_a_permission(app):
    routes = admin_routes(app)
    assert len(routes) == 14  # 13 + GET /admin/api/labels (the console's names of ids)
    for method, path, view in routes:
        assert path.startswith("/admin/api/"), path
        assert getattr(view, "staff_permission", None) is not None, (method, path)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_route_refuses_a_role_without_its_permission(app, staff, anonymous, role):
    client = staff(role)
    granted = ROLE_PERMISSIONS[Role(role)]
    checked = 0
    for method, path, view in admin_routes(app):
        url = re.sub(r"<[^>]+>", "x" * 32, path)
        assert anonymous.request(method, url, json={}).status_code == 401, (method, url)
        if view.staff_permission in granted:
            continue
        response = client.request(method, url, json={})
        assert response.status_code == 403 and error_code(response) == "permission_denied", (role, method, url)
        checked += 1
    assert checked > 0  # every role lacks some permission this package needs
