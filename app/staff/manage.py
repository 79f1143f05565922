"""Staff account management (``staff.manage``): create, change roles, disable, reset a second factor.

Every change is audit-logged and, when it narrows what an account may do (roles changed, disabled,
TOTP reset), revokes that account's sessions so the change holds at once. Two guards keep a console
from locking itself out: nobody can disable themselves or take away their own admin role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.i18n import _l
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.staff import audit, passwords, sessions
from app.staff.models import StaffAccount
from app.staff.permissions import Role, join_roles
from app.staff.services import normalise_username

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")


class StaffNotFound(NotFound):
    code, message = "staff_not_found", "No staff account with this username."


class UsernameTaken(Conflict):
    code, message = "staff_username_taken", "A staff account with this username already exists."


class CannotDisableSelf(Conflict):
    code, message = "cannot_disable_self", "You cannot disable your own account."


class CannotDemoteSelf(Conflict):
    code, message = "cannot_remove_own_admin", "You cannot remove your own admin role."


def _invalid(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"fields": [
        {"field": field, "location": "body", "message": message, "type": code}]})


def validated_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_PATTERN.match(name):
        raise _invalid("username", "3-32 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
                       "invalid_username")
    return name


def validated_roles(roles: Iterable[str]) -> str:
    roles = list(roles)
    if not roles:
        raise _invalid("roles", "at least one role", "invalid_roles")
    unknown = sorted(set(roles) - {role.value for role in Role})
    if unknown:
        raise _invalid("roles", _l("Unknown role(s): %(roles)s", roles=", ".join(unknown)), "invalid_roles")
    return join_roles(roles)


def get_staff(username: str) -> StaffAccount:
    staff = db.session.scalar(select(StaffAccount).where(StaffAccount.username == normalise_username(username)))
    if staff is None:
        raise StaffNotFound()
    return staff


def list_staff(page: PageQuery | None = None) -> tuple[list[StaffAccount], str | None]:
    """By username (unique), one page (see ``app.core.pagination``)."""
    return paginate(select(StaffAccount), page or PageQuery(), StaffAccount.username)


def create_staff(username: str, roles: Iterable[str], password: str) -> StaffAccount:
    """A new account (caller commits); the password must pass ``passwords.check_strength``."""
    name = validated_username(username)
    stored_roles = validated_roles(roles)
    passwords.check_strength(password, name)
    if db.session.scalar(select(StaffAccount.id).where(StaffAccount.username == name)) is not None:
        raise UsernameTaken()
    staff = StaffAccount(username=name, roles=stored_roles, password_hash=passwords.hash_password(password))
    db.session.add(staff)
    db.session.flush()
    audit.record("staff.create", "staff", name, details={"roles": stored_roles})
    return staff


def update_staff(actor: StaffAccount | None, staff: StaffAccount, *, roles: Iterable[str] | None = None,
                 disabled: bool | None = None, reason: str | None = None) -> StaffAccount:
    """Change roles and/or the disabled flag (caller commits); narrowing changes revoke the sessions."""
    is_self = actor is not None and actor.id == staff.id
    if roles is not None:
        new_roles = validated_roles(roles)
        if is_self and Role.ADMIN in staff.role_list and Role.ADMIN not in new_roles.split(","):
            raise CannotDemoteSelf()
        if new_roles != staff.roles:
            old_roles, staff.roles = staff.roles, new_roles
            revoked = sessions.revoke_all(staff, sessions.RevokeReason.ROLES_CHANGED)
            audit.record("staff.roles_change", "staff", staff.username, reason=reason,
                         details={"from": old_roles, "to": new_roles, "sessions_revoked": revoked})
    if disabled is not None and disabled != staff.is_disabled:
        if disabled:
            if is_self:
                raise CannotDisableSelf()
            staff.disabled_at = utcnow()
            revoked = sessions.revoke_all(staff, sessions.RevokeReason.DISABLED)
            audit.record("staff.disable", "staff", staff.username, reason=reason,
                         details={"sessions_revoked": revoked})
        else:
            staff.disabled_at = None
            staff.failed_attempts = 0
            staff.locked_until = None
            audit.record("staff.enable", "staff", staff.username, reason=reason)
    return staff


def reset_totp(staff: StaffAccount, reason: str | None = None) -> None:
    """Remove the second factor (lost phone): the account's sessions end; it enrols again after login."""
    staff.totp_secret_ciphertext = None
    staff.totp_pending_ciphertext = None
    staff.totp_enabled_at = None
    staff.totp_last_step = None
    revoked = sessions.revoke_all(staff, sessions.RevokeReason.TOTP_RESET)
    audit.record("staff.totp_reset", "staff", staff.username, reason=reason, details={"sessions_revoked": revoked})


def unlock(staff: StaffAccount, reason: str | None = None) -> None:
    staff.failed_attempts = 0
    staff.locked_until = None
    audit.record("staff.unlock", "staff", staff.username, reason=reason)
