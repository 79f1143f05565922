"""Fixtures for support tickets: logged-in phones, and rows seeded straight into the database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.models import User
from app.core.db import utcnow
from app.generation.models import GenerationJob
from app.orders.models import Order
from app.support.models import Ticket
from tests.accounts.helpers import Db, Phone

TICKETS = "/api/v1/tickets"


@pytest.fixture
def dbx(app) -> Db:
    return Db(app)


def logged_in(client, wechat_sandbox, name: str, phone_number: str | None = None) -> Phone:
    """A WeChat user who has logged in and NOT accepted the privacy policy (tickets must still work)."""
    if phone_number:
        wechat_sandbox.set_user(name, phone=phone_number)
    phone = Phone(client, wechat_sandbox, user=name, device_id=f"device-{name}")
    phone.login()
    if phone_number:
        phone.bind_phone()
    return phone


@pytest.fixture
def alice(client, wechat_sandbox) -> Phone:
    return logged_in(client, wechat_sandbox, "alice", "13811112222")


@pytest.fixture
def bob(app, wechat_sandbox) -> Phone:
    return logged_in(app.test_client(), wechat_sandbox, "bob", "13933334444")


def user_id(dbx: Db, phone: Phone) -> int:
    public_id = phone.get("/api/v1/me").get_json()["data"]["id"]
    return dbx.run(lambda s: s.scalar(select(User.id).where(User.public_id == public_id)))


def seed_order(dbx: Db, owner_id: int, amount_fen: int = 990, status: str = "fulfilled") -> str:
    """A paid order of ``owner_id`` (the payment flow itself is tested in tests/orders)."""
    number = "MH" + uuid.uuid4().hex[:24]

    def add(session):
        now = utcnow()
        session.add(Order(out_trade_no=number, user_id=owner_id, product_id="hd_result", amount_fen=amount_fen,
                          status=status, created_at=now, expires_at=now + timedelta(minutes=30), paid_at=now))
        session.commit()

    dbx.run(add)
    return number


def seed_job(dbx: Db, owner_id: int) -> str:
    job_public_id = uuid.uuid4().hex

    def add(session):
        session.add(GenerationJob(public_id=job_public_id, user_id=owner_id, style_id="pop_art", status="succeeded",
                                  rq_job_id=uuid.uuid4().hex, finished_at=utcnow()))
        session.commit()

    dbx.run(add)
    return job_public_id


def open_ticket(phone: Phone, expect: int = 201, **fields) -> dict:
    body = {"category": "other", "subject": "A question", "body": "How does this work?", **fields}
    response = phone.call("POST", TICKETS, json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()["data" if expect < 300 else "error"]


def set_ticket(dbx: Db, public_id: str, **values) -> None:
    dbx.execute(update(Ticket).where(Ticket.public_id == public_id).values(**values))
