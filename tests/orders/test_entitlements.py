"""What a user paid for is theirs: a credit-paid video (or avatar) is viewable and downloadable with no second
purchase; every result, videos included, has a free labelled, watermarked preview; no HD download is sold twice."""

import io
import subprocess
from urllib.parse import urlsplit

import numpy as np
from PIL import Image
from sqlalchemy import update

from app.core.db import utcnow
from app.generation import aigc
from app.orders.models import Entitlement
from tests.generation.aigc_support import exiftool_label
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, pay, wait_for_order
from workers.generators.aigc_label import stamp_for
from workers.generators.video import ffmpeg_exe


def path_of(url: str) -> str:
    return urlsplit(url).path


def label_text_present(rgb: np.ndarray) -> bool:
    """The visible label's white text inside its dark plate in the bottom-right corner."""
    height, width = rgb.shape[:2]
    stamp = stamp_for(width, height)
    ph, pw = stamp.patch.shape[:2]
    plate = rgb[stamp.y : stamp.y + ph, stamp.x : stamp.x + pw].astype(int)
    text = np.all(stamp.patch[..., :3] == 255, axis=2)
    return bool(np.all(plate >= 180, axis=2)[text].mean() > 0.9)


def test_a_paid_video_is_watchable_and_downloadable_without_a_second_purchase(uploader, sample_jpeg, wechat_sandbox,
                                                                             app, client, dbx):
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    job = start_job(uploader, "living_photo", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    done = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] == "succeeded", done
    [result] = done["results"]
    assert result["kind"] == "video"
    links = uploader.get(f"/api/v1/results/{result['id']}/links").get_json()["data"]

    # the free preview: a watermarked, labelled poster frame
    assert links["preview_url"] is not None
    preview = client.get(path_of(links["preview_url"]))
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    poster = np.asarray(Image.open(io.BytesIO(preview.data)).convert("RGB"))
    assert label_text_present(poster)
    assert exiftool_label(preview.data)["Label"] == "1"

    # the video itself: paid for with the credit, so no 402
    original = client.get(path_of(links["original_url"]))
    assert original.status_code == 200, original.get_json()
    assert original.mimetype == "video/mp4"
    label = exiftool_label(original.data)
    assert label == aigc.read(original.data) and label["ProduceID"] == result["id"]
    assert aigc.verify(original.data, app.config["AIGC_LABEL_KEY"].encode()).ok
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], input=original.data, capture_output=True, check=True).stdout
    first = np.frombuffer(raw, np.uint8).reshape(result["height"], result["width"], 3)
    assert label_text_present(first)  # the opening frame shows "AI生成"

    # nothing more to buy for it
    refused = buy(uploader, "hd_job", job["id"], expect=409)
    assert refused["error"]["code"] == "already_entitled"
    assert buy(uploader, "hd_result", result["id"], expect=409)["error"]["code"] == "already_entitled"

    # a refund (here by customer service) revokes what the credit paid for
    dbx.execute(update(Entitlement).values(revoked_at=utcnow()))
    links = uploader.get(f"/api/v1/results/{result['id']}/links").get_json()["data"]
    gone = client.get(path_of(links["original_url"]))
    assert gone.status_code == 402 and gone.get_json()["error"]["code"] == "entitlement_required"
    assert client.get(path_of(links["preview_url"])).status_code == 200  # the free preview stays


def test_a_free_style_s_hd_original_is_sold_once_and_labelled(uploader, sample_jpeg, wechat_sandbox, app, client):
    job = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    [result] = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["results"]
    links = uploader.get(f"/api/v1/results/{result['id']}/links").get_json()["data"]
    refused = client.get(path_of(links["original_url"]))
    assert refused.status_code == 402 and refused.get_json()["error"]["code"] == "entitlement_required"

    data = buy(uploader, "hd_result", result["id"])["data"]
    pay(wechat_sandbox, data)
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    original = client.get(path_of(links["original_url"]))
    assert original.status_code == 200
    rgb = np.asarray(Image.open(io.BytesIO(original.data)).convert("RGB"))
    assert (rgb.shape[1], rgb.shape[0]) == (result["width"], result["height"])  # full resolution
    assert label_text_present(rgb)  # the HD original is labelled too
    assert exiftool_label(original.data)["ProduceID"] == result["id"]

    # its only result is already the user's: buying the whole job's HD again is refused, not charged
    assert buy(uploader, "hd_result", result["id"], expect=409)["error"]["code"] == "already_entitled"
    assert buy(uploader, "hd_job", job["id"], expect=409)["error"]["code"] == "already_entitled"


def test_a_paid_avatar_is_downloadable_without_a_second_purchase(uploader, sample_jpeg, wechat_sandbox, app, client):
    data = buy(uploader, "avatar_creation")["data"]
    pay(wechat_sandbox, data)
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    uploader.accept("face_processing", "avatar_storage")  # storing an avatar needs its own consent
    job = start_job(uploader, "avatar", upload_ids(uploader, sample_jpeg, count=3))["data"]
    run_generation_queue(app)
    done = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] == "succeeded", done
    [result] = done["results"]
    links = uploader.get(f"/api/v1/results/{result['id']}/links").get_json()["data"]
    original = client.get(path_of(links["original_url"]))
    assert original.status_code == 200, original.get_json()
    assert label_text_present(np.asarray(Image.open(io.BytesIO(original.data)).convert("RGB")))
    assert exiftool_label(original.data)["ProduceID"] == result["id"]
    assert client.get(path_of(links["preview_url"])).status_code == 200
    assert buy(uploader, "hd_job", job["id"], expect=409)["error"]["code"] == "already_entitled"
