"""The WeChat Pay emulation's memory and rules: orders, payments, refunds, signing keys, faults.

Every rule that needs atomicity (one order per ``out_trade_no``, one refund per ``out_refund_no``, the
refundable balance, state transitions) is decided here under :attr:`PayState.lock`, so concurrent
backend workers see what they would see against WeChat.  Business times (prepay expiry, ``time_expire``,
``success_time``) follow the sandbox clock; signature timestamps follow the wall clock, like the
backend's own clock does.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from devkit.wechat_sandbox.clock import SandboxClock
from devkit.wechat_sandbox.errors import WeChatApiError
from devkit.wechat_sandbox.pay import records
from devkit.wechat_sandbox.pay.crypto import AUTH_SCHEME, BEIJING, new_nonce, response_message, rsa_sign
from devkit.wechat_sandbox.pay.errors import PayApiError
from devkit.wechat_sandbox.pay.keys import (
    PayKeys,
    PayKeysMismatch,
    PlatformCertificate,
    check_keys_dir,
    generate_keys,
    load_or_create_keys,
    new_platform_certificate,
)
from devkit.wechat_sandbox.pay.notify import Notifier
from devkit.wechat_sandbox.pay.records import Delivery, Refund, Transaction
from devkit.wechat_sandbox.settings import SandboxConfigError, SandboxSettings
from devkit.wechat_sandbox.state import SandboxState

MAX_PARTIAL_REFUNDS = 50
REFUND_WINDOW_SECONDS = 365 * 86400
MAX_ORDERS = 10000  # oldest orders are forgotten past this, so a long-running sandbox stays small


@dataclass
class PayFault:
    """An error the next matching ``/v3/`` calls answer (``when``: before or after doing the work)."""

    path: str  # prefix of the request path
    code: str
    status: int
    message: str
    when: str = "before"
    remaining: int = 1
    delay: float = 0.0


class PayState:
    """All mutable WeChat Pay data; public methods take :attr:`lock` themselves."""

    def __init__(self, settings: SandboxSettings, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.settings = settings.pay
        self.default_appid = settings.pay.appid or settings.default_app.appid
        self.lock = threading.RLock()
        self._keys: PayKeys | None = None
        self._keys_lock = threading.Lock()
        self.notifier = Notifier(self)
        self._clear()
        if self.settings.keys_dir:  # keys load on first use; a directory made for another merchant stops the start
            try:
                check_keys_dir(self.settings.keys_dir, mchid=self.settings.mchid, appid=self.settings.appid,
                               apiv3_key=self.settings.apiv3_key)
            except PayKeysMismatch as exc:
                raise SandboxConfigError(str(exc)) from exc

    @property
    def clock(self) -> SandboxClock:
        return self.sandbox.clock

    def _clear(self) -> None:
        self.transactions: dict[tuple[str, str], Transaction] = {}
        self.by_transaction_id: dict[str, Transaction] = {}
        self.by_prepay_id: dict[str, Transaction] = {}
        self.refunds: dict[tuple[str, str], Refund] = {}
        self.next_refund_outcomes: deque[str] = deque()
        self.faults: list[PayFault] = []
        self.signing_mode = self.settings.signing
        self.rotated_platforms: list[PlatformCertificate] = []
        self.signatures = 0
        self.timers: list[threading.Timer] = []

    def reset(self) -> None:
        """Forget orders, refunds, notifications (pending deliveries stop), faults and rotations."""
        self.notifier.cancel_all()
        with self.lock:
            for timer in self.timers:
                timer.cancel()
            self._clear()

    # -- keys and signatures -------------------------------------------------------------------------

    @property
    def keys(self) -> PayKeys:
        with self._keys_lock:
            if self._keys is None:
                pay = self.settings
                if pay.keys_dir:
                    try:
                        self._keys = load_or_create_keys(pay.keys_dir, mchid=pay.mchid, appid=pay.appid,
                                                         apiv3_key=pay.apiv3_key, default_appid=self.default_appid)
                    except PayKeysMismatch as exc:
                        raise SandboxConfigError(str(exc)) from exc
                else:
                    self._keys = generate_keys(pay.mchid, self.default_appid, pay.apiv3_key)
            return self._keys

    @property
    def keys_loaded(self) -> bool:
        return self._keys is not None

    def platform_certificates(self) -> list[PlatformCertificate]:
        """Valid platform certificates, oldest first (the newest signs)."""
        with self.lock:
            return [self.keys.platform, *self.rotated_platforms]

    def rotate_platform_certificate(self) -> PlatformCertificate:
        """A new platform certificate signs from now on; the previous ones stay downloadable."""
        certificate = new_platform_certificate(self.keys.mchid)
        with self.lock:
            self.rotated_platforms.append(certificate)
        return certificate

    def set_signing_mode(self, mode: str) -> None:
        with self.lock:
            self.signing_mode = mode

    def signing_key(self) -> tuple[Any, str]:
        """(private key, ``Wechatpay-Serial``) for the next signature; ``both`` alternates."""
        with self.lock:
            mode, self.signatures = self.signing_mode, self.signatures + 1
            use_certificate = mode == "certificate" or (mode == "both" and self.signatures % 2 == 0)
            if use_certificate:
                platform = self.platform_certificates()[-1]
                return platform.private_key, platform.serial_no
            return self.keys.public_key_private, self.keys.public_key_id

    def signed_headers(self, body: str, signature: str | None = None) -> dict[str, str]:
        """``Wechatpay-*`` headers over the exact body; ``signature`` overrides it (probes)."""
        key, serial = self.signing_key()
        timestamp, nonce = str(int(time.time())), new_nonce()
        return {
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature or rsa_sign(key, response_message(timestamp, nonce, body)),
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": AUTH_SCHEME,
        }

    def merchant_key(self, mchid: str, serial_no: str) -> tuple[RSAPublicKey | None, str]:
        """The public key verifying this merchant's requests, or None and why not."""
        keys = self.keys
        if mchid != keys.mchid:
            return None, "商户号mchid不存在 (not a merchant of this sandbox)"
        if serial_no.upper() != keys.merchant_serial_no:
            return None, "商户证书序列号有误。请使用签名私钥匹配的证书序列号"
        return keys.merchant_public_key, ""

    def openid_belongs(self, appid: str, openid: str) -> bool:
        """Whether the openid is one of this app's users (seen at login, or any test user's)."""
        try:
            self.sandbox.user_for_openid(appid, openid)
        except WeChatApiError:
            return any(self.sandbox.openid_for(appid, user.name) == openid for user in self.sandbox.list_users())
        return True

    # -- faults ----------------------------------------------------------------------------------------

    def add_fault(self, fault: PayFault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, path: str, when: str) -> PayFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.when == when and path.startswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return PayFault(**asdict(fault))
        return None

    def list_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(fault) for fault in self.faults]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    # -- orders ----------------------------------------------------------------------------------------

    def _settle_expiry(self, tx: Transaction, now: float) -> None:
        """An unpaid order past its ``time_expire`` is closed (as WeChat shows it)."""
        if tx.trade_state in records.UNPAID_STATES and tx.time_expire is not None and now >= tx.time_expire:
            tx.trade_state, tx.closed_at = records.CLOSED, tx.time_expire

    def _new_prepay_id(self, now: float) -> str:
        return f"wx{datetime.fromtimestamp(int(now), BEIJING):%Y%m%d%H%M%S}{secrets.token_hex(10)}"

    def create_order(self, order: dict[str, Any]) -> str:
        """``POST /v3/pay/transactions/jsapi`` with validated fields; returns the prepay_id."""
        fingerprint = json.dumps(order, sort_keys=True, ensure_ascii=False)
        key = (order["mchid"], order["out_trade_no"])
        with self.lock:
            now = self.clock.now()
            tx = self.transactions.get(key)
            if tx is not None:
                self._settle_expiry(tx, now)
                if tx.trade_state in (records.SUCCESS, records.REFUND):
                    raise PayApiError("ORDERPAID", "该订单已支付")
                if tx.trade_state == records.CLOSED:
                    raise PayApiError("ORDER_CLOSED", "该订单已关闭")
                if tx.fingerprint != fingerprint:
                    raise PayApiError("INVALID_REQUEST", "201 商户订单号重复")
                if tx.prepay_expires_at <= now:
                    del self.by_prepay_id[tx.prepay_id]
                    tx.prepay_id, tx.prepay_expires_at = self._new_prepay_id(now), now + self.settings.prepay_ttl
                    self.by_prepay_id[tx.prepay_id] = tx
                return tx.prepay_id
            tx = Transaction(
                mchid=order["mchid"], appid=order["appid"], out_trade_no=order["out_trade_no"],
                description=order["description"], notify_url=order["notify_url"], total=order["amount"]["total"],
                currency=order["amount"]["currency"], openid=order["payer"]["openid"], attach=order.get("attach"),
                time_expire=order.get("time_expire_at"), fingerprint=fingerprint, created_at=now,
                prepay_id=self._new_prepay_id(now), prepay_expires_at=now + self.settings.prepay_ttl,
            )
            self.transactions[key] = tx
            self.by_prepay_id[tx.prepay_id] = tx
            while len(self.transactions) > MAX_ORDERS:
                oldest = self.transactions.pop(next(iter(self.transactions)))
                self.by_prepay_id.pop(oldest.prepay_id, None)
                self.by_transaction_id.pop(oldest.transaction_id or "", None)
            return tx.prepay_id

    def _order(self, mchid: str, out_trade_no: str | None = None, transaction_id: str | None = None) -> Transaction:
        tx = (self.by_transaction_id.get(transaction_id) if transaction_id
              else self.transactions.get((mchid, out_trade_no or "")))
        if tx is None or tx.mchid != mchid:
            raise PayApiError("ORDER_NOT_EXIST", "订单不存在")
        self._settle_expiry(tx, self.clock.now())
        return tx

    def query_order(self, mchid: str, out_trade_no: str | None = None,
                    transaction_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            return records.transaction_json(self._order(mchid, out_trade_no, transaction_id))

    def close_order(self, mchid: str, out_trade_no: str) -> None:
        """Unpaid → CLOSED; closed again → nothing (re-entrant); paid → 400 ORDERPAID."""
        with self.lock:
            tx = self._order(mchid, out_trade_no)
            if tx.trade_state in (records.SUCCESS, records.REFUND):
                raise PayApiError("ORDERPAID", "订单已支付")
            if tx.trade_state != records.CLOSED:
                tx.trade_state, tx.closed_at = records.CLOSED, self.clock.now()

    def expire_order(self, out_trade_no: str) -> dict[str, Any]:
        """Dev API: the order's ``time_expire`` passes now (unpaid → CLOSED); LookupError, ValueError."""
        with self.lock:
            tx = self.transactions.get((self.keys.mchid, out_trade_no))
            if tx is None:
                raise LookupError(f"no order {out_trade_no!r}")
            self._settle_expiry(tx, self.clock.now())
            if tx.trade_state not in records.UNPAID_STATES:
                raise ValueError(f"the order is {tx.trade_state} already")
            tx.time_expire = self.clock.now()
            self._settle_expiry(tx, tx.time_expire)
            return records.transaction_json(tx)

    def list_orders(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            listed = []
            for tx in self.transactions.values():
                self._settle_expiry(tx, now)
                listed.append({**records.transaction_json(tx), "prepay_id": tx.prepay_id,
                               "prepay_expires_in": max(0, int(tx.prepay_expires_at - now)),
                               "notify_url": tx.notify_url, "description": tx.description})
            return listed

    # -- the payer's side (dev API) ---------------------------------------------------------------------

    def find_order(self, prepay_id: str | None = None, out_trade_no: str | None = None) -> Transaction:
        """The order a payer is about to pay (dev API); LookupError when unknown."""
        with self.lock:
            tx = (self.by_prepay_id.get(prepay_id or "") if prepay_id
                  else self.transactions.get((self.keys.mchid, out_trade_no or "")))
            if tx is None:
                raise LookupError("no order with this prepay_id / out_trade_no")
            return tx

    def pay(self, tx: Transaction, result: str, bank_type: str, by_prepay_id: bool) -> Delivery | None:
        """The payer pays (SUCCESS), fails (PAYERROR) or is entering the password (USERPAYING).

        ValueError when the order cannot be paid any more (closed, expired, paid, stale prepay_id).
        SUCCESS notifies ``TRANSACTION.SUCCESS`` to the order's notify_url.
        """
        with self.lock:
            now = self.clock.now()
            self._settle_expiry(tx, now)
            if tx.trade_state not in records.UNPAID_STATES:
                raise ValueError(f"the order is {tx.trade_state}: {records.TRADE_STATE_DESC[tx.trade_state]}")
            if by_prepay_id and tx.prepay_expires_at <= now:
                raise ValueError("prepay_id 已过期 (valid 2 hours): the backend must order again")
            tx.trade_state = result
            if result != records.SUCCESS:
                return None
            tx.success_time, tx.bank_type = now, bank_type
            day = datetime.fromtimestamp(int(now), BEIJING).strftime("%Y%m%d")
            tx.transaction_id = f"42000{secrets.randbelow(10**5):05d}{day}{secrets.randbelow(10**10):010d}"
            self.by_transaction_id[tx.transaction_id] = tx
            resource = records.transaction_json(tx)
            del resource["promotion_detail"]
            return self.notifier.notify("TRANSACTION.SUCCESS", "支付成功", "transaction", resource,
                                        tx.notify_url, out_trade_no=tx.out_trade_no)

    # -- refunds -----------------------------------------------------------------------------------------

    def create_refund(self, mchid: str, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /v3/refund/domestic/refunds`` with validated fields; ``out_refund_no`` is idempotent."""
        amount = request["amount"]
        with self.lock:
            now = self.clock.now()
            try:
                tx = self._order(mchid, request.get("out_trade_no"), request.get("transaction_id"))
            except PayApiError:
                raise PayApiError("RESOURCE_NOT_EXISTS", "订单不存在") from None
            existing = self.refunds.get((mchid, request["out_refund_no"]))
            if existing is not None:
                if (existing.out_trade_no, existing.refund, existing.total) != (
                        tx.out_trade_no, amount["refund"], amount["total"]):
                    raise PayApiError("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
                return records.refund_json(existing)
            if tx.trade_state not in (records.SUCCESS, records.REFUND) or tx.transaction_id is None:
                raise PayApiError("INVALID_REQUEST", "订单未支付，不能发起退款")
            if now - (tx.success_time or now) > REFUND_WINDOW_SECONDS:
                raise PayApiError("INVALID_REQUEST", "订单已超过退款期限")
            if amount["total"] != tx.total:
                raise PayApiError("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
            live = [r for r in self.refunds.values()
                    if r.out_trade_no == tx.out_trade_no and r.mchid == mchid and r.status != records.REFUND_CLOSED]
            refunded = sum(r.refund for r in live)
            if refunded >= tx.total:
                raise PayApiError("INVALID_REQUEST", "订单已全额退款")
            if amount["refund"] > tx.total - refunded:
                raise PayApiError("INVALID_REQUEST", "申请退款金额超过订单可退金额")
            if len(live) >= MAX_PARTIAL_REFUNDS:
                raise PayApiError("INVALID_REQUEST", "订单退款次数超过限制")
            day = datetime.fromtimestamp(int(now), BEIJING).strftime("%Y%m%d")
            refund = Refund(
                mchid=mchid, refund_id=f"503{secrets.randbelow(10**10):010d}{day}{secrets.randbelow(10**8):08d}",
                out_refund_no=request["out_refund_no"], out_trade_no=tx.out_trade_no,
                transaction_id=tx.transaction_id, reason=request.get("reason"),
                notify_url=request.get("notify_url") or self.settings.notify_url, refund=amount["refund"],
                total=amount["total"], currency=amount["currency"], created_at=now,
                outcome=self.next_refund_outcomes.popleft() if self.next_refund_outcomes else records.REFUND_SUCCESS,
            )
            self.refunds[(mchid, refund.out_refund_no)] = refund
            tx.trade_state = records.REFUND
            if self.settings.refund_delay >= 0:
                timer = threading.Timer(self.settings.refund_delay, self._settle_later, (refund,))
                timer.daemon = True
                self.timers = [t for t in self.timers if t.is_alive()] + [timer]
                timer.start()
            return records.refund_json(refund)

    def _settle_later(self, refund: Refund) -> None:
        with self.lock:
            if self.refunds.get((refund.mchid, refund.out_refund_no)) is refund:
                self._settle(refund, refund.outcome)

    def _settle(self, refund: Refund, status: str) -> Delivery | None:
        if refund.status in (records.REFUND_SUCCESS, records.REFUND_CLOSED) or refund.status == status:
            return None  # final already, or nothing changes
        refund.status = status
        if status == records.REFUND_SUCCESS:
            refund.success_time = self.clock.now()
        event_type, summary = records.REFUND_EVENTS[status]
        return self.notifier.notify(event_type, summary, "refund", records.refund_resource(refund),
                                    refund.notify_url, out_trade_no=refund.out_trade_no,
                                    out_refund_no=refund.out_refund_no)

    def settle_refund(self, out_refund_no: str, status: str | None) -> tuple[dict[str, Any], Delivery | None]:
        """Settle a PROCESSING or ABNORMAL refund now (dev API); LookupError / ValueError."""
        with self.lock:
            refund = self.refunds.get((self.keys.mchid, out_refund_no))
            if refund is None:
                raise LookupError(f"no refund {out_refund_no!r}")
            if refund.status in (records.REFUND_SUCCESS, records.REFUND_CLOSED):
                raise ValueError(f"the refund is {refund.status} already (final)")
            delivery = self._settle(refund, status or refund.outcome)
            return records.refund_json(refund), delivery

    def query_refund(self, mchid: str, out_refund_no: str) -> dict[str, Any]:
        with self.lock:
            refund = self.refunds.get((mchid, out_refund_no))
            if refund is None:
                raise PayApiError("RESOURCE_NOT_EXISTS", "退款单不存在")
            return records.refund_json(refund)

    def plan_refunds(self, outcome: str, count: int) -> list[str]:
        with self.lock:
            self.next_refund_outcomes.extend([outcome] * count)
            return list(self.next_refund_outcomes)

    def list_refunds(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{**records.refund_json(r), "reason": r.reason, "notify_url": r.notify_url,
                     "planned_outcome": r.outcome} for r in self.refunds.values()]
