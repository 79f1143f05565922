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

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Table, and_, delete, func, select, update

from app.core import lifecycle
from app.core.db import utcnow
from app.core.i18n import N_
from app.core.lifecycle import RetentionClass
from app.extensions import db

from . import deletion_log

log = logging.getLogger(__name__)

REASON = "retention_expired"

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


# --- the classes (each domain declares its own: app.core.lifecycle.RetentionClass) --------------------

def registered_classes() -> dict[str, RetentionClass]:
    """Every registered retention class, in the order the sweep runs them."""
    return {rule.name: rule for rule in lifecycle.retention_classes()}


def __getattr__(name: str) -> Any:  # CLASSES / CLASS_ORDER: read from the registry when asked
    if name == "CLASSES":
        return registered_classes()
    if name == "CLASS_ORDER":
        return tuple(registered_classes())
    raise AttributeError(name)


def retention_table(config: Any = None) -> list[dict[str, Any]]:
    """The effective table (docs/privacy.md "Retention"), with the unclaimed-upload rule swept by uploads.sweep."""
    config = config or current_app.config
    rows = [{"class": "unclaimed_uploads", "what": N_("portrait uploads no job claimed"),
             "period": f"{config['UPLOAD_UNCLAIMED_TTL_S']} s", "clock": "upload", "action": "delete",
             "enforced_by": "uploads.sweep (UPLOAD_UNCLAIMED_TTL_S)"}]
    for rule in registered_classes().values():
        setting = config["RETENTION"].get(rule.name, {})
        # Export archives carry their own expires_at, set from EXPORT_TTL_DAYS when they are built.
        days = setting.get("days") if rule.uses_cutoff else config.get("EXPORT_TTL_DAYS", setting.get("days"))
        rows.append({"class": rule.name, "what": rule.what, "period": f"{days} days", "clock": rule.clock,
                     "action": setting.get("action", rule.action), "enforced_by": rule.enforced_by})
    return rows


def _setting(name: str) -> tuple[int, str]:
    setting = current_app.config["RETENTION"].get(name)
    rule = registered_classes()[name]
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

def sweep_class(name: str, now: datetime | None = None, batch_size: int = 1000) -> int | None:
    """Enforce one class; returns how many rows it deleted or anonymised (None: not available here).

    Commits a batch at a time: the sweep is a job, and each batch is its own transaction boundary."""
    now = now or utcnow()
    rule = registered_classes()[name]
    cutoff = cutoff_of(name, now) if rule.uses_cutoff else None
    if rule.sweep is not None:
        return rule.sweep(now, cutoff, batch_size)
    assert rule.due is not None and rule.table is not None and cutoff is not None
    where = rule.due(cutoff)
    if rule.action == "anonymise":
        return anonymise_in_batches(rule.table, where, rule.columns, batch_size, REASON)
    return delete_in_batches(rule.table, where, batch_size, REASON, log_deletions=rule.log_deletions)


def due_counts(now: datetime | None = None) -> dict[str, int | None]:
    """How many rows each class would delete or anonymise now (a dry run; exports: None)."""
    now = now or utcnow()
    counts: dict[str, int | None] = {}
    for name, rule in registered_classes().items():
        if rule.due is None or rule.table is None or not rule.uses_cutoff:
            counts[name] = None
            continue
        counts[name] = count_where(rule.table, rule.due(cutoff_of(name, now)))
    return counts


def run_retention(now: datetime | None = None, batch_size: int = 1000,
                  classes: Iterable[str] | None = None) -> dict[str, int]:
    """Enforce the retention table; returns (and logs) what each class deleted or anonymised."""
    now = now or utcnow()
    registered = registered_classes()
    wanted = list(classes) if classes is not None else list(registered)
    unknown = sorted(set(wanted) - set(registered))
    if unknown:
        raise ValueError(f"unknown retention classes: {', '.join(unknown)}")
    counts: dict[str, int] = {}
    failed: list[str] = []
    for name in registered:
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


__all__ = [
    "Batch",
    "anonymise_in_batches",
    "batches",
    "count_where",
    "delete_in_batches",
    "due_counts",
    "in_batch",
    "registered_classes",
    "retention_table",
    "run_retention",
    "sweep_class",
]

# The sweep runs as a job: each batch commits (its own transaction boundary), see the module docstring.
