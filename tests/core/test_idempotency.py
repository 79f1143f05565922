"""Idempotency-Key (app/core/idempotency.py), driven through a real creating endpoint: support tickets.

The other creating endpoints (orders, jobs, uploads, exports, deletion requests) are checked in their
own domains' tests; the concurrent case runs against PostgreSQL, where it matters.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.idempotency import IdempotencyKey, purge_expired
from app.extensions import db
from app.support.models import Ticket
from tests.conftest import all_at_once
from tests.support.conftest import TICKETS, logged_in

BODY = {"category": "account", "subject": "Cannot log in", "body": "It says my code is wrong."}


@pytest.fixture
def alice(client, wechat_sandbox):
    return logged_in(client, wechat_sandbox, "alice", "13811112222")


@pytest.fixture
def dbx(app):
    from tests.accounts.helpers import Db

    return Db(app)


def post(phone, key: str | None, body: dict = BODY, path: str = TICKETS):
    headers = dict(phone.headers())
    if key is not None:
        headers["Idempotency-Key"] = key
    return phone.client.post(path, json=body, headers=headers)


def test_the_same_key_and_body_answer_the_first_response_without_a_second_ticket(alice, dbx):
    first = post(alice, "k-1")
    again = post(alice, "k-1", dict(reversed(list(BODY.items()))))  # the same JSON, keys in another order
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert dbx.count(Ticket) == 1
    stored = dbx.run(lambda s: s.scalar(select(IdempotencyKey.body_ciphertext)))
    assert b"Cannot log in" not in stored and b"wrong" not in stored  # the kept answer is encrypted at rest
    assert post(alice, "k-2").status_code == 201 and dbx.count(Ticket) == 2  # a new key: new work
    assert post(alice, None).status_code == 201 and post(alice, None).status_code == 201  # no key: as before
    assert dbx.count(Ticket) == 4


def test_the_same_key_with_another_body_or_endpoint_is_refused(alice, dbx):
    assert post(alice, "k-1").status_code == 201
    reused = post(alice, "k-1", {**BODY, "subject": "Something else"})
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "idempotency_key_reused"
    ticket_id = alice.get(TICKETS).get_json()["data"]["tickets"][0]["id"]
    other = post(alice, "k-1", {"body": "hello"}, path=f"{TICKETS}/{ticket_id}/messages")
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert dbx.count(Ticket) == 1


def test_keys_belong_to_one_user(alice, client, wechat_sandbox, dbx):
    bob = logged_in(client, wechat_sandbox, "bob", "13833334444")
    mine, theirs = post(alice, "shared-key"), post(bob, "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["data"]["id"] != theirs.get_json()["data"]["id"]
    assert dbx.count(Ticket) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "中文"])
def test_a_malformed_key_is_refused(alice, dbx, key):
    headers = {**alice.headers(), "Idempotency-Key": key.encode().decode("latin-1")}
    response = alice.client.post(TICKETS, json=BODY, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert dbx.count(Ticket) == 0


def test_a_key_expires_after_the_configured_time_and_the_sweep_forgets_it(app, alice, dbx):
    assert post(alice, "k-1").status_code == 201
    ttl = app.config["IDEMPOTENCY_KEY_TTL_S"]
    dbx.run(lambda s: (s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(seconds=ttl + 1))),
                       s.commit()))
    again = post(alice, "k-1", {**BODY, "subject": "A new question"})  # expired: the key is free again
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert dbx.count(Ticket) == 2 and dbx.count(IdempotencyKey) == 1
    with app.app_context():
        assert purge_expired(utcnow() + timedelta(seconds=ttl + 1)) == 1
        db.session.commit()
    assert dbx.count(IdempotencyKey) == 0


def test_a_refusal_that_changed_nothing_is_not_kept(alice, dbx):
    refused = post(alice, "k-1", {**BODY, "order_no": "MH000000000000000000000000"})
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "order_not_found"
    assert dbx.count(IdempotencyKey) == 0  # rolled back with the request: a retry does the work
    assert post(alice, "k-1").status_code == 201 and dbx.count(Ticket) == 1


def test_a_duplicate_of_a_request_still_running_waits_then_answers_409(app, alice, dbx, monkeypatch):
    assert post(alice, "k-1").status_code == 201
    # As a first request that committed its work but not yet its answer would leave the key:
    dbx.run(lambda s: (s.execute(update(IdempotencyKey).values(status=None, content_type=None, body_ciphertext=None)),
                       s.commit()))
    monkeypatch.setitem(app.config, "IDEMPOTENCY_WAIT_S", 0.2)
    waiting = post(alice, "k-1")
    assert waiting.status_code == 409 and waiting.get_json()["error"]["code"] == "idempotency_key_in_progress"
    assert waiting.headers["Retry-After"] == "1"
    assert dbx.count(Ticket) == 1 and dbx.count(IdempotencyKey) == 1


@pytest.mark.postgres
def test_twenty_concurrent_duplicates_make_exactly_one_ticket(app, alice, dbx):
    def send(index: int):
        response = app.test_client().post(TICKETS, json=BODY, headers={**alice.headers(), "Idempotency-Key": "burst"})
        return response.status_code, response.get_json()

    answers = all_at_once(20, send)
    assert dbx.count(Ticket) == 1 and dbx.count(IdempotencyKey) == 1
    assert {status for status, _ in answers} == {201}
    assert len({body["data"]["id"] for _, body in answers}) == 1
