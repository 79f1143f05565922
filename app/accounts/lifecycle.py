"""Accounts' personal-data lifecycle: the profile, phone, WeChat identities, devices, sessions, SMS codes.

The account row goes last when an account is cancelled (``erase_order``): the database cascades
identities, devices, sessions and every other domain's rows that still reference the user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update

from app.core.db import utcnow
from app.core.i18n import N_, _l
from app.core.lifecycle import (
    ExportArchive,
    Holding,
    Lifecycle,
    Processing,
    ReplayTarget,
    RetentionClass,
    SealedColumn,
    ts,
)
from app.extensions import db

from . import phones, sessions
from .models import Device, LoginSession, RiskFlag, SmsCode, User, WechatIdentity

_sessions, _sms = LoginSession.__table__, SmsCode.__table__


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def holdings(user_id: int) -> list[Holding]:
    user = db.session.get(User, user_id)
    live = LoginSession.revoked_at.is_(None)
    return [
        Holding("profile", 1, _l("Until you cancel the account")),
        Holding("phone", int(bool(user and user.has_phone)),
                _l("Until you cancel the account (encrypted; shown masked)")),
        Holding("wechat_identities", _count(WechatIdentity, WechatIdentity.user_id == user_id),
                _l("Until you cancel the account (openid encrypted)")),
        Holding("devices", _count(Device, Device.user_id == user_id),
                _l("Until you cancel the account or delete them")),
        Holding("sessions", _count(LoginSession, LoginSession.user_id == user_id, live),
                _l("%(days)s days, or until revoked", days=current_app.config["SESSION_TTL_DAYS"])),
    ]


def _profile(user: User) -> dict[str, Any]:
    wechat = db.session.scalars(select(WechatIdentity).where(WechatIdentity.user_id == user.id)
                                .order_by(WechatIdentity.id))
    return {"id": user.public_id, "nickname": user.nickname, "avatar_url": user.avatar_url,
            "phone_masked": user.phone_masked, "phone_bound_at": ts(user.phone_bound_at), "status": user.status,
            "wechat_logins": [{"linked_at": ts(identity.created_at)} for identity in wechat],
            "created_at": ts(user.created_at), "updated_at": ts(user.updated_at),
            "last_login_at": ts(user.last_login_at)}


def export(user_id: int, archive: ExportArchive) -> None:
    user = db.session.get(User, user_id)
    archive.add_json("profile.json", "profile", {"profile": _profile(user)})
    devices = list(db.session.scalars(select(Device).where(Device.user_id == user_id).order_by(Device.id)))
    refs = {device.id: f"device-{n}" for n, device in enumerate(devices, start=1)}
    device_rows = [{"ref": refs[d.id], "model": d.model, "os": d.os, "app_version": d.app_version,
                    "first_seen_at": ts(d.first_seen_at), "last_seen_at": ts(d.last_seen_at)} for d in devices]
    archive.add_json("devices.json", "devices", {"devices": device_rows}, records=len(device_rows))
    now = getattr(archive, "exported_at", None) or utcnow()
    rows = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)
                              .order_by(LoginSession.created_at, LoginSession.id))
    session_rows = [{"id": s.public_id, "method": s.method,
                     "device": refs.get(s.device_id) if s.device_id else None,
                     "created_at": ts(s.created_at), "last_seen_at": ts(s.last_seen_at),
                     "expires_at": ts(s.expires_at), "revoked_at": ts(s.revoked_at),
                     "revoked_reason": s.revoked_reason, "active": s.revoked_at is None and s.expires_at > now}
                    for s in rows]
    archive.add_json("sessions.json", "sessions", {"sessions": session_rows}, records=len(session_rows))


def delete_devices(user_id: int, reason: str) -> None:
    from app.privacy.receipts import write_receipt

    user = db.session.get(User, user_id)
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user_id).values(device_id=None))
    db.session.execute(delete(Device).where(Device.user_id == user_id))
    write_receipt(user_id, "devices", user.public_id, reason)


def erase(user_id: int, reason: str) -> None:
    """Last: every session revoked at once, the SMS codes of the phone, then the account row (cascades)."""
    user = db.session.get(User, user_id)
    sessions.revoke_all(user_id, sessions.RevokeReason.USER_REVOKED)
    if user is not None and user.phone_hash:
        db.session.execute(delete(SmsCode).where(SmsCode.phone_hash == user.phone_hash))
    db.session.flush()
    db.session.execute(delete(User).where(User.id == user_id))


def _sessions_due(cutoff: datetime):
    return or_(and_(_sessions.c.revoked_at.is_not(None), _sessions.c.revoked_at <= cutoff),
               _sessions.c.expires_at <= cutoff)


def sealed_columns() -> list[SealedColumn]:
    from .services import OPENID_PURPOSE, SESSION_KEY_PURPOSE

    return [SealedColumn(User, "phone_ciphertext", phones.PHONE_PURPOSE),
            SealedColumn(WechatIdentity, "openid_ciphertext", OPENID_PURPOSE),
            SealedColumn(WechatIdentity, "session_key_ciphertext", SESSION_KEY_PURPOSE)]


def lifecycle() -> Lifecycle:
    config = current_app.config
    return Lifecycle(
        domain="accounts", holdings=holdings, export=export, erase=erase, erase_order=100,
        user_table=User.__tablename__, unlinked_personal_tables=(SmsCode.__tablename__, RiskFlag.__tablename__),
        sealed_columns=sealed_columns, categories={"devices": delete_devices},
        # Cancellation: every domain's kept rows lose the person, then the user row goes (the rest cascades).
        receipt_kinds={"devices": ReplayTarget(Device.__tablename__, key="user", action="delete"),
                       "account": ReplayTarget(User.__tablename__, action="delete", pseudonymise_first=True)},
        retention=(
            RetentionClass("login_sessions", N_("revoked or expired login sessions"), "expiry or revocation", "delete",
                           50, table=_sessions, due=_sessions_due),
            RetentionClass("sms_codes", N_("SMS verification codes (hashed)"), "sending", "delete", 60, table=_sms,
                           due=lambda cutoff: _sms.c.created_at <= cutoff),
        ),
        processing=(
            Processing("注册、登录与账号管理", "履行合同所必需（《个人信息保护法》第十三条第二项）",
                       "手机号（加密保存）、微信 openid（加密保存）、昵称、头像、登录会话",
                       f"直至您注销账号；登录会话 {config['SESSION_TTL_DAYS']} 天",
                       "微信登录 / 手机号快速验证（深圳市腾讯计算机系统有限公司）；短信服务商"),
            Processing("风险控制与账号安全", "履行合同所必需、履行法定义务（《网络安全法》第二十一条）",
                       "设备标识（哈希）、手机号（哈希）、登录与验证码记录",
                       f"验证码记录 {config['RETENTION']['sms_codes']['days']} 天；设备信息直至您删除或注销"),
            Processing("安全日志", "履行法定义务（《网络安全法》第二十一条：网络日志留存不少于六个月）",
                       "应用与访问日志（不含手机号、openid、照片等内容）", "按部署的日志平台保存，不少于六个月"),
        ))
