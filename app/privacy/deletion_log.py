"""The deletion log (policy §8(2), backups): every deletion, as ids only, so it can be replayed after a restore.

A backup taken before a deletion still holds what was deleted. Restoring it would bring the data back,
so every code path that deletes also appends ``DeletionLogEntry`` rows — which table, which row (primary
key, public id, or "every row of this user"), which stored object and its storage key, what was done
(``delete`` the row, ``anonymise`` some columns, ``destroy`` the stored object and mark the row deleted),
when and why. Never any content: no names, phone numbers, hashes or file bytes.

Writers:
- ``write_receipt`` (uploads, results, account cancellation, category deletions) calls ``log_receipt``;
- the retention sweep and the service shutdown log each row they delete or anonymise (``log_rows``).

The log lives in the database it protects, and restoring the database also rewinds the log. So every
transaction that writes entries has them copied to object storage right after its commit
(``deletion_log_copy``: a job, and a periodic sweep for any a failed enqueue left behind; ``copied_at``
marks what is copied). After ``pg_restore``, ``flask privacy replay-deletions`` re-applies what the
copies hold from the restored log's last entry on. ``replay`` is idempotent: what is gone is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    cast,
    delete,
    event,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core import lifecycle
from app.core.db import UTCDateTime, utcnow
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db

log = logging.getLogger(__name__)

DELETE, ANONYMISE, DESTROY = "delete", "anonymise", "destroy"
ACTIONS = (DELETE, ANONYMISE, DESTROY)
OBJECTS_TABLE = "stored_objects"


class DeletionLogEntry(db.Model):
    """One deleted (or anonymised) row or destroyed object: ids only."""

    __tablename__ = "deletion_log"
    __table_args__ = (Index("ix_deletion_log_deleted_at", "deleted_at", "id"),
                      Index("ix_deletion_log_not_copied", "id", postgresql_where=text("copied_at IS NULL"),
                            sqlite_where=text("copied_at IS NULL")))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    table_name: Mapped[str | None] = mapped_column(String(64))  # None: a receipt kind no table is known for
    row_id: Mapped[str | None] = mapped_column(String(64), default=None)  # primary key value
    public_id: Mapped[str | None] = mapped_column(String(64), default=None)
    user_public_id: Mapped[str | None] = mapped_column(String(64), default=None)  # every row of this user
    object_id: Mapped[str | None] = mapped_column(String(32), default=None)  # a stored object destroyed
    object_key: Mapped[str | None] = mapped_column(String(255), default=None)  # its storage key
    action: Mapped[str] = mapped_column(String(16))  # delete | anonymise | destroy
    columns: Mapped[str | None] = mapped_column(String(200), default=None)  # anonymise: columns set to NULL
    data_kind: Mapped[str | None] = mapped_column(String(32), default=None)  # the receipt's kind, if any
    reason: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    copied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # copied off the database


# --- the copy off the database, queued once per transaction that logs ---------------------------------------

_COPY_QUEUED = "deletion_log_copy_queued"


def _copy_after_commit() -> None:
    info = db.session().info
    if not info.get(_COPY_QUEUED):
        info[_COPY_QUEUED] = True
        from .deletion_log_copy import copy_deletion_log

        copy_deletion_log.enqueue_after_commit()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_over(session: Session, *args: Any) -> None:
    session.info.pop(_COPY_QUEUED, None)


# --- writing ------------------------------------------------------------------------------------------

def _object_columns(table: Table) -> list:
    return [column for column in table.c
            if any(fk.column.table.name == OBJECTS_TABLE and fk.column.name == "id" for fk in column.foreign_keys)]


def _objects_of(table_name: str, public_id: str) -> list[StoredObject]:
    table = db.metadata.tables.get(table_name)
    if table is None or "public_id" not in table.c:
        return []
    columns = _object_columns(table)
    if not columns:
        return []
    # An ORM query: autoflush makes the caller's pending changes visible first.
    ors = [StoredObject.id.in_(select(column).where(table.c.public_id == public_id)) for column in columns]
    return list(db.session.scalars(select(StoredObject).where(or_(*ors)).order_by(StoredObject.id)))


def log_receipt(receipt: Any) -> None:
    """Called by ``write_receipt``: log what the receipt's deletion removed, in the same transaction."""
    kind, subject = receipt.data_kind, receipt.subject_id
    _copy_after_commit()
    common = {"data_kind": kind, "reason": receipt.reason, "deleted_at": receipt.deleted_at or utcnow()}
    target = lifecycle.receipt_kinds().get(kind)  # each domain says what its receipts' deletions removed
    if target is None:
        log.warning("receipt kind without a replay target", extra={"data_kind": kind})
        db.session.add(DeletionLogEntry(table_name=None, public_id=subject, action=DELETE, **common))
        return
    for table_name, columns in (lifecycle.kept_pseudonymised() if target.pseudonymise_first else ()):
        db.session.add(DeletionLogEntry(table_name=table_name, user_public_id=subject, action=ANONYMISE,
                                        columns=",".join(columns), **common))
    if target.key == "user":
        db.session.add(DeletionLogEntry(table_name=target.table, user_public_id=subject, action=target.action,
                                        **common))
        return
    stored = _objects_of(target.table, subject) if target.action in (DESTROY, DELETE) else []
    if not stored:
        db.session.add(DeletionLogEntry(table_name=target.table, public_id=subject, action=target.action, **common))
    for obj in stored:
        db.session.add(DeletionLogEntry(table_name=target.table, public_id=subject, object_id=obj.id,
                                        object_key=obj.storage_key, action=target.action, **common))


def log_rows(table_name: str, rows: Iterable[Mapping[str, Any]], action: str, reason: str,
             deleted_at: datetime | None = None, columns: Iterable[str] | None = None) -> int:
    """Log many rows at once (one INSERT for the batch). ``rows`` hold row_id and optionally public_id,
    object_id, object_key."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    deleted_at = deleted_at or utcnow()
    columns_text = ",".join(columns) if columns else None
    values = [{"table_name": table_name, "row_id": None if row.get("row_id") is None else str(row["row_id"]),
               "public_id": row.get("public_id"), "user_public_id": None, "object_id": row.get("object_id"),
               "object_key": row.get("object_key"), "action": action, "columns": columns_text, "data_kind": None,
               "reason": reason, "deleted_at": deleted_at} for row in rows]
    if values:
        db.session.execute(insert(DeletionLogEntry), values)
        _copy_after_commit()
    return len(values)


def log_matching(table: Table, where: Any, action: str, reason: str, columns: Iterable[str] | None = None) -> None:
    """Log the rows of ``table`` matching ``where`` in one INSERT … SELECT, locking them (FOR UPDATE) so the
    DELETE or UPDATE that follows in the same transaction touches exactly the rows logged.

    Server-side: a batch of ten thousand ids costs one statement, not ten thousand parameter sets."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    pk = next(iter(table.primary_key.columns))
    log_table = DeletionLogEntry.__table__
    rows = select(literal(table.name, String()), cast(pk, String()), literal(action, String()),
                  literal(",".join(columns) if columns else None, String()), literal(reason, String()),
                  literal(utcnow(), UTCDateTime())).where(where).with_for_update(of=table)
    db.session.execute(insert(log_table).from_select(
        ["table_name", "row_id", "action", "columns", "reason", "deleted_at"], rows))
    _copy_after_commit()


# --- reading, exporting -------------------------------------------------------------------------------

FIELDS = ("id", "table_name", "row_id", "public_id", "user_public_id", "object_id", "object_key", "action",
          "columns", "data_kind", "reason", "deleted_at")


def _as_dict(entry: DeletionLogEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in FIELDS}


def entries_since(since: datetime, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """The entries logged at or after ``since``, oldest first, in batches (keyset: never the whole log)."""
    last_id = 0
    while True:
        batch = list(db.session.scalars(
            select(DeletionLogEntry).where(DeletionLogEntry.deleted_at >= since, DeletionLogEntry.id > last_id)
            .order_by(DeletionLogEntry.id).limit(batch_size)))
        if not batch:
            return
        last_id = batch[-1].id
        yield [_as_dict(entry) for entry in batch]
        if len(batch) < batch_size:
            return


def to_json_line(entry: Mapping[str, Any]) -> str:
    data = dict(entry)
    data["deleted_at"] = data["deleted_at"].isoformat()
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def from_json_line(line: str) -> dict[str, Any]:
    data = json.loads(line)
    data["deleted_at"] = parse_time(data["deleted_at"])
    return {name: data.get(name) for name in FIELDS}


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without a zone is UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_json_lines(lines: Iterable[str], since: datetime, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        entry = from_json_line(line)
        if entry["deleted_at"] < since:
            continue
        batch.append(entry)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- replaying ----------------------------------------------------------------------------------------

REPLAY_COUNTS = ("entries", "rows_deleted", "rows_anonymised", "rows_marked_deleted", "files_deleted",
                 "keys_dropped", "unresolved")


def _pk_value(table: Table, value: str) -> Any:
    pk = next(iter(table.primary_key.columns))
    try:
        python_type = pk.type.python_type
    except NotImplementedError:  # SQLAlchemy's answer for a column type with no Python type: keep the text
        return value
    return int(value) if python_type is int else value


def _row_where(table: Table, entry: Mapping[str, Any]):
    if entry.get("row_id") is not None:
        return next(iter(table.primary_key.columns)) == _pk_value(table, entry["row_id"])
    if entry.get("public_id") is not None and "public_id" in table.c:
        return table.c.public_id == entry["public_id"]
    if entry.get("user_public_id") is not None and "user_id" in table.c:
        users = db.metadata.tables[lifecycle.user_table()]
        owner = select(users.c.id).where(users.c.public_id == entry["user_public_id"]).scalar_subquery()
        return table.c.user_id == owner
    return None


def _destroy_object(entry: Mapping[str, Any], counts: dict[str, int]) -> None:
    objects = db.metadata.tables[OBJECTS_TABLE]
    key = entry.get("object_key")
    if key is None:
        row = db.session.execute(select(objects.c.kind, objects.c.id).where(objects.c.id == entry["object_id"])).first()
        key = StoredObject(id=row.id, kind=row.kind).storage_key if row else None
    store = object_store()
    if key is not None and store.exists(key):
        store.delete(key)
        counts["files_deleted"] += 1
    dropped = db.session.execute(update(objects).where(objects.c.id == entry["object_id"],
                                                       objects.c.wrapped_key.is_not(None))
                                 .values(wrapped_key=None, kek_id=None)).rowcount
    counts["keys_dropped"] += dropped or 0
    db.session.execute(update(objects).where(objects.c.id == entry["object_id"], objects.c.destroyed_at.is_(None))
                       .values(destroyed_at=entry["deleted_at"]))


def apply_entry(entry: Mapping[str, Any], counts: dict[str, int]) -> None:
    counts["entries"] += 1
    table = db.metadata.tables.get(entry.get("table_name") or "")
    if table is None:
        counts["unresolved"] += 1
        return
    if entry.get("object_id"):
        _destroy_object(entry, counts)
    where = _row_where(table, entry)
    if where is None:
        return
    action = entry["action"]
    if action == DELETE:
        counts["rows_deleted"] += db.session.execute(delete(table).where(where)).rowcount or 0
    elif action == ANONYMISE:
        names = [name for name in (entry.get("columns") or "").split(",") if name in table.c]
        if names:
            still_set = or_(*(table.c[name].is_not(None) for name in names))
            counts["rows_anonymised"] += db.session.execute(
                update(table).where(where, still_set).values(dict.fromkeys(names))).rowcount or 0
    elif action == DESTROY and "deleted_at" in table.c and table.name != OBJECTS_TABLE:
        counts["rows_marked_deleted"] += db.session.execute(
            update(table).where(where, table.c.deleted_at.is_(None)).values(deleted_at=entry["deleted_at"])
        ).rowcount or 0


def replay(batches: Iterable[list[Mapping[str, Any]]]) -> dict[str, int]:
    """Re-apply logged deletions (after a restore); commits per batch; idempotent."""
    counts = dict.fromkeys(REPLAY_COUNTS, 0)
    for batch in batches:
        for entry in batch:
            apply_entry(entry, counts)
        db.session.commit()
    log.info("deletions replayed", extra={"counts": counts})
    return counts


def replay_since(since: datetime, batch_size: int = 1000) -> dict[str, int]:
    """Replay this database's own log from ``since``.

    The entries are read before anything is applied batch by batch; replaying never adds entries, so
    the keyset walk over the log stays stable.
    """
    return replay(entries_since(since, batch_size))
