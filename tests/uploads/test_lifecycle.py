"""Review, deletion with receipts, the sweep, access control, tampering and key rotation."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core import objects, vault
from app.core.crypto import DecryptionError, generate_key
from app.core.db import utcnow
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.privacy.models import DeletionReceipt
from app.uploads import services
from app.uploads.models import Upload
from tests.accounts.helpers import Phone
from tests.uploads.conftest import post_photo


def wait_for_status(phone, upload_id, wanted, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = phone.get(f"/api/v1/uploads/{upload_id}").get_json()["data"]
        if data["status"] != "pending_review":
            assert data["status"] == wanted, data
            return data
        time.sleep(0.05)
    raise AssertionError(f"upload {upload_id} still pending review")


def test_content_check_passes_through_wechat_and_the_upload_becomes_ready(uploader, reviewed, sample_jpeg,
                                                                            wechat_sandbox):
    created = post_photo(uploader, sample_jpeg).get_json()["data"]
    assert created["status"] == "pending_review" and created["delete_after"]
    wait_for_status(uploader, created["id"], "ready")
    checks = wechat_sandbox.dev("media-checks", method="GET")["media_checks"]
    assert checks[0]["suggest"] == "pass" and checks[0]["status"] == "delivered"


def test_a_risky_photo_is_deleted_and_the_user_told(uploader, reviewed, sample_jpeg, wechat_sandbox, dbx):
    wechat_sandbox.dev("risky-media", {"url_contains": "/api/v1/uploads/media/"})
    created = post_photo(uploader, sample_jpeg).get_json()["data"]
    data = wait_for_status(uploader, created["id"], "rejected")
    assert data["rejection_reason"] == "content_risky"
    obj = dbx.one(select(StoredObject))
    assert obj.wrapped_key is None and obj.destroyed_at is not None
    receipts = uploader.get("/api/v1/me/deletion-receipts").get_json()["data"]["receipts"]
    assert receipts[0] == {**receipts[0], "data_kind": "portrait_upload", "subject_id": created["id"],
                           "reason": "content_check_risky"}


def test_a_verdict_that_outruns_the_trace_id_commit_is_pushed_again_not_lost(uploader, reviewed, sample_jpeg,
                                                                           wechat_sandbox, monkeypatch):
    """WeChat may answer before the upload request has stored the trace_id: the first push must not be lost."""
    from app.uploads import content_check

    real_client = content_check.mini_program_client

    class SlowToCommit:
        """The upload request stalls (a busy database) between WeChat's answer and the trace_id commit."""

        def check_media_async(self, url, openid):
            answer = real_client().check_media_async(url, openid)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until the verdict's first push has been answered
                checks = wechat_sandbox.dev(f"media-checks?trace_id={answer['trace_id']}", method="GET")
                if checks["media_checks"] and checks["media_checks"][0]["push_attempts"]:
                    break
                time.sleep(0.02)
            return answer

    monkeypatch.setattr(content_check, "mini_program_client", SlowToCommit)
    created = post_photo(uploader, sample_jpeg).get_json()["data"]
    wait_for_status(uploader, created["id"], "ready", timeout=15)
    check = wechat_sandbox.dev("media-checks", method="GET")["media_checks"][0]
    assert [attempt["status_code"] for attempt in check["push_attempts"]] == [503, 200]
    assert "content_check_not_ready" in check["push_attempts"][0]["body"]


def test_a_verdict_applies_once_and_repeated_or_unknown_pushes_change_nothing(uploader, app, sample_jpeg, dbx):
    """WeChat pushes again until it hears "success": a second or contradicting push must not undo the first."""
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    dbx.execute(update(Upload).where(Upload.public_id == upload_id).values(review_trace_id="trace-once"))
    with app.app_context():
        assert services.apply_verdict("trace-unknown", "pass") is False  # the view answers 503: pushed again
        assert services.apply_verdict("trace-once", "pass") is True
    first = dbx.one(select(Upload).where(Upload.public_id == upload_id))
    assert first.status == "ready" and first.reviewed_at is not None
    with app.app_context():
        assert services.apply_verdict("trace-once", "pass") is True
        assert services.apply_verdict("trace-once", "risky") is True  # already decided: not deleted now
    again = dbx.one(select(Upload).where(Upload.public_id == upload_id))
    assert (again.status, again.reviewed_at, again.deleted_at) == ("ready", first.reviewed_at, None)
    assert dbx.one(select(StoredObject)).wrapped_key is not None


def test_forged_or_garbled_pushes_are_refused(client, reviewed):
    forged = client.post("/api/v1/wechat/push?signature=x&timestamp=1&nonce=2&msg_signature=y",
                         json={"ToUserName": "gh", "Encrypt": "AAAA"})
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "invalid_push"


def test_media_url_for_review_serves_only_pending_photos_with_a_valid_token(uploader, app, sample_jpeg, dbx,
                                                                            client):
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    upload = dbx.one(select(Upload).where(Upload.public_id == upload_id))
    with app.test_request_context():
        from app.uploads.content_check import media_url

        url = media_url(upload)
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    served = client.get("/" + path)
    assert served.status_code == 200 and served.data.startswith(b"\xff\xd8")
    assert client.get("/" + path[:-3] + "xyz").status_code == 404
    dbx.execute(update(Upload).values(status="ready"))
    assert client.get("/" + path).status_code == 404


def test_user_deletes_an_upload_at_once_with_a_receipt(uploader, sample_jpeg, app, dbx):
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    obj = dbx.one(select(StoredObject))
    assert uploader.call("DELETE", f"/api/v1/uploads/{upload_id}").status_code == 204
    with app.app_context():
        assert not object_store().exists(obj.storage_key)
    assert dbx.one(select(StoredObject)).wrapped_key is None  # crypto-shredded
    assert uploader.get("/api/v1/uploads").get_json()["data"]["uploads"] == []
    receipt = dbx.one(select(DeletionReceipt))
    assert (receipt.data_kind, receipt.subject_id, receipt.reason) == ("portrait_upload", upload_id, "user_request")


def test_other_users_and_anonymous_callers_learn_nothing(uploader, client, wechat_sandbox, sample_jpeg):
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    wechat_sandbox.set_user("bob", phone="13833334444")
    bob.login()
    bob.bind_phone()
    bob.accept()
    for method in ("GET", "DELETE"):
        response = bob.call(method, f"/api/v1/uploads/{upload_id}")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "upload_not_found"
        assert client.open(f"/api/v1/uploads/{upload_id}", method=method).status_code == 401
    assert uploader.get(f"/api/v1/uploads/{upload_id}").status_code == 200


def test_uploading_needs_a_phone_and_face_consent(client, wechat_sandbox, sample_jpeg):
    phone = Phone(client, wechat_sandbox, "carol", "device-carol")
    phone.login()
    phone.accept()
    assert post_photo(phone, sample_jpeg).get_json()["error"]["code"] == "phone_binding_required"
    wechat_sandbox.set_user("carol", phone="13855556666")
    phone.bind_phone()
    assert post_photo(phone, sample_jpeg).get_json()["error"]["code"] == "consent_required"


def test_withdrawing_face_consent_deletes_every_upload(uploader, sample_jpeg, dbx):
    post_photo(uploader, sample_jpeg)
    post_photo(uploader, sample_jpeg)
    assert uploader.call("DELETE", "/api/v1/me/consents/face_processing").status_code == 204
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 0
    assert dbx.count(StoredObject, StoredObject.wrapped_key.is_not(None)) == 0
    assert dbx.count(DeletionReceipt, DeletionReceipt.reason == "face_processing_consent_withdrawn") == 2


def test_sweep_deletes_unclaimed_uploads_and_settles_stale_reviews(uploader, sample_jpeg, app, dbx):
    old_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    fresh_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    dbx.execute(update(Upload).where(Upload.public_id == old_id)
                .values(created_at=utcnow() - timedelta(seconds=app.config["UPLOAD_UNCLAIMED_TTL_S"] + 1)))
    result = app.test_cli_runner().invoke(args=["uploads", "sweep"])
    assert result.exit_code == 0, result.output
    assert "unclaimed_deleted=1" in result.output or "review_timed_out=1" in result.output
    old = dbx.one(select(Upload).where(Upload.public_id == old_id))
    assert old.deleted_at is not None
    assert dbx.one(select(Upload).where(Upload.public_id == fresh_id)).deleted_at is None
    assert dbx.count(DeletionReceipt) == 1


@pytest.mark.parametrize("policy", ["reject", "accept"])
def test_review_timeout_policy(uploader, sample_jpeg, app, dbx, policy):
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    previous = app.config["CONTENT_CHECK_TIMEOUT_POLICY"]
    app.config["CONTENT_CHECK_TIMEOUT_POLICY"] = policy
    try:
        with app.app_context():
            later = utcnow() + timedelta(seconds=app.config["CONTENT_CHECK_TIMEOUT_S"] + 1)
            counts = services.sweep(now=later)
    finally:
        app.config["CONTENT_CHECK_TIMEOUT_POLICY"] = previous
    assert counts["review_timed_out"] == 1
    status = dbx.one(select(Upload).where(Upload.public_id == upload_id)).status
    assert status == ("rejected" if policy == "reject" else "ready")


def test_tampered_or_swapped_files_do_not_decrypt(uploader, sample_jpeg, app, dbx):
    post_photo(uploader, sample_jpeg)
    post_photo(uploader, sample_jpeg)
    first, second = dbx.run(lambda s: list(s.scalars(select(StoredObject).order_by(StoredObject.created_at))))
    with app.app_context():
        store = object_store()
        one, two = store.get(first.storage_key), store.get(second.storage_key)
        store.put(first.storage_key, two)  # someone swaps the files
        with pytest.raises(DecryptionError):
            objects.read(first)
        flipped = bytearray(one)
        flipped[-20] ^= 0x01
        store.put(first.storage_key, bytes(flipped))
        with pytest.raises(DecryptionError):
            objects.read(first)
        store.put(first.storage_key, one)
        assert objects.read(first).startswith(b"\xff\xd8")


def test_key_rotation_rewraps_every_data_key_and_keeps_objects_readable(uploader, sample_jpeg, app, dbx):
    for _ in range(3):
        post_photo(uploader, sample_jpeg)
    old_key, old_id = app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEY_ID"]
    new_key = generate_key()
    before = {o.id: o.wrapped_key for o in dbx.run(lambda s: list(s.scalars(select(StoredObject))))}
    try:
        app.config.update(ENCRYPTION_KEY=new_key, ENCRYPTION_KEY_ID="k-next",
                          ENCRYPTION_OLD_KEYS=f"{old_id}:{old_key}")
        app.extensions.pop("keyring", None)
        result = app.test_cli_runner().invoke(args=["keys", "rewrap"])
        assert result.exit_code == 0, result.output
        assert "re-wrapped 3 object key(s)" in result.output
        app.config.update(ENCRYPTION_OLD_KEYS=None)  # the old key is gone for good
        app.extensions.pop("keyring", None)
        rows = dbx.run(lambda s: list(s.scalars(select(StoredObject))))
        with app.app_context():
            for obj in rows:
                assert obj.kek_id == "k-next" and obj.wrapped_key != before[obj.id]
                assert objects.read(obj).startswith(b"\xff\xd8")
        assert uploader.get("/api/v1/me").status_code == 200  # sealed fields re-sealed too
    finally:
        app.config.update(ENCRYPTION_KEY=old_key, ENCRYPTION_KEY_ID=old_id, ENCRYPTION_OLD_KEYS=None)
        app.extensions.pop("keyring", None)


def test_vault_binds_the_object_id(app):
    with app.app_context():
        sealed = vault.seal("object-a", b"portrait bytes")
        assert vault.open_sealed("object-a", sealed.ciphertext, sealed.kek_id, sealed.wrapped_key) == b"portrait bytes"
        with pytest.raises(DecryptionError):
            vault.open_sealed("object-b", sealed.ciphertext, sealed.kek_id, sealed.wrapped_key)
