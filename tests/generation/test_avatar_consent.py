"""A digital avatar is stored only with the ``avatar_storage`` consent, checked when the job is made and
again at the moment its results would be stored (policy §2: kept between sessions, a separate consent)."""

from sqlalchemy import select

from app.generation.models import GenerationResult
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, live_server, pay, pay_config, wait_for_order  # noqa: F401 - fixtures


def _avatar_credit(phone, wechat_sandbox) -> None:
    data = buy(phone, "avatar_creation")["data"]
    pay(wechat_sandbox, data)
    wait_for_order(phone, data["order"]["order_no"], "fulfilled")


def test_face_processing_alone_does_not_allow_an_avatar(uploader, sample_jpeg, wechat_sandbox, app, dbx):
    ids = upload_ids(uploader, sample_jpeg, 3)
    error = start_job(uploader, "avatar", ids, expect=403)["error"]
    assert error["code"] == "consent_required" and error["details"]["missing"] == ["avatar_storage"]
    # Refused before anything was claimed or charged: with the consent the same photos go on to the credit check.
    uploader.accept("face_processing", "avatar_storage")
    assert start_job(uploader, "avatar", ids, expect=402)["error"]["code"] == "payment_required"
    _avatar_credit(uploader, wechat_sandbox)
    job = start_job(uploader, "avatar", ids)["data"]
    run_generation_queue(app)
    done = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] == "succeeded" and done["results"]
    # Photo styles still need face processing only.
    uploader.call("DELETE", "/api/v1/me/consents/avatar_storage")
    start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))


def test_an_avatar_is_not_stored_when_the_consent_is_withdrawn_before_it_is_ready(uploader, sample_jpeg,
                                                                                  wechat_sandbox, app, dbx):
    uploader.accept("face_processing", "avatar_storage")
    _avatar_credit(uploader, wechat_sandbox)
    job = start_job(uploader, "avatar", upload_ids(uploader, sample_jpeg, 3))["data"]
    assert uploader.call("DELETE", "/api/v1/me/consents/avatar_storage").status_code == 204
    run_generation_queue(app)
    done = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] in ("failed", "cancelled") and not done["results"]
    assert dbx.count(GenerationResult) == 0 and not dbx.run(lambda s: list(s.scalars(select(GenerationResult))))
    if done["status"] == "failed":
        assert done["error_code"] == "avatar_storage_consent_required"
    assert uploader.get("/api/v1/orders").get_json()["data"]["credits"] == {"avatar": 1}  # given back
