"""What we hold, deleting categories, cancelling the account (policy §8)."""

from datetime import UTC, date, datetime

from sqlalchemy import String, func, select

from app.accounts.models import User, WechatIdentity
from app.core.chinatime import add_working_days, beijing_date
from app.core.objects import StoredObject
from app.extensions import db
from app.orders.models import Order
from app.privacy.models import DeletionReceipt
from tests.accounts.conftest import sms_code
from tests.accounts.helpers import Phone
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, pay, wait_for_order


def seed_everything(phone, jpeg, app, wechat_sandbox) -> dict:
    """A user with data in every domain: upload, job, result, paid order, logs, receipts."""
    job = start_job(phone, "pop_art", upload_ids(phone, jpeg))["data"]
    run_generation_queue(app)
    result_id = phone.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["results"][0]["id"]
    phone.get(f"/api/v1/results/{result_id}/links")
    order = buy(phone, "hd_result", result_id)["data"]
    pay(wechat_sandbox, order)
    wait_for_order(phone, order["order"]["order_no"], "fulfilled")
    pending = upload_ids(phone, jpeg)[0]  # one more upload, not yet used
    return {"job": job["id"], "result": result_id, "order": order["order"]["order_no"], "upload": pending}


def test_what_we_hold(uploader, sample_jpeg, app, wechat_sandbox):
    seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    data = uploader.get("/api/v1/me/data").get_json()["data"]
    counts = {c["name"]: c["count"] for c in data["categories"]}
    assert counts["results"] == 1 and counts["orders"] == 1 and counts["uploads"] == 1
    assert counts["deletion_receipts"] == 1  # the job's source photo
    assert data["profile"]["phone_masked"] == "138****2222"
    assert all(c["retention"] for c in data["categories"])


def test_deleting_categories_now_with_a_due_date(uploader, sample_jpeg, app, wechat_sandbox, dbx):
    ids = seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    response = uploader.call("POST", "/api/v1/me/deletion-requests", json={"categories": ["results", "operation_logs"]})
    assert response.status_code == 201
    request = response.get_json()["data"]
    assert request["status"] == "completed"
    assert (datetime.fromisoformat(request["due_at"]) - datetime.fromisoformat(request["created_at"])).days >= 15 + 4
    job = uploader.get(f"/api/v1/jobs/{ids['job']}").get_json()["data"]
    assert job["results"] == []
    assert dbx.count(StoredObject, StoredObject.kind.like("result_%"), StoredObject.wrapped_key.is_not(None)) == 0
    assert uploader.get("/api/v1/me/deletion-requests").get_json()["data"]["requests"][0]["id"] == request["id"]
    bad = uploader.call("POST", "/api/v1/me/deletion-requests", json={"categories": ["everything"]})
    assert bad.status_code == 422


def test_working_days_skip_weekends_and_holidays_and_count_makeup_days(app_ctx):
    # More in tests/core/test_chinatime.py. Thursday 2026-09-24: Friday 25th starts the Mid-Autumn holiday
    # (25-27), Monday 28th is a working day; Sunday 2026-09-20 was a make-up working day (调休).
    thursday = datetime(2026, 9, 24, 2, tzinfo=UTC)
    assert beijing_date(add_working_days(thursday, 1)) == date(2026, 9, 28)
    saturday = datetime(2026, 9, 19, 2, tzinfo=UTC)
    assert beijing_date(add_working_days(saturday, 1)) == date(2026, 9, 20)


def scan_for(values: set[str], user_id: int) -> list[str]:
    """Every row of every table that still names the user or holds one of ``values``."""
    found = []
    for table in db.metadata.sorted_tables:
        if "user_id" in table.c:
            n = db.session.scalar(select(func.count()).select_from(table).where(table.c.user_id == user_id))
            if n:
                found.append(f"{table.name}.user_id x{n}")
        for column in table.c:
            if isinstance(column.type, String):
                n = db.session.scalar(select(func.count()).select_from(table).where(column.in_(values)))
                if n:
                    found.append(f"{table.name}.{column.name} x{n}")
    return found


def test_cancelling_the_account_leaves_no_personal_data(uploader, sample_jpeg, app, wechat_sandbox, client, dbx):
    ids = seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    user = dbx.one(select(User))
    identity = dbx.one(select(WechatIdentity))
    old_token = uploader.token
    assert uploader.call("POST", "/api/v1/me/cancellation/code").status_code == 202
    wrong = uploader.call("POST", "/api/v1/me/cancellation", json={"code": "000000"})
    assert wrong.status_code == 400
    done = uploader.call("POST", "/api/v1/me/cancellation", json={"code": sms_code(client, "13811112222")})
    assert done.status_code == 204

    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    with app.app_context():
        leftovers = scan_for({user.phone_hash, identity.openid_hash, identity.unionid_hash or "-"}, user.id)
    assert leftovers == []
    order = dbx.one(select(Order))
    assert order.out_trade_no == ids["order"] and order.user_id is None and order.payer_openid_hash is None
    assert order.prepay_id is None and order.prepay_expires_at is None  # no WeChat reference to the person
    assert order.status == "fulfilled"  # the transaction record stays, with no link to a person
    assert dbx.count(StoredObject, StoredObject.wrapped_key.is_not(None)) == 0  # every file crypto-shredded
    assert dbx.count(DeletionReceipt, DeletionReceipt.user_id.is_not(None)) == 0

    again = Phone(client, wechat_sandbox, "alice", "device-alice-1")
    fresh = again.login()["data"]
    assert fresh["new_user"] is True and fresh["user"]["id"] != user.public_id
    assert fresh["needs_phone"] is True
