"""Encrypted objects: a database row (with the wrapped data key) plus ciphertext in the object store.

``store`` writes the ciphertext first and the row in the caller's transaction (at once: ``insert_as_loaded``);
if the INSERT fails the file goes with it, and if that transaction then fails, ``discard_unsaved`` removes the
file, so no orphan is left. ``destroy`` deletes the file and drops the wrapped key (crypto-shredding) in one
step the caller commits.
"""

from __future__ import annotations

import errno
import logging
import uuid
from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core import vault
from app.core.db import UTCDateTime, insert_as_loaded, utcnow
from app.core.errors import StorageFull, StorageUnavailable
from app.core.storage import object_store
from app.extensions import db

log = logging.getLogger(__name__)


class StoredObject(db.Model):
    __tablename__ = "stored_objects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    kind: Mapped[str] = mapped_column(String(32))  # portrait_upload, result_image, export_archive, …
    mime_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column()  # plaintext bytes
    kek_id: Mapped[str | None] = mapped_column(String(64))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once destroyed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    # The file's key as ``store`` wrote it, outside the mapped columns: a rollback expires those, and
    # ``discard_unsaved`` must find the file of a row that was never committed without querying for it.
    written_key = None  # str once written (not annotated: declarative would try to map it)

    @property
    def storage_key(self) -> str:
        return f"{self.kind}/{self.id[:2]}/{self.id}"


def store(kind: str, plaintext: bytes, mime_type: str) -> StoredObject:
    """Encrypt and write ``plaintext``, and insert its row in the caller's transaction (which commits it).

    The row is written at once (``insert_as_loaded``, not at the next flush): with the upload's own row done
    alike, an upload's writes (file, rows, commit) cost 3.5 instead of 4.2 ms of CPU (issue #20)."""
    obj = StoredObject(id=uuid.uuid4().hex, kind=kind, mime_type=mime_type, size=len(plaintext),
                       created_at=utcnow(), destroyed_at=None)
    sealed = vault.seal(obj.id, plaintext)
    obj.kek_id, obj.wrapped_key = sealed.kek_id, sealed.wrapped_key
    obj.written_key = obj.storage_key
    try:
        object_store().put(obj.written_key, sealed.ciphertext)
    except OSError as exc:  # the store already removed its partial file; the caller wrote no row yet
        log.error("object store write failed", extra={"kind": kind, "errno": exc.errno})
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull() from exc
        raise StorageUnavailable() from exc
    try:
        insert_as_loaded(db.session, obj)
    except BaseException:
        object_store().delete(obj.written_key)  # no row points at it: an orphan otherwise
        raise
    return obj


def discard_unsaved(obj: StoredObject) -> None:
    """The transaction that would have recorded ``obj`` failed (rolled back or not): remove its file."""
    object_store().delete(obj.written_key or obj.storage_key)


def read(obj: StoredObject) -> bytes:
    if obj.wrapped_key is None or obj.kek_id is None:
        raise vault.DecryptionError("object was destroyed")
    return vault.open_sealed(obj.id, object_store().get(obj.storage_key), obj.kek_id, obj.wrapped_key)


def destroy(obj: StoredObject) -> None:
    """Delete the file and drop its key; the caller commits."""
    object_store().delete(obj.storage_key)
    obj.wrapped_key = None
    obj.kek_id = None
    obj.destroyed_at = obj.destroyed_at or utcnow()
