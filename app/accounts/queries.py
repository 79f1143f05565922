"""Reads of accounts for other domains (the staff console): plain data, never the ORM rows.

A ``UserCard`` is what another domain may know of an account: its ids, status and the values the
console shows (the masked phone and the nickname, which the console masks itself). Cards are read in
batches (``cards``: two statements however many users), so a page of them never costs a query a row.
Clear personal data leaves only through ``clear_value`` (the staff console's audited unmask).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from app.extensions import db

from . import phones
from .models import User, UserStatus, WechatIdentity

CLEAR_FIELDS = ("phone", "nickname")


@dataclass(frozen=True)
class UserCard:
    id: int  # the internal id: for other domains' reads (never shown)
    public_id: str
    phone_masked: str | None
    nickname: str | None  # in clear: whoever shows it masks it
    has_wechat: bool
    status: str
    blocked_reason: str | None
    created_at: datetime
    last_login_at: datetime | None

    @property
    def blocked(self) -> bool:
        return self.status == UserStatus.BLOCKED


def _card(user: User, has_wechat: bool) -> UserCard:
    return UserCard(id=user.id, public_id=user.public_id, phone_masked=user.phone_masked, nickname=user.nickname,
                    has_wechat=has_wechat, status=user.status, blocked_reason=user.blocked_reason,
                    created_at=user.created_at, last_login_at=user.last_login_at)


def _with_wechat(user_ids: set[int]) -> set[int]:
    if not user_ids:
        return set()
    return set(db.session.scalars(select(WechatIdentity.user_id).distinct()
                                  .where(WechatIdentity.user_id.in_(user_ids))))


def _cards(query) -> list[UserCard]:
    users = list(db.session.scalars(query.order_by(User.id)))
    wechat = _with_wechat({u.id for u in users})
    return [_card(u, u.id in wechat) for u in users]


def cards(user_ids: Iterable[int | None]) -> list[UserCard]:
    """The cards of the accounts among ``user_ids`` that exist (None ignored), by id; two statements."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return []
    return _cards(select(User).where(User.id.in_(wanted)))


def card(user_id: int | None) -> UserCard | None:
    found = cards([user_id])
    return found[0] if found else None


def card_by_public_id(public_id: str, *, for_update: bool = False) -> UserCard | None:
    """``for_update``: the user row stays locked until the transaction ends (block, unblock)."""
    query = select(User).where(User.public_id == public_id)
    user = db.session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        return None
    return _card(user, bool(_with_wechat({user.id})))


def find_cards(*, public_id: str | None = None, phone: str | None = None, user_id: int | None = None) -> list[UserCard]:
    """The accounts with this public id, this phone number (matched through the keyed hash: the database holds
    no clear numbers to scan) or this id — any of them, by id; two statements."""
    wanted = []
    if public_id is not None:
        wanted.append(User.public_id == public_id)
    if phone is not None:
        wanted.append(User.phone_hash == phones.phone_hash(phone))
    if user_id is not None:
        wanted.append(User.id == user_id)
    if not wanted:
        return []
    return _cards(select(User).where(or_(*wanted)))


def clear_value(user_id: int, field: str) -> str | None:
    """One field of ``CLEAR_FIELDS`` in clear (None: the user has no value); the caller audits why it asked."""
    if field not in CLEAR_FIELDS:
        raise ValueError(field)
    user = db.session.get(User, user_id)
    if field == "phone":
        return phones.open_phone(user.phone_ciphertext) if user.phone_ciphertext is not None else None
    return user.nickname or None
