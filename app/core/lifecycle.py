"""The personal-data lifecycle contract, and the registry of the domains that implement it.

Every domain that holds personal data describes and handles its own data in one place,
``app/<domain>/lifecycle.py``, by registering a ``Lifecycle`` at start-up (``app.lifecycles``):

- ``holdings(user_id)``: what it holds about a user (rows of "what we hold", §8);
- ``export(user_id, archive)``: its sections of the personal-data export (§8(5));
- ``erase(user_id, reason)``: delete or pseudonymise one user's data, in the caller's transaction
  (account cancellation; ``erase_order`` says when: the account row itself goes last);
- ``on_consent_withdrawn(user_id, purpose, reason)``: react to the withdrawal of a consent purpose;
- ``categories``: the categories of its data a user may delete on their own;
- ``retention``: its retention classes, each with the rows due or its own sweep (§5);
- ``sealed_columns`` / ``object_kinds`` / ``sealed_files``: the encrypted columns, stored-object kinds and
  whole-sealed files it owns (key rotation);
- ``receipt_kinds`` / ``kept_pseudonymised``: what each kind of deletion receipt it writes removed, and the
  rows it keeps after cancellation with the columns cleared then (the deletion log, replayed after a restore);
- ``processing``: the processing activities it carries out (the processing register, §3).

``app.privacy`` orchestrates rights, retention, export and the register through this registry only.
This module imports no domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table


def ts(moment: datetime | None) -> str | None:
    """Times in exports: ISO 8601 in UTC, e.g. ``2024-07-04T08:30:00Z``."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Holding:
    """One row of "what we hold": a category, how many records of it, how long it is kept."""

    name: str
    count: int
    retention: str


class ExportArchive(Protocol):
    """What a domain writes its export sections into (the archive itself belongs to app.privacy)."""

    def add(self, name: str, data: bytes, *, compress: bool = True, records: int | None = None) -> None: ...

    def add_json(self, name: str, schema: str, payload: dict[str, Any], records: int | None = None) -> None: ...


@dataclass(frozen=True)
class RetentionClass:
    """A retention class (RETENTION in app.config names its period and action).

    Either ``due(cutoff)`` selects the rows of ``table`` to delete (or to anonymise: ``columns``), and the
    privacy sweep does it in logged batches; or ``sweep(now, cutoff, batch_size)`` does the work itself
    (stored objects to destroy, …) and returns how many it handled (None: not available here).
    """

    name: str
    what: str  # the data, for people
    clock: str  # what the period counts from
    action: str  # delete | anonymise
    order: int  # the sweep runs classes in this order (results before the jobs that own them, …)
    table: Table | None = None
    due: Callable[[datetime], ColumnElement[bool]] | None = None
    columns: tuple[str, ...] = ()
    log_deletions: bool = True
    sweep: Callable[[datetime, datetime | None, int], int | None] | None = None
    enforced_by: str = "privacy.retention"
    uses_cutoff: bool = True  # False: the class carries its own expiry (export archives)


@dataclass(frozen=True)
class SealedColumn:
    """A column sealed with app.core.crypto under ``purpose`` (the associated data)."""

    model: Any
    column: str
    purpose: str

    @property
    def key(self) -> tuple[str, str]:
        return self.model.__table__.name, self.column


@dataclass(frozen=True)
class SealedFiles:
    """Files in object storage sealed whole with the keyring under ``purpose`` (not stored objects with their own
    data key), all under ``prefix/``: key rotation re-seals them, or they would not open once the old key goes."""

    prefix: str
    purpose: str


@dataclass(frozen=True)
class ReplayTarget:
    """What a deletion receipt of one kind removed, so that the deletion log can replay it on a restored backup:
    a table, and how the receipt's subject names rows there."""

    table: str
    key: str = "public_id"  # public_id: the subject is the row's public id; user: the user's public id
    action: str = "destroy"  # destroy: the rows' stored objects too | delete
    pseudonymise_first: bool = False  # the account: every domain's kept rows lose the person first


@dataclass(frozen=True)
class Processing:
    """One processing activity of the register (policy §3), in the policy's language."""

    purpose: str
    legal_basis: str
    data: str
    retention: str
    processors: str = "无（仅在我们自己的服务器处理）"
    consent: str | None = None  # the consent purpose it needs, if any


@dataclass
class Lifecycle:
    """A domain's personal-data lifecycle; every hook is optional (a domain implements what applies)."""

    domain: str
    holdings: Callable[[int], list[Holding]] | None = None
    export: Callable[[int, ExportArchive], None] | None = None
    erase: Callable[[int, str], None] | None = None
    erase_order: int = 50
    on_consent_withdrawn: Callable[[int, str, str], None] | None = None
    # Categories a user may delete on their own (§8(2)): name → delete(user_id, reason), in the caller's transaction.
    categories: dict[str, Callable[[int, str], None]] = field(default_factory=dict)
    retention: tuple[RetentionClass, ...] = ()
    sealed_columns: Callable[[], Iterable[SealedColumn]] = lambda: ()
    object_kinds: tuple[str, ...] = ()
    sealed_files: tuple[SealedFiles, ...] = ()
    receipt_kinds: dict[str, ReplayTarget] = field(default_factory=dict)
    # Rows kept after the account is cancelled (orders, by law): (table, the columns cleared at cancellation).
    kept_pseudonymised: tuple[tuple[str, tuple[str, ...]], ...] = ()
    processing: tuple[Processing, ...] = ()
    # The accounts domain names its table of users: every other table's user_id points at it (the deletion
    # log finds a user's rows by public id through it; the shutdown walks the foreign keys to it).
    user_table: str | None = None
    # Personal data tied to no user row (hashed phones, device ids): emptied when the service shuts down.
    unlinked_personal_tables: tuple[str, ...] = ()


_registry: dict[str, Lifecycle] = {}


def register(lifecycle: Lifecycle) -> None:
    """Register (or replace, on a second app in the same process) a domain's lifecycle."""
    _registry[lifecycle.domain] = lifecycle


def unregister(domain: str) -> None:
    _registry.pop(domain, None)


def registered() -> list[Lifecycle]:
    """In registration order (the order of "what we hold" and of the export)."""
    return list(_registry.values())


def get(domain: str) -> Lifecycle:
    return _registry[domain]


# --- what the orchestrator runs ---------------------------------------------------------------------

def holdings(user_id: int) -> list[Holding]:
    return [row for lc in registered() if lc.holdings for row in lc.holdings(user_id)]


def export(user_id: int, archive: ExportArchive) -> None:
    for lc in registered():
        if lc.export:
            lc.export(user_id, archive)


def erase(user_id: int, reason: str) -> None:
    """Every domain erases the user's data in the caller's transaction; the account row goes last."""
    for lc in sorted(registered(), key=lambda lc: lc.erase_order):
        if lc.erase:
            lc.erase(user_id, reason)


def consent_withdrawn(user_id: int, purposes: Iterable[str], reason: str) -> None:
    """Every domain reacts to the withdrawal of each purpose, in the caller's transaction."""
    for purpose in purposes:
        for lc in registered():
            if lc.on_consent_withdrawn:
                lc.on_consent_withdrawn(user_id, purpose, reason)


def retention_classes() -> list[RetentionClass]:
    classes = [rule for lc in registered() for rule in lc.retention]
    names = [rule.name for rule in classes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RuntimeError(f"retention classes registered twice: {', '.join(duplicates)}")
    return sorted(classes, key=lambda rule: rule.order)


def sealed_columns() -> list[SealedColumn]:
    return [column for lc in registered() for column in lc.sealed_columns()]


def object_kinds() -> dict[str, str]:
    """Stored-object kind → the domain that owns it."""
    return {kind: lc.domain for lc in registered() for kind in lc.object_kinds}


def sealed_files() -> list[SealedFiles]:
    return [files for lc in registered() for files in lc.sealed_files]


def receipt_kinds() -> dict[str, ReplayTarget]:
    """Deletion-receipt kind → what its deletion removed (the deletion log)."""
    return {kind: target for lc in registered() for kind, target in lc.receipt_kinds.items()}


def kept_pseudonymised() -> list[tuple[str, tuple[str, ...]]]:
    return [kept for lc in registered() for kept in lc.kept_pseudonymised]


def processing() -> list[Processing]:
    return [activity for lc in registered() for activity in lc.processing]


def user_table() -> str:
    """The table of user accounts, as the domain that owns it registered it."""
    names = [lc.user_table for lc in registered() if lc.user_table]
    if len(names) != 1:
        raise LookupError(f"exactly one domain must register the user table, found {names}")
    return names[0]


def unlinked_personal_tables() -> list[str]:
    return [name for lc in registered() for name in lc.unlinked_personal_tables]
