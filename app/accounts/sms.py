"""SMS login codes: generated here, stored as keyed hashes, delivered by a pluggable provider.

Providers: ``sandbox`` (development and tests: the last codes per phone are kept in Redis for five
minutes so the developer page and tests can read them, like a phone would) and ``disabled`` (SMS
login off; production's default until a carrier account is configured). Production refuses the
sandbox provider at start-up.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.accounts.models import SmsCode
from app.core.crypto import lookup_hash
from app.core.db import utcnow
from app.core.errors import BadRequest, ServiceUnavailable
from app.core.jobs import redis_connection
from app.extensions import db

log = logging.getLogger(__name__)

CODE_PURPOSE = "sms.code"
SANDBOX_OUTBOX_KEY = "sandbox:sms:{phone}"


class SmsCodeInvalid(BadRequest):
    code, message = "sms_code_invalid", "The code is wrong or was already used. Ask for a new one."


class SmsCodeExpired(BadRequest):
    code, message = "sms_code_expired", "The code has expired. Ask for a new one."


class SmsUnavailable(ServiceUnavailable):
    code, message = "sms_unavailable", "SMS login is not available right now; log in with WeChat."


def _code_hash(phone_key: str, code: str) -> str:
    return lookup_hash(f"{phone_key}:{code}", CODE_PURPOSE)


def issue_code(phone_key: str, purpose: str) -> tuple[str, int]:
    """Create a fresh code (replacing any unused one) in the caller's transaction; returns (code, ttl)."""
    if current_app.config["SMS_PROVIDER"] == "disabled":
        raise SmsUnavailable()
    now = utcnow()
    db.session.execute(
        update(SmsCode).where(SmsCode.phone_hash == phone_key, SmsCode.purpose == purpose,
                              SmsCode.consumed_at.is_(None)).values(consumed_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = current_app.config["SMS_CODE_TTL_S"]
    db.session.add(SmsCode(phone_hash=phone_key, purpose=purpose, code_hash=_code_hash(phone_key, code),
                           created_at=now, expires_at=now + timedelta(seconds=ttl)))
    return code, ttl


def deliver(phone: str, code: str, ttl: int) -> None:
    """Hand the code to the provider (after the commit, so a code that was sent always exists)."""
    provider = current_app.config["SMS_PROVIDER"]
    if provider == "sandbox":
        key = SANDBOX_OUTBOX_KEY.format(phone=phone)
        message = json.dumps({"code": code, "text": f"【秒画】验证码 {code}，{ttl // 60} 分钟内有效。",
                              "sent_at": utcnow().isoformat()})
        pipe = redis_connection().pipeline()
        pipe.lpush(key, message)
        pipe.ltrim(key, 0, 9)
        pipe.expire(key, ttl)
        pipe.execute()
        log.info("sms code delivered to the sandbox outbox")
        return
    raise SmsUnavailable()


def sandbox_outbox(phone: str) -> list[dict]:
    return [json.loads(item) for item in redis_connection().lrange(SANDBOX_OUTBOX_KEY.format(phone=phone), 0, -1)]


def verify_code(phone_key: str, purpose: str, code: str) -> None:
    """Consume the code or raise. A wrong guess is counted (and committed) before raising."""
    record = db.session.scalar(
        select(SmsCode).where(SmsCode.phone_hash == phone_key, SmsCode.purpose == purpose,
                              SmsCode.consumed_at.is_(None))
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1).with_for_update()
    )
    now = utcnow()
    if record is None:
        raise SmsCodeInvalid()
    if record.expires_at <= now:
        record.consumed_at = now
        db.session.commit()
        raise SmsCodeExpired()
    if not hmac.compare_digest(record.code_hash, _code_hash(phone_key, code)):
        record.failed_attempts += 1
        if record.failed_attempts >= current_app.config["SMS_CODE_MAX_ATTEMPTS"]:
            record.consumed_at = now  # too many guesses: this code is dead
        db.session.commit()
        raise SmsCodeInvalid()
    record.consumed_at = now


def send_notice(phone: str, text: str) -> None:
    """Send a notice's text by SMS (an announcement, not a code). ``SmsUnavailable`` when no provider is set."""
    provider = current_app.config["SMS_PROVIDER"]
    if provider == "sandbox":
        key = SANDBOX_OUTBOX_KEY.format(phone=phone)
        pipe = redis_connection().pipeline()
        pipe.lpush(key, json.dumps({"code": None, "text": text, "sent_at": utcnow().isoformat()}))
        pipe.ltrim(key, 0, 9)
        pipe.expire(key, 24 * 3600)
        pipe.execute()
        log.info("sms notice delivered to the sandbox outbox")
        return
    raise SmsUnavailable("No SMS provider is configured.")
