"""Consent withdrawal reaches every domain through the lifecycle registry (issue #15): withdrawing either
face purpose destroys stored avatars and face-derived results at once — files gone, links 404, a deletion
receipt for each — and a minor found without a guardian's consent loses the results too."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from app.core.objects import StoredObject
from app.generation.models import GenerationResult
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, pay, wait_for_order


def make_result(phone, jpeg, app, style: str, photos: int = 1) -> str:
    job = start_job(phone, style, upload_ids(phone, jpeg, photos))["data"]
    run_generation_queue(app)
    done = phone.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] == "succeeded", done
    return done["results"][0]["id"]


def make_avatar(phone, jpeg, app, wechat_sandbox) -> str:
    order = buy(phone, "avatar_creation")["data"]
    pay(wechat_sandbox, order)
    wait_for_order(phone, order["order"]["order_no"], "fulfilled")
    return make_result(phone, jpeg, app, "avatar", photos=3)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def preview_link(phone, result_id: str) -> str:
    links = phone.get(f"/api/v1/results/{result_id}/links")
    assert links.status_code == 200, links.get_json()
    return links.get_json()["data"]["preview_url"]


def files_of(dbx, result_id: str) -> list[StoredObject]:
    result = dbx.one(select(GenerationResult).where(GenerationResult.public_id == result_id))
    ids = [i for i in (result.original_object_id, result.preview_object_id) if i]
    return dbx.run(lambda s: list(s.scalars(select(StoredObject).where(StoredObject.id.in_(ids)))))


def assert_gone(phone, client, app, dbx, result_id: str, link: str) -> None:
    assert phone.get(f"/api/v1/results/{result_id}/links").status_code == 404
    assert client.get(path_of(link)).status_code == 404
    from app.core.storage import object_store

    with app.app_context():
        store = object_store()
        for obj in files_of(dbx, result_id):
            assert obj.wrapped_key is None and obj.destroyed_at is not None
            assert not store.exists(obj.storage_key)


def receipts(phone) -> dict[str, tuple[str, str]]:
    rows = phone.get("/api/v1/me/deletion-receipts").get_json()["data"]["receipts"]
    return {r["subject_id"]: (r["data_kind"], r["reason"]) for r in rows}


def test_withdrawing_avatar_storage_deletes_the_stored_avatars_at_once(uploader, sample_jpeg, app, wechat_sandbox,
                                                                       client, dbx):
    uploader.accept("face_processing", "avatar_storage")
    avatar = make_avatar(uploader, sample_jpeg, app, wechat_sandbox)
    photo = make_result(uploader, sample_jpeg, app, "pop_art")
    avatar_link, photo_link = preview_link(uploader, avatar), preview_link(uploader, photo)
    assert client.get(path_of(avatar_link)).status_code == 200

    assert uploader.call("DELETE", "/api/v1/me/consents/avatar_storage").status_code == 204

    assert_gone(uploader, client, app, dbx, avatar, avatar_link)
    assert receipts(uploader)[avatar] == ("avatar", "avatar_storage_consent_withdrawn")
    assert preview_link(uploader, photo) and photo not in receipts(uploader)  # not an avatar: it stays
    assert client.get(path_of(photo_link)).status_code == 200


def test_withdrawing_face_processing_deletes_every_face_derived_result(uploader, sample_jpeg, app, wechat_sandbox,
                                                                       client, dbx):
    uploader.accept("face_processing", "avatar_storage")  # storing an avatar needs avatar_storage too
    avatar = make_avatar(uploader, sample_jpeg, app, wechat_sandbox)
    photo = make_result(uploader, sample_jpeg, app, "pop_art")
    links = {result: preview_link(uploader, result) for result in (avatar, photo)}
    waiting = upload_ids(uploader, sample_jpeg)[0]

    assert uploader.call("DELETE", "/api/v1/me/consents/face_processing").status_code == 204

    for result, link in links.items():
        assert_gone(uploader, client, app, dbx, result, link)
    held = receipts(uploader)
    assert held[avatar] == ("avatar", "face_processing_consent_withdrawn")
    assert held[photo] == ("result_image", "face_processing_consent_withdrawn")
    assert held[waiting] == ("portrait_upload", "face_processing_consent_withdrawn")
    counts = {c["name"]: c["count"] for c in uploader.get("/api/v1/me/data").get_json()["data"]["categories"]}
    assert counts["results"] == 0 and counts["uploads"] == 0


def test_a_minor_without_guardian_consent_loses_the_generated_results_too(uploader, sample_jpeg, app, client, dbx):
    photo = make_result(uploader, sample_jpeg, app, "pop_art")
    link = preview_link(uploader, photo)
    minor = uploader.call("POST", "/api/v1/me/age", json={"birth_year": 2016}).get_json()["data"]
    assert minor["minor"] is True
    assert_gone(uploader, client, app, dbx, photo, link)
    assert receipts(uploader)[photo] == ("result_image", "minor_without_guardian_consent")
