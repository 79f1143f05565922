"""Share links: the watermarked preview for whoever holds the link, until it expires; each share logged."""

import io
import time
from datetime import datetime
from urllib.parse import urlsplit

import numpy as np
import pytest
from itsdangerous import TimestampSigner
from PIL import Image
from sqlalchemy import select, update

from app.core import objects
from app.core.db import utcnow
from app.generation import aigc
from app.generation.models import GenerationResult
from app.privacy.models import OperationLog
from tests.accounts.helpers import Phone
from tests.generation.conftest import run_generation_queue, start_job, upload_ids


@pytest.fixture
def result_id(uploader, sample_jpeg, app) -> str:
    created = start_job(uploader, "id_cn_1inch", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    [result] = uploader.get(f"/api/v1/jobs/{created['id']}").get_json()["data"]["results"]
    return result["id"]


def share(phone: Phone, result_id: str, expect: int = 201) -> dict:
    response = phone.call("POST", f"/api/v1/results/{result_id}/share")
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_a_share_link_shows_the_watermarked_preview_to_anyone_and_is_logged(uploader, result_id, client, app, dbx):
    shared = share(uploader, result_id)["data"]
    assert shared["result_id"] == result_id
    assert shared["url"].startswith(app.config["PUBLIC_BASE_URL"])
    assert shared["token"] in shared["url"]
    lifetime = (datetime.fromisoformat(shared["expires_at"]) - utcnow()).total_seconds()
    assert app.config["SHARE_LINK_TTL_S"] - 60 < lifetime <= app.config["SHARE_LINK_TTL_S"]

    seen = client.get(path_of(shared["url"]))  # a friend: no login, no token
    assert seen.status_code == 200, seen.get_json()
    assert seen.mimetype.startswith("image/")
    assert seen.headers["X-Robots-Tag"] == "noindex"
    image = Image.open(io.BytesIO(seen.data))
    assert b"http://www.tc260.org.cn/ns/AIGC/1.0/" in image.info.get("xmp", b"")  # the preview's AI-content label
    links = uploader.get(f"/api/v1/results/{result_id}/links").get_json()["data"]
    own = client.get(path_of(links["preview_url"])).data
    # the watermarked preview itself (same pixels), its label naming us as the propagator too
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(own))), np.asarray(image))
    assert aigc.read(own)["PropagateID"] == ""
    served = aigc.read(seen.data)
    assert served["ContentPropagator"] == app.config["AIGC_CONTENT_PROPAGATOR"]
    assert served["PropagateID"].startswith("share-") and shared["token"] not in served["PropagateID"]
    assert served["ReservedCode1"] == aigc.read(own)["ReservedCode1"]
    assert aigc.verify(seen.data, app.config["AIGC_LABEL_KEY"].encode()).ok
    original = dbx.run(lambda s: objects.read(s.scalar(select(GenerationResult)
                                                       .where(GenerationResult.public_id == result_id)).original))
    assert seen.data != original  # never the HD original

    # the share is in the user's operation log, and "my data" API lists it; a friend's views are not logged
    actions = [(o.action, o.subject_id) for o in dbx.run(lambda s: list(s.scalars(select(OperationLog)
                                                                                     .order_by(OperationLog.id))))]
    assert ("share", result_id) in actions
    assert actions.count(("share", result_id)) == 1
    listed = uploader.get("/api/v1/me/operations").get_json()["data"]["operations"]
    assert listed[0]["action"] == "download_preview"  # newest first: the owner's own preview download above
    assert {"action": "share", "subject_type": "result", "subject_id": result_id} in [
        {k: o[k] for k in ("action", "subject_type", "subject_id")} for o in listed]


def test_a_share_link_expires(uploader, result_id, client, app, monkeypatch):
    url = path_of(share(uploader, result_id)["data"]["url"])
    assert client.get(url).status_code == 200
    later = time.time() + app.config["SHARE_LINK_TTL_S"] + 5
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(later))
    expired = client.get(url)
    assert expired.status_code == 410
    assert expired.get_json()["error"]["code"] == "share_link_expired"


def test_a_forged_or_mangled_link_is_refused(uploader, result_id, client):
    url = path_of(share(uploader, result_id)["data"]["url"])
    for bad in (url[:-3] + ("xyz" if not url.endswith("xyz") else "abc"), "/api/v1/shared/not-a-token"):
        response = client.get(bad)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "share_link_invalid"


def test_the_link_dies_with_the_result(uploader, result_id, client, dbx):
    url = path_of(share(uploader, result_id)["data"]["url"])
    dbx.execute(update(GenerationResult).where(GenerationResult.public_id == result_id).values(deleted_at=utcnow()))
    gone = client.get(url)
    assert gone.status_code == 404
    assert gone.get_json()["error"]["code"] == "shared_result_deleted"


def test_only_the_owner_can_share_and_only_when_logged_in(uploader, result_id, client, wechat_sandbox, dbx):
    anonymous = client.post(f"/api/v1/results/{result_id}/share")
    assert anonymous.status_code == 401
    wechat_sandbox.set_user("bob", phone="13833334444")
    bob = Phone(client, wechat_sandbox, user="bob", device_id="device-bob-1")
    bob.login()
    bob.accept()
    refused = share(bob, result_id, expect=404)
    assert refused["error"]["code"] == "result_not_found"
    assert share(uploader, "no-such-result", expect=404)["error"]["code"] == "result_not_found"
    assert dbx.count(OperationLog, OperationLog.action == "share") == 0  # refusals log nothing
    assert bob.get("/api/v1/me/operations").get_json()["data"]["operations"] == []


def test_a_result_without_a_preview_cannot_be_shared(uploader, result_id, dbx):
    dbx.execute(update(GenerationResult).where(GenerationResult.public_id == result_id).values(preview_object_id=None))
    refused = share(uploader, result_id, expect=409)
    assert refused["error"]["code"] == "nothing_to_share"
    assert dbx.count(OperationLog, OperationLog.action == "share") == 0
