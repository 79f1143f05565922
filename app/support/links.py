"""What a ticket shows of the rows it points at in other domains: its user, its order, its job.

The ticket holds only their ids (foreign keys, with their ON DELETE rules: the ticket goes with its user,
the order and job links are set NULL by retention); the owning domains' public reads turn the ids of a
page of tickets into plain data, one batch a kind, so a list never costs a statement a ticket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.accounts import queries as accounts
from app.generation import queries as generation
from app.orders import queries as orders

from .models import Ticket


@dataclass(frozen=True)
class Links:
    users: dict[int, accounts.UserCard]
    orders: dict[int, orders.OrderSummary]
    jobs: dict[int, generation.JobCard]

    def user(self, ticket: Ticket) -> accounts.UserCard:
        return self.users[ticket.user_id]

    def order(self, ticket: Ticket) -> orders.OrderSummary | None:
        return self.orders.get(ticket.order_id) if ticket.order_id is not None else None

    def job(self, ticket: Ticket) -> generation.JobCard | None:
        return self.jobs.get(ticket.job_id) if ticket.job_id is not None else None

    def order_no(self, ticket: Ticket) -> str | None:
        order = self.order(ticket)
        return order.order_no if order else None

    def job_id(self, ticket: Ticket) -> str | None:
        job = self.job(ticket)
        return job.public_id if job else None


def links_of(tickets: Iterable[Ticket], *, users: bool = False) -> Links:
    """The orders and jobs the tickets link to (one statement each, none when no ticket links one) and, with
    ``users`` (the staff side: the user's own side knows who they are), their users' cards (two statements)."""
    tickets = list(tickets)
    return Links(users={c.id: c for c in accounts.cards(t.user_id for t in tickets)} if users else {},
                 orders=orders.summaries(t.order_id for t in tickets),
                 jobs=generation.cards(t.job_id for t in tickets))
