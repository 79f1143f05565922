"""What the sandbox remembers: plain records, copied out of the state under its lock.

``SandboxState`` owns and mutates them; blueprints receive copies (or ``asdict`` views), so a
record read while another request changes it never shows half an update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devkit.wechat_sandbox import errors

LOGIN_CODE = "login"
PHONE_CODE = "phone"
SUGGESTIONS = ("risky", "review")  # by precedence: a risky match wins over a review match
FAULT_MODES = ("delay", "errcode", "http500", "garbage")


@dataclass
class TestUser:
    """A WeChat user the sandbox can log in; the name is the handle tests use."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    phone: str
    country_code: str = "86"
    high_risk: bool = False


@dataclass
class IssuedCode:
    """A ``wx.login`` code or a ``getPhoneNumber`` code, minted for one user of one app."""

    code: str
    kind: str
    appid: str
    user: str
    expires_at: float
    used: bool = False
    attempts: int = 0


@dataclass
class AccessToken:
    """An access token and why it may no longer be valid."""

    token: str
    appid: str
    kind: str  # "token" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token)
    expires_at: float
    revoked: bool = False


@dataclass
class Fault:
    """A failure injected for the next ``remaining`` calls to ``path``."""

    path: str
    mode: str
    remaining: int
    seconds: float = 0.0
    errcode: int = errors.SYSTEM_ERROR
    errmsg: str | None = None


@dataclass
class RiskyText:
    """A term that makes ``msg_sec_check`` answer ``suggest``/``label`` when the content contains it."""

    term: str
    suggest: str = "risky"
    label: int = 20006


@dataclass
class RiskyMedia:
    """A media sha256 or URL substring that makes a media check answer ``suggest``/``label``."""

    sha256: str | None = None
    url_contains: str | None = None
    suggest: str = "risky"
    label: int = 20002


@dataclass
class MediaCheck:
    """One ``media_check_async`` call, from request to push delivery."""

    trace_id: str
    appid: str
    openid: str
    media_url: str
    media_type: int
    scene: int
    created_at: float
    status: str = "pending"  # pending, delivered, failed, no_push_url
    sha256: str | None = None
    size: int | None = None
    errcode: int | None = None
    suggest: str | None = None
    label: int | None = None
    push_url: str | None = None
    push_attempts: list[dict[str, Any]] = field(default_factory=list)
