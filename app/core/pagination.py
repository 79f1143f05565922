"""Cursor pagination for every list endpoint: ``limit``, ``cursor`` in; ``next_cursor`` out.

A view declares ``query=PageQuery`` (or a query model that inherits it) and a response model that
inherits ``PageOut``; its service passes a ``select()`` and the columns of a stable order to
``paginate``::

    rows, next_cursor = paginate(select(Job).where(Job.user_id == user.id), page, Job.id.desc())

The order must end on a unique column (the primary key) so no two rows tie. The cursor is the last
row's sort key (keyset pagination: no OFFSET, so rows created meanwhile neither repeat nor vanish
from the next page), opaque to the client: base64url of JSON. ``next_cursor`` is null on the last
page. A cursor that does not decode is 422 ``invalid_cursor``. No list answers more than
``MAX_LIMIT`` rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import desc_op

from app.core.errors import ValidationFailed
from app.extensions import db

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageQuery(BaseModel):
    """``limit`` and ``cursor``; a list's query model inherits it (its own config, e.g. extra="forbid", wins)."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page (1–{MAX_LIMIT})")
    cursor: str | None = Field(None, min_length=1, max_length=512,
                               description="The previous page's next_cursor; absent for the first page")


class PageOut(BaseModel):
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class InvalidCursor(ValidationFailed):
    code, message = "invalid_cursor", "This cursor is not valid for this list; start again without one."


def _encode_value(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dt"}:
        return datetime.fromisoformat(value["dt"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != size:
            raise ValueError("wrong shape")
        decoded = [_decode_value(v) for v in values]
        if not all(isinstance(v, int | str | datetime) and not isinstance(v, bool) for v in decoded):
            raise ValueError("wrong types")
        return decoded
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor(details={"fields": [{"field": "cursor", "location": "query", "type": "invalid_cursor",
                                                 "message": "not a cursor this list answered"}]}) from exc


def _column(order: Any) -> tuple[Any, bool]:
    """(column, descending) from ``Model.col`` or ``Model.col.desc()``/``.asc()``."""
    if isinstance(order, UnaryExpression):
        return order.element, order.modifier is desc_op
    return order, False


def paginate(stmt: Select, page: PageQuery, *order_by: Any) -> tuple[list[Any], str | None]:
    """One page of ``stmt``'s rows in ``order_by`` order (ending on a unique column), and the next cursor."""
    columns = [_column(order) for order in order_by]
    if page.cursor is not None:
        values = decode_cursor(page.cursor, len(columns))
        after = []
        for index, (column, descending) in enumerate(columns):
            ties = [c == v for (c, _), v in zip(columns[:index], values[:index], strict=True)]
            beyond = column < values[index] if descending else column > values[index]
            after.append(and_(*ties, beyond))
        stmt = stmt.where(or_(*after))
    rows = list(db.session.scalars(stmt.order_by(*order_by).limit(page.limit + 1)))
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, column.key) for column, _ in columns])
