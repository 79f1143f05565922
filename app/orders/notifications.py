"""WeChat Pay notifications: verified, then applied exactly once, in as few round trips as possible.

A payment notification is the hot path of the orders domain (WeChat retries, duplicates, bursts), so
the common case — a ``created`` order whose payment arrives — is written as a handful of prepared
Core statements instead of ORM loads and a unit-of-work flush:

1. ``INSERT processed_notifications … ON CONFLICT DO NOTHING RETURNING id`` — the claim: a duplicate
   finds the row (after waiting for a concurrent first copy to commit or roll back) and stops;
2. ``UPDATE orders SET status='fulfilled', … WHERE out_trade_no=… AND status='created' AND amount_fen=…
   AND currency=… AND (payer_openid_hash IS NULL OR payer_openid_hash=…) RETURNING …`` — row lock, state
   check and the check of every field the order fixes (``services.order_mismatches``) in one statement;
3. ``INSERT entitlements`` and ``INSERT order_events`` (created→paid, paid→fulfilled): what
   ``services.transition`` and ``services.fulfil`` would have written;
4. ``COMMIT``; after it, the shipping doorbell (``shipping.upload_after_commit``).

On PostgreSQL, steps 1–4 are one statement that commits on its own (``_FIRST_DELIVERY``: data-modifying CTEs run
in autocommit on a connection of its own): one round trip instead of six (BEGIN, four statements, COMMIT), and no
ORM session. There the claim is written only *with* the payment, after the UPDATE found the order ``created``, so
a statement that applies nothing writes nothing; a notification seen before (a committed claim) is answered as a
duplicate by the same statement. When it applies nothing (the order is not ``created``, does not match, or a copy
of this notification is in flight and holds the row), the general path below runs in a transaction as on SQLite,
its claim first. SQLite, which has no data-modifying CTEs, runs steps 1–4 one by one. Both paths are the same
rules and are tested on both databases.

Anything else (an unknown order, another amount, currency, payer or merchant, an order already paid or closed by a
cancellation that raced the payment, refunds) goes through ``services``' general, ORM path, which locks
the row, says why it refuses, and handles the rare transitions. All of it is one transaction: a
rejected or failed notification leaves no trace, so WeChat's retry is applied.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import String, bindparam, insert, or_, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from app.core.db import UTCDateTime, utcnow
from app.extensions import db

from . import services, shipping, wechatpay
from .models import Entitlement, Order, OrderEvent, OrderStatus
from .products import PRODUCTS

log = logging.getLogger(__name__)

_orders = Order.__table__

# Built once: building a statement per call (coercing every column and value) costs more than running it.
_PAY_AND_FULFIL_CREATED = (
    update(_orders)
    .where(_orders.c.out_trade_no == bindparam("out_trade_no_"), _orders.c.status == OrderStatus.CREATED,
           _orders.c.amount_fen == bindparam("amount_fen_"), _orders.c.currency == bindparam("currency_"),
           or_(_orders.c.payer_openid_hash.is_(None), _orders.c.payer_openid_hash == bindparam("payer_hash_")))
    .values(status=OrderStatus.FULFILLED, paid_at=bindparam("now_"), fulfilled_at=bindparam("now_"),
            transaction_id=bindparam("transaction_id_"))
    .returning(_orders.c.id, _orders.c.user_id, _orders.c.product_id, _orders.c.subject_id))
_INSERT_ENTITLEMENT = insert(Entitlement.__table__)
_INSERT_EVENTS = insert(OrderEvent.__table__)
# Valid as written on PostgreSQL and SQLite ≥ 3.35. Text, because SQLAlchemy does not cache the compiled
# form of its dialect-specific INSERT … ON CONFLICT constructs, and compiling costs more than running it.
_CLAIM = (text("INSERT INTO processed_notifications (id, event_type, received_at) "
               "VALUES (:id, :event_type, :received_at) ON CONFLICT (id) DO NOTHING RETURNING id")
          .bindparams(bindparam("id", type_=String()), bindparam("event_type", type_=String()),
                      bindparam("received_at", type_=UTCDateTime())))

def _literal(value: str | int | None) -> str:
    """One of our own constants (a status, a product id, a grant) as a PostgreSQL literal, quoted by SQLAlchemy.

    Written into the statement below once, at import: sent as parameters, the catalogue's four arrays and the
    statuses were re-dumped by psycopg on every notification (12 % of its CPU, py-spy, 2026-12-07).
    """
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if ":" in value:  # text() would read it as a bind parameter
        raise ValueError(f"not a constant for the first-delivery statement: {value!r}")
    return String().literal_processor(postgresql.dialect())(value)


# The catalogue, from the one place that says what each product grants (``services.product_grant``, which
# ``services.entitlement_values`` uses too): a product no longer sold matches no row, so such an order is left to
# ``services``' general path, as any other refusal.
_GRANTS = {product_id: services.product_grant(product_id) for product_id in PRODUCTS}
_PRODUCT_IDS = ", ".join(_literal(product_id) for product_id in _GRANTS)
_PRODUCT_ROWS = ", ".join(
    f"({_literal(product_id)}, {_literal(g['kind'])}, {_literal(g['credit_kind'])}, {_literal(g['credits_total'])})"
    for product_id, g in _GRANTS.items())
_CREATED, _PAID, _FULFILLED = (_literal(s.value) for s in (OrderStatus.CREATED, OrderStatus.PAID,
                                                             OrderStatus.FULFILLED))

# PostgreSQL, in autocommit: a created order's first payment, whole, or nothing. ``seen`` is a claim committed
# before this statement began (a duplicate: answered, nothing written). The guarded UPDATE takes the order's row
# lock; a concurrent copy waits for it, then finds the order no longer ``created`` and writes nothing. The claim
# is inserted only with the payment and without ON CONFLICT: a claim committed meanwhile by another path makes the
# whole statement fail (unique key) and write nothing. Only what a notification carries is a parameter; our
# constants are literals (``_literal``).
_FIRST_DELIVERY = text(f"""
WITH seen AS (
    SELECT FROM processed_notifications WHERE id = :id
), paid AS (
    UPDATE orders SET status = {_FULFILLED}, paid_at = :now, fulfilled_at = :now, transaction_id = :transaction_id
    WHERE out_trade_no = :out_trade_no AND status = {_CREATED} AND amount_fen = :amount_fen AND currency = :currency
      AND (payer_openid_hash IS NULL OR payer_openid_hash = :payer_hash)
      AND product_id IN ({_PRODUCT_IDS}) AND NOT EXISTS (SELECT FROM seen)
    RETURNING id, user_id, product_id, subject_id
), claim AS (
    INSERT INTO processed_notifications (id, event_type, received_at) SELECT :id, :event_type, :now FROM paid
), granted AS (
    INSERT INTO entitlements (user_id, order_id, kind, subject_id, credit_kind, credits_total, credits_used,
                              created_at)
    SELECT paid.user_id, paid.id, product.kind, paid.subject_id, product.credit_kind, product.credits, 0, :now
    FROM paid JOIN (VALUES {_PRODUCT_ROWS}) AS product (id, kind, credit_kind, credits)
         ON product.id = paid.product_id
), logged AS (
    INSERT INTO order_events (order_id, from_status, to_status, cause, created_at)
    SELECT paid.id, event.from_status, event.to_status, event.cause, :now
    FROM paid CROSS JOIN (VALUES (1, {_CREATED}, {_PAID}, CAST(:cause AS varchar)),
                                 (2, {_PAID}, {_FULFILLED}, {_literal(services.FULFILMENT_CAUSE)}))
         AS event (step, from_status, to_status, cause)
    ORDER BY event.step
)
SELECT EXISTS (SELECT FROM seen) AS seen, (SELECT id FROM paid) AS order_id
""").bindparams(bindparam("now", type_=UTCDateTime()))  # noqa: S608 - interpolated: only our constants, by _literal


def claim(notification_id: str, event_type: str) -> bool:
    """Write the processed-notification row unless it exists; False for a notification applied before.

    First in the transaction that applies the notification, so a concurrent copy waits on this row's
    unique key (PostgreSQL; on SQLite the database's write lock) until the first copy commits — then
    finds it and stops — or rolls back (rejected, failed) — then applies it itself.
    """
    claimed = db.session.connection().execute(_CLAIM, {"id": notification_id, "event_type": event_type,
                                                       "received_at": utcnow()})
    return claimed.first() is not None


def _amount(transaction: dict) -> tuple[int, str] | None:
    amount = transaction.get("amount") or {}
    total, currency = amount.get("total"), amount.get("currency")
    return (total, currency) if type(total) is int and isinstance(currency, str) else None


def pay_and_fulfil_if_created(transaction: dict, cause: str) -> bool:
    """``created`` → ``paid`` → ``fulfilled`` for a transaction already checked against our merchant.

    False, with nothing written, unless the order exists, is ``created`` and has the notified amount,
    currency and (if the order has one) payer:
    a concurrent copy waits for the row lock on PostgreSQL, then no longer finds it ``created``.
    """
    amount = _amount(transaction)
    if amount is None:
        return False
    now = utcnow()
    connection = db.session.connection()  # the session's transaction, without the ORM's execute layer
    row = connection.execute(_PAY_AND_FULFIL_CREATED, {
        "out_trade_no_": transaction.get("out_trade_no", ""), "amount_fen_": amount[0], "currency_": amount[1],
        "payer_hash_": services.payer_hash(transaction), "now_": now,
        "transaction_id_": transaction.get("transaction_id")}).one_or_none()
    if row is None:
        return False
    connection.execute(_INSERT_ENTITLEMENT, services.entitlement_values(*row))
    connection.execute(_INSERT_EVENTS, [
        {"order_id": row.id, "from_status": OrderStatus.CREATED, "to_status": OrderStatus.PAID, "cause": cause,
         "created_at": now},
        {"order_id": row.id, "from_status": OrderStatus.PAID, "to_status": OrderStatus.FULFILLED,
         "cause": services.FULFILMENT_CAUSE, "created_at": now},
    ])
    shipping.upload_after_commit()  # WeChat may freeze the money until it has the shipping info
    return True


class FirstDelivery(enum.Enum):
    FULFILLED = "fulfilled"  # paid, fulfilled, claimed and committed
    SEEN = "seen"  # applied before: a duplicate
    NOT_APPLIED = "not_applied"  # it ran and wrote nothing: the general path decides
    NOT_RUN = "not_run"  # SQLite, or no amount to check: the statements one by one, in the session's transaction


def apply_first_delivery(notification_id: str, event_type: str, transaction: dict, cause: str) -> FirstDelivery:
    """PostgreSQL: a created order's first payment in one statement that commits on its own (see the module).

    Outside the request's ORM session, on a connection of its own in autocommit: call it before the session
    has written anything.
    """
    amount = _amount(transaction)
    engine = db.engine
    if engine.dialect.name != "postgresql" or amount is None:
        return FirstDelivery.NOT_RUN
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(_FIRST_DELIVERY, {
                "id": notification_id, "event_type": event_type, "now": utcnow(),
                "out_trade_no": transaction.get("out_trade_no", ""), "amount_fen": amount[0], "currency": amount[1],
                "payer_hash": services.payer_hash(transaction),
                "transaction_id": transaction.get("transaction_id"), "cause": cause}).one()
    except IntegrityError:  # a claim or a transaction id committed meanwhile by another path: nothing written
        return FirstDelivery.NOT_APPLIED
    if row.order_id is not None:
        shipping.ring_after_fulfilment()  # WeChat may freeze the money until it has the shipping info
        return FirstDelivery.FULFILLED
    return FirstDelivery.SEEN if row.seen else FirstDelivery.NOT_APPLIED


def handle_notification(headers: dict[str, str], raw_body: bytes) -> None:
    """Verify, decrypt and apply one notification; duplicates (same id) are acknowledged and ignored.

    Nothing touches the database before the signature, timestamp and serial are verified.
    """
    verified = wechatpay.verify_notification(headers, raw_body)
    event = verified["event_type"]
    resource = verified["resource"]
    payment = event == "TRANSACTION.SUCCESS"
    if payment and not services.merchant_mismatches(resource):
        first = apply_first_delivery(verified["id"], event, resource, "notification")
        if first in (FirstDelivery.FULFILLED, FirstDelivery.SEEN):
            return  # fulfilled and committed, or a duplicate
        claimed = claim(verified["id"], event)  # in this transaction; waits for a copy in flight
        # Where the one statement ran, it has just tried a created order's payment: the general path decides.
        fulfilled = claimed and first is FirstDelivery.NOT_RUN and pay_and_fulfil_if_created(resource, "notification")
    else:
        claimed, fulfilled = claim(verified["id"], event), False
    if not claimed:
        db.session.rollback()
        return  # applied before: acknowledge the duplicate
    if payment:
        if not fulfilled:  # anything but a created order's first payment: the general path says why, or applies
            services.apply_paid_transaction(resource, "notification")
    elif event.startswith("REFUND."):
        services.apply_refund_result(resource)
    else:
        log.info("payment notification ignored", extra={"event_type": event})
    try:
        db.session.commit()
    except IntegrityError:
        # Another path (the query job) fulfilled the order at the same time: its one entitlement stands.
        db.session.rollback()
