"""Staff user lookup: masked by default, one field unmasked with a reason (audited), block and unblock."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.accounts.models import User
from tests.admin.conftest import CLEAR_PHONE, MASKED_PHONE, audit_entries, error_code
from tests.orders.conftest import buy


def public_id_of(dbx) -> str:
    return dbx.one(select(User)).public_id


def set_nickname(phone, nickname: str) -> None:
    response = phone.call("PATCH", "/api/v1/me", json={"nickname": nickname})
    assert response.status_code == 200, response.get_json()


def test_find_by_phone_user_id_and_order_number_masked(uploader, staff, dbx):
    set_nickname(uploader, "Alice Wonder")
    order_no = buy(uploader, "video_pack_5")["data"]["order"]["order_no"]
    public_id = public_id_of(dbx)
    support = staff("support")
    for q, read_as in ((CLEAR_PHONE, ["phone"]), ("+86 138 1111 2222", ["phone"]), (public_id, ["user_id"]),
                       (order_no, ["order_number"])):
        response = support.get("/admin/api/users", query_string={"q": q})
        assert response.status_code == 200, response.get_json()
        data = response.get_json()["data"]
        assert data["searched_as"] == read_as
        [found] = data["users"]
        assert found["id"] == public_id and found["phone"] == MASKED_PHONE
        assert found["nickname"] == "A******" and found["has_wechat"] is True and found["blocked"] is False
        assert found["counts"]["orders"] == 1
        assert CLEAR_PHONE not in response.get_data(as_text=True) and "Wonder" not in response.get_data(as_text=True)
    searches = audit_entries(dbx, "user.search")
    assert len(searches) == 4 and searches[0].details == {"searched_as": ["phone"], "matches": [public_id]}
    assert all(CLEAR_PHONE not in json.dumps(e.details) for e in searches)  # the query is never logged


def test_search_refuses_what_it_cannot_read_and_finds_nobody_honestly(uploader, staff):
    support = staff("support")
    bad = support.get("/admin/api/users", query_string={"q": "alice"})
    assert bad.status_code == 422 and error_code(bad) == "unrecognised_query"
    assert error_code(support.get("/admin/api/users")) == "validation_error"
    nobody = support.get("/admin/api/users", query_string={"q": "13900000000"})
    assert nobody.status_code == 200 and nobody.get_json()["data"]["users"] == []


def test_user_detail_is_masked_and_audited(uploader, staff, dbx):
    public_id = public_id_of(dbx)
    response = staff("privacy_officer").get(f"/admin/api/users/{public_id}")
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["user"]["phone"] == MASKED_PHONE and data["recent_orders"] == []
    assert CLEAR_PHONE not in response.get_data(as_text=True)
    [entry] = audit_entries(dbx, "user.view")
    assert entry.target_id == public_id and entry.staff_username == "s_privacy_officer"
    assert entry.roles == "privacy_officer" and entry.request_id == response.headers["X-Request-ID"]
    missing = staff("support").get("/admin/api/users/" + "0" * 32)
    assert missing.status_code == 404 and error_code(missing) == "user_not_found"


def test_unmask_one_field_with_a_reason_logs_the_reason_not_the_value(uploader, staff, dbx):
    public_id = public_id_of(dbx)
    support = staff("support")
    path = f"/admin/api/users/{public_id}/unmask"
    no_reason = support.post(path, json={"field": "phone"})
    short = support.post(path, json={"field": "phone", "reason": "hm"})
    other_field = support.post(path, json={"field": "openid", "reason": "user called about a refund"})
    assert {no_reason.status_code, short.status_code, other_field.status_code} == {422}
    assert audit_entries(dbx, "user.unmask") == []
    response = support.post(path, json={"field": "phone", "reason": "caller asked to confirm the bound number"})
    assert response.status_code == 200 and response.get_json()["data"] == {"field": "phone", "value": CLEAR_PHONE}
    [entry] = audit_entries(dbx, "user.unmask")
    assert entry.reason == "caller asked to confirm the bound number" and entry.details == {"field": "phone"}
    assert entry.target_id == public_id
    stored = json.dumps({"reason": entry.reason, "details": entry.details, "target": entry.target_id})
    assert CLEAR_PHONE not in stored and "2222" not in stored
    empty = support.post(path, json={"field": "nickname", "reason": "caller asked to confirm the name"})
    assert empty.status_code == 409 and error_code(empty) == "field_empty"
    csrf_less = support.post(path, json={"field": "phone", "reason": "no csrf header here"}, csrf=False)
    assert csrf_less.status_code == 403 and error_code(csrf_less) == "csrf_failed"


def test_block_revokes_the_users_sessions_and_unblock_lifts_it(uploader, staff, dbx):
    public_id = public_id_of(dbx)
    support = staff("support")
    assert uploader.get("/api/v1/me").status_code == 200
    blocked = support.post(f"/admin/api/users/{public_id}/block", json={"reason": "chargeback fraud pattern"})
    assert blocked.status_code == 200, blocked.get_json()
    assert blocked.get_json()["data"]["user"]["blocked"] is True
    assert blocked.get_json()["data"]["user"]["counts"]["active_sessions"] == 0
    assert uploader.get("/api/v1/me").status_code == 401  # the token was revoked at once
    assert uploader.login(expect=403)["error"]["code"] == "account_blocked"
    again = support.post(f"/admin/api/users/{public_id}/block", json={"reason": "chargeback fraud pattern"})
    assert again.status_code == 409 and error_code(again) == "user_already_blocked"
    [entry] = audit_entries(dbx, "user.block")
    assert entry.reason == "chargeback fraud pattern" and entry.target_id == public_id

    lifted = support.post(f"/admin/api/users/{public_id}/unblock", json={"reason": "resolved with the bank"})
    assert lifted.status_code == 200 and lifted.get_json()["data"]["user"]["status"] == "active"
    uploader.login()
    assert uploader.get("/api/v1/me").status_code == 200
    assert [e.reason for e in audit_entries(dbx, "user.unblock")] == ["resolved with the bank"]
    not_blocked = support.post(f"/admin/api/users/{public_id}/unblock", json={"reason": "resolved twice?"})
    assert not_blocked.status_code == 409 and error_code(not_blocked) == "user_not_blocked"


def test_user_endpoints_refuse_anonymous_and_roles_without_the_permission(uploader, staff, anonymous, dbx):
    public_id = public_id_of(dbx)
    reason = {"field": "phone", "reason": "just looking around"}
    assert error_code(anonymous.get(f"/admin/api/users/{public_id}")) == "staff_authentication_required"
    assert anonymous.get(f"/admin/api/users/{public_id}").status_code == 401
    finance = staff("finance")
    for response in (finance.get("/admin/api/users", query_string={"q": CLEAR_PHONE}),
                     finance.get(f"/admin/api/users/{public_id}"),
                     finance.post(f"/admin/api/users/{public_id}/unmask", json=reason),
                     staff("privacy_officer").post(f"/admin/api/users/{public_id}/block", json={"reason": "x" * 10})):
        assert response.status_code == 403 and error_code(response) == "permission_denied"
    assert audit_entries(dbx, "user.view") == [] and audit_entries(dbx, "user.unmask") == []
    assert dbx.one(select(User)).status == "active"
