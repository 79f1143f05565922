"""Retention (policy §5): keep personal data only as long as needed, then delete or anonymise it.

The table is configuration (``RETENTION`` in ``app.config``: data class → days, action; each period
can be changed with ``RETENTION_<CLASS>_DAYS``); this module enforces it. ``run_retention`` is run
daily by the ``privacy.retention`` periodic job (``app.privacy.retention_tasks.run_retention_sweep``)
and by ``flask privacy retention``.

How it deletes: per class, it takes the next ``batch_size`` due ids with a LIMIT (keyset, in primary-key
order; only the first and last id come back), logs the rows of that id range that are still due into the
deletion log (one ``INSERT … SELECT … FOR UPDATE``), deletes or updates exactly those rows (the same
condition) and commits — one transaction per batch, no id list shipped back and forth, never a whole
table in memory, never a long lock. Running it twice deletes nothing more; it is safe while the app runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Table, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from app.core import objects
from app.core.db import utcnow
from app.core.i18n import N_
from app.extensions import db

from . import deletion_log
from .deletion_log import ORDER_PSEUDONYM_COLUMNS
from .receipts import write_receipt

log = logging.getLogger(__name__)

REASON = "retention_expired"

# The classes, in the order the sweep runs them (results before the jobs that own them).
CLASS_ORDER = ("results", "generation_jobs", "deleted_uploads", "operation_logs", "login_sessions", "sms_codes",
               "exports", "orders_without_user", "orders", "support_tickets", "deletion_receipts", "deletion_log")


def _table(name: str) -> Table:
    return db.metadata.tables[name]


# --- batching helpers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """The next ``size`` rows matching a condition, in primary-key order: ids ``first`` … ``last``."""

    first: Any
    last: Any
    size: int


def batches(table: Table, where: ColumnElement[bool], batch_size: int) -> Iterator[Batch]:
    """Walk the rows matching ``where`` a batch at a time, by keyset: each query takes the next
    ``batch_size`` matching ids after the last one seen (``LIMIT``), and returns only the first and last id
    and the count — the ids themselves never travel. A row that stays (a race, a failure) is never
    selected twice in one run, and the loop always ends."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    pk = next(iter(table.primary_key.columns))
    last = None
    while True:
        query = select(pk.label("pk")).where(where)
        if last is not None:
            query = query.where(pk > last)
        window = query.order_by(pk).limit(batch_size).subquery()
        first, last_id, size = db.session.execute(
            select(func.min(window.c.pk), func.max(window.c.pk), func.count()).select_from(window)).one()
        if not size:
            return
        yield Batch(first, last_id, size)
        last = last_id
        if size < batch_size:
            return


def in_batch(table: Table, batch: Batch, where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The batch's rows that still match: the id range re-checked against the condition, so a row the app
    changed since it was selected is left alone. (The cutoff is fixed for the run, so no more rows can
    come to match inside the range than were counted, short of rows written with old timestamps.)"""
    pk = next(iter(table.primary_key.columns))
    return and_(pk >= batch.first, pk <= batch.last, where)


def delete_in_batches(table: Table, where: ColumnElement[bool], batch_size: int, reason: str, *,
                      log_deletions: bool = True) -> int:
    """Delete the rows matching ``where``, a batch per transaction, logging each for backups (stamped with
    the real time of the deletion, whatever reference time chose the rows)."""
    total = 0
    for batch in batches(table, where, batch_size):
        these = in_batch(table, batch, where)
        if log_deletions:  # the primary key is enough to find the row in a backup; nothing more is kept
            deletion_log.log_matching(table, these, deletion_log.DELETE, reason)
        total += db.session.execute(delete(table).where(these)).rowcount or 0
        db.session.commit()
    return total


def anonymise_in_batches(table: Table, where: ColumnElement[bool], columns: Iterable[str], batch_size: int,
                         reason: str) -> int:
    """Set ``columns`` to NULL on the rows matching ``where``, a batch per transaction, logged."""
    columns = tuple(columns)
    total = 0
    for batch in batches(table, where, batch_size):
        these = in_batch(table, batch, where)
        deletion_log.log_matching(table, these, deletion_log.ANONYMISE, reason, columns)
        total += db.session.execute(update(table).where(these).values(dict.fromkeys(columns))).rowcount or 0
        db.session.commit()
    return total


def count_where(table: Table, where: ColumnElement[bool]) -> int:
    return db.session.scalar(select(func.count()).select_from(table).where(where)) or 0


# --- the classes ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetentionClass:
    name: str
    what: str  # the data, for people
    clock: str  # what the period counts from
    action: str  # delete | anonymise
    due: Callable[[datetime], ColumnElement[bool]] | None  # cutoff → condition on the table
    table: str | None
    columns: tuple[str, ...] = ()  # anonymise: the columns set to NULL
    log_deletions: bool = True


def _results_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("generation_results")
    return and_(t.c.deleted_at.is_(None), t.c.created_at <= cutoff)


def _jobs_due(cutoff: datetime) -> ColumnElement[bool]:
    jobs, results, uploads = _table("generation_jobs"), _table("generation_results"), _table("uploads")
    live_result = exists().where(results.c.job_id == jobs.c.id, results.c.deleted_at.is_(None))
    live_source = exists().where(uploads.c.claimed_by == jobs.c.public_id, uploads.c.deleted_at.is_(None))
    return and_(jobs.c.status.in_(("succeeded", "failed", "cancelled")),
                func.coalesce(jobs.c.finished_at, jobs.c.created_at) <= cutoff, ~live_result, ~live_source)


def _deleted_uploads_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("uploads")
    return and_(t.c.deleted_at.is_not(None), t.c.deleted_at <= cutoff)


def _created_before(table: str, column: str = "created_at") -> Callable[[datetime], ColumnElement[bool]]:
    return lambda cutoff: _table(table).c[column] <= cutoff


def _sessions_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("login_sessions")
    return or_(and_(t.c.revoked_at.is_not(None), t.c.revoked_at <= cutoff), t.c.expires_at <= cutoff)


def _orders_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("orders")
    return and_(t.c.created_at <= cutoff, t.c.status != "refunding")  # money in flight waits


def _tickets_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("support_tickets")
    return and_(t.c.status == "closed", t.c.closed_at <= cutoff)


def _orders_without_user_due(cutoff: datetime) -> ColumnElement[bool]:
    t = _table("orders")
    return and_(t.c.user_id.is_(None), t.c.created_at <= cutoff,
                or_(*(t.c[name].is_not(None) for name in ORDER_PSEUDONYM_COLUMNS if name != "user_id")))


CLASSES: dict[str, RetentionClass] = {c.name: c for c in (
    RetentionClass("results", N_("generated images and videos (both stored objects)"), "creation", "delete",
                   _results_due, "generation_results"),
    RetentionClass("generation_jobs", N_("finished generation jobs whose results and sources are gone"), "finish",
                   "delete", _jobs_due, "generation_jobs"),
    RetentionClass("deleted_uploads", N_("records of deleted portrait uploads (the photo is already gone)"),
                   "deletion", "delete", _deleted_uploads_due, "uploads"),
    RetentionClass("operation_logs", N_("operation logs (generated, downloaded, shared)"), "the action", "delete",
                   _created_before("operation_logs"), "operation_logs"),
    RetentionClass("login_sessions", N_("revoked or expired login sessions"), "expiry or revocation", "delete",
                   _sessions_due, "login_sessions"),
    RetentionClass("sms_codes", N_("SMS verification codes (hashed)"), "sending", "delete",
                   _created_before("sms_codes"), "sms_codes"),
    RetentionClass("exports", N_("data export archives (file and key)"), "the archive being ready (EXPORT_TTL_DAYS)",
                   "delete", None, None),
    RetentionClass("orders_without_user", N_("orders whose account is gone"), "creation", "anonymise",
                   _orders_without_user_due, "orders", columns=ORDER_PSEUDONYM_COLUMNS),
    RetentionClass("orders", N_("orders with their events, refunds, entitlements (transaction records)"),
                   "creation", "delete", _orders_due, "orders"),
    RetentionClass("support_tickets", N_("closed support tickets with their messages"), "closing", "delete",
                   _tickets_due, "support_tickets"),
    RetentionClass("deletion_receipts", N_("deletion receipts"), "the deletion", "delete",
                   _created_before("deletion_receipts", "deleted_at"), "deletion_receipts"),
    RetentionClass("deletion_log", N_("the deletion log (ids only; must outlive the oldest restorable backup)"),
                   "the deletion", "delete", _created_before("deletion_log", "deleted_at"), "deletion_log",
                   log_deletions=False),
)}


def retention_table(config: Any = None) -> list[dict[str, Any]]:
    """The effective table (README "Retention"), with the unclaimed-upload rule swept by uploads.sweep."""
    config = config or current_app.config
    rows = [{"class": "unclaimed_uploads", "what": N_("portrait uploads no job claimed"),
             "period": f"{config['UPLOAD_UNCLAIMED_TTL_S']} s", "clock": "upload", "action": "delete",
             "enforced_by": "uploads.sweep (UPLOAD_UNCLAIMED_TTL_S)"}]
    for name in CLASS_ORDER:
        rule = CLASSES[name]
        setting = config["RETENTION"].get(name, {})
        # Export archives carry their own expires_at, set from EXPORT_TTL_DAYS when they are built.
        days = config.get("EXPORT_TTL_DAYS", setting.get("days")) if name == "exports" else setting.get("days")
        period = f"{days} days"
        rows.append({"class": name, "what": rule.what, "period": period, "clock": rule.clock,
                     "action": setting.get("action", rule.action),
                     "enforced_by": "app.privacy.export.expire_exports" if name == "exports" else "privacy.retention"})
    return rows


def _setting(name: str) -> tuple[int, str]:
    setting = current_app.config["RETENTION"].get(name)
    rule = CLASSES[name]
    if setting is None:
        raise KeyError(f"RETENTION has no entry for {name!r}")
    action = setting.get("action", rule.action)
    if action != rule.action:
        raise ValueError(f"RETENTION[{name!r}]: this class supports {rule.action!r}, not {action!r}")
    return int(setting["days"]), action


def cutoff_of(name: str, now: datetime) -> datetime:
    days, _ = _setting(name)
    return now - timedelta(days=days)


# --- running ------------------------------------------------------------------------------------------

def _delete_results(cutoff: datetime, batch_size: int) -> int:
    """Destroy both stored objects of each due result (file and key), mark it deleted, write a receipt
    (which logs it for backups). The row itself goes later, with its job."""
    from app.generation.models import GenerationResult

    results = _table("generation_results")
    where = _results_due(cutoff)
    total = 0
    for window in batches(results, where, batch_size):
        batch = db.session.scalars(
            select(GenerationResult).where(in_batch(results, window, where))
            .options(selectinload(GenerationResult.original), selectinload(GenerationResult.preview))
            .with_for_update(of=GenerationResult, skip_locked=True)).all()
        for result in batch:
            for stored in (result.original, result.preview):
                if stored is not None and stored.destroyed_at is None:
                    objects.destroy(stored)
            result.deleted_at = utcnow()
            write_receipt(result.user_id, "result_image", result.public_id, REASON)
        db.session.commit()
        total += len(batch)
    return total


def _expire_exports(now: datetime, batch_size: int) -> int | None:
    """The export feature owns its archives' expiry; call it when it is there."""
    if importlib.util.find_spec("app.privacy.export") is None:
        return None
    expire = getattr(importlib.import_module("app.privacy.export"), "expire_exports", None)
    if expire is None:
        return None
    params = inspect.signature(expire).parameters
    kwargs = {key: value for key, value in (("now", now), ("batch_size", batch_size)) if key in params}
    outcome = expire(**kwargs)
    if isinstance(outcome, dict):  # {"expired": archives shredded, "stale_failed": …}: count the deletions
        return int(outcome.get("expired", 0))
    return int(outcome or 0)


def sweep_class(name: str, now: datetime | None = None, batch_size: int = 1000) -> int | None:
    """Enforce one class; returns how many rows it deleted or anonymised (None: not available here)."""
    now = now or utcnow()
    rule = CLASSES[name]
    if name == "exports":
        return _expire_exports(now, batch_size)
    cutoff = cutoff_of(name, now)
    if name == "results":
        return _delete_results(cutoff, batch_size)
    if name == "support_tickets":  # resolved tickets left alone close first (their retention starts then)
        from app.support.services import close_stale_resolved_tickets

        close_stale_resolved_tickets(now, batch_size)
    assert rule.due is not None and rule.table is not None
    table, where = _table(rule.table), rule.due(cutoff)
    if rule.action == "anonymise":
        return anonymise_in_batches(table, where, rule.columns, batch_size, REASON)
    return delete_in_batches(table, where, batch_size, REASON, log_deletions=rule.log_deletions)


def due_counts(now: datetime | None = None) -> dict[str, int | None]:
    """How many rows each class would delete or anonymise now (a dry run; exports: None)."""
    now = now or utcnow()
    counts: dict[str, int | None] = {}
    for name in CLASS_ORDER:
        rule = CLASSES[name]
        if rule.due is None or rule.table is None:
            counts[name] = None
            continue
        counts[name] = count_where(_table(rule.table), rule.due(cutoff_of(name, now)))
    return counts


def run_retention(now: datetime | None = None, batch_size: int = 1000,
                  classes: Iterable[str] | None = None) -> dict[str, int]:
    """Enforce the retention table; returns (and logs) what each class deleted or anonymised."""
    now = now or utcnow()
    wanted = list(classes) if classes is not None else list(CLASS_ORDER)
    unknown = sorted(set(wanted) - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown retention classes: {', '.join(unknown)}")
    counts: dict[str, int] = {}
    failed: list[str] = []
    for name in CLASS_ORDER:
        if name not in wanted:
            continue
        try:
            outcome = sweep_class(name, now, batch_size)
        except Exception:  # one broken class must not stop the others; the job still fails below
            db.session.rollback()
            log.exception("retention class failed", extra={"retention_class": name})
            failed.append(name)
            continue
        if outcome is not None:
            counts[name] = outcome
    log.info("retention swept", extra={"counts": counts})
    if failed:
        raise RuntimeError(f"retention failed for: {', '.join(failed)} (the other classes ran: {counts})")
    return counts


__all__ = ["CLASSES", "CLASS_ORDER", "Batch", "anonymise_in_batches", "batches", "count_where",
           "delete_in_batches", "due_counts", "in_batch", "retention_table", "run_retention", "sweep_class"]
