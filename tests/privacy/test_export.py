"""The data export of policy §8(5), end to end: two users with data in every domain, a real worker,
the encrypted archive at rest, signed download links, the daily quota, expiry with receipts."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import objects
from app.core.db import utcnow
from app.core.jobs import enqueue_now
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.orders.models import Order
from app.privacy import export as export_service
from app.privacy.export_models import DataExport
from app.privacy.export_tasks import expire_exports as expire_exports_task
from app.privacy.export_views import DOWNLOAD_SALT
from app.privacy.models import DeletionReceipt, OperationLog
from tests.accounts.helpers import Phone
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, pay, wait_for_order
from tests.privacy.conftest import run_queue

JSON_FILES = {"README.md", "manifest.json", "profile.json", "devices.json", "sessions.json", "consents.json",
              "uploads.json", "jobs.json", "results.json", "orders.json", "operation_log.json",
              "deletion_receipts.json", "support_tickets.json", "notices.json"}


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@dataclass
class Seeded:
    phone: Phone
    name: str
    public_id: str = ""
    nickname: str = ""
    phone_masked: str = ""
    uploads: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # hashes and full numbers that must never be exported

    def identifiers(self) -> list[str]:
        return [self.public_id, self.nickname, self.phone_masked, *self.uploads, *self.jobs, *self.results,
                *self.orders, *self.sessions]


def make_user(client, wechat_sandbox, name: str, number: str, device: str, nickname: str) -> Seeded:
    phone = Phone(client, wechat_sandbox, name, device)
    wechat_sandbox.set_user(name, phone=number)
    phone.login()
    phone.bind_phone()
    phone.accept("face_processing")
    assert phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    profile = phone.call("PATCH", "/api/v1/me", json={"nickname": nickname,
                                                      "avatar_url": f"https://img.example.com/{name}.png"})
    assert profile.status_code == 200, profile.get_json()
    me = profile.get_json()["data"]
    return Seeded(phone=phone, name=name, public_id=me["id"], nickname=nickname, phone_masked=me["phone_masked"],
                  secrets=[number])


def seed_everything(seeded: Seeded, app, sample_jpeg, wechat_sandbox, dbx, client, product: str) -> None:
    """Uploads → a job run by the worker → results; a paid order; receipts and operation logs."""
    phone = seeded.phone
    seeded.uploads = upload_ids(phone, sample_jpeg)
    job = start_job(phone, "pop_art", seeded.uploads)["data"]
    run_generation_queue(app)
    job = phone.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert job["status"] == "succeeded", job
    seeded.jobs = [job["id"]]
    seeded.results = [r["id"] for r in job["results"]]
    links = phone.get(f"/api/v1/results/{seeded.results[0]}/links").get_json()["data"]
    assert client.get(path_of(links["preview_url"])).status_code == 200  # a download_preview log entry
    subject = seeded.results[0] if product == "hd_result" else None
    data = buy(phone, product, subject)["data"]
    pay(wechat_sandbox, data, user=seeded.name)
    wait_for_order(phone, data["order"]["order_no"], "fulfilled")
    seeded.orders = [data["order"]["order_no"]]
    seeded.sessions = [s["id"] for s in phone.get("/api/v1/me/sessions").get_json()["data"]["sessions"]]
    user = dbx.one(select(User).where(User.public_id == seeded.public_id))
    order = dbx.one(select(Order).where(Order.out_trade_no == seeded.orders[0]))
    assert order.transaction_id
    seeded.orders.append(order.transaction_id)
    seeded.secrets += [user.phone_hash, order.payer_openid_hash or "", order.prepay_id or ""]
    seeded.secrets = [s for s in seeded.secrets if s]


def request_and_build(phone: Phone, app) -> dict:
    response = phone.call("POST", "/api/v1/me/exports")
    assert response.status_code == 202, response.get_json()
    created = response.get_json()["data"]
    assert created["state"] == "pending" and created["download_url"] is None
    run_queue(app, "default")
    ready = phone.get(f"/api/v1/me/exports/{created['id']}").get_json()["data"]
    assert ready["state"] == "ready", ready
    return ready


def download(client, export: dict) -> bytes:
    response = client.get(path_of(export["download_url"]))
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]
    return response.data


def walk_keys(node, keys: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(key)
            walk_keys(value, keys)
    elif isinstance(node, list):
        for value in node:
            walk_keys(value, keys)


@pytest.fixture
def alice(client, wechat_sandbox) -> Seeded:
    return make_user(client, wechat_sandbox, "alice", "13811112222", "device-alice-1", "爱丽丝Alice")


@pytest.fixture
def bob(client, wechat_sandbox) -> Seeded:
    return make_user(client, wechat_sandbox, "bob", "13900002222", "device-bob-1", "鲍勃Bob")


# --- the archive: exactly my data ----------------------------------------------------------------

def test_export_holds_exactly_my_data_and_nothing_of_anyone_else(alice, bob, app, client, wechat_sandbox, dbx,
                                                                 sample_jpeg):
    seed_everything(alice, app, sample_jpeg, wechat_sandbox, dbx, client, "hd_result")
    seed_everything(bob, app, sample_jpeg, wechat_sandbox, dbx, client, "video_generation")

    export = request_and_build(alice.phone, app)
    assert export["size_bytes"] > 0 and export["ready_at"] and export["download_url_expires_at"]
    lifetime = datetime.fromisoformat(export["expires_at"]) - datetime.fromisoformat(export["ready_at"])
    assert lifetime == timedelta(days=7)
    archive_bytes = download(client, export)
    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    assert archive.testzip() is None
    names = set(archive.namelist())
    result_files = {n for n in names if n.startswith("results/")}
    assert names == JSON_FILES | result_files
    assert result_files == {f"results/{rid}.jpg" for rid in alice.results}
    contents = {name: archive.read(name) for name in names}
    docs = {name: json.loads(data) for name, data in contents.items() if name.endswith(".json")}

    # Nothing of Bob's, anywhere: no id, nickname or masked phone in any file or file name.
    for needle in bob.identifiers():
        for name, data in contents.items():
            assert needle not in name
            assert needle.encode() not in data, f"{needle!r} of bob found in {name}"
    # No secrets (full phone numbers, keyed hashes, payer openid hashes) of either user.
    for needle in alice.secrets + bob.secrets:
        for name, data in contents.items():
            assert needle.encode() not in data, f"a secret found in {name}"
    keys: set[str] = set()
    for doc in docs.values():
        walk_keys(doc, keys)
    assert not {k for k in keys if k.endswith("_hash") or k in {"user_id", "token_hash", "openid"}}

    # Exactly Alice's records.
    profile = docs["profile.json"]["profile"]
    assert profile["id"] == alice.public_id and profile["nickname"] == alice.nickname
    assert profile["phone_masked"] == alice.phone_masked == "138****2222"
    assert profile["avatar_url"] == "https://img.example.com/alice.png" and profile["created_at"].endswith("Z")
    assert {u["id"] for u in docs["uploads.json"]["uploads"]} == set(alice.uploads)
    assert all(u["photo_included"] is False and u["deleted_at"] for u in docs["uploads.json"]["uploads"])
    assert "deleted" in docs["uploads.json"]["note"]
    [job] = docs["jobs.json"]["jobs"]
    assert job["id"] == alice.jobs[0] and job["uploads"] == alice.uploads and job["results"] == alice.results
    assert job["sources_deleted_at"]
    assert {s["id"] for s in docs["sessions.json"]["sessions"]} == set(alice.sessions)
    assert [d["model"] for d in docs["devices.json"]["devices"]] == ["iPhone 15"]
    assert docs["sessions.json"]["sessions"][0]["device"] == docs["devices.json"]["devices"][0]["ref"]
    consents = docs["consents.json"]
    assert {(r["purpose"], r["action"]) for r in consents["records"]} == {("service", "given"),
                                                                         ("face_processing", "given")}
    assert consents["age_declarations"][0]["adult_confirmed"] is True
    orders = docs["orders.json"]
    [order] = orders["orders"]
    assert order["order_no"] == alice.orders[0] and order["wechat_transaction_id"] == alice.orders[1]
    assert (order["item"], order["amount_fen"], order["status"], order["payment_method"],
            order["payment_status"]) == ("高清原图下载（单张）", 990, "fulfilled", "wechat_jsapi", "paid")
    assert order["created_at"] and order["paid_at"]
    assert [e["to"] for e in order["events"]] == ["created", "paid", "fulfilled"]
    assert orders["entitlements"] == [{"order_no": alice.orders[0], "kind": "hd_result", "subject": alice.results[0],
                                       "credit_kind": None, "credits_total": 0, "credits_used": 0,
                                       "granted_at": orders["entitlements"][0]["granted_at"], "revoked_at": None}]
    actions = [(o["action"], o["subject_id"]) for o in docs["operation_log.json"]["operations"]]
    assert actions == [("generate", alice.jobs[0]), ("download_preview", alice.results[0])]
    receipts = docs["deletion_receipts.json"]["receipts"]
    assert {(r["data_kind"], r["subject_id"]) for r in receipts} == {("portrait_upload", u) for u in alice.uploads}

    # Results: Alice bought the HD download, so the original; it decodes and matches the record.
    [result] = docs["results.json"]["results"]
    assert result["id"] == alice.results[0] and result["hd_entitlement"] is True
    assert result["file_variant"] == "original" and result["file"] == f"results/{alice.results[0]}.jpg"
    with Image.open(io.BytesIO(contents[result["file"]])) as image:
        image.load()
        assert image.size == (result["width"], result["height"])

    # The manifest checks every file; the README explains each one (zh and en).
    manifest = docs["manifest.json"]
    assert manifest["format_version"] == 1 and manifest["user"] == alice.public_id
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(contents[name]).hexdigest()
    readme = contents["README.md"].decode()
    for name in JSON_FILES - {"README.md"}:
        assert f"`{name}`" in readme
    assert "源照片不在副本中" in readme and "source photos are not in this copy" in readme
    assert "{{" not in readme and "7 天" in readme
    # The processing register (policy §3) is in the README: purposes with and without consent.
    assert "个人信息处理活动登记" in readme
    for purpose in ("风险控制与账号安全", "工作人员访问审计日志", "下单、支付与退款；订单依法保存", "保存数字分身"):
        assert f"| {purpose} |" in readme, purpose
    for doc_name, doc in docs.items():
        if doc_name != "manifest.json":
            assert doc["schema"].endswith("/1")

    # Downloading is in Alice's operation log.
    assert dbx.count(OperationLog, OperationLog.action == "download_export") == 1

    # Bob's own export: his preview (no HD entitlement), his credit order, nothing of Alice's.
    bob_export = request_and_build(bob.phone, app)
    bob_archive = zipfile.ZipFile(io.BytesIO(download(client, bob_export)))
    bob_contents = {name: bob_archive.read(name) for name in bob_archive.namelist()}
    for needle in alice.identifiers():
        for name, data in bob_contents.items():
            assert needle not in name and needle.encode() not in data, f"{needle!r} of alice in bob's {name}"
    [bob_result] = json.loads(bob_contents["results.json"])["results"]
    assert bob_result["file_variant"] == "preview" and bob_result["hd_entitlement"] is False
    with Image.open(io.BytesIO(bob_contents[bob_result["file"]])) as preview:
        assert max(preview.size) == 720 < max(bob_result["width"], bob_result["height"])
    bob_orders = json.loads(bob_contents["orders.json"])
    assert bob_orders["entitlements"][0]["kind"] == "credit"
    assert bob_orders["orders"][0]["order_no"] == bob.orders[0]


def test_archive_at_rest_is_ciphertext(uploader, app, client, dbx):
    export = request_and_build(uploader, app)
    row = dbx.one(select(DataExport).where(DataExport.public_id == export["id"]))
    stored = dbx.one(select(StoredObject).where(StoredObject.id == row.object_id))
    assert stored.kind == "export_archive" and stored.mime_type == "application/zip" and stored.wrapped_key
    with app.app_context():
        raw = object_store().get(stored.storage_key)
    assert raw.startswith(b"MHv1") and b"PK\x03\x04" not in raw
    assert b"profile.json" not in raw and b"138****2222" not in raw
    plain = download(client, export)
    assert plain.startswith(b"PK\x03\x04") and len(plain) == stored.size == export["size_bytes"]
    with app.app_context():
        assert objects.read(db.session.get(StoredObject, stored.id)) == plain


# --- requesting, reading, the quota ---------------------------------------------------------------

def test_anonymous_is_401(client):
    for method, path in (("POST", "/api/v1/me/exports"), ("GET", "/api/v1/me/exports"),
                         ("GET", "/api/v1/me/exports/abc")):
        response = client.open(path, method=method)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "authentication_required"


def test_one_export_per_day(uploader, app, dbx):
    first = request_and_build(uploader, app)
    again = uploader.call("POST", "/api/v1/me/exports")
    assert again.status_code == 429
    error = again.get_json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["export"] == first["id"]
    assert 86000 < error["details"]["retry_after"] <= 86400
    assert again.headers["Retry-After"] == str(error["details"]["retry_after"])
    assert dbx.count(DataExport) == 1
    # A day later it is allowed again.
    dbx.execute(update(DataExport).values(created_at=utcnow() - timedelta(days=1, seconds=1)))
    assert uploader.call("POST", "/api/v1/me/exports").status_code == 202


def test_a_failed_export_does_not_use_up_the_day(uploader, app, dbx, monkeypatch):
    def broken(user_id, exported_at=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export_service, "build_archive", broken)
    created = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]
    run_queue(app, "default")
    failed = uploader.get(f"/api/v1/me/exports/{created['id']}").get_json()["data"]
    assert failed["state"] == "failed" and failed["download_url"] is None
    assert "request it again" in failed["failure_reason"]
    assert dbx.count(StoredObject, StoredObject.kind == "export_archive") == 0
    monkeypatch.undo()
    assert uploader.call("POST", "/api/v1/me/exports").status_code == 202


def test_a_failure_after_the_file_was_written_leaves_no_orphan_archive(uploader, app, dbx, monkeypatch):
    created = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]
    real_store = objects.store
    written = []

    def store(kind, data, mime):
        obj = real_store(kind, data, mime)
        written.append(obj.storage_key)
        return obj

    def broken_ttl():
        raise RuntimeError("the database went away after the file was written")

    monkeypatch.setattr(objects, "store", store)
    monkeypatch.setattr(export_service, "ttl", broken_ttl)
    run_queue(app, "default")
    assert uploader.get(f"/api/v1/me/exports/{created['id']}").get_json()["data"]["state"] == "failed"
    assert dbx.count(StoredObject, StoredObject.kind == "export_archive") == 0
    with app.app_context():
        assert written and not object_store().exists(written[0])


def test_list_is_newest_first_and_shows_the_link_only_while_ready(uploader, app, dbx):
    first = request_and_build(uploader, app)
    dbx.execute(update(DataExport).values(created_at=utcnow() - timedelta(days=2)))
    second = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]
    listed = uploader.get("/api/v1/me/exports").get_json()["data"]["exports"]
    assert [e["id"] for e in listed] == [second["id"], first["id"]]
    assert listed[0]["state"] == "pending" and listed[0]["download_url"] is None
    assert listed[1]["state"] == "ready" and listed[1]["download_url"]


def test_someone_else_cannot_read_my_export(uploader, app, client, wechat_sandbox):
    mine = request_and_build(uploader, app)
    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    bob.login()
    bob.accept()
    response = bob.get(f"/api/v1/me/exports/{mine['id']}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "export_not_found"
    assert bob.get("/api/v1/me/exports").get_json()["data"]["exports"] == []


def test_user_rights_stay_reachable_without_accepting_the_policy(client, wechat_sandbox, app):
    carol = Phone(client, wechat_sandbox, "carol", "device-carol")
    carol.login()  # no phone, no consent: other features refuse
    assert carol.get("/api/v1/jobs").status_code == 403
    assert carol.call("POST", "/api/v1/me/exports").status_code == 202


# --- the download link -----------------------------------------------------------------------------

class PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 601


def test_download_link_expires_and_cannot_be_tampered_with(uploader, app, client):
    export = request_and_build(uploader, app)
    good_path = path_of(export["download_url"])
    token = good_path.rsplit("/", 1)[1]
    owner = uploader.get("/api/v1/me").get_json()["data"]["id"]
    assert client.get(good_path).status_code == 200

    stale = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=DOWNLOAD_SALT, signer=PastSigner)
    stale_token = stale.dumps([export["id"], owner])
    assert client.get(f"/api/v1/me/exports/download/{stale_token}").status_code == 404
    fresh = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=DOWNLOAD_SALT).dumps([export["id"], owner])
    assert client.get(f"/api/v1/me/exports/download/{fresh}").status_code == 200  # the same, signed now

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(f"/api/v1/me/exports/download/{tampered}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    forged = URLSafeTimedSerializer("not-our-secret", salt=DOWNLOAD_SALT).dumps([export["id"], owner])
    assert client.get(f"/api/v1/me/exports/download/{forged}").status_code == 404
    someone_else = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=DOWNLOAD_SALT).dumps([export["id"], "x" * 32])
    assert client.get(f"/api/v1/me/exports/download/{someone_else}").status_code == 404
    assert client.get("/api/v1/me/exports/download/garbage").status_code == 404


def test_an_export_past_its_expiry_is_not_served_even_before_the_sweep(uploader, app, client, dbx):
    export = request_and_build(uploader, app)
    dbx.execute(update(DataExport).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(path_of(export["download_url"])).status_code == 404
    assert uploader.get(f"/api/v1/me/exports/{export['id']}").get_json()["data"]["download_url"] is None


# --- expiry ----------------------------------------------------------------------------------------

def test_expiry_shreds_the_archive_and_leaves_a_receipt(uploader, app, client, dbx):
    export = request_and_build(uploader, app)
    row = dbx.one(select(DataExport).where(DataExport.public_id == export["id"]))
    stored = dbx.one(select(StoredObject).where(StoredObject.id == row.object_id))
    with app.app_context():
        assert export_service.expire_exports(utcnow())["expired"] == 0  # not yet
        assert object_store().exists(stored.storage_key)
        counts = export_service.expire_exports(utcnow() + timedelta(days=7, minutes=1))
        assert counts == {"expired": 1, "stale_failed": 0}
        assert not object_store().exists(stored.storage_key)
    shredded = dbx.one(select(StoredObject).where(StoredObject.id == row.object_id))
    assert shredded.wrapped_key is None and shredded.destroyed_at is not None
    after = uploader.get(f"/api/v1/me/exports/{export['id']}").get_json()["data"]
    assert after["state"] == "expired" and after["expired_at"] and after["download_url"] is None
    assert client.get(path_of(export["download_url"])).status_code == 404
    receipts = uploader.get("/api/v1/me/deletion-receipts").get_json()["data"]["receipts"]
    assert [(r["data_kind"], r["subject_id"], r["reason"]) for r in receipts
            if r["data_kind"] == "export_archive"] == [("export_archive", export["id"], "export_expired")]
    with app.app_context():
        assert export_service.expire_exports(utcnow() + timedelta(days=30))["expired"] == 0  # idempotent
    assert dbx.count(DeletionReceipt, DeletionReceipt.data_kind == "export_archive") == 1


def test_the_expiry_task_runs_on_a_worker(uploader, app, dbx):
    export = request_and_build(uploader, app)
    dbx.execute(update(DataExport).values(expires_at=utcnow() - timedelta(seconds=1)))
    with app.app_context():
        enqueue_now(expire_exports_task)
    run_queue(app, "maintenance")
    assert dbx.one(select(DataExport).where(DataExport.public_id == export["id"])).state == "expired"


def test_the_sweep_fails_exports_whose_job_was_lost(uploader, app, dbx):
    created = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]
    dbx.execute(update(DataExport).values(created_at=utcnow() - timedelta(hours=2)))
    with app.app_context():
        assert export_service.expire_exports()["stale_failed"] == 1
    state = uploader.get(f"/api/v1/me/exports/{created['id']}").get_json()["data"]
    assert state["state"] == "failed" and state["failure_reason"]
    run_queue(app, "default")  # the job, if it ever comes, leaves a failed export alone
    assert dbx.count(StoredObject, StoredObject.kind == "export_archive") == 0


def test_account_cancellation_shreds_the_archive(uploader, app, dbx, client):
    from tests.accounts.conftest import sms_code

    export = request_and_build(uploader, app)
    row = dbx.one(select(DataExport).where(DataExport.public_id == export["id"]))
    assert uploader.call("POST", "/api/v1/me/cancellation/code").status_code == 202
    done = uploader.call("POST", "/api/v1/me/cancellation", json={"code": sms_code(client, "13811112222")})
    assert done.status_code == 204
    assert dbx.one(select(StoredObject).where(StoredObject.id == row.object_id)).wrapped_key is None
    assert dbx.count(DeletionReceipt, DeletionReceipt.reason == "account_cancelled") == 1


# --- the job and the table -------------------------------------------------------------------------

def test_the_job_is_idempotent(uploader, app, dbx):
    created = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]
    row = dbx.one(select(DataExport).where(DataExport.public_id == created["id"]))
    with app.app_context():
        assert export_service.run_export(row.id) == "ready"
        assert export_service.run_export(row.id) == "skipped"
    run_queue(app, "default")  # the enqueued job finds it done
    assert dbx.count(StoredObject, StoredObject.kind == "export_archive") == 1


def test_ready_without_an_archive_is_refused_by_the_database(uploader, app, dbx):
    uploader.call("POST", "/api/v1/me/exports")
    with app.app_context(), pytest.raises(IntegrityError):
        try:
            db.session.execute(update(DataExport).values(state="ready", expires_at=utcnow()))
            db.session.commit()
        finally:
            db.session.rollback()
    with app.app_context(), pytest.raises(IntegrityError):
        try:
            db.session.execute(update(DataExport).values(state="failed"))
            db.session.commit()
        finally:
            db.session.rollback()
    with app.app_context(), pytest.raises(IntegrityError):
        try:
            db.session.execute(update(DataExport).values(state="done"))
            db.session.commit()
        finally:
            db.session.rollback()


def test_endpoints_are_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/me/exports"])
    assert "get" in paths["/api/v1/me/exports/{export_id}"]
    assert "get" in paths["/api/v1/me/exports/download/{token}"]
    assert "429" in paths["/api/v1/me/exports"]["post"]["responses"]
