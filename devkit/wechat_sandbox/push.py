"""WeChat message push in JSON data format, safe (encrypted) mode, as WeChat sends it.

A push is an HTTP POST to the app's message-push URL with the query
``?signature=&timestamp=&nonce=&encrypt_type=aes&msg_signature=`` and the body
``{"ToUserName": <original id>, "Encrypt": <base64>}``:

* ``Encrypt`` = base64(AES-256-CBC(key, iv=key[:16], PKCS#7 to 32-byte blocks of
  16 random bytes + 4-byte big-endian length + message + appid)), key = base64decode(EncodingAESKey + "=");
* ``signature`` = sha1 of the sorted concatenation of [Token, timestamp, nonce];
* ``msg_signature`` = sha1 of the sorted concatenation of [Token, timestamp, nonce, Encrypt].

The encryption is wechatpy's own :class:`wechatpy.crypto.PrpCrypto`, so anything that decrypts with
``wechatpy.crypto.WeChatCrypto`` decrypts sandbox pushes, and a backend that only works against
the sandbox's home-made crypto cannot slip through.

WeChat retries a push the receiver did not acknowledge; so does the sandbox, after
``settings.push_retry_delays`` (real seconds, short in tests).  Acknowledged means HTTP 200.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wechatpy.crypto import PrpCrypto

from devkit.wechat_sandbox import outbound
from devkit.wechat_sandbox.settings import SandboxApp, decode_encoding_aes_key

NONCE_ALPHABET = string.digits


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: sha1 over the lexicographically sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's protocol


@dataclass(frozen=True)
class EncryptedPush:
    """What goes on the wire: the query parameters and the JSON body."""

    query: dict[str, str]
    body: dict[str, str]


def encrypt_push(
    app: SandboxApp, message: dict[str, Any], timestamp: int, nonce: str | None = None
) -> EncryptedPush:
    """Encrypt and sign ``message`` (the plaintext event) for ``app`` in JSON safe mode."""
    plaintext = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    key = decode_encoding_aes_key(app.encoding_aes_key)
    encrypted = PrpCrypto(key).encrypt(plaintext, app.appid)
    encrypt = encrypted.decode() if isinstance(encrypted, bytes) else str(encrypted)
    nonce = nonce or "".join(secrets.choice(NONCE_ALPHABET) for _ in range(10))
    stamp = str(timestamp)
    query = {
        "signature": sha1_signature(app.push_token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(app.push_token, stamp, nonce, encrypt),
    }
    return EncryptedPush(query=query, body={"ToUserName": app.original_id, "Encrypt": encrypt})


def deliver_push(
    url: str,
    push: EncryptedPush,
    *,
    timeout: float,
    retry_delays: Sequence[float],
    on_attempt: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST the push, retrying after each delay until acknowledged; True when it was.

    Every attempt is reported to ``on_attempt`` as ``{attempt, status_code, error, body}`` so the dev
    API can show what the backend answered.
    """
    payload = json.dumps(push.body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0 (WeChat sandbox push)"}
    waits = [0.0, *retry_delays]
    for attempt, wait in enumerate(waits, start=1):
        if wait:
            sleep(wait)
        outcome: dict[str, Any] = {"attempt": attempt, "status_code": None, "error": None, "body": None}
        try:
            answer = outbound.post(url, payload, headers, timeout=timeout, params=push.query)
            outcome["status_code"] = answer.status
            outcome["body"] = answer.text[:200]
        except outbound.SendFailed as exc:
            outcome["error"] = str(exc)[:300]
        on_attempt(outcome)
        if outcome["status_code"] == 200:
            return True
    return False
