"""``flask notices …``: write and send notices from a server shell (the same rules as the console)."""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path

import click
from flask import Blueprint

from app.core.chinatime import BEIJING, format_beijing
from app.core.errors import ApiError
from app.extensions import db
from app.staff import audit

from . import services

bp = Blueprint("notices_cli", __name__, cli_group="notices")


def _moment(value: str | None) -> datetime | None:
    """An ISO date-time; without a zone it is Beijing time."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)


def _fail(exc: ApiError) -> None:
    raise click.ClickException(f"{exc.code}: {exc.message} {exc.details or ''}".strip())


@bp.cli.command("create")
@click.option("--kind", required=True, type=click.Choice(["incident", "company_transfer", "shutdown", "service"]))
@click.option("--title", required=True)
@click.option("--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--audience", required=True, type=click.Choice(["all", "data_class", "users"]))
@click.option("--data-class", type=click.Choice(["uploads", "results", "orders", "phone"]))
@click.option("--since", help="Window start, ISO date-time (Beijing time unless it names a zone)")
@click.option("--until", help="Window end, ISO date-time (Beijing time unless it names a zone)")
@click.option("--user", "users", multiple=True, help="A user id (repeat for several)")
def create(kind, title, body_file, audience, data_class, since, until, users) -> None:
    """Write a notice (a draft); prints its id."""
    draft = services.Draft(kind=kind, title=title, body=body_file.read_text(encoding="utf-8"), audience=audience,
                           data_class=data_class, window_start=_moment(since), window_end=_moment(until),
                           user_ids=tuple(users))
    try:
        notice = services.create(draft, None)
    except ApiError as exc:
        db.session.rollback()
        _fail(exc)
    audit.record("notices.create", "notice", notice.public_id,
                 details={"kind": kind, "audience": audience, "data_class": data_class, "users": len(users)})
    db.session.commit()
    click.echo(notice.public_id)


@bp.cli.command("send")
@click.argument("notice_id")
def send(notice_id: str) -> None:
    """Send a notice (queued for the workers); again: resume an interrupted sending, nobody told twice."""
    try:
        notice = services.find(notice_id, for_update=True)
        before = notice.status
        started = services.send(notice, None, limit_subject=f"cli:{getpass.getuser()}")
    except ApiError as exc:
        db.session.rollback()
        _fail(exc)
    if before != "sent":
        audit.record("notices.send", "notice", notice.public_id, details={"kind": notice.kind, "resumed": not started})
    db.session.commit()
    click.echo(f"{notice.public_id}: {'already sent' if before == 'sent' else 'sending'}")


@bp.cli.command("list")
def list_() -> None:
    """Recent notices with their progress (times in Beijing)."""
    for notice in services.recent():
        p = services.progress(notice)
        click.echo(f"{notice.public_id} {notice.kind:16} {notice.status:7} {format_beijing(notice.created_at)} "
                   f"recipients={p['recipients']} done={p['done']} wechat={p['wechat_sent']} sms={p['sms_sent']} "
                   f"{notice.title}")
