"""The payer's WeChat openid for an order, in one prebuilt Core statement (the order hot path, issue #20).

Same answer as ``services.openid_of(user_id)`` (the user's first WeChat identity, decrypted), without
loading the identity through the ORM: one column, a statement built once.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from app.core.crypto import open_text
from app.extensions import db

from .models import WechatIdentity
from .services import OPENID_PURPOSE

_identities = WechatIdentity.__table__
_FIRST_OPENID = (select(_identities.c.openid_ciphertext).where(_identities.c.user_id == bindparam("user_id"))
                 .order_by(_identities.c.id).limit(1))


def first_openid(user_id: int) -> str | None:
    """The openid of the user's first WeChat identity, or None (an account made by SMS login)."""
    ciphertext = db.session.connection().execute(_FIRST_OPENID, {"user_id": user_id}).scalar()
    return open_text(ciphertext, OPENID_PURPOSE) if ciphertext is not None else None
