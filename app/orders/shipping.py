"""Shipping info for virtual goods: told to WeChat after fulfilment, or WeChat may keep the money frozen.

The order row is the outbox: an order is pending while ``fulfilled_at`` is set and
``shipping_uploaded_at`` is not. Nothing is lost if Redis, a worker or WeChat fails; the question is
only how soon a pending order is picked up:

- **At once, through a doorbell.** A commit that fulfils an order sets ``DOORBELL_KEY`` in Redis
  (``SET NX``, one round trip) and, only if it was not already set, enqueues one ``upload_pending_shipping``
  sweep. The sweep deletes the key *before* reading the pending orders: a fulfilment committed before
  that delete is seen by the sweep's read, and one committed after it sets the key again and enqueues
  the next sweep. So every fulfilment is covered by a sweep that has not started reading yet, and a
  burst of payments costs one job, not one per order (an RQ enqueue is ~1 ms of the request; the
  doorbell ~0.1 ms).
- **Later, through the periodic reconcile job** (``RECONCILE_ORDERS_INTERVAL_S``): orders still pending
  after ``RETRY_AFTER`` (WeChat was down, Redis was down at the commit, a sweep died, the doorbell key was
  left set) get a sweep enqueued regardless of the doorbell.

One order is uploaded at most once at a time: the sweep locks its row (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so a concurrent sweep passes over it) for the duration of the call to WeChat, and re-checks
that it is still pending under the lock.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.extensions import db

from . import wechatpay
from .models import Order
from .products import PRODUCTS
from .services import InvalidOrder, payer_openid, rfc3339

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

DOORBELL_KEY = "miaohua:orders:shipping_doorbell"
# While set, fulfilments enqueue nothing; a sweep deletes it when it starts. If that sweep is lost, the
# key expires after this long (and the periodic retry does not wait for it).
DOORBELL_TTL_S = 300
RETRY_AFTER = timedelta(minutes=2)  # older than this and still pending: the doorbell path missed it
SWEEP_BATCH = 100
SWEEP_BUDGET_S = 40.0  # below the sweep task's 60 s limit, with room for one slow WeChat call (≤ ~8 s)

_SESSION_FLAG = "miaohua_orders_shipping_doorbell"


def _shipping_pending():
    return (Order.fulfilled_at.is_not(None), Order.shipping_uploaded_at.is_(None), Order.user_id.is_not(None))


# --- after a fulfilment commits -------------------------------------------------------------------

def upload_after_commit() -> None:
    """Ask for a sweep once the current transaction commits (nothing happens if it rolls back)."""
    db.session().info[_SESSION_FLAG] = True


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(_SESSION_FLAG, False):
        ring_after_fulfilment()


def ring_after_fulfilment() -> None:
    """Ring for a fulfilment that has committed (a failure is logged: the periodic retry uploads the order)."""
    try:
        ring()
    except Exception:  # redis raises several connection/timeout classes
        # The order is committed and pending: the periodic retry uploads it.
        log.exception("shipping doorbell failed; the periodic retry will upload it")


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_SESSION_FLAG, None)


def ring(*, force: bool = False) -> bool:
    """Enqueue a sweep unless one is already waiting to start (``force``: regardless); True if enqueued."""
    from app.core.jobs import enqueue_now, redis_connection

    from .tasks import upload_pending_shipping

    redis = redis_connection()
    if force:
        redis.set(DOORBELL_KEY, "1", ex=DOORBELL_TTL_S)
    elif not redis.set(DOORBELL_KEY, "1", nx=True, ex=DOORBELL_TTL_S):
        return False  # a sweep that has not read yet will see this commit
    try:
        enqueue_now(upload_pending_shipping)
    except Exception:
        redis.delete(DOORBELL_KEY)  # so the next commit tries again
        raise
    return True


# --- the sweep ------------------------------------------------------------------------------------

def upload_pending() -> dict[str, int]:
    """Upload the shipping info of every pending order, oldest first, within ``SWEEP_BUDGET_S``.

    WeChat unavailable: stop (the periodic retry comes back). An order WeChat refuses: logged, left
    pending, the sweep goes on. Out of time after some progress: ring again so a fresh job continues.
    """
    from app.core.jobs import redis_connection
    from app.core.wechat import WeChatError, WeChatUnavailable

    redis_connection().delete(DOORBELL_KEY)  # before reading: see the module docstring
    counts = {"uploaded": 0, "skipped": 0, "failed": 0}
    started, after_id = time.monotonic(), 0
    while True:
        batch = list(db.session.scalars(select(Order.id).where(*_shipping_pending(), Order.id > after_id)
                                        .order_by(Order.id).limit(SWEEP_BATCH)))
        db.session.rollback()  # end the read; each upload is its own transaction
        for order_id in batch:
            if time.monotonic() - started > SWEEP_BUDGET_S:
                if counts["uploaded"]:
                    ring()
                return counts
            try:
                counts[upload_one(order_id)] += 1
            except WeChatUnavailable as exc:
                db.session.rollback()
                counts["failed"] += 1
                log.warning("shipping info upload: WeChat unavailable; the periodic retry comes back",
                            extra={"order_id": order_id, "error": str(exc)})
                return counts
            except (WeChatError, InvalidOrder) as exc:
                db.session.rollback()
                counts["failed"] += 1
                log.warning("shipping info upload refused", extra={"order_id": order_id, "error": str(exc)})
        if len(batch) < SWEEP_BATCH:
            return counts
        after_id = batch[-1]


def upload_one(order_id: int) -> str:
    """Tell WeChat one order's virtual goods were delivered: ``uploaded``, or ``skipped`` (not pending,
    or another sweep holds it). Raises WeChatError / WeChatUnavailable with nothing changed."""
    from app.core.wechat import mini_program_client

    order = db.session.scalar(select(Order).where(Order.id == order_id, *_shipping_pending())
                              .with_for_update(skip_locked=True))
    if order is None:
        db.session.rollback()
        return "skipped"
    body = {
        "order_key": {"order_number_type": 2, "transaction_id": order.transaction_id} if order.transaction_id
        else {"order_number_type": 1, "mchid": wechatpay.merchant().mchid, "out_trade_no": order.out_trade_no},
        "logistics_type": 3, "delivery_mode": 1,
        "shipping_list": [{"item_desc": PRODUCTS[order.product_id].name}],
        "upload_time": rfc3339(utcnow()), "payer": {"openid": payer_openid(order.user_id)},
    }
    mini_program_client().upload_shipping_info(body)
    order.shipping_uploaded_at = utcnow()
    db.session.commit()
    return "uploaded"


def retry_stale(now: datetime | None = None) -> int:
    """The periodic fallback: orders pending for longer than ``RETRY_AFTER`` get a sweep, doorbell or not.

    Returns how many such orders there are."""
    now = now or utcnow()
    stale = db.session.scalar(select(func.count()).select_from(Order)
                              .where(*_shipping_pending(), Order.fulfilled_at <= now - RETRY_AFTER))
    db.session.rollback()
    if stale:
        ring(force=True)
    return stale
