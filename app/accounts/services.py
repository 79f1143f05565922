"""Account rules: logging in with WeChat or SMS, binding a phone, merging, profile, blocking.

Binding rules (one person, one account):
- A WeChat login creates an account the first time an (appid, openid) is seen — or joins the account
  of the same unionid from another of our apps.
- Binding a phone that nobody has: the phone joins the current account (a phone change replaces the
  old number).
- Binding a phone that another account already has (typically one made by SMS login): if the current
  account has no phone of its own and the other account has no WeChat identity of this mini-program,
  the WeChat identity moves to the phone's account and the empty WeChat-only account is removed; the
  caller gets a new token for the merged account (``merged: true``). Otherwise 409
  ``phone_already_bound`` and nothing changes.
- An SMS login finds the account by phone, or creates one with that phone.
Every write of one request happens in one transaction: a failure leaves nothing half-written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from app.accounts import login_sql, phones, risk, sessions, sms
from app.accounts.auth import AccountBlocked
from app.accounts.models import (
    Device,
    LoginMethod,
    LoginSession,
    User,
    UserStatus,
    WechatIdentity,
    new_public_id,
)
from app.accounts.schemas import DeviceInfo, ProfileUpdateIn
from app.core.crypto import lookup_hash, open_text, seal_text, token_hash
from app.core.db import utcnow
from app.core.errors import ApiError, BadRequest, Conflict, Forbidden, RateLimited, ServiceUnavailable, ValidationFailed
from app.core.wechat import WeChatError, WeChatUnavailable, mini_program_client
from app.extensions import db

log = logging.getLogger(__name__)

OPENID_PURPOSE = "wechat.openid"
UNIONID_PURPOSE = "wechat.unionid"
SESSION_KEY_PURPOSE = "wechat.session_key"


class WechatCodeInvalid(BadRequest):
    code, message = "wechat_code_invalid", "The WeChat code is invalid or expired; call wx.login() again."


class WechatCodeUsed(BadRequest):
    code, message = "wechat_code_used", "This WeChat code was already used; call wx.login() again."


class WechatRiskyUser(Forbidden):
    code, message = "wechat_risky_user", "WeChat flagged this account as high-risk; login is refused."


class WechatUnavailableError(ServiceUnavailable):
    code, message = "wechat_unavailable", "WeChat is not answering right now; please try again shortly."


class PhoneAlreadyBound(Conflict):
    code, message = "phone_already_bound", "This phone number is already bound to another account."


class ContentRejected(ValidationFailed):
    code, message = "content_rejected", "This text did not pass the content check; please change it."


# What ``wechat_error`` may answer (for the OpenAPI document of the views that call WeChat).
WECHAT_ERRORS = (WechatCodeInvalid, WechatCodeUsed, WechatRiskyUser, (429, "wechat_rate_limited"),
                 WechatUnavailableError)


def wechat_error(exc: WeChatError | WeChatUnavailable) -> ApiError:
    """Translate a WeChat outcome into the error the mini-program sees (and log what happened)."""
    if isinstance(exc, WeChatUnavailable):
        log.warning("wechat unavailable", extra={"reason": str(exc)})
        return WechatUnavailableError()
    known: dict[int, ApiError] = {
        40029: WechatCodeInvalid(), 40163: WechatCodeUsed(), 40226: WechatRiskyUser(),
        45011: RateLimited(retry_after=60, code="wechat_rate_limited",
                           message="Too many attempts with WeChat; wait a minute."),
    }
    log.warning("wechat error", extra={"errcode": exc.errcode})
    return known.get(exc.errcode) or WechatUnavailableError(details={"errcode": exc.errcode})


@dataclass
class LoginResult:
    user: User
    session: LoginSession
    token: str
    new_user: bool


# --- WeChat login -------------------------------------------------------------------------------

def login_with_wechat(code: str, device: DeviceInfo | None) -> LoginResult:
    risk.limit_login(device)
    try:
        answer = mini_program_client().code_to_session(code)
    except (WeChatError, WeChatUnavailable) as exc:
        raise wechat_error(exc) from exc
    if not answer.get("openid") or not answer.get("session_key"):
        raise wechat_error(WeChatUnavailable("code2session answered without openid/session_key"))
    try:
        return _complete_wechat_login(answer, device)
    except IntegrityError:
        # A concurrent first login of the same openid won the insert: ours now finds its row.
        db.session.rollback()
        return _complete_wechat_login(answer, device)


def _complete_wechat_login(answer: dict, device: DeviceInfo | None) -> LoginResult:
    """The login's writes, as the prebuilt statements of ``login_sql`` (three for a returning user on PostgreSQL)."""
    appid = current_app.config["WECHAT_APPID"]
    openid_hash = lookup_hash(answer["openid"], OPENID_PURPOSE)
    unionid_hash = lookup_hash(answer["unionid"], UNIONID_PURPOSE) if answer.get("unionid") else None
    session_key = seal_text(answer["session_key"], SESSION_KEY_PURPOSE)
    now = utcnow()
    connection = db.session.connection()  # the session's transaction, without the ORM's unit of work
    row = login_sql.touch_identity(connection, appid, openid_hash, session_key, unionid_hash, now)  # user, locked
    new_user = False
    if row is None:
        row, new_user = login_sql.user_for_new_identity(connection, unionid_hash, now)
        login_sql.insert_identity(connection, row.id, appid, openid_hash,
                                  seal_text(answer["openid"], OPENID_PURPOSE), unionid_hash, session_key, now)
    if row.status == UserStatus.BLOCKED:
        db.session.rollback()
        raise AccountBlocked()
    token = sessions.new_token()
    values = {"public_id": new_public_id(), "user_id": row.id, "token_hash": token_hash(token),
              "method": LoginMethod.WECHAT, "device_id": risk.record_device(row.id, device, now), "created_at": now,
              "expires_at": now + timedelta(days=current_app.config["SESSION_TTL_DAYS"])}
    session_id, evicted = login_sql.insert_session(connection, values, current_app.config["MAX_SESSIONS_PER_USER"],
                                                   sessions.RevokeReason.EVICTED)
    if evicted:
        sessions.renew_epoch_after_commit(row.id)  # the evicted tokens stop working in every process
    db.session.commit()
    return LoginResult(login_sql.user_from_row(row), login_sql.session_from_values(session_id, values), token,
                       new_user)


# --- phone binding ------------------------------------------------------------------------------

@dataclass
class PhoneBindResult:
    user: User
    merged: bool
    token: str | None


def bind_phone_with_wechat_code(user: User, current: LoginSession, code: str) -> PhoneBindResult:
    try:
        info = mini_program_client().get_phone_number(code)
    except (WeChatError, WeChatUnavailable) as exc:
        raise wechat_error(exc) from exc
    if info.get("watermark", {}).get("appid") != current_app.config["WECHAT_APPID"]:
        raise wechat_error(WeChatUnavailable("phone_info watermark names another appid"))
    phone = str(info.get("purePhoneNumber", ""))
    country_code = str(info.get("countryCode", "86"))
    if not phone.isdigit():
        raise wechat_error(WeChatUnavailable("phone_info without a purePhoneNumber"))
    return bind_phone(user, current, phone, country_code)


def bind_phone(user: User, current: LoginSession, phone: str, country_code: str = "86") -> PhoneBindResult:
    hashed = phones.phone_hash(phone, country_code)
    owner = db.session.scalar(select(User).where(User.phone_hash == hashed).with_for_update())
    if owner is None or owner.id == user.id:
        _set_phone(user, phone, country_code)
        db.session.commit()
        return PhoneBindResult(user, merged=False, token=None)
    if owner.status == UserStatus.BLOCKED:
        raise AccountBlocked()
    appids = {identity.appid for identity in user.wechat_identities}
    owner_appids = {identity.appid for identity in owner.wechat_identities}
    if user.has_phone or appids & owner_appids:
        raise PhoneAlreadyBound()
    token = _merge_into(user, owner, current)
    db.session.commit()
    log.info("wechat identity merged into the phone's account")
    return PhoneBindResult(owner, merged=True, token=token)


def _set_phone(user: User, phone: str, country_code: str) -> None:
    user.phone_ciphertext = phones.seal_phone(phone, country_code)
    user.phone_hash = phones.phone_hash(phone, country_code)
    user.phone_masked = phones.mask(phone)
    user.phone_bound_at = utcnow()


def _merge_into(source: User, target: User, current: LoginSession) -> str:
    """Move a phone-less, WeChat-only account's identities and devices to ``target``; remove it."""
    for identity in list(source.wechat_identities):
        identity.user = target
    target_devices = {d.device_hash: d for d in db.session.scalars(select(Device).where(Device.user_id == target.id))}
    current_device = current.device
    for device in db.session.scalars(select(Device).where(Device.user_id == source.id)):
        if device.device_hash in target_devices:
            if current_device is device:
                current_device = target_devices[device.device_hash]
            continue  # removed with the source account
        device.user_id = target.id
    sessions.revoke_all(source.id, sessions.RevokeReason.MERGED)
    db.session.flush()
    _, token = sessions.start_session(target, current.method, current_device)
    db.session.flush()
    db.session.delete(source)
    return token


# --- SMS login ----------------------------------------------------------------------------------

def send_login_code(phone: str, device: DeviceInfo | None) -> int:
    phone_key = phones.phone_hash(phone)
    risk.limit_sms_send(phone_key, device)
    code, ttl = sms.issue_code(phone_key, "login")
    db.session.commit()
    sms.deliver(phone, code, ttl)
    return ttl


def login_with_sms(phone: str, code: str, device: DeviceInfo | None) -> LoginResult:
    phone_key = phones.phone_hash(phone)
    risk.limit_login(device)
    risk.limit_sms_verify(phone_key)
    sms.verify_code(phone_key, "login", code)
    user = db.session.scalar(select(User).where(User.phone_hash == phone_key))
    new_user = user is None
    if user is None:
        user = User()
        _set_phone(user, phone, "86")
        db.session.add(user)
        db.session.flush()
    if user.status == UserStatus.BLOCKED:
        db.session.commit()  # the code is spent either way
        raise AccountBlocked()
    login_session, token = sessions.start_session(user, LoginMethod.SMS, risk.register_device(user, device))
    db.session.commit()
    return LoginResult(user, login_session, token, new_user)


# --- profile and status -------------------------------------------------------------------------

def update_profile(user: User, changes: ProfileUpdateIn) -> User:
    fields = changes.model_dump(exclude_unset=True)
    if fields.get("nickname"):
        check_text_is_safe(user, fields["nickname"], field="nickname")
    for name, value in fields.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def check_text_is_safe(user: User, text: str, *, field: str) -> None:
    """WeChat's text check (msg_sec_check v2) needs the user's openid; SMS-only accounts have none."""
    openid = openid_of(user.id)
    if openid is None:
        return
    try:
        result = mini_program_client().check_text(text, openid).get("result", {})
    except (WeChatError, WeChatUnavailable) as exc:
        raise wechat_error(exc) from exc
    if result.get("suggest") != "pass":
        raise ContentRejected(details={"fields": [{"field": field, "location": "body",
                                                   "message": "did not pass the content check",
                                                   "type": "content_rejected"}]})


def block_user(user: User, reason: str) -> int:
    """Refuse this account everywhere from now on; returns how many sessions were revoked."""
    user.status = UserStatus.BLOCKED
    user.blocked_reason = reason[:200]
    revoked = sessions.revoke_all(user.id, sessions.RevokeReason.BLOCKED)
    db.session.commit()
    return revoked


def unblock_user(user: User) -> None:
    user.status = UserStatus.ACTIVE
    user.blocked_reason = None
    db.session.commit()


def block(user_id: int, reason: str) -> int:
    """``block_user`` by id (the staff console, which holds a ``queries.UserCard``, not the row)."""
    return block_user(db.session.get(User, user_id), reason)


def unblock(user_id: int) -> None:
    unblock_user(db.session.get(User, user_id))


# One column, a statement built once (it runs on the order and upload hot paths, issue #20).
_identities = WechatIdentity.__table__
_OPENID_IN_APP = (select(_identities.c.openid_ciphertext)
                  .where(_identities.c.user_id == bindparam("user_id"), _identities.c.appid == bindparam("appid"))
                  .order_by(_identities.c.id.desc()).limit(1))


def openid_of(user_id: int, *, appid: str | None = None) -> str | None:
    """The user's WeChat openid in mini-program ``appid`` (default: this one, ``WECHAT_APPID``), decrypted — the
    one place that opens it (subscribe messages, payments, content checks). WeChat's APIs take only an openid
    of the appid that calls them: an account joined by unionid from another of our apps has one identity per
    appid, and the newest of this appid's is used. None: an account made by SMS login, or one that only
    logged in from another of our apps."""
    ciphertext = db.session.connection().execute(
        _OPENID_IN_APP, {"user_id": user_id, "appid": appid or current_app.config["WECHAT_APPID"]}).scalar()
    return open_text(ciphertext, OPENID_PURPOSE) if ciphertext is not None else None


def public_id_of(user_id: int) -> str:
    """The account's public id (receipts name it; the numeric id never leaves the database)."""
    return db.session.scalar(select(User.public_id).where(User.id == user_id))


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


# Built once, sent on the session's connection without the ORM's execution path (it runs on every upload, issue #20).
_users = User.__table__
_LOCK_USER = select(_users.c.id).where(_users.c.id == bindparam("user_id")).with_for_update()


def lock_user(user_id: int) -> None:
    """Serialise one user's concurrent requests on PostgreSQL (the user row is the lock; SQLite serialises
    writers anyway)."""
    db.session.connection().execute(_LOCK_USER, {"user_id": user_id})


def public_ids_of(user_ids) -> dict[int, str]:
    """User id → public id, for the ids given (None ignored); accounts that are gone are left out."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.public_id).where(User.id.in_(wanted))).tuples().all())


def user_ids_page(after_id: int, limit: int) -> list[int]:
    """Every account's id, in pages (keyset on the id: never the whole table at once)."""
    return list(db.session.scalars(select(User.id).where(User.id > after_id).order_by(User.id).limit(limit)))


def user_ids_with_phone_between(since, until) -> list[int]:
    """Users whose phone was bound at some moment in [since, until]: bound by ``until`` and still bound (an
    unbound or replaced number leaves no trace to go by; ``since`` is accepted for the common signature)."""
    return list(db.session.scalars(select(User.id).where(User.phone_hash.is_not(None),
                                                         User.phone_bound_at <= until)))


def user_ids_for_public_ids(public_ids: list[str]) -> dict[str, int]:
    """``{public_id: id}`` for the accounts that exist among ``public_ids``."""
    return dict(db.session.execute(select(User.public_id, User.id).where(User.public_id.in_(public_ids))).all())


def subscribe_openid(user_id: int) -> str | None:
    """The user's openid for this mini-program, decrypted only for a subscribe message (None: no WeChat login)."""
    return openid_of(user_id)


def phone_for_notice(user_id: int) -> str | None:
    """The bound phone number in clear, only to send a notice by SMS (None: no phone bound)."""
    user = db.session.get(User, user_id)
    return phones.open_phone(user.phone_ciphertext) if user is not None and user.phone_ciphertext else None
