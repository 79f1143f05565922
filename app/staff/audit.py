"""The staff audit log: append-only and tamper-evident (policy §7).

``record`` appends one entry to the caller's transaction; whoever commits that transaction (the
view, or ``staff_required`` after a successful view) stores it together with the change it
describes, so there is never a change without its entry nor an entry for a change rolled back.

Each entry's ``hash`` is SHA-256 over a canonical JSON of its fields and the previous entry's hash,
so altering, removing or reordering a stored row breaks the chain from there on, and
``verify_chain`` (``flask audit verify``) names the first broken entry. Appends are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite serialises writers itself) and ids are the
previous id + 1 on a primary key, so two concurrent actions can never fork the chain: at worst the
second waits for the first to commit.

Never put unmasked personal data into ``details``: the log is kept longer than the data it describes.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import select, text

from app.core.db import utcnow
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.staff.models import AuditEntry, StaffAccount

GENESIS_HASH = "0" * 64
# Any constant works: it only has to be the same for every process appending to this database.
_ADVISORY_LOCK_KEY = 0x6D68_6175_6469_74  # "mhaudit"


def _actor(actor: StaffAccount | None) -> tuple[int | None, str, str]:
    staff = actor if actor is not None else g.get("staff")
    if staff is not None:
        return staff.id, staff.username, staff.roles
    if has_request_context():
        return None, "anonymous", ""
    try:  # a CLI command run on a server: name the operator's system account
        return None, f"cli:{getpass.getuser()}"[:64], ""
    except OSError:
        return None, "cli", ""


def _lock_chain() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


def canonical_payload(entry: AuditEntry) -> bytes:
    """What the hash covers: every field except ``hash`` itself and the ``staff_id`` link."""
    created = entry.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = {
        "id": entry.id, "created_at": created, "staff_username": entry.staff_username, "roles": entry.roles,
        "action": entry.action, "target_type": entry.target_type, "target_id": entry.target_id,
        "reason": entry.reason, "request_id": entry.request_id, "ip": entry.ip, "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical_payload(entry)).hexdigest()


def record(action: str, target_type: str, target_id: str | None, *, reason: str | None = None,
           details: dict[str, Any] | None = None, actor: StaffAccount | None = None) -> AuditEntry:
    """Append an entry to the current transaction (the caller, or ``staff_required``, commits it).

    The actor is ``g.staff`` (set by ``staff_required``) unless ``actor`` names one (login events,
    where nobody is logged in yet); outside a request it is the CLI's system user.
    """
    staff_id, username, roles = _actor(actor)
    if details is not None:
        details = json.loads(json.dumps(details, default=str))  # store exactly what gets hashed
    _lock_chain()
    last = db.session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry = AuditEntry(
        id=(last.id + 1) if last else 1,
        created_at=utcnow(),
        staff_id=staff_id, staff_username=username, roles=roles,
        action=action, target_type=target_type, target_id=None if target_id is None else str(target_id)[:128],
        reason=reason[:500] if reason else reason,
        request_id=g.get("request_id") if has_request_context() else None,
        ip=(request.remote_addr or None) if has_request_context() else None,
        details=details, prev_hash=last.hash if last else GENESIS_HASH,
    )
    entry.hash = entry_hash(entry)
    db.session.add(entry)
    db.session.flush()  # the next record() in this transaction must see it as the chain's end
    return entry


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    last_id: int | None = None


def _entries_in_order(batch: int) -> Iterator[AuditEntry]:
    after = 0
    while True:
        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        for row in rows:  # keep memory flat on a long log
            db.session.expunge(row)


def verify_chain(batch: int = 1000) -> ChainStatus:
    """Walk the log in id order and report the first entry whose link, hash or position is wrong."""
    expected_prev, expected_id, checked = GENESIS_HASH, 1, 0
    for entry in _entries_in_order(batch):
        problem = None
        if entry.id != expected_id:
            problem = f"missing entries before id {entry.id} (expected id {expected_id})"
        elif entry.prev_hash != expected_prev:
            problem = "prev_hash does not match the previous entry's hash"
        elif entry_hash(entry) != entry.hash:
            problem = "hash does not match the entry's contents"
        if problem:
            return ChainStatus(ok=False, checked=checked, first_broken_id=entry.id, problem=problem,
                               last_id=expected_id - 1 or None)
        checked += 1
        expected_prev, expected_id = entry.hash, entry.id + 1
    return ChainStatus(ok=True, checked=checked, last_id=expected_id - 1 or None)


def search(*, staff: str | None = None, action: str | None = None, target_type: str | None = None,
           target_id: str | None = None, since=None, until=None,
           page: PageQuery | None = None) -> tuple[list[AuditEntry], str | None]:
    """Entries newest first, one page; returns them and the next page's cursor (or None)."""
    stmt = select(AuditEntry)
    if staff:
        stmt = stmt.where(AuditEntry.staff_username == staff)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditEntry.action == action)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.created_at < until)
    return paginate(stmt, page or PageQuery(), AuditEntry.id.desc())
