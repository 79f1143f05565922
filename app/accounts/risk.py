"""Risk control: rate limits per IP / device / phone, minimal device records, multi-account flags."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, request
from sqlalchemy import func, select

from app.accounts import login_sql
from app.accounts.models import Device, RiskFlag, User
from app.accounts.schemas import DeviceInfo
from app.core.crypto import lookup_hash
from app.core.db import utcnow
from app.core.ratelimit import Rule, enforce
from app.extensions import db

DEVICE_PURPOSE = "device.client_id"
MANY_ACCOUNTS_ON_DEVICE = "many_accounts_on_device"


def client_ip() -> str:
    """The caller's address as the nearest proxy saw it (configure ProxyFix in front of gunicorn)."""
    return request.remote_addr or "unknown"


def device_hash(device: DeviceInfo | None) -> str | None:
    if device is None or not device.device_id:
        return None
    return lookup_hash(device.device_id, DEVICE_PURPOSE)


def limit_login(device: DeviceInfo | None) -> None:
    config = current_app.config
    enforce(
        Rule("login:ip", lookup_hash(client_ip(), "ratelimit.ip"), config["RATE_LIMIT_LOGIN_PER_IP"]),
        Rule("login:device", device_hash(device), config["RATE_LIMIT_LOGIN_PER_DEVICE"]),
        message="Too many login attempts; wait a moment and try again.",
    )


def limit_sms_send(phone_key: str, device: DeviceInfo | None) -> None:
    config = current_app.config
    enforce(
        Rule("sms:phone", phone_key, config["RATE_LIMIT_SMS_PER_PHONE"]),
        Rule("sms:ip", lookup_hash(client_ip(), "ratelimit.ip"), config["RATE_LIMIT_SMS_PER_IP"]),
        Rule("sms:device", device_hash(device), config["RATE_LIMIT_SMS_PER_DEVICE"]),
        message="Too many codes requested; wait before asking for another.",
    )


def limit_sms_verify(phone_key: str) -> None:
    enforce(Rule("sms-verify:phone", phone_key, current_app.config["RATE_LIMIT_SMS_VERIFY_PER_PHONE"]),
            message="Too many attempts; wait before trying again.")


def register_device(user: User, info: DeviceInfo | None) -> Device | None:
    """Record (or refresh) the user's device and flag a device shared by too many accounts."""
    hashed = device_hash(info)
    if hashed is None or info is None:
        return None
    device = db.session.scalar(select(Device).where(Device.user_id == user.id, Device.device_hash == hashed))
    now = utcnow()
    if device is None:
        device = Device(user_id=user.id, device_hash=hashed, first_seen_at=now)
        db.session.add(device)
    device.model, device.os, device.app_version = info.model, info.os, info.app_version
    device.last_seen_at = now
    db.session.flush()
    flag_many_accounts(hashed)
    return device


def record_device(user_id: int, info: DeviceInfo | None, now: datetime) -> int | None:
    """``register_device`` in one statement (the WeChat login's path): the device's id, or None."""
    hashed = device_hash(info)
    if hashed is None or info is None:
        return None
    device_id, accounts = login_sql.upsert_device(db.session.connection(), user_id, hashed, info.model, info.os,
                                                  info.app_version, now)
    _flag_if_many(hashed, accounts)
    return device_id


def flag_many_accounts(hashed_device: str) -> None:
    accounts = db.session.scalar(
        select(func.count(func.distinct(Device.user_id))).where(Device.device_hash == hashed_device)
    ) or 0
    _flag_if_many(hashed_device, accounts)


def _flag_if_many(hashed_device: str, accounts: int) -> None:
    if accounts < current_app.config["DEVICE_ACCOUNTS_FLAG_THRESHOLD"]:
        return
    flag = db.session.scalar(select(RiskFlag).where(RiskFlag.kind == MANY_ACCOUNTS_ON_DEVICE,
                                                    RiskFlag.subject_hash == hashed_device))
    if flag is None:
        flag = RiskFlag(kind=MANY_ACCOUNTS_ON_DEVICE, subject_hash=hashed_device)
        db.session.add(flag)
    flag.account_count = accounts
