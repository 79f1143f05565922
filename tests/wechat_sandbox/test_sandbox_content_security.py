"""``msg_sec_check`` v2 and ``media_check_async`` with its encrypted ``wxa_media_check`` push."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import check_signature

from .conftest import MAIN_APPID, MAIN_ENCODING_AES_KEY, MAIN_ORIGINAL_ID, MAIN_PUSH_TOKEN

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def openid(client, sandbox) -> str:
    return client.wxa.code_to_session(sandbox.login_code("alice"))["openid"]


def text_check(client, content: str, openid: str, /, **overrides) -> dict:
    body = {"content": content, "version": 2, "openid": openid, "scene": 2, **overrides}
    return client.post(client.api_url("wxa/msg_sec_check"), data=body)


def media_check(client, media_url: str, openid: str, /, **overrides) -> dict:
    body = {"media_url": media_url, "media_type": 2, "version": 2, "openid": openid, "scene": 1, **overrides}
    return client.post(client.api_url("wxa/media_check_async"), data=body)


def decrypt_push(push) -> dict:
    """Verify and decrypt a push the way a backend does, with wechatpy."""
    query = push.query
    assert query["encrypt_type"] == "aes"
    check_signature(MAIN_PUSH_TOKEN, query["signature"], query["timestamp"], query["nonce"])
    body = json.loads(push.body)
    assert body["ToUserName"] == MAIN_ORIGINAL_ID
    crypto = WeChatCrypto(MAIN_PUSH_TOKEN, MAIN_ENCODING_AES_KEY, MAIN_APPID)
    plaintext = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
    return json.loads(plaintext)


def test_text_passes_by_default(client, openid):
    answer = text_check(client, "一只在月球上画画的猫", openid)

    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert answer["result"] == {"suggest": "pass", "label": 100}
    assert answer["detail"][0]["strategy"] == "content_model"
    assert len(answer["trace_id"].split("-")) == 3


def test_registered_terms_make_text_risky_or_review(client, sandbox, openid):
    sandbox.dev("risky-texts", {"term": "Forbidden"})
    sandbox.dev("risky-texts", {"term": "borderline", "suggest": "review", "label": 20012})

    risky = text_check(client, "a forbidden and borderline prompt", openid)
    review = text_check(client, "just borderline", openid)

    assert risky["result"] == {"suggest": "risky", "label": 20006}
    assert [item["keyword"] for item in risky["detail"] if item["strategy"] == "keyword"] == [
        "Forbidden", "borderline"]
    assert review["result"] == {"suggest": "review", "label": 20012}


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [({"version": 1}, 47003), ({"scene": 9}, 47003), ({"openid": "o-never-logged-in"}, 40003),
     ({"content": ""}, 47003)],
)
def test_text_check_argument_errors(client, openid, overrides, errcode):
    with pytest.raises(WeChatClientException) as raised:
        text_check(client, "hello", openid, **overrides)
    assert raised.value.errcode == errcode


def test_media_check_pushes_an_encrypted_verdict(client, sandbox, fake_backend, openid):
    fake_backend.media["cat.png"] = PNG_BYTES

    answer = media_check(client, fake_backend.media_url("cat.png"), openid)

    assert answer["errcode"] == 0 and answer["trace_id"]
    [push] = fake_backend.wait_for_pushes(1)
    assert push.content_type == "application/json"
    event = decrypt_push(push)
    assert event == {
        "ToUserName": MAIN_ORIGINAL_ID,
        "FromUserName": openid,
        "CreateTime": event["CreateTime"],
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": MAIN_APPID,
        "trace_id": answer["trace_id"],
        "version": 2,
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": "pass", "label": 100, "prob": 90}],
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": "pass", "label": 100},
    }
    record = sandbox.wait_for_media_check(answer["trace_id"])
    assert record["status"] == "delivered"
    assert record["sha256"] == hashlib.sha256(PNG_BYTES).hexdigest() and record["size"] == len(PNG_BYTES)
    assert [attempt["status_code"] for attempt in record["push_attempts"]] == [200]


def test_push_format_matches_wechat_byte_for_byte(client, fake_backend, openid):
    """Decrypt without wechatpy, following WeChat's specification, so both sides cannot share a bug."""
    fake_backend.media["cat.png"] = PNG_BYTES
    media_check(client, fake_backend.media_url("cat.png"), openid)
    [push] = fake_backend.wait_for_pushes(1)
    encrypted = base64.b64decode(json.loads(push.body)["Encrypt"])
    key = base64.b64decode(MAIN_ENCODING_AES_KEY + "=")

    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()

    assert len(padded) % 32 == 0 and 1 <= padded[-1] <= 32
    content = padded[16:-padded[-1]]
    (length,) = struct.unpack(">I", content[:4])
    assert json.loads(content[4:4 + length])["Event"] == "wxa_media_check"
    assert content[4 + length:] == MAIN_APPID.encode()
    query = push.query
    encrypt = json.loads(push.body)["Encrypt"]
    signed = "".join(sorted([MAIN_PUSH_TOKEN, query["timestamp"], query["nonce"], encrypt]))
    expected = hashlib.sha1(signed.encode()).hexdigest()  # noqa: S324 - WeChat's protocol
    assert query["msg_signature"] == expected


@pytest.mark.parametrize("registration", ["sha256", "url_contains"])
def test_registered_media_is_risky(client, sandbox, fake_backend, openid, registration):
    fake_backend.media["bad-image.png"] = PNG_BYTES
    entry = ({"sha256": hashlib.sha256(PNG_BYTES).hexdigest()} if registration == "sha256"
             else {"url_contains": "bad-image"})
    sandbox.dev("risky-media", entry)

    media_check(client, fake_backend.media_url("bad-image.png"), openid)

    event = decrypt_push(fake_backend.wait_for_pushes(1)[0])
    assert event["result"] == {"suggest": "risky", "label": 20002}


@pytest.mark.parametrize(("name", "errcode"), [("missing.png", -1), ("huge.png", 40006)])
def test_media_that_cannot_be_judged_asks_for_review(client, sandbox, fake_backend, openid, name, errcode):
    fake_backend.media["huge.png"] = b"x" * (sandbox.state.settings.max_media_bytes + 1)

    media_check(client, fake_backend.media_url(name), openid)

    event = decrypt_push(fake_backend.wait_for_pushes(1)[0])
    assert event["errcode"] == event["detail"][0]["errcode"] == errcode
    assert event["result"]["suggest"] == "review"


def test_failed_push_is_retried(client, sandbox, fake_backend, openid):
    fake_backend.media["cat.png"] = PNG_BYTES
    fake_backend.push_statuses.extend([500, 503])

    answer = media_check(client, fake_backend.media_url("cat.png"), openid)

    record = sandbox.wait_for_media_check(answer["trace_id"])
    assert [attempt["status_code"] for attempt in record["push_attempts"]] == [500, 503, 200]
    assert record["status"] == "delivered"
    pushes = fake_backend.wait_for_pushes(3)
    assert len({push.body for push in pushes}) == 1  # the same push, as WeChat retries it


def test_push_that_never_succeeds_is_recorded_as_failed(client, sandbox, fake_backend, openid):
    fake_backend.media["cat.png"] = PNG_BYTES
    fake_backend.push_statuses.extend([500, 500, 500])

    answer = media_check(client, fake_backend.media_url("cat.png"), openid)

    record = sandbox.wait_for_media_check(answer["trace_id"])
    assert record["status"] == "failed" and len(record["push_attempts"]) == 3


def test_no_push_url_means_no_push(client, sandbox, fake_backend, openid):
    fake_backend.media["cat.png"] = PNG_BYTES
    sandbox.dev(f"apps/{MAIN_APPID}/push-url", {"url": ""})

    answer = media_check(client, fake_backend.media_url("cat.png"), openid)

    assert sandbox.wait_for_media_check(answer["trace_id"])["status"] == "no_push_url"
    assert fake_backend.pushes == []


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [({"version": 1}, 47003), ({"media_type": 3}, 47003), ({"media_url": "ftp://x/y.png"}, 47003),
     ({"openid": "o-stranger"}, 40003)],
)
def test_media_check_argument_errors(client, fake_backend, openid, overrides, errcode):
    with pytest.raises(WeChatClientException) as raised:
        media_check(client, fake_backend.media_url("cat.png"), openid, **overrides)
    assert raised.value.errcode == errcode
