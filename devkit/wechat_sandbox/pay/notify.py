"""WeChat Pay notifications: encrypted, signed POSTs to ``notify_url``, retried until acknowledged.

The body, serialised once and sent byte-for-byte on every attempt, is::

    {"id", "create_time", "resource_type": "encrypt-resource", "event_type", "summary",
     "resource": {"original_type", "algorithm": "AEAD_AES_256_GCM", "ciphertext", "associated_data", "nonce"}}

Each attempt carries fresh ``Wechatpay-Timestamp``/``-Nonce``/``-Signature`` headers over that exact
body (so a receiver that re-serialises the JSON before verifying fails, as it would in production).
Acknowledged = HTTP 200 or 204 within ``notify_timeout``; anything else is retried after WeChat's
delays times ``notify_time_scale``.  Every attempt is recorded: ``{attempt, kind (scheduled, duplicate,
probe), sent_at (wall clock), status_code, error, body, acknowledged, elapsed_ms}``.

A *probe* is sent once with a signature starting ``WECHATPAY/SIGNTEST/``: a receiver that verifies
signatures rejects it; one that acknowledges it would accept forged payments.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import requests

from devkit.wechat_sandbox.pay.crypto import PROBE_SIGNATURE_PREFIX, encrypt_resource, rfc3339
from devkit.wechat_sandbox.pay.records import Delivery

if TYPE_CHECKING:
    from devkit.wechat_sandbox.pay.state import PayState

ACKNOWLEDGED = (200, 204)
MAX_DELIVERIES = 1000


class Notifier:
    """Builds, delivers and records notifications for one :class:`PayState`."""

    def __init__(self, pay: PayState) -> None:
        self.pay = pay
        self.lock = threading.Lock()
        self.deliveries: dict[str, Delivery] = {}
        self.cancelled = threading.Event()  # replaced on reset, so old threads stop and new ones run

    def build(self, event_type: str, summary: str, original_type: str, resource: dict[str, Any], url: str,
              **refs: str | None) -> Delivery:
        """Encrypt the resource and record the notification (not sent yet)."""
        keys = self.pay.keys
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        now = self.pay.clock.now()
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(now),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, **encrypt_resource(keys.apiv3_key, plaintext, original_type)},
        }
        delivery = Delivery(
            notification_id=envelope["id"], event_type=event_type, url=url,
            body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")), resource=resource,
            created_at=now, status="pending" if url else "no_notify_url", **refs,  # type: ignore[arg-type]
        )
        with self.lock:
            self.deliveries[delivery.notification_id] = delivery
            while len(self.deliveries) > MAX_DELIVERIES:
                del self.deliveries[next(iter(self.deliveries))]
        return delivery

    def notify(self, event_type: str, summary: str, original_type: str, resource: dict[str, Any], url: str,
               **refs: str | None) -> Delivery:
        """Record the notification and deliver it in the background on WeChat's schedule."""
        delivery = self.build(event_type, summary, original_type, resource, url, **refs)
        if url:
            thread = threading.Thread(target=self._deliver, args=(delivery, self.cancelled),
                                      name=f"wechatpay-notify-{delivery.notification_id[:8]}", daemon=True)
            thread.start()
        return delivery

    def _deliver(self, delivery: Delivery, cancelled: threading.Event) -> None:
        for wait in self.pay.settings.retry_waits():
            if (wait and cancelled.wait(wait)) or cancelled.is_set():
                self._set_status(delivery, "cancelled")
                return
            if delivery.status == "delivered":  # a redelivery was acknowledged meanwhile
                return
            if self.post(delivery, "scheduled")["acknowledged"]:
                return
        self._set_status(delivery, "failed", only_if="pending")

    def _set_status(self, delivery: Delivery, status: str, only_if: str | None = None) -> None:
        with self.lock:
            if only_if is None or delivery.status == only_if:
                delivery.status = status

    def post(self, delivery: Delivery, kind: str, signature: str | None = None) -> dict[str, Any]:
        """One attempt: POST the body with fresh signed headers; the outcome is recorded and returned."""
        headers = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "Mozilla/4.0",
                   **self.pay.signed_headers(delivery.body, signature)}
        outcome: dict[str, Any] = {"kind": kind, "sent_at": round(time.time(), 3), "status_code": None,
                                   "error": None, "body": None, "acknowledged": False}
        started = time.monotonic()
        try:
            response = requests.post(delivery.url, data=delivery.body.encode(), headers=headers,
                                     timeout=self.pay.settings.notify_timeout, allow_redirects=False)
            outcome.update(status_code=response.status_code, body=response.text[:200],
                           acknowledged=response.status_code in ACKNOWLEDGED)
        except requests.RequestException as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:300]
        outcome["elapsed_ms"] = int((time.monotonic() - started) * 1000)
        with self.lock:
            outcome["attempt"] = len(delivery.attempts) + 1
            delivery.attempts.append(outcome)
            if outcome["acknowledged"] and kind != "probe":
                delivery.status = "delivered"
        return dict(outcome)

    def send_copies(self, notification_id: str, count: int, concurrent: bool) -> list[dict[str, Any]]:
        """Deliver the same notification ``count`` more times now (all at once when ``concurrent``)."""
        delivery = self.get(notification_id)
        if delivery is None:
            raise LookupError(f"no notification {notification_id!r}")
        if not delivery.url:
            raise ValueError("this notification has no notify_url")
        if not concurrent:
            return [self.post(delivery, "duplicate") for _ in range(count)]
        barrier = threading.Barrier(count)
        outcomes: list[dict[str, Any]] = []

        def send() -> None:
            barrier.wait(timeout=10)
            outcome = self.post(delivery, "duplicate")
            with self.lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=send, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.pay.settings.notify_timeout + 15)
        return outcomes

    def probe(self, url: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Send a TRANSACTION.SUCCESS-looking notification whose signature is a probe's."""
        delivery = self.build("TRANSACTION.SUCCESS", "支付成功", "transaction", resource, url)
        signature = PROBE_SIGNATURE_PREFIX + base64.b64encode(secrets.token_bytes(192)).decode()
        outcome = self.post(delivery, "probe", signature=signature)
        self._set_status(delivery, "probe_accepted" if outcome["acknowledged"] else "probe_rejected")
        return {"notification_id": delivery.notification_id, **outcome}

    def get(self, notification_id: str) -> Delivery | None:
        with self.lock:
            return self.deliveries.get(notification_id)

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{
                "id": d.notification_id, "event_type": d.event_type, "url": d.url, "status": d.status,
                "out_trade_no": d.out_trade_no, "out_refund_no": d.out_refund_no,
                "create_time": rfc3339(d.created_at), "resource": d.resource, "body": d.body,
                "attempts": [dict(attempt) for attempt in d.attempts],
            } for d in self.deliveries.values()]

    def cancel_all(self) -> None:
        """Stop every pending delivery and forget the records (reset)."""
        with self.lock:
            self.cancelled.set()
            self.cancelled = threading.Event()
            self.deliveries.clear()
