"""Whom a notice concerns, found through each domain's public services (never their tables)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from app.accounts import services as accounts
from app.generation import services as generation
from app.orders import services as orders
from app.uploads import services as uploads

from .models import Audience, DataClass, Notice

# Each: (since, until) -> the ids of users who held data of that class at some moment in the window.
HOLDERS: dict[str, Callable[[datetime, datetime], list[int]]] = {
    DataClass.UPLOADS: uploads.user_ids_with_uploads_between,
    DataClass.RESULTS: generation.user_ids_with_results_between,
    DataClass.ORDERS: orders.user_ids_with_orders_between,
    DataClass.PHONE: accounts.user_ids_with_phone_between,
}


def recipient_batches(notice: Notice, batch_size: int) -> Iterator[list[int]]:
    """The recipients' user ids, ascending, in batches (everyone: a keyset walk over the accounts)."""
    if notice.audience == Audience.ALL:
        after = 0
        while batch := accounts.user_ids_page(after, batch_size):
            yield batch
            after = batch[-1]
        return
    if notice.audience == Audience.DATA_CLASS:
        ids = sorted(set(HOLDERS[notice.data_class](notice.window_start, notice.window_end)))
    else:
        ids = sorted(set(accounts.user_ids_for_public_ids(list(notice.user_ids or [])).values()))
    for start in range(0, len(ids), batch_size):
        yield ids[start:start + batch_size]
