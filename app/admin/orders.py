"""Orders for finance staff: listing, one order's history, and refunds on the user's behalf.

The order rules (paid, within ``REFUND_WINDOW_DAYS``, the amount left) are the orders domain's
(``app.orders.refunds``); what the console adds is checked here: the support ticket a refund answers
(if any) was opened by the same buyer.
"""

from __future__ import annotations

from app.core.errors import Conflict, NotFound
from app.support import queries as tickets


class TicketNotFound(NotFound):
    code, message = "ticket_not_found", "No such support ticket."


class TicketOfAnotherBuyer(Conflict):
    code, message = "ticket_mismatch", "That ticket was not opened by this order's buyer."


def check_ticket(ticket_id: str, buyer_id: int | None) -> None:
    """The ticket exists and was opened by ``buyer_id`` (an order of a cancelled account matches no ticket)."""
    opener = tickets.opener_of(ticket_id)
    if opener is None:
        raise TicketNotFound()
    if buyer_id is None or opener != buyer_id:
        raise TicketOfAnotherBuyer()
