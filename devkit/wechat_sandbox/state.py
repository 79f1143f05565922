"""The sandbox's memory: users, codes, tokens, registries and records, behind one lock.

WeChat's rules that need atomicity (a code is used once, a new token invalidates the previous one,
quotas) are decided here, under :attr:`SandboxState.lock`, so that concurrent backend workers racing
for the same code see exactly one winner, as they would against WeChat.  HTTP parsing and response
shapes live in the blueprints.

Time is the sandbox clock (:class:`SandboxClock`), not the wall clock, so tests can expire codes and
tokens by advancing it instead of sleeping.  Openids, unionids and default phone numbers derive from
``settings.id_secret`` by HMAC: they survive restarts and resets, like a real user's identity does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import threading
from collections import deque
from dataclasses import asdict
from typing import Any

from devkit.wechat_sandbox import errors
from devkit.wechat_sandbox.clock import SandboxClock
from devkit.wechat_sandbox.errors import WeChatApiError
from devkit.wechat_sandbox.records import (
    LOGIN_CODE,
    PHONE_CODE,
    SUGGESTIONS,
    AccessToken,
    Fault,
    IssuedCode,
    MediaCheck,
    RiskyMedia,
    RiskyText,
    TestUser,
)
from devkit.wechat_sandbox.settings import SandboxSettings

CODE_ALPHABET = string.ascii_letters + string.digits
# Records kept for inspection through the dev API; older ones are dropped so a long-running
# development sandbox does not grow without bound.
MAX_RECORDS = 1000
STALE_AFTER_SECONDS = 24 * 3600


class SandboxState:
    """All mutable sandbox data; every public method takes :attr:`lock` itself."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SandboxClock()
        self.lock = threading.Lock()
        self._clear()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.users: dict[str, TestUser] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.current_token: dict[str, str] = {}
        self.current_stable_token: dict[str, str] = {}
        self.force_refreshes: dict[str, list[float]] = {}
        self.logins: dict[str, deque[float]] = {}
        self.known_openids: dict[str, dict[str, str]] = {app.appid: {} for app in self.settings.apps}
        self.push_urls: dict[str, str] = {app.appid: app.push_url for app in self.settings.apps}
        self.risky_texts: list[RiskyText] = []
        self.risky_media: list[RiskyMedia] = []
        self.subscriptions: dict[tuple[str, str, str], int] = {}
        self.shipping_uploads: list[dict[str, Any]] = []
        self.subscribe_messages: list[dict[str, Any]] = []
        self.media_checks: dict[str, MediaCheck] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.next_msgid = 2_000_000_000_000_000_000 + secrets.randbelow(10**12)
        for name in self.settings.default_users:
            self._ensure_user(name)

    def reset(self) -> None:
        """Back to the state at start: default users only, clock not advanced, push URLs from settings."""
        with self.lock:
            self._clear()
        self.clock.reset()

    # -- identities ----------------------------------------------------------------------------------

    def _derive(self, purpose: str) -> bytes:
        return hmac.new(self.settings.id_secret.encode(), purpose.encode(), hashlib.sha256).digest()

    def openid_for(self, appid: str, user_name: str) -> str:
        """28-character openid, stable per (app, user) like WeChat's."""
        return "o" + base64.urlsafe_b64encode(self._derive(f"openid|{appid}|{user_name}")).decode()[:27]

    def unionid_for(self, user_name: str) -> str:
        """28-character unionid, stable per user across apps."""
        return "o" + base64.urlsafe_b64encode(self._derive(f"unionid|{user_name}")).decode()[:27]

    def default_phone(self, user_name: str) -> str:
        """A deterministic mainland test number, ``1380013xxxx``."""
        number = int.from_bytes(self._derive(f"phone|{user_name}")[:4], "big") % 10000
        return f"1380013{number:04d}"

    # -- users ---------------------------------------------------------------------------------------

    def _ensure_user(self, name: str) -> TestUser:
        user = self.users.get(name)
        if user is None:
            user = TestUser(name=name, phone=self.default_phone(name))
            self.users[name] = user
        return user

    def upsert_user(
        self,
        name: str,
        phone: str | None = None,
        country_code: str | None = None,
        high_risk: bool | None = None,
    ) -> tuple[TestUser, bool]:
        """Create the user or change the given fields; returns (a copy of the user, created?)."""
        with self.lock:
            created = name not in self.users
            user = self._ensure_user(name)
            if phone is not None:
                user.phone = phone
            if country_code is not None:
                user.country_code = country_code
            if high_risk is not None:
                user.high_risk = high_risk
            return TestUser(**asdict(user)), created

    def list_users(self) -> list[TestUser]:
        """Copies of all users, by name."""
        with self.lock:
            return [TestUser(**asdict(self.users[name])) for name in sorted(self.users)]

    def user_for_openid(self, appid: str, openid: str) -> str:
        """The user behind an openid this app has seen (login or subscription), else 40003."""
        with self.lock:
            user_name = self.known_openids.get(appid, {}).get(openid)
        if user_name is None:
            raise WeChatApiError(errors.INVALID_OPENID)
        return user_name

    def _remember_openid(self, appid: str, user_name: str) -> str:
        openid = self.openid_for(appid, user_name)
        self.known_openids.setdefault(appid, {})[openid] = user_name
        return openid

    # -- access tokens -------------------------------------------------------------------------------

    def _new_token(self, appid: str, kind: str, now: float) -> AccessToken:
        self._prune_tokens(now)
        token = AccessToken(
            token=f"{secrets.randbelow(90) + 10}_{secrets.token_urlsafe(96)}",
            appid=appid,
            kind=kind,
            expires_at=now + self.settings.access_token_ttl,
        )
        self.tokens[token.token] = token
        return token

    def _prune_tokens(self, now: float) -> None:
        stale = [key for key, token in self.tokens.items() if token.expires_at < now - STALE_AFTER_SECONDS]
        for key in stale:
            del self.tokens[key]

    def issue_token(self, appid: str) -> AccessToken:
        """``/cgi-bin/token``: a new token; the app's previous one stops working at once.

        WeChat keeps the old token usable for five more minutes; the sandbox does not, so that
        processes fetching tokens independently break each other immediately instead of rarely.
        """
        with self.lock:
            now = self.clock.now()
            previous = self.current_token.get(appid)
            if previous in self.tokens:
                self.tokens[previous].revoked = True
            token = self._new_token(appid, "token", now)
            self.current_token[appid] = token.token
            return token

    def stable_token(self, appid: str, force_refresh: bool) -> tuple[AccessToken, int]:
        """``/cgi-bin/stable_token``: the same token while valid; returns (token, seconds left)."""
        with self.lock:
            now = self.clock.now()
            current = self.tokens.get(self.current_stable_token.get(appid, ""))
            if force_refresh:
                history = self.force_refreshes.setdefault(appid, [])
                day = _shanghai_day(now)
                history[:] = [moment for moment in history if _shanghai_day(moment) == day]
                interval = self.settings.stable_token_force_refresh_interval
                too_soon = bool(history) and now - history[-1] < interval
                if too_soon or len(history) >= self.settings.stable_token_force_refresh_per_day:
                    raise WeChatApiError(errors.DAILY_QUOTA_REACHED)
                history.append(now)
                if current is not None:
                    current.revoked = True
                current = None
            if current is None or current.revoked or current.expires_at <= now:
                current = self._new_token(appid, "stable", now)
                self.current_stable_token[appid] = current.token
            return current, max(0, int(current.expires_at - now))

    def check_access_token(self, token: str | None) -> str:
        """The appid a valid token belongs to; 41001 missing, 40001 unknown/replaced, 42001 expired."""
        if not token:
            raise WeChatApiError(errors.ACCESS_TOKEN_MISSING)
        with self.lock:
            record = self.tokens.get(token)
            if record is None or record.revoked:
                raise WeChatApiError(errors.INVALID_CREDENTIAL)
            if record.expires_at <= self.clock.now():
                raise WeChatApiError(errors.ACCESS_TOKEN_EXPIRED)
            return record.appid

    # -- login and phone codes ---------------------------------------------------------------------

    def mint_code(self, kind: str, user_name: str, appid: str) -> IssuedCode:
        """A fresh single-use code for the user (created on demand), valid ``code_ttl`` seconds."""
        with self.lock:
            now = self.clock.now()
            self._ensure_user(user_name)
            stale = [key for key, code in self.codes.items() if code.expires_at < now - STALE_AFTER_SECONDS]
            for key in stale:
                del self.codes[key]
            value = "".join(secrets.choice(CODE_ALPHABET) for _ in range(32))
            issued = IssuedCode(value, kind, appid, user_name, now + self.settings.code_ttl)
            self.codes[value] = issued
            return IssuedCode(**asdict(issued))

    def redeem_login_code(self, appid: str, code: str) -> tuple[str, str]:
        """``jscode2session`` rules; returns (user name, openid) or raises the WeChat error."""
        with self.lock:
            now = self.clock.now()
            issued = self.codes.get(code)
            if issued is None or issued.kind != LOGIN_CODE or issued.appid != appid:
                raise WeChatApiError(errors.INVALID_CODE)
            issued.attempts += 1
            if issued.attempts > self.settings.code_attempt_limit:
                raise WeChatApiError(errors.MINUTE_QUOTA_REACHED)
            if issued.used:
                raise WeChatApiError(errors.CODE_BEEN_USED)
            if issued.expires_at <= now:
                raise WeChatApiError(errors.INVALID_CODE)
            user = self.users[issued.user]
            recent = self.logins.setdefault(user.name, deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= self.settings.user_logins_per_minute:
                raise WeChatApiError(errors.MINUTE_QUOTA_REACHED)
            issued.used = True
            if user.high_risk:
                raise WeChatApiError(errors.HIGH_RISK_USER)
            recent.append(now)
            return user.name, self._remember_openid(appid, user.name)

    def redeem_phone_code(self, appid: str, code: str) -> TestUser:
        """``getuserphonenumber`` rules: 40029 unknown/expired/other app, 40163 used."""
        with self.lock:
            issued = self.codes.get(code)
            if issued is None or issued.kind != PHONE_CODE or issued.appid != appid:
                raise WeChatApiError(errors.INVALID_CODE)
            if issued.used:
                raise WeChatApiError(errors.CODE_BEEN_USED)
            if issued.expires_at <= self.clock.now():
                raise WeChatApiError(errors.INVALID_CODE)
            issued.used = True
            return TestUser(**asdict(self.users[issued.user]))

    # -- content security registries ---------------------------------------------------------------

    def add_risky_text(self, entry: RiskyText) -> None:
        with self.lock:
            self.risky_texts.append(entry)

    def add_risky_media(self, entry: RiskyMedia) -> None:
        with self.lock:
            self.risky_media.append(entry)

    def list_risky_texts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(entry) for entry in self.risky_texts]

    def list_risky_media(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(entry) for entry in self.risky_media]

    def matching_texts(self, content: str) -> list[RiskyText]:
        """Registered terms found in the content (case-insensitive), risky ones first."""
        folded = content.casefold()
        with self.lock:
            hits = [RiskyText(**asdict(entry)) for entry in self.risky_texts
                    if entry.term.casefold() in folded]
        return sorted(hits, key=lambda entry: SUGGESTIONS.index(entry.suggest))

    def matching_media(self, media_url: str, sha256: str | None) -> RiskyMedia | None:
        """The registered entry matching the media's hash or URL, risky before review."""
        with self.lock:
            hits = [
                RiskyMedia(**asdict(entry))
                for entry in self.risky_media
                if (entry.sha256 and sha256 and entry.sha256 == sha256)
                or (entry.url_contains and entry.url_contains in media_url)
            ]
        hits.sort(key=lambda entry: SUGGESTIONS.index(entry.suggest))
        return hits[0] if hits else None

    # -- subscribe messages --------------------------------------------------------------------------

    def grant_subscription(self, appid: str, user_name: str, template_id: str, count: int) -> tuple[str, int]:
        """The user taps "allow" ``count`` times for the template; returns (openid, authorisations left)."""
        with self.lock:
            self._ensure_user(user_name)
            openid = self._remember_openid(appid, user_name)
            key = (appid, openid, template_id)
            self.subscriptions[key] = self.subscriptions.get(key, 0) + count
            return openid, self.subscriptions[key]

    def send_subscribe_message(self, appid: str, message: dict[str, Any]) -> int:
        """Consume one authorisation and record the message; 40003 unknown openid, 43101 none left."""
        with self.lock:
            user_name = self.known_openids.get(appid, {}).get(message["touser"])
            if user_name is None:
                raise WeChatApiError(errors.INVALID_OPENID)
            key = (appid, message["touser"], message["template_id"])
            if self.subscriptions.get(key, 0) <= 0:
                raise WeChatApiError(errors.USER_REFUSED_MESSAGE)
            self.subscriptions[key] -= 1
            self.next_msgid += 1
            record = {"msgid": self.next_msgid, "appid": appid, "user": user_name,
                      "sent_at": int(self.clock.now()), **message}
            self.subscribe_messages.append(record)
            del self.subscribe_messages[:-MAX_RECORDS]
            return self.next_msgid

    def list_subscribe_messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(message) for message in self.subscribe_messages]

    # -- shipping info (virtual goods) ---------------------------------------------------------------

    def upload_shipping_info(self, appid: str, upload: dict[str, Any]) -> None:
        """Record it; one upload per order (WeChat answers 10060003-like errors for repeats: we keep the last)."""
        with self.lock:
            if upload["payer"]["openid"] not in self.known_openids.get(appid, {}):
                raise WeChatApiError(errors.INVALID_OPENID)
            self.shipping_uploads.append({"appid": appid, "received_at": int(self.clock.now()), **upload})
            del self.shipping_uploads[:-MAX_RECORDS]

    def list_shipping_uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(item) for item in self.shipping_uploads]

    # -- media checks --------------------------------------------------------------------------------

    def add_media_check(self, check: MediaCheck) -> None:
        with self.lock:
            self.media_checks[check.trace_id] = check
            while len(self.media_checks) > MAX_RECORDS:
                del self.media_checks[next(iter(self.media_checks))]

    def update_media_check(self, check: MediaCheck, **changes: Any) -> None:
        """Change fields of a check under the lock (the background thread and readers share it)."""
        with self.lock:
            for name, value in changes.items():
                setattr(check, name, value)

    def record_push_attempt(self, check: MediaCheck, attempt: dict[str, Any]) -> None:
        with self.lock:
            check.push_attempts.append(attempt)

    def list_media_checks(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(check) for check in self.media_checks.values()]

    def set_push_url(self, appid: str, url: str) -> None:
        with self.lock:
            self.push_urls[appid] = url

    def push_url(self, appid: str) -> str:
        with self.lock:
            return self.push_urls.get(appid, "")

    # -- faults ----------------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.setdefault(fault.path, deque()).append(fault)

    def take_fault(self, path: str) -> Fault | None:
        """The fault to apply to this call, if one is pending for the path (first registered first)."""
        with self.lock:
            pending = self.faults.get(path)
            if not pending:
                return None
            fault = pending[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                pending.popleft()
            return Fault(**asdict(fault))

    def list_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(fault) for pending in self.faults.values() for fault in pending]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()


def _shanghai_day(timestamp: float) -> int:
    """WeChat's daily quotas reset at midnight Beijing time (UTC+8)."""
    return int((timestamp + 8 * 3600) // 86400)
