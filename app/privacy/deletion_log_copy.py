"""The deletion log, copied off the database as it is written, so a restored backup can be brought up to date.

A database backup holds the deletion log as it was when the backup was taken; ``pg_restore`` rewinds the
log with everything else. So each transaction that logs deletions queues :func:`copy_deletion_log` after
its commit (and the ``privacy.deletion_log_copy`` periodic job catches anything a lost enqueue left):
entries not yet copied (``copied_at IS NULL``) are written, oldest first, as segments to object storage —
which a database restore does not rewind — then marked copied in the same transaction.

Segment ``deletion-log/<first entry time>-<last entry time>-<random>``: JSON lines (ids only, as
``export-deletions`` writes them), sealed with the application keyring (purpose ``deletion_log.segment``;
the key is configuration, not database content, so a restored database can still open them). Entry ids
are not used in names: after a restore the database hands out the same ids again.

A crash between writing a segment and committing ``copied_at`` copies the entries again: replaying is
idempotent, so a duplicate costs nothing. Two copiers at once take disjoint rows (``SKIP LOCKED``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from app.core.crypto import keyring
from app.core.db import utcnow
from app.core.jobs import MAINTENANCE_QUEUE, task
from app.core.storage import object_store
from app.extensions import db

from . import deletion_log
from .deletion_log import DeletionLogEntry

log = logging.getLogger(__name__)

PREFIX = "deletion-log"
PURPOSE = "deletion_log.segment"
_STAMP = "%Y%m%d%H%M%S%f"


def _segment_key(first: datetime, last: datetime) -> str:
    return f"{PREFIX}/{first.strftime(_STAMP)}-{last.strftime(_STAMP)}-{uuid.uuid4().hex[:12]}"


def copy_pending(batch_size: int = 1000) -> int:
    """Copy every entry not yet copied, one segment per batch; commits per batch (the job's boundary)."""
    copied = 0
    while True:
        batch = list(db.session.scalars(
            select(DeletionLogEntry).where(DeletionLogEntry.copied_at.is_(None)).order_by(DeletionLogEntry.id)
            .limit(batch_size).with_for_update(skip_locked=True)))
        if not batch:
            db.session.rollback()
            return copied
        lines = "".join(deletion_log.to_json_line(deletion_log._as_dict(entry)) + "\n" for entry in batch)
        key = _segment_key(batch[0].deleted_at, max(entry.deleted_at for entry in batch))
        object_store().put(key, keyring().seal(lines.encode(), PURPOSE))
        db.session.execute(update(DeletionLogEntry).where(DeletionLogEntry.id.in_([e.id for e in batch]))
                           .values(copied_at=utcnow()))
        db.session.commit()
        copied += len(batch)
        log.info("deletion log copied", extra={"entries": len(batch), "segment": key})
        if len(batch) < batch_size:
            return copied


@task(MAINTENANCE_QUEUE)
def copy_deletion_log() -> dict[str, int]:
    return {"copied": copy_pending(current_app.config["RETENTION_BATCH_SIZE"])}


def _segment_times(key: str) -> tuple[datetime, datetime] | None:
    try:
        first, last, _ = key.rsplit("/", 1)[1].split("-")
        return (deletion_log.parse_time(datetime.strptime(first, _STAMP).isoformat()),
                deletion_log.parse_time(datetime.strptime(last, _STAMP).isoformat()))
    except ValueError:
        return None


def copied_entries(since: datetime | None, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """The copied entries logged at or after ``since`` (all if None), segment by segment, oldest first."""
    store = object_store()
    segments = []
    for key in store.keys(PREFIX + "/"):
        times = _segment_times(key)
        if times is None:
            log.warning("not a deletion-log segment, skipped", extra={"key": key})
            continue
        if since is None or times[1] >= since:
            segments.append((times[0], key))
    for _, key in sorted(segments):
        lines = keyring().open(store.get(key), PURPOSE).decode().splitlines()
        yield from deletion_log.read_json_lines(lines, since or epoch(), batch_size)


def epoch() -> datetime:
    return deletion_log.parse_time("1970-01-01T00:00:00")


def restored_log_end(margin: timedelta) -> datetime | None:
    """Where replaying a restored database must start: its newest log entry, less a margin for transactions
    that committed after the dump's snapshot with an earlier time; None for an empty log (replay all)."""
    newest = db.session.scalar(select(func.max(DeletionLogEntry.deleted_at)))
    db.session.rollback()
    return None if newest is None else newest - margin
