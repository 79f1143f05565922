"""The mini-program's WeChat API client (production and sandbox alike; only the base URL differs).

Built on ``wechatpy.WeChatClient`` with its known pitfalls handled (see docs/wechat-protocol.md):
- base URLs are configurable (wechatpy hard-codes api.weixin.qq.com in several places);
- the access token comes from ``/cgi-bin/stable_token`` and is shared by every process through Redis,
  so processes do not invalidate each other's tokens;
- ``auto_retry`` is off (it loops forever); a stale token (40001/42001) gets exactly one forced
  refresh and one retry, then a clear error;
- every request has a timeout; only requests WeChat never received (connection failures) and
  "system busy" (-1) are retried, up to ``WECHAT_MAX_ATTEMPTS``: a login code that timed out on the
  way back may already be spent, and repeating it would only hide the real outcome;
- the HTTP goes through kept-alive urllib3 pools (``app.core.outbound``), not ``requests``, whose session
  machinery was most of jscode2session's ~1 ms of a login's CPU (issue #20): :class:`PooledHTTP` takes the
  place of wechatpy's ``requests.Session`` under ``BaseWeChatClient._request``.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, current_app
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from app.core.jobs import redis_connection
from app.core.outbound import Answer, Pools

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
SYSTEM_BUSY = -1
_TOKEN_SAFETY_MARGIN_S = 300


class WeChatError(Exception):
    """WeChat answered with an error code."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """WeChat could not be reached, timed out, or answered something that is not its API."""


class PooledHTTP(Pools):
    """What wechatpy's ``BaseWeChatClient._request`` uses of its ``requests.Session``: ``request(method, url,
    params=…, data=…, timeout=…)``, answered with what ``_request``/``_handle_result`` read (``raise_for_status``,
    ``content``, ``request``). Kept below wechatpy rather than replacing ``_request``, so that the URL, the
    ``access_token`` parameter, the JSON body and the errcode handling stay wechatpy's for every API method
    (``client.wxa.*`` included); failures are ``requests`` exceptions, as ``_send`` expects."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str, *, params: Any = None, data: Any = None, timeout: Any = None,
                headers: dict | None = None, **unsupported: Any) -> Answer:
        if unsupported:  # files=, json=, stream=…: wechatpy API methods the product does not call
            raise TypeError(f"PooledHTTP does not send {sorted(unsupported)}")
        if params:  # as requests encodes them: a dict or pairs, None values left out
            pairs = params.items() if isinstance(params, dict) else params
            url = f"{url}{'&' if '?' in url else '?'}{urlencode([(k, v) for k, v in pairs if v is not None], True)}"
        return self.send(method.upper(), url, body=data, headers=headers, timeout=timeout or self.timeout)


class MiniProgramClient(WeChatClient):
    def __init__(self, appid: str, secret: str, *, base_url: str, redis: Any,
                 connect_timeout: float = 3.0, read_timeout: float = 5.0, max_attempts: int = 2) -> None:
        super().__init__(appid, secret, session=RedisStorage(redis, prefix="wechat"),
                         timeout=(connect_timeout, read_timeout), auto_retry=False)
        self.base_url = base_url.rstrip("/")
        self.API_BASE_URL = f"{self.base_url}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{self.base_url}/"
        self.max_attempts = max(1, max_attempts)
        self._http = PooledHTTP(timeout=(connect_timeout, read_timeout))
        self._http.pool(self.base_url)  # built now: the proxy and CA bundle the environment gives WeChat, read once

    # --- access token ---------------------------------------------------------------------------

    def fetch_access_token(self, force_refresh: bool = False) -> dict:
        result = self._send("post", "cgi-bin/stable_token", token=False, data={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
            "force_refresh": force_refresh,
        })
        expires_in = int(result.get("expires_in", 7200))
        ttl = max(60, expires_in - _TOKEN_SAFETY_MARGIN_S)
        self.session.set(self.access_token_key, result["access_token"], ttl)
        self.expires_at = int(time.time()) + ttl
        return result

    # --- the calls the product uses -------------------------------------------------------------

    def code_to_session(self, js_code: str) -> dict:
        """``wx.login`` code → ``{openid, session_key, unionid?}`` (no access token needed)."""
        return self._send("get", "sns/jscode2session", token=False, params={
            "appid": self.appid, "secret": self.secret, "js_code": js_code, "grant_type": "authorization_code",
        })

    def get_phone_number(self, code: str) -> dict:
        """``getPhoneNumber`` code → ``phone_info`` (current flow; billed per successful call)."""
        return self._send("post", "wxa/business/getuserphonenumber", data={"code": code})["phone_info"]

    def check_text(self, content: str, openid: str, scene: int = 1) -> dict:
        """``msg_sec_check`` v2 → ``result: {suggest: pass|review|risky, label}``."""
        return self._send("post", "wxa/msg_sec_check", data={
            "content": content, "version": 2, "openid": openid, "scene": scene,
        })

    def check_media_async(self, media_url: str, openid: str, scene: int = 1) -> dict:
        """``media_check_async`` v2 (image) → ``trace_id``; the verdict is pushed later."""
        return self._send("post", "wxa/media_check_async", data={
            "media_url": media_url, "media_type": 2, "version": 2, "openid": openid, "scene": scene,
        })

    def upload_shipping_info(self, body: dict) -> dict:
        """Shipping info of a mini-program payment (virtual goods: ``logistics_type`` 3)."""
        return self._send("post", "wxa/sec/order/upload_shipping_info", data=body)

    # --- transport ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, token: bool = True, params: dict | None = None,
              data: dict | None = None) -> dict:
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                return self._send_once(method, path, token=token, params=params, data=data)
            except requests.ConnectionError as exc:  # includes ConnectTimeout: WeChat never got it
                if attempt < self.max_attempts:
                    time.sleep(0.2 * attempt)
                    continue
                raise WeChatUnavailable(f"cannot reach WeChat ({type(exc).__name__})") from exc
            except requests.Timeout as exc:
                raise WeChatUnavailable("WeChat did not answer in time") from exc
            except WeChatError as exc:
                if token and exc.errcode in TOKEN_ERRORS and not refreshed:
                    refreshed = True
                    log.info("access token rejected; refreshing once", extra={"errcode": exc.errcode})
                    self.session.delete(self.access_token_key)
                    self.fetch_access_token(force_refresh=True)
                    continue
                if exc.errcode == SYSTEM_BUSY and attempt < self.max_attempts:
                    time.sleep(0.2 * attempt)
                    continue
                raise

    def _send_once(self, method: str, path: str, *, token: bool, params: dict | None, data: dict | None) -> dict:
        kwargs: dict[str, Any] = {"api_base_url": f"{self.base_url}/"}
        # wechatpy adds access_token to dict params; a list of pairs keeps it off token-less calls.
        kwargs["params"] = dict(params or {}) if token else list((params or {}).items())
        if data is not None:
            kwargs["data"] = data
        try:
            result = self._request(method, path, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode is None:  # an HTTP error status, not a WeChat answer
                raise WeChatUnavailable(f"WeChat answered HTTP {getattr(exc.response, 'status_code', '?')}") from exc
            raise WeChatError(int(exc.errcode), str(exc.errmsg)) from exc
        if not isinstance(result, dict):
            raise WeChatUnavailable("WeChat answered something that is not JSON")
        return result


def mini_program_client(app: Flask | None = None) -> MiniProgramClient:
    """One client per app (it keeps the HTTP connection pool); the token lives in Redis."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("wechat_client")
    if client is None:
        config = app.config
        client = app.extensions["wechat_client"] = MiniProgramClient(
            config["WECHAT_APPID"], config["WECHAT_SECRET"], base_url=config["WECHAT_API_BASE_URL"],
            redis=redis_connection(app), connect_timeout=config["WECHAT_CONNECT_TIMEOUT"],
            read_timeout=config["WECHAT_READ_TIMEOUT"], max_attempts=config["WECHAT_MAX_ATTEMPTS"],
        )
    return client
