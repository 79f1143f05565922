"""``flask staff …`` (first admin, listing, break-glass) and ``flask audit verify``.

CLI actions are audit-logged too, under the operator's system account name (``cli:<user>``).
"""

from __future__ import annotations

import sys

import click
from flask import Blueprint

from app.core.errors import ApiError
from app.core.i18n import force_locale
from app.core.pagination import MAX_LIMIT, PageQuery
from app.extensions import db
from app.staff import audit, manage, passwords
from app.staff.permissions import Role

bp = Blueprint("staff_cli", __name__, cli_group="staff")
audit_bp = Blueprint("audit_cli", __name__, cli_group="audit")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@bp.cli.command("create-admin")
@click.argument("username")
@click.option("--role", "roles", multiple=True, default=("admin",), show_default=True,
              type=click.Choice([role.value for role in Role]), help="Role to grant (repeatable)")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin")
def create_admin(username: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create a staff account (by default the first admin); the password is asked for, never an argument."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = passwords.password_problem(password, username)
    if problem:
        with force_locale("en"):  # an operator's terminal: the CLI speaks English
            _fail(f"password too weak: {problem}")
    try:
        staff = manage.create_staff(username, roles, password)
    except ApiError as exc:
        db.session.rollback()
        fields = exc.details.get("fields") or []
        with force_locale("en"):
            _fail(f"{exc.code}: {exc.message}" + "".join(f" ({f['field']}: {f['message']})" for f in fields))
    db.session.commit()
    click.echo(f"created staff {staff.username} with roles {staff.roles}")


@bp.cli.command("list")
def list_staff() -> None:
    """Every staff account: roles, second factor, disabled or locked, last login."""
    accounts, cursor = manage.list_staff(PageQuery(limit=MAX_LIMIT))
    while cursor is not None:  # a terminal lists them all, a page at a time
        more, cursor = manage.list_staff(PageQuery(limit=MAX_LIMIT, cursor=cursor))
        accounts += more
    for staff in accounts:
        state = "disabled" if staff.is_disabled else ("locked" if staff.locked_until else "active")
        click.echo(f"{staff.username}\t{staff.roles}\ttotp={'yes' if staff.totp_enabled else 'no'}\t{state}\t"
                   f"last_login={staff.last_login_at.isoformat() if staff.last_login_at else '-'}")
    audit.record("staff.list", "staff", None)
    db.session.commit()


@bp.cli.command("reset-totp")
@click.argument("username")
@click.option("--reason", required=True, help="Why (kept in the audit log)")
def reset_totp(username: str, reason: str) -> None:
    """Break-glass: remove a staff account's second factor and end its sessions."""
    try:
        staff = manage.get_staff(username)
    except ApiError as exc:
        _fail(f"{exc.code}: {exc.message}")
    manage.reset_totp(staff, reason)
    db.session.commit()
    click.echo(f"second factor of {staff.username} removed; sessions revoked")


@audit_bp.cli.command("verify")
@click.option("--batch", default=1000, show_default=True, help="Entries read per query")
def verify(batch: int) -> None:
    """Check the audit log's hash chain; exits 1 and names the first broken entry if it was tampered with."""
    status = audit.verify_chain(batch)
    if status.ok:
        click.echo(f"audit chain ok: {status.checked} entries")
        return
    click.echo(f"audit chain BROKEN at entry {status.first_broken_id}: {status.problem} "
               f"({status.checked} entries before it are intact)", err=True)
    sys.exit(1)
