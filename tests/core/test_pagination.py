"""Cursor pagination (app/core/pagination.py): one helper behind every list of the user and staff APIs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.core.openapi import build_document
from app.core.pagination import MAX_LIMIT, InvalidCursor, PageQuery, decode_cursor, encode_cursor, paginate
from app.extensions import db
from app.privacy.models import OperationLog
from tests.support.conftest import TICKETS, logged_in

# Fixed-size catalogues defined in code, not rows that grow: nothing to page.
CATALOGUES = {"/api/v1/styles", "/api/v1/products", "/api/v1/policy/processors"}
# One object whose lists are bounded by the code: the data categories we hold, the consent purposes,
# the policy in effect (its processors and changes).
BOUNDED = {"/api/v1/me/data", "/api/v1/me/consents", "/api/v1/policy/current", "/healthz", "/readyz"}


def open_tickets(phone, count: int) -> list[str]:
    ids = []
    for index in range(count):
        response = phone.call("POST", TICKETS, json={"category": "other", "subject": f"Question {index}",
                                                      "body": "Hello"})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["data"]["id"])
    return ids


def test_pages_walk_the_whole_list_once_in_a_stable_order(client, wechat_sandbox, app, monkeypatch):
    monkeypatch.setitem(app.config, "TICKET_MAX_OPEN_PER_USER", 10)
    alice = logged_in(client, wechat_sandbox, "alice", "13811112222")
    created = open_tickets(alice, 5)
    seen, cursor, pages = [], None, 0
    while True:
        response = alice.get(TICKETS, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        data = response.get_json()["data"]
        assert len(data["tickets"]) <= 2
        seen += [t["id"] for t in data["tickets"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
        if pages == 1:
            open_tickets(alice, 1)  # a row created meanwhile does not shift the pages that follow
    assert seen == list(reversed(created)) and pages == 3
    first = alice.get(TICKETS).get_json()["data"]
    assert len(first["tickets"]) == 6 and first["next_cursor"] is None  # default limit 20


@pytest.mark.parametrize("query, code", [({"cursor": "not-a-cursor"}, "invalid_cursor"),
                                         ({"cursor": encode_cursor(["x", 1])}, "invalid_cursor"),
                                         ({"limit": 0}, "validation_error"),
                                         ({"limit": MAX_LIMIT + 1}, "validation_error")])
def test_a_bad_cursor_or_limit_is_refused(client, wechat_sandbox, query, code):
    alice = logged_in(client, wechat_sandbox, "alice", "13811112222")
    response = alice.get(TICKETS, query_string=query)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code


def test_cursors_carry_times_and_ties_are_broken_by_the_last_column(app_ctx, client, wechat_sandbox):
    assert decode_cursor(encode_cursor([utcnow().replace(microsecond=0), 7]), 2)[1] == 7
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor([True]), 1)
    logged_in(client, wechat_sandbox, "alice", "13811112222")
    from app.accounts.models import User

    user = db.session.scalar(select(User))
    same_time = utcnow() - timedelta(days=1)
    for index in range(5):
        db.session.add(OperationLog(user_id=user.id, action="generate", subject_type="job", subject_id=f"j{index}",
                                    created_at=same_time))
    db.session.commit()
    stmt = select(OperationLog).where(OperationLog.user_id == user.id)
    seen, cursor = [], None
    while True:
        rows, cursor = paginate(stmt, PageQuery(limit=2, cursor=cursor), OperationLog.created_at.desc(),
                                OperationLog.id.desc())
        seen += [row.id for row in rows]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5


def test_every_list_in_the_user_api_is_paged(app):
    with app.app_context():
        document = build_document(app)
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if (not get or path in CATALOGUES or path.endswith("}")
                or "application/json" not in get["responses"]["200"].get("content", {})):
            continue  # one item (its nested lists are its own), or not JSON
        data = get["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
        schema = schemas[data["$ref"].rsplit("/", 1)[1]] if "$ref" in data else data
        lists = [name for name, prop in schema.get("properties", {}).items() if prop.get("type") == "array"]
        if not lists:
            continue
        names = {p["name"] for p in get["parameters"]}
        if path in BOUNDED:
            assert not names & {"limit", "cursor"}, path
            continue
        assert {"limit", "cursor"} <= names and "next_cursor" in schema["properties"], path
