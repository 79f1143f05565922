"""The user's ticket list and the tickets in their data export cost a fixed number of SQL statements.

A ticket shows the number of the order and the id of the job it is about, read through the orders
and generation domains' public code in one batch a kind (``app/support/links.py``): never one read a
ticket. Measured with a few tickets and with many, after a warm-up request; both must cost the same.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.core.crypto import seal_text
from app.core.db import utcnow
from app.generation.models import GenerationJob
from app.orders.models import Order
from app.support.export import tickets_of
from app.support.models import BODY_PURPOSE, SUBJECT_PURPOSE, Ticket, TicketMessage
from tests.sql import statements
from tests.support.conftest import TICKETS, user_id

FEW, MANY = 2, 15  # MANY stays within one page (DEFAULT_LIMIT 20)


def seed_tickets(dbx, owner_id: int, count: int) -> None:
    """``count`` tickets of ``owner_id``, each about an order and a job of theirs, with one message."""

    def add(session):
        now = utcnow()
        for _ in range(count):
            order = Order(out_trade_no="MH" + uuid.uuid4().hex[:24], user_id=owner_id, product_id="hd_result",
                          amount_fen=990, status="fulfilled", created_at=now, expires_at=now + timedelta(minutes=30),
                          paid_at=now)
            job = GenerationJob(user_id=owner_id, style_id="pop_art", status="succeeded", rq_job_id=uuid.uuid4().hex,
                                finished_at=now)
            session.add_all([order, job])
            session.flush()
            ticket = Ticket(user_id=owner_id, category="order_dispute", order_id=order.id, job_id=job.id,
                            subject_ciphertext=seal_text("Charged twice", SUBJECT_PURPOSE))
            session.add(ticket)
            session.flush()
            session.add(TicketMessage(ticket_id=ticket.id, author_kind="user",
                                      body_ciphertext=seal_text("Hello", BODY_PURPOSE)))
        session.commit()

    dbx.run(add)


def list_cost(app, phone) -> tuple[int, list[dict]]:
    with statements(app) as sent:
        response = phone.get(TICKETS)
    assert response.status_code == 200, response.get_json()
    return len(sent), response.get_json()["data"]["tickets"]


def export_cost(app, owner_id: int) -> tuple[int, list[dict]]:
    with app.app_context(), statements(app) as sent:
        exported = tickets_of(owner_id)
    return len(sent), exported


def test_the_ticket_list_and_the_export_cost_the_same_for_few_and_many_tickets(app, alice, dbx):
    alice_id = user_id(dbx, alice)
    alice.get(TICKETS)  # warm-up: the session, caches
    costs = {}
    for size, added in ((FEW, FEW), (MANY, MANY - FEW)):
        seed_tickets(dbx, alice_id, added)
        for kind, (count, shown) in (("list", list_cost(app, alice)), ("export", export_cost(app, alice_id))):
            assert len(shown) == size
            # Every ticket shows its order and job: the links are read, not skipped.
            assert all(t["order_no"] and t["job_id"] for t in shown), shown
            costs[kind, size] = count
    assert costs["list", MANY] == costs["list", FEW], costs
    assert costs["export", MANY] == costs["export", FEW], costs
