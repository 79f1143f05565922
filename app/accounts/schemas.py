"""Request and response bodies of the accounts API (also the source of the OpenAPI document)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.accounts.phones import is_valid_mainland_mobile
from app.core.i18n import N_
from app.core.pagination import PageOut


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeviceInfo(StrictModel):
    """What the mini-program reports about the phone; only what risk control needs."""

    device_id: str | None = Field(default=None, max_length=128, description="Client-generated device id; hashed")
    model: str | None = Field(default=None, max_length=64)
    os: str | None = Field(default=None, max_length=64)
    app_version: str | None = Field(default=None, max_length=32)


class WechatLoginIn(StrictModel):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login()")
    device: DeviceInfo | None = None


class PhoneCodeIn(StrictModel):
    code: str = Field(min_length=1, max_length=128, description="The code from the getPhoneNumber button")


def _check_phone(value: str) -> str:
    value = value.replace(" ", "").replace("-", "").removeprefix("+86")
    if not is_valid_mainland_mobile(value):
        raise ValueError(N_("Must be an 11-digit mainland China mobile number."))
    return value


class SmsSendIn(StrictModel):
    phone: str = Field(max_length=20)
    purpose: Literal["login"] = "login"
    device: DeviceInfo | None = None

    _phone = field_validator("phone")(_check_phone)


class SmsLoginIn(StrictModel):
    phone: str = Field(max_length=20)
    code: str = Field(pattern=r"^\d{6}$", examples=["123456"])
    device: DeviceInfo | None = None

    _phone = field_validator("phone")(_check_phone)


class ProfileUpdateIn(StrictModel):
    nickname: str | None = Field(default=None, min_length=1, max_length=32)
    avatar_url: str | None = Field(default=None, max_length=512, pattern=r"^https://[^\s]+$",
                                    examples=["https://thirdwx.qlogo.cn/mmopen/avatar.png"])

    @field_validator("nickname")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return value
        value = unicodedata.normalize("NFC", value)
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
            raise ValueError(N_("Must not contain control or invisible characters."))
        if len(value) > 32:  # NFC can lengthen text (U+FB2C becomes 3 characters): check what is stored
            raise ValueError(N_("Must be at most 32 characters long."))
        return value


class UserOut(BaseModel):
    id: str
    status: str
    nickname: str | None
    avatar_url: str | None
    phone_bound: bool
    phone_masked: str | None = Field(description="e.g. 138****1234; the full number is never returned")
    created_at: datetime


class LoginOut(BaseModel):
    token: str = Field(description="Send as Authorization: Bearer <token>")
    expires_at: datetime
    user: UserOut
    needs_phone: bool = Field(description="True until a phone is bound (required to upload, generate, pay)")
    new_user: bool


class PhoneBoundOut(BaseModel):
    user: UserOut
    merged: bool = Field(description="True when this WeChat login joined the account that already had this phone")
    token: str | None = Field(default=None, description="A new token when the account changed (merge)")


class SmsSentOut(BaseModel):
    expires_in: int
    resend_after: int


class SessionOut(BaseModel):
    id: str
    method: str
    device_model: str | None
    device_os: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class SessionListOut(PageOut):
    sessions: list[SessionOut]


class RevokedOut(BaseModel):
    revoked: int
