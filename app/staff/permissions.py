"""Roles and the permissions they grant (policy §7: least privilege, role-based access).

A permission names one capability of the staff API; every staff endpoint declares exactly one
(``staff_required(Permission.X)``). A role is a named bundle of permissions matching one job; a staff
account may hold several roles and gets the union. Nothing grants "everything": even ``admin`` only
manages staff accounts and cannot read users, orders or the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    TICKETS_READ = "tickets.read"
    TICKETS_WRITE = "tickets.write"
    USERS_READ = "users.read"  # the masked user view
    USERS_UNMASK = "users.unmask"  # one field at a time, with a stated reason
    USERS_BLOCK = "users.block"
    ORDERS_READ = "orders.read"
    ORDERS_REFUND = "orders.refund"
    RIGHTS_READ = "rights.read"
    RIGHTS_PROCESS = "rights.process"
    AUDIT_READ = "audit.read"
    ACCESS_REVIEW = "access.review"  # §7 periodic access review: list accounts, record a review
    STAFF_MANAGE = "staff.manage"
    DASHBOARD_READ = "dashboard.read"
    NOTICES_SEND = "notices.send"  # write and send notices to users (incidents, transfer, shutdown)


class Role(StrEnum):
    SUPPORT = "support"
    FINANCE = "finance"
    PRIVACY_OFFICER = "privacy_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SUPPORT: frozenset({P.TICKETS_READ, P.TICKETS_WRITE, P.USERS_READ, P.USERS_UNMASK, P.USERS_BLOCK,
                             P.ORDERS_READ, P.DASHBOARD_READ}),
    Role.FINANCE: frozenset({P.ORDERS_READ, P.ORDERS_REFUND, P.TICKETS_READ, P.DASHBOARD_READ}),
    Role.PRIVACY_OFFICER: frozenset({P.RIGHTS_READ, P.RIGHTS_PROCESS, P.USERS_READ, P.USERS_UNMASK,
                                     P.DASHBOARD_READ, P.NOTICES_SEND}),
    Role.AUDITOR: frozenset({P.AUDIT_READ, P.ACCESS_REVIEW, P.DASHBOARD_READ}),
    Role.ADMIN: frozenset({P.STAFF_MANAGE, P.DASHBOARD_READ}),
}
del P


def permissions_for(roles: Iterable[str]) -> frozenset[Permission]:
    """The union of what ``roles`` grant; an unknown role name (e.g. one retired since) grants nothing."""
    granted: set[Permission] = set()
    for name in roles:
        try:
            granted |= ROLE_PERMISSIONS[Role(name)]
        except ValueError:
            continue
    return frozenset(granted)


def roles_granting(permission: Permission) -> list[Role]:
    return [role for role, granted in ROLE_PERMISSIONS.items() if permission in granted]


def join_roles(roles: Iterable[str]) -> str:
    """The stored form: validated, de-duplicated, sorted, comma-separated."""
    return ",".join(sorted({Role(name).value for name in roles}))


def split_roles(stored: str | None) -> list[str]:
    return [name for name in (stored or "").split(",") if name]
