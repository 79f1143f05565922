"""Finding a user and showing them to staff masked; unmasking one field; blocking.

Staff look people up the way a support case arrives: by the user id the mini-program shows, by the
phone number the person gives on the phone (matched through the keyed hash, never by scanning clear
numbers, which the database does not have), or by an order number from a payment receipt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from app.accounts import phones
from app.accounts import queries as accounts
from app.accounts.queries import UserCard
from app.core import lifecycle
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.i18n import _l
from app.orders import queries as orders
from app.staff.masking import mask_text

PUBLIC_ID = re.compile(r"^[0-9a-f]{32}$")
ORDER_NUMBER = re.compile(r"^MH[0-9A-Z]{6,30}$")
UNMASKABLE_FIELDS = accounts.CLEAR_FIELDS
SEARCH_LIMIT = 20


class UserNotFound(NotFound):
    code, message = "user_not_found", "No such user."


class FieldEmpty(Conflict):
    code, message = "field_empty", "This user has no value for that field."


class UserAlreadyBlocked(Conflict):
    code, message = "user_already_blocked", "This user is already blocked."


class UserNotBlocked(Conflict):
    code, message = "user_not_blocked", "This user is not blocked."


@dataclass(frozen=True)
class MaskedUser:
    """What a support agent may see without stating a reason."""

    public_id: str
    phone: str | None
    nickname: str | None
    has_wechat: bool
    status: str
    blocked: bool
    blocked_reason: str | None
    created_at: datetime
    last_login_at: datetime | None
    counts: dict[str, int]


def query_kinds(q: str) -> list[str]:
    """Which kinds of identifier ``q`` could be; an unrecognisable query is an error, not an empty list."""
    kinds = []
    compact = re.sub(r"[\s-]", "", q)
    if PUBLIC_ID.match(q.lower()):
        kinds.append("user_id")
    if phones.is_valid_mainland_mobile(compact.removeprefix("+86")):
        kinds.append("phone")
    if ORDER_NUMBER.match(q.upper()):
        kinds.append("order_number")
    if not kinds:
        raise ValidationFailed("Search by a user id (32 hex characters), a mainland mobile number or an order number "
                               "(MH…).", code="unrecognised_query",
                               details={"fields": [{"field": "q", "location": "query", "type": "unrecognised_query",
                                                    "message": "not a user id, phone number or order number"}]})
    return kinds


def find_users(q: str) -> tuple[list[str], list[UserCard]]:
    """The users ``q`` names (by id, phone or order number), and which interpretations were tried."""
    q = q.strip()
    kinds = query_kinds(q)
    found = accounts.find_cards(
        public_id=q.lower() if "user_id" in kinds else None,
        phone=re.sub(r"[\s-]", "", q).removeprefix("+86") if "phone" in kinds else None,
        user_id=orders.owner_of(q.upper()) if "order_number" in kinds else None)
    return kinds, found[:SEARCH_LIMIT]


def get_user(public_id: str, *, for_update: bool = False) -> UserCard:
    user = accounts.card_by_public_id(public_id, for_update=for_update)
    if user is None:
        raise UserNotFound()
    return user


COUNTED = {"uploads": "uploads", "jobs": "jobs", "results": "results", "orders": "orders",
           "sessions": "active_sessions"}  # "what we hold" category → the name staff see


def counts_of(user_id: int) -> dict[str, int]:
    """From every domain's "what we hold" (the lifecycle registry): live uploads, jobs, results, orders, sessions."""
    held = {holding.name: holding.count for holding in lifecycle.holdings(user_id)}
    return {shown: held.get(name, 0) for name, shown in COUNTED.items()}


def masked(user: UserCard) -> MaskedUser:
    return MaskedUser(public_id=user.public_id, phone=user.phone_masked, nickname=mask_text(user.nickname),
                      has_wechat=user.has_wechat, status=user.status, blocked=user.blocked,
                      blocked_reason=user.blocked_reason, created_at=user.created_at,
                      last_login_at=user.last_login_at, counts=counts_of(user.id))


def recent_orders(user: UserCard, limit: int = 20) -> list[orders.OrderLine]:
    return orders.recent_of_user(user.id, limit)


def unmasked_value(user: UserCard, field: str) -> str:
    """The clear value of one field; the caller has checked the permission and audits the reason."""
    if field not in UNMASKABLE_FIELDS:
        raise ValidationFailed(details={"fields": [{"field": "field", "location": "body", "type": "invalid",
                                                    "message": _l("One of: %(values)s",
                                                                   values=", ".join(UNMASKABLE_FIELDS))}]})
    value = accounts.clear_value(user.id, field)
    if value is None:
        raise FieldEmpty()
    return value


def check_can_block(user: UserCard) -> None:
    if user.blocked:
        raise UserAlreadyBlocked()


def check_can_unblock(user: UserCard) -> None:
    if not user.blocked:
        raise UserNotBlocked()
