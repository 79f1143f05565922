"""The staff console's lists cost a fixed number of SQL statements, however many rows they show.

Each list reads its rows through the owning domain (orders, support) and what it shows of other
domains (the buyers, the ticket's user, order and job) in batches: one statement a kind, never one a
row. Every page is measured after a warm-up request (the staff session), with a few rows and with
many, and must send exactly as many statements both times. A user search names one account (an id,
a phone number and an order number are each unique), so there the cost must not grow with what the
account holds (its orders in the detail's "recent orders", the counts).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.accounts.models import User, WechatIdentity
from app.core.crypto import seal_text
from app.core.db import utcnow
from app.generation.models import GenerationJob
from app.orders.models import Order
from app.support.models import BODY_PURPOSE, SUBJECT_PURPOSE, Ticket, TicketMessage
from tests.sql import statements

FEW, MANY = 2, 15  # MANY stays within one page (DEFAULT_LIMIT 20)




def seed_buyers(dbx, count: int, *, orders_each: int = 1, tickets: bool = True) -> list[str]:
    """``count`` users, each with a WeChat identity, ``orders_each`` paid orders, a finished job and (if
    ``tickets``) a ticket about the first order and the job with two messages; their public ids."""

    def add(session):
        now = utcnow()
        public_ids = []
        for _ in range(count):
            user = User(phone_masked="138****0000", nickname="Buyer")
            session.add(user)
            session.flush()
            public_ids.append(user.public_id)
            session.add(WechatIdentity(user_id=user.id, appid="wx-test", openid_hash=uuid.uuid4().hex,
                                       openid_ciphertext=seal_text("openid", "wechat.openid")))
            orders = [Order(out_trade_no="MH" + uuid.uuid4().hex[:24].upper(), user_id=user.id, product_id="hd_result",
                            amount_fen=990, status="fulfilled", created_at=now, expires_at=now + timedelta(minutes=30),
                            paid_at=now) for _ in range(orders_each)]
            job = GenerationJob(user_id=user.id, style_id="pop_art", status="succeeded", rq_job_id=uuid.uuid4().hex,
                                finished_at=now)
            session.add_all([*orders, job])
            session.flush()
            if tickets:
                ticket = Ticket(user_id=user.id, category="order_dispute", order_id=orders[0].id, job_id=job.id,
                                subject_ciphertext=seal_text("Charged twice", SUBJECT_PURPOSE))
                session.add(ticket)
                session.flush()
                session.add_all([TicketMessage(ticket_id=ticket.id, author_kind=author,
                                               body_ciphertext=seal_text("Hello", BODY_PURPOSE))
                                 for author in ("user", "staff")])
        session.commit()
        return public_ids

    return dbx.run(add)


def count_statements(app, client, path: str, listed: str, **query) -> tuple[int, int]:
    """(statements sent, rows listed) for one GET of ``path``."""
    with statements(app) as sent:
        response = client.get(path, query_string=query)
    assert response.status_code == 200, response.get_json()
    return len(sent), len(response.get_json()["data"][listed])


def test_the_order_list_costs_the_same_for_few_and_many_orders(app, staff, dbx):
    finance = staff("finance")
    finance.get("/admin/api/orders")  # warm-up: the staff session, caches
    seed_buyers(dbx, FEW, tickets=False)
    few, shown_few = count_statements(app, finance, "/admin/api/orders", "orders")
    seed_buyers(dbx, MANY - FEW, tickets=False)
    many, shown_many = count_statements(app, finance, "/admin/api/orders", "orders")
    assert (shown_few, shown_many) == (FEW, MANY)
    assert many == few, f"{few} statements for {FEW} orders, {many} for {MANY}"


def test_the_ticket_list_costs_the_same_for_few_and_many_tickets(app, staff, dbx):
    support = staff("support")
    support.get("/admin/api/tickets")
    seed_buyers(dbx, FEW)
    few, shown_few = count_statements(app, support, "/admin/api/tickets", "tickets")
    seed_buyers(dbx, MANY - FEW)
    many, shown_many = count_statements(app, support, "/admin/api/tickets", "tickets")
    assert (shown_few, shown_many) == (FEW, MANY)
    assert many == few, f"{few} statements for {FEW} tickets, {many} for {MANY}"


def first_order_of(dbx, public_id: str) -> str:
    return dbx.run(lambda s: s.scalar(select(Order.out_trade_no).join(User, User.id == Order.user_id)
                                      .where(User.public_id == public_id).limit(1)))


def test_user_search_and_detail_cost_the_same_however_much_the_user_holds(app, staff, dbx):
    support = staff("support")
    [light] = seed_buyers(dbx, 1, orders_each=1)
    [heavy] = seed_buyers(dbx, 1, orders_each=MANY)
    seed_buyers(dbx, MANY)  # others in the tables
    support.get("/admin/api/users", query_string={"q": light})
    costs = {}
    for who, public_id in (("light", light), ("heavy", heavy)):
        costs[who, "by_id"] = count_statements(app, support, "/admin/api/users", "users", q=public_id)
        costs[who, "by_order"] = count_statements(app, support, "/admin/api/users", "users",
                                                  q=first_order_of(dbx, public_id))
        with statements(app) as sent:
            detail = support.get(f"/admin/api/users/{public_id}")
        assert detail.status_code == 200, detail.get_json()
        costs[who, "detail"] = (len(sent), len(detail.get_json()["data"]["recent_orders"]))
    assert costs["light", "detail"][1] == 1 and costs["heavy", "detail"][1] == MANY
    assert {costs[who, kind][1] for who in ("light", "heavy") for kind in ("by_id", "by_order")} == {1}
    for kind in ("by_id", "by_order", "detail"):
        assert costs["heavy", kind][0] == costs["light", kind][0], costs
