"""Support's personal-data lifecycle: tickets and their messages (subject and bodies encrypted)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import and_, func, select

from app.core.i18n import N_, _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, RetentionClass, SealedColumn
from app.extensions import db

from .models import BODY_PURPOSE, SUBJECT_PURPOSE, Ticket, TicketMessage

_tickets = Ticket.__table__


def holdings(user_id: int) -> list[Holding]:
    count = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.user_id == user_id)) or 0
    days = current_app.config["RETENTION"]["support_tickets"]["days"]
    return [Holding("support_tickets", count, _l("%(days)s days after closing (encrypted)", days=days))]


def export(user_id: int, archive: ExportArchive) -> None:
    from .export import tickets_of

    tickets = tickets_of(user_id)
    archive.add_json("support_tickets.json", "support_tickets", {"tickets": tickets}, records=len(tickets))


def _tickets_due(cutoff: datetime):
    return and_(_tickets.c.status == "closed", _tickets.c.closed_at <= cutoff)


def _sweep_tickets(now: datetime, cutoff: datetime | None, batch_size: int) -> int:
    from app.privacy.retention import REASON, delete_in_batches

    from .services import close_stale_resolved_tickets

    assert cutoff is not None
    close_stale_resolved_tickets(now, batch_size)  # resolved tickets left alone close first (retention starts then)
    return delete_in_batches(_tickets, _tickets_due(cutoff), batch_size, REASON)


def sealed_columns() -> list[SealedColumn]:
    return [SealedColumn(Ticket, "subject_ciphertext", SUBJECT_PURPOSE),
            SealedColumn(TicketMessage, "body_ciphertext", BODY_PURPOSE)]


def lifecycle() -> Lifecycle:
    days = current_app.config["RETENTION"]["support_tickets"]["days"]
    return Lifecycle(
        domain="support", holdings=holdings, export=export, sealed_columns=sealed_columns,
        retention=(RetentionClass("support_tickets", N_("closed support tickets with their messages"), "closing",
                                  "delete", 100, table=_tickets, due=_tickets_due, sweep=_sweep_tickets),),
        processing=(Processing("客服及争议处理", "履行合同所必需（《个人信息保护法》第十三条第二项）",
                               "工单主题与对话（加密保存）、关联的订单号与任务", f"工单关闭后 {days} 天"),))
