"""Accounts API: thin views over ``services`` (parse, call, serialise)."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask_login import current_user
from sqlalchemy import select

from app.accounts import services, sessions, sms
from app.accounts.auth import AccountBlocked, current_session, login_required
from app.accounts.models import LoginSession, User
from app.accounts.schemas import (
    LoginOut,
    PhoneBoundOut,
    PhoneCodeIn,
    ProfileUpdateIn,
    RevokedOut,
    SessionListOut,
    SessionOut,
    SmsLoginIn,
    SmsSendIn,
    SmsSentOut,
    UserOut,
    WechatLoginIn,
)
from app.core.api import API_PREFIX, endpoint
from app.core.errors import NotFound
from app.core.pagination import InvalidCursor, PageQuery
from app.extensions import db

bp = Blueprint("accounts", __name__, url_prefix=API_PREFIX)
TAGS = ("accounts",)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.public_id, status=user.status, nickname=user.nickname, avatar_url=user.avatar_url,
                   phone_bound=user.has_phone, phone_masked=user.phone_masked, created_at=user.created_at)


def login_out(result: services.LoginResult) -> LoginOut:
    return LoginOut(token=result.token, expires_at=result.session.expires_at, user=user_out(result.user),
                    needs_phone=not result.user.has_phone, new_user=result.new_user)


@bp.post("/auth/wechat")
@endpoint("Log in with a wx.login() code", body=WechatLoginIn, response=LoginOut, tags=TAGS,
          errors=[*services.WECHAT_ERRORS, AccountBlocked, 429],
          description="Exchanges the code with WeChat (code2session) for our own login token. "
                      "Errors: wechat_code_invalid, wechat_code_used, wechat_risky_user, account_blocked, "
                      "rate_limited, wechat_rate_limited, wechat_unavailable.")
def login_wechat(body: WechatLoginIn):
    return login_out(services.login_with_wechat(body.code, body.device))


@bp.post("/auth/sms/send")
@endpoint("Send an SMS login code", body=SmsSendIn, response=SmsSentOut, status=202, tags=TAGS,
          errors=[429, sms.SmsUnavailable])
def sms_send(body: SmsSendIn):
    ttl = services.send_login_code(body.phone, body.device)
    return SmsSentOut(expires_in=ttl, resend_after=60)


@bp.post("/auth/sms/login")
@endpoint("Log in with phone number and SMS code", body=SmsLoginIn, response=LoginOut, tags=TAGS,
          errors=[sms.SmsCodeInvalid, sms.SmsCodeExpired, AccountBlocked, 429],
          description="Errors: sms_code_invalid, sms_code_expired, account_blocked, rate_limited.")
def sms_login(body: SmsLoginIn):
    return login_out(services.login_with_sms(body.phone, body.code, body.device))


@bp.post("/auth/logout")
@login_required
@endpoint("Log out (revoke this session)", status=204, auth=True, tags=TAGS)
def logout():
    sessions.revoke(current_session(), sessions.RevokeReason.LOGOUT)
    db.session.commit()


@bp.get("/me")
@login_required
@endpoint("My profile", response=UserOut, auth=True, tags=TAGS)
def me():
    return user_out(current_user._get_current_object())  # one proxy lookup, not seven


@bp.patch("/me")
@login_required
@endpoint("Correct my profile (nickname, avatar)", body=ProfileUpdateIn, response=UserOut, auth=True, tags=TAGS,
          errors=[services.ContentRejected, *services.WECHAT_ERRORS],
          description="A nickname goes through WeChat's content check (content_rejected).")
def update_me(body: ProfileUpdateIn):
    return user_out(services.update_profile(current_user, body))


@bp.post("/me/phone/wechat")
@login_required
@endpoint("Bind my phone with a getPhoneNumber code", body=PhoneCodeIn, response=PhoneBoundOut, auth=True,
          tags=TAGS, errors=[*services.WECHAT_ERRORS, services.PhoneAlreadyBound],
          description="Errors: wechat_code_invalid, wechat_code_used, phone_already_bound, wechat_unavailable. "
                      "When the phone's account absorbs this WeChat login, a new token is returned.")
def bind_phone_wechat(body: PhoneCodeIn):
    result = services.bind_phone_with_wechat_code(current_user, current_session(), body.code)
    return PhoneBoundOut(user=user_out(result.user), merged=result.merged, token=result.token)


@bp.get("/me/sessions")
@login_required
@endpoint("My active sessions, newest first (paged)", query=PageQuery, response=SessionListOut, auth=True,
          tags=TAGS, errors=[InvalidCursor])
def list_sessions(query: PageQuery):
    mine = current_session()
    found, next_cursor = sessions.active_sessions_page(current_user.id, query)
    return SessionListOut(next_cursor=next_cursor, sessions=[
        SessionOut(id=s.public_id, method=s.method, device_model=s.device.model if s.device else None,
                   device_os=s.device.os if s.device else None, created_at=s.created_at,
                   last_seen_at=s.last_seen_at, expires_at=s.expires_at, current=s.id == mine.id)
        for s in found
    ])


@bp.delete("/me/sessions/<session_id>")
@login_required
@endpoint("Revoke one of my sessions", status=204, auth=True, tags=TAGS, errors={404: ["session_not_found"]})
def revoke_session(session_id: str):
    target = db.session.scalar(select(LoginSession).where(LoginSession.public_id == session_id,
                                                          LoginSession.user_id == current_user.id))
    if target is None or target.revoked_at is not None:
        raise NotFound("No such active session.", code="session_not_found")
    sessions.revoke(target, sessions.RevokeReason.USER_REVOKED)
    db.session.commit()


@bp.delete("/me/sessions")
@login_required
@endpoint("Revoke all my sessions (log out everywhere, this one included)", response=RevokedOut, auth=True,
          tags=TAGS)
def revoke_all_sessions():
    revoked = sessions.revoke_all(current_user.id, sessions.RevokeReason.USER_REVOKED)
    db.session.commit()
    return RevokedOut(revoked=revoked)


# --- development only: read the sandbox SMS outbox, as the user's phone would ----------------------

dev_bp = Blueprint("accounts_dev", __name__, url_prefix=f"{API_PREFIX}/dev")


@dev_bp.get("/sms/<phone>")
@endpoint("Sandbox only: SMS messages sent to a phone in the last minutes", tags=("sandbox",))
def sandbox_sms_outbox(phone: str):
    if current_app.config["SMS_PROVIDER"] != "sandbox":
        raise NotFound()
    return {"messages": sms.sandbox_outbox(phone)}
