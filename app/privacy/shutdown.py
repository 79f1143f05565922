"""Service shutdown (policy §5): if the service stops operating, delete or anonymise all personal data.

``flask privacy shutdown --dry-run`` reports, per table, what would be done; ``flask privacy shutdown
--confirm <SERVICE_NAME>`` does it. Stop the web and worker processes first.

The plan is derived from the schema, so tables added later are covered without editing this file:
1. every stored object (portraits, results, export archives, …) is destroyed: file deleted, data key
   dropped (crypto-shredding);
2. orders stay, as the law requires, pseudonymised (no user, no payer openid hash, no prepay id);
3. every other column that references ``users`` with ``ON DELETE SET NULL`` (receipts, requests) is
   set to NULL; every table that references ``users`` otherwise (identities, devices, sessions,
   consents, uploads, jobs, results, logs, exports, entitlements, …) is emptied of users' rows,
   dependants first, together with tables that reference those rows without a cascade;
4. SMS codes and risk flags (hashed phone numbers and device ids) are deleted; then the users.

Everything runs in batches (one transaction each) and every row is written to the deletion log, so
the shutdown can be replayed onto any backup that must be restored before it is destroyed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, or_, select, true

from app.core import lifecycle, objects
from app.core.objects import StoredObject
from app.extensions import db

from . import deletion_log
from .retention import anonymise_in_batches, batches, count_where, delete_in_batches, in_batch

log = logging.getLogger(__name__)

REASON = "service_shutdown"
# Privacy's own log and core's object table; and the users, deleted last (after their rows); and the rows
# domains keep pseudonymised (lifecycle.kept_pseudonymised).
NEVER_TOUCHED = ("deletion_log", "stored_objects")


class ConfirmationMismatch(Exception):
    pass


@dataclass(frozen=True)
class Step:
    table: str
    action: str  # destroy | anonymise | delete
    where: ColumnElement[bool] = field(compare=False)
    columns: tuple[str, ...] = ()
    note: str = ""


def _fk_rule(fk) -> str:
    return (fk.ondelete or "").upper()


def plan() -> list[Step]:
    tables = db.metadata.tables
    users = tables[lifecycle.user_table()]
    stored = tables["stored_objects"]
    steps = [
        Step("stored_objects", "destroy", or_(stored.c.wrapped_key.is_not(None), stored.c.destroyed_at.is_(None)),
             note="files deleted, data keys dropped"),
    ]
    kept = lifecycle.kept_pseudonymised()  # e.g. orders, kept by law (each domain registers what it keeps)
    for name, columns in kept:
        steps.append(Step(name, "anonymise", or_(*(tables[name].c[column].is_not(None) for column in columns)),
                          columns, note="rows kept (transaction records), pseudonymised"))
    never_touched = {*NEVER_TOUCHED, users.name, *(name for name, _ in kept)}
    to_empty: dict[str, list[ColumnElement[bool]]] = {}
    for table in db.metadata.sorted_tables:
        if table.name in never_touched:
            continue
        for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
            if fk.column.table is not users:
                continue
            if _fk_rule(fk) == "SET NULL":
                steps.append(Step(table.name, "anonymise", fk.parent.is_not(None), (fk.parent.name,),
                                  note="kept without the user"))
            else:
                to_empty.setdefault(table.name, []).append(fk.parent.is_not(None))
    for name in lifecycle.unlinked_personal_tables():  # hashed phones, device ids: tied to no user row
        if name in tables:
            to_empty[name] = [true()]
    # Rows that reference rows we delete, without a cascade, must go first (or the delete would fail).
    grown = True
    while grown:
        grown = False
        for table in db.metadata.sorted_tables:
            if table.name in to_empty or table.name in never_touched:
                continue
            for fk in table.foreign_keys:
                if fk.column.table.name in to_empty and _fk_rule(fk) not in ("CASCADE", "SET NULL"):
                    to_empty.setdefault(table.name, []).append(fk.parent.is_not(None))
                    grown = True
    for table in reversed(db.metadata.sorted_tables):  # dependants first
        if table.name in to_empty:
            steps.append(Step(table.name, "delete", or_(*to_empty[table.name])))
    steps.append(Step(users.name, "delete", true(), note="accounts"))
    return steps


def dry_run() -> list[dict]:
    return [{"table": step.table, "action": step.action, "rows": count_where(db.metadata.tables[step.table],
                                                                            step.where),
             "columns": list(step.columns), "note": step.note} for step in plan()]


def _destroy_objects(table: Table, where: ColumnElement[bool], batch_size: int) -> int:
    total = 0
    for window in batches(table, where, batch_size):
        batch = db.session.scalars(select(StoredObject).where(in_batch(table, window, where))).all()
        entries = []
        for obj in batch:
            objects.destroy(obj)
            entries.append({"row_id": obj.id, "object_id": obj.id, "object_key": obj.storage_key})
        deletion_log.log_rows(table.name, entries, deletion_log.DESTROY, REASON)
        db.session.commit()
        total += len(batch)
    return total


def shutdown(confirm: str, service_name: str, batch_size: int = 1000) -> list[dict]:
    """Delete or anonymise all personal data. ``confirm`` must equal the service's name."""
    if confirm != service_name:
        raise ConfirmationMismatch(f"--confirm must be the service name ({service_name!r})")
    report = []
    for step in plan():
        table = db.metadata.tables[step.table]
        if step.action == "destroy":
            done = _destroy_objects(table, step.where, batch_size)
        elif step.action == "anonymise":
            done = anonymise_in_batches(table, step.where, step.columns, batch_size, REASON)
        else:
            done = delete_in_batches(table, step.where, batch_size, REASON)
        report.append({"table": step.table, "action": step.action, "rows": done, "columns": list(step.columns),
                       "note": step.note})
        log.warning("shutdown step done", extra={"table": step.table, "action": step.action, "rows": done})
    return report
