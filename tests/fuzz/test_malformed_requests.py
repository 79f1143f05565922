"""Malformed requests: broken multipart, giant and deeply nested JSON, wrong content types, and Unicode
edge cases in the free text users type (nicknames, support tickets).

Each gets a clear 4xx with a stable code, never a 500, and nothing is stored from a refused request.
Text that is accepted is stored and returned exactly (after NFC normalisation where the field does it).
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.core.objects import StoredObject
from app.uploads.models import Upload

pytestmark = pytest.mark.fuzz

BOUNDARY = "----miaohua-fuzz-boundary"


def error_code(response) -> str:
    assert response.is_json, (response.status_code, response.get_data(as_text=True)[:200])
    return response.get_json()["error"]["code"]


def raw_upload(phone, body: bytes, content_type: str):
    return phone.client.post("/api/v1/uploads", data=body, headers={**phone.headers(), "Content-Type": content_type})


def multipart(*parts: bytes, closing: bool = True) -> bytes:
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + BOUNDARY.encode() + b"--\r\n" if closing else b"")


FILE_PART = (b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
             b"\xff\xd8\xff\xe0 not really a jpeg")
DECLARATION_PART = b'Content-Disposition: form-data; name="declaration"\r\n\r\nown_face'


@pytest.mark.parametrize(("content_type", "body", "status", "code"), [
    ("multipart/form-data", multipart(FILE_PART, DECLARATION_PART), 400, "file_required"),  # no boundary
    (f"multipart/form-data; boundary={BOUNDARY}", b"garbage without any boundary", 400, "file_required"),
    (f"multipart/form-data; boundary={BOUNDARY}", multipart(FILE_PART, DECLARATION_PART, closing=False)[:-30],
     400, "file_required"),  # cut off mid-stream: the unfinished part is dropped
    (f"multipart/form-data; boundary={BOUNDARY}", multipart(DECLARATION_PART), 400, "file_required"),
    (f"multipart/form-data; boundary={BOUNDARY}", multipart(b"no headers at all"), 400, "file_required"),
    (f"multipart/form-data; boundary={BOUNDARY}", multipart(FILE_PART), 422, "validation_error"),  # no declaration
    ("application/json", b'{"file": "aGVsbG8="}', 415, "unsupported_media_type"),
    ("image/jpeg", b"\xff\xd8\xff\xe0", 415, "unsupported_media_type"),
    ("text/plain", b"hello", 415, "unsupported_media_type"),
])
def test_malformed_multipart_uploads_get_clear_errors_and_store_nothing(uploader, dbx, content_type, body, status,
                                                                        code):
    response = raw_upload(uploader, body, content_type)
    assert response.status_code == status, response.get_json()
    assert error_code(response) == code
    assert dbx.count(Upload) == 0 and dbx.count(StoredObject) == 0


def test_uploads_over_the_limits_are_refused(uploader, app, dbx):
    limit = app.config["UPLOAD_MAX_BYTES"]
    big = uploader.call("POST", "/api/v1/uploads", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(b"\0" * (limit + 1)), "big.jpg"), "declaration": "own_face"})
    assert big.status_code == 413 and error_code(big) == "upload_too_large"
    huge = raw_upload(uploader, b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                      f"multipart/form-data; boundary={BOUNDARY}")
    assert huge.status_code == 413 and error_code(huge) == "upload_too_large"  # one code whatever the size
    assert big.get_json()["error"]["details"]["max_bytes"] == huge.get_json()["error"]["details"]["max_bytes"] == limit
    assert dbx.count(Upload) == 0 and dbx.count(StoredObject) == 0


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b'{"nickname": "' + b"x" * (70 * 1024) + b'"}', "application/json", 413, "payload_too_large"),
    (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "malformed_json"),  # nested past the parser's depth
    (b'{"nickname": ' * 3_000 + b'"x"' + b"}" * 3_000, "application/json", 400, "malformed_json"),
    (b'{"nickname": "\xff\xfe"}', "application/json", 400, "malformed_json"),  # not UTF-8
    (b'{"nickname": "a"', "application/json", 400, "malformed_json"),
    (b'{"nickname": NaN}', "application/json", 422, "validation_error"),
    (b"", "application/json", 400, "malformed_json"),
    (b'{"nickname": "a"}', "text/plain", 415, "unsupported_media_type"),
    (b"nickname=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b'{"nickname": "a"}', "", 415, "unsupported_media_type"),
    (b'["nickname", "a"]', "application/json", 422, "validation_error"),
    (b'{"nickname": "a", "is_admin": true}', "application/json", 422, "validation_error"),
])
def test_bad_json_bodies_get_clear_errors_and_change_nothing(member, dbx, body, content_type, status, code):
    before = dbx.one(select(User)).nickname
    headers = {**member.headers(), **({"Content-Type": content_type} if content_type else {})}
    response = member.client.patch("/api/v1/me", data=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert error_code(response) == code
    assert dbx.one(select(User)).nickname == before


# Unicode that must be refused in a display name: it hides or reorders text, or is not text at all.
INVISIBLE_OR_CONTROL = {
    "right-to-left override": "abc\u202edcba",
    "left-to-right mark": "\u200eabc",
    "zero-width space": "a\u200bb",
    "zero-width joiner": "a\u200db",
    "byte order mark": "\ufeffabc",
    "NUL": "a\x00b",
    "escape": "a\x1b[31mb",
    "newline": "a\nb",
    "private use": "a\ue000b",
    "unassigned": "a\U000e0fffb",
}
# Unicode that is legitimate in a name and must round-trip exactly (NFC).
LEGITIMATE = {
    "CJK": "小明",
    "4-byte emoji": "😀🐼",
    "4-byte CJK extension B": "𠀋𡈽",
    "Arabic (right-to-left script)": "مرحبا",
    "Hebrew": "שלום",
    "combining accent": "Zoe\u0301",
    "variation selector": "❤️",
    "Thai with combining marks": "สวัสดี",
}


@pytest.mark.parametrize("name", list(INVISIBLE_OR_CONTROL))
def test_nicknames_with_invisible_or_control_characters_are_refused(member, dbx, name):
    response = member.call("PATCH", "/api/v1/me", json={"nickname": INVISIBLE_OR_CONTROL[name]})
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert response.get_json()["error"]["details"]["fields"][0]["field"] == "nickname"
    assert dbx.one(select(User)).nickname is None


def test_a_lone_surrogate_in_json_is_refused(member, dbx):
    body = b'{"nickname": "a\\ud800b"}'  # valid JSON syntax; not a Unicode scalar value
    response = member.client.patch("/api/v1/me", data=body, headers={**member.headers(),
                                                                       "Content-Type": "application/json"})
    assert response.status_code in (400, 422) and error_code(response) in ("malformed_json", "validation_error")
    assert dbx.one(select(User)).nickname is None


@pytest.mark.parametrize("name", list(LEGITIMATE))
def test_legitimate_unicode_nicknames_round_trip(member, dbx, name):
    import unicodedata

    expected = unicodedata.normalize("NFC", LEGITIMATE[name])
    response = member.call("PATCH", "/api/v1/me", json={"nickname": LEGITIMATE[name]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["nickname"] == expected
    assert member.get("/api/v1/me").get_json()["data"]["nickname"] == expected
    assert dbx.one(select(User)).nickname == expected


def test_a_nickname_that_grows_under_normalisation_is_refused_not_a_500(member, dbx):
    """U+FB2C is one character that NFC turns into three: 32 of them pass a naive length check as 96."""
    response = member.call("PATCH", "/api/v1/me", json={"nickname": "\ufb2c" * 32})
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert dbx.one(select(User)).nickname is None


TICKET_TEXTS = {**LEGITIMATE, "mixed right-to-left and Chinese": "订单 מספר 123 有问题",
                "long Chinese": "问" * 2000, "emoji at the limit": "😀" * 2000}


@pytest.mark.parametrize("name", list(TICKET_TEXTS))
def test_ticket_text_round_trips_exactly(member, name):
    text = TICKET_TEXTS[name]
    response = member.call("POST", "/api/v1/tickets", json={"category": "other", "subject": text[:100],
                                                            "body": text})
    assert response.status_code == 201, response.get_json()
    ticket = member.get(f"/api/v1/tickets/{response.get_json()['data']['id']}").get_json()["data"]
    assert ticket["subject"] == text[:100].strip() and ticket["messages"][0]["body"] == text.strip()


@pytest.mark.parametrize(("text", "raw"), [
    ("问" * 2001, None), ("   ", None), ("", None),
    (None, b'{"category": "other", "subject": "s", "body": "a\\udc00b"}'),
], ids=["too long", "only spaces", "empty", "lone surrogate"])
def test_ticket_text_that_cannot_be_stored_is_refused(member, dbx, text, raw):
    from app.support.models import Ticket

    body = raw or json.dumps({"category": "other", "subject": "s", "body": text}).encode()
    response = member.client.post("/api/v1/tickets", data=body, headers={**member.headers(),
                                                                        "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert error_code(response) in ("validation_error", "malformed_json")
    assert dbx.count(Ticket) == 0


@pytest.mark.parametrize("text", ["a\x00b", "abc\u202edcba", "\x1b[31mred", "a\x7fb"],
                         ids=["NUL", "right-to-left override", "terminal escape", "DEL"])
def test_control_characters_in_ticket_text_are_refused(member, dbx, text):
    """What no person types (and what could disguise an order number to staff) is refused, naming the character."""
    from app.support.models import Ticket

    for payload in ({"category": "other", "subject": "s", "body": text},
                    {"category": "other", "subject": text, "body": "b"}):
        response = member.call("POST", "/api/v1/tickets", json=payload)
        assert response.status_code == 422 and error_code(response) == "validation_error"
        [field] = response.get_json()["error"]["details"]["fields"]
        assert field["message"].startswith("不能包含控制字符（发现 U+")  # zh-CN unless the client asks for English
    assert dbx.count(Ticket) == 0


@pytest.mark.parametrize("text", ["a\u200bb", "家人 👨\u200d👩\u200d👧", "第一行\n第二行\t缩进", "مرحبا 你好"],
                         ids=["zero-width space", "emoji sequence", "newline and tab", "Arabic and Chinese"])
def test_real_text_in_tickets_is_stored_and_shown_back_exactly(member, text):
    response = member.call("POST", "/api/v1/tickets", json={"category": "other", "subject": "s", "body": text})
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    ticket = member.get(f"/api/v1/tickets/{response.get_json()['data']['id']}").get_json()["data"]
    assert ticket["messages"][0]["body"] == text
