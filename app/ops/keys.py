"""Key rotation: re-wrap every stored object's data key and re-seal every sealed column under the current
key-encryption key — the work list comes from the lifecycle registry (app.core.lifecycle): each domain
registers the columns it seals (with their purposes), the stored-object kinds it owns and the files it seals
whole (the deletion log's off-database copies, which a restore needs).

``unregistered_sealed_columns`` compares the registry with the metadata (columns of type
``app.core.db.Sealed``), and ``rewrap`` refuses to run while one is missing: a column left out would be
unreadable once the old key is removed. Objects of a kind no domain registered are reported the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from app.core import lifecycle, vault
from app.core.crypto import keyring
from app.core.db import Sealed
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db


class RegistryIncomplete(RuntimeError):
    """Something is encrypted that no domain registered: rotating now would lose it."""


def sealed_columns_in_metadata() -> set[tuple[str, str]]:
    return {(table.name, column.name) for table in db.metadata.sorted_tables for column in table.c
            if isinstance(column.type, Sealed)}


def unregistered_sealed_columns() -> list[str]:
    registered = {column.key for column in lifecycle.sealed_columns()}
    return sorted(f"{table}.{column}" for table, column in sealed_columns_in_metadata() - registered)


@dataclass
class RewrapReport:
    key_id: str
    objects: Counter = field(default_factory=Counter)  # kind → data keys re-wrapped
    fields: Counter = field(default_factory=Counter)  # table.column → values re-sealed
    files: Counter = field(default_factory=Counter)  # prefix/ → whole-sealed files re-sealed

    def summary(self) -> str:
        return (f"re-wrapped {sum(self.objects.values())} object key(s), re-sealed {sum(self.fields.values())} "
                f"field(s) and {sum(self.files.values())} file(s) under key {self.key_id}")


def rewrap(batch: int = 500) -> RewrapReport:
    """Idempotent; safe while serving. Commits a batch at a time (a long job's progress: a crash keeps
    what was done, and a second run does the rest)."""
    missing = unregistered_sealed_columns()
    if missing:
        raise RegistryIncomplete(f"sealed columns no domain registered: {', '.join(missing)}")
    ring = keyring()
    report = RewrapReport(ring.current_id)
    kinds = lifecycle.object_kinds()
    stale = StoredObject.wrapped_key.is_not(None), StoredObject.kek_id != ring.current_id
    unknown = sorted(set(db.session.scalars(select(StoredObject.kind).where(*stale).distinct())) - set(kinds))
    if unknown:
        raise RegistryIncomplete(f"stored objects of kinds no domain registered: {', '.join(unknown)}")
    query = select(StoredObject).where(*stale, StoredObject.kind.in_(kinds)).order_by(StoredObject.id).limit(batch)
    while rows := list(db.session.scalars(query)):
        for obj in rows:
            obj.kek_id, obj.wrapped_key = vault.rewrap(obj.id, obj.kek_id, obj.wrapped_key)
            report.objects[obj.kind] += 1
        db.session.commit()
    for sealed in lifecycle.sealed_columns():
        model, column = sealed.model, getattr(sealed.model, sealed.column)
        pk = next(iter(model.__table__.primary_key.columns))
        last = None
        while True:
            query = select(model).where(column.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = list(db.session.scalars(query))
            if not rows:
                break
            for row in rows:
                value = getattr(row, sealed.column)
                if ring.key_id_of(value) != ring.current_id:
                    setattr(row, sealed.column, ring.seal(ring.open(value, sealed.purpose), sealed.purpose))
                    report.fields[f"{sealed.key[0]}.{sealed.key[1]}"] += 1
            last = getattr(rows[-1], pk.key)
            db.session.commit()
    store = object_store()
    for files in lifecycle.sealed_files():  # e.g. the deletion log's copies, read after a restore
        for key in store.keys(files.prefix + "/"):
            data = store.get(key)
            if ring.key_id_of(data) != ring.current_id:
                store.put(key, ring.seal(ring.open(data, files.purpose), files.purpose))
                report.files[f"{files.prefix}/"] += 1
    return report
