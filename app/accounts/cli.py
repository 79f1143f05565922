"""``flask accounts …``: support actions on user accounts (until the staff console covers them)."""

from __future__ import annotations

import sys

import click
from flask import Blueprint
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import User
from app.extensions import db

bp = Blueprint("accounts_cli", __name__, cli_group="accounts")


def _user(public_id: str) -> User:
    user = db.session.scalar(select(User).where(User.public_id == public_id))
    if user is None:
        click.echo(f"no user {public_id}", err=True)
        sys.exit(1)
    return user


@bp.cli.command("block")
@click.argument("public_id")
@click.option("--reason", required=True, help="Why (kept on the account, shown to staff)")
def block(public_id: str, reason: str) -> None:
    """Block an account: every session is revoked and logins are refused (account_blocked)."""
    revoked = services.block_user(_user(public_id), reason)
    click.echo(f"blocked {public_id}; {revoked} session(s) revoked")


@bp.cli.command("unblock")
@click.argument("public_id")
def unblock(public_id: str) -> None:
    services.unblock_user(_user(public_id))
    click.echo(f"unblocked {public_id}")
