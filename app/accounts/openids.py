"""The payer's WeChat openid for an order, in one prebuilt Core statement (the order hot path, issue #20).

Same answer as ``services.openid_of(user_id)`` (the user's identity in this mini-program, the newest,
decrypted), without loading the identity through the ORM: one column, a statement built once.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import bindparam, select

from app.core.crypto import open_text
from app.extensions import db

from .models import WechatIdentity
from .services import OPENID_PURPOSE

_identities = WechatIdentity.__table__
_OPENID_HERE = (select(_identities.c.openid_ciphertext)
                .where(_identities.c.user_id == bindparam("user_id"), _identities.c.appid == bindparam("appid"))
                .order_by(_identities.c.id.desc()).limit(1))


def openid_here(user_id: int) -> str | None:
    """The openid of the user's identity in this mini-program (``WECHAT_APPID``), or None (an account made by
    SMS login, or one that only logged in from another of our apps)."""
    ciphertext = db.session.connection().execute(
        _OPENID_HERE, {"user_id": user_id, "appid": current_app.config["WECHAT_APPID"]}).scalar()
    return open_text(ciphertext, OPENID_PURPOSE) if ciphertext is not None else None
