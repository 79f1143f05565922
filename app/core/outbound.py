"""HTTP for calls to WeChat: kept-alive urllib3 pools, with the environment's settings read once (issue #20).

Through ``requests`` a call to WeChat paid for the session machinery (request preparation, hooks, the
cookie jar, adapters: ~40 % of the call's CPU against urllib3 alone) and, with ``trust_env`` on, a scan of
the environment on every call (proxy variables, scanned in full for ``no_proxy`` twice per request,
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, ``~/.netrc``: 10 % of a login's CPU; ``python -m
bench.hotpaths --profile``). Our calls go to one configured base URL per client, so that answer is the same
every time: :func:`pool_for` computes it once per origin, when the pool is built — the proxy
(``HTTPS_PROXY``/``NO_PROXY``…) and the CA bundle (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else
certifi's, as ``requests`` does). A changed environment takes effect when the process restarts, as with
every other setting. Not taken over: ``~/.netrc`` credentials, which WeChat's APIs never use.

:class:`Pools` sends through those pools and raises failures as ``requests`` exceptions (``ConnectionError``,
``Timeout``), so callers keep catching what they caught; the answer, :class:`Answer`, offers what the
WeChat libraries read of a ``requests.Response``. Users: the mini-program client (``app.core.wechat``) and
the WeChat Pay client (``app.orders.pay_transport``, which keeps a ``requests`` session,
:func:`session_for`, for multipart uploads only).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers, select_proxy

POOL_SIZE = 10  # connections kept per origin and process: gunicorn's threads (4) with room to spare


class Answer:
    """What the WeChat libraries read of a ``requests.Response``: status, headers (case-insensitive), body."""

    request = None  # wechatpy passes it into its exceptions

    def __init__(self, status: int, headers: Any, content: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def text(self) -> str:
        """The body decoded as ``requests`` would: the declared charset, UTF-8 for JSON without one."""
        return str(self.content, get_encoding_from_headers(self.headers) or "utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        if 400 <= self.status_code < 600:
            raise requests.HTTPError(f"HTTP {self.status_code}", response=self)  # type: ignore[arg-type]


def tls_trust(verify: bool | str) -> dict[str, Any]:
    """urllib3's keyword arguments for ``requests``' ``verify``: True (certifi's bundle), False, or a file or
    directory of CA certificates."""
    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
    return {"cert_reqs": "CERT_REQUIRED", ("ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"): bundle}


def pool_for(origin: str) -> urllib3.PoolManager:
    """A pool for ``origin`` with the proxy and CA bundle the environment gives it, fixed now."""
    settings = requests.Session().merge_environment_settings(origin, {}, None, True, None)
    tls = tls_trust(settings["verify"])
    proxy = select_proxy(origin, settings["proxies"])
    if proxy:
        return urllib3.ProxyManager(proxy, num_pools=1, maxsize=POOL_SIZE, **tls)
    return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE, **tls)


def _timeout(timeout: Any) -> urllib3.Timeout:
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)


class Pools:
    """One :func:`pool_for` per origin, built on first use; :meth:`send` goes through it."""

    def __init__(self) -> None:
        self._pools: dict[str, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def pool(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    pool = self._pools[origin] = pool_for(origin)
        return pool

    def send(self, method: str, url: str, *, body: Any, headers: dict | None, timeout: Any) -> Answer:
        """One request, no retry, no redirect followed; failures raised as ``requests`` would raise them."""
        try:
            answer = self.pool(url).request(method, url, body=body, headers=headers, timeout=_timeout(timeout),
                                            retries=False, redirect=False)
        except urllib3.exceptions.NewConnectionError as exc:  # before its base class, ConnectTimeoutError
            raise requests.ConnectionError(str(exc)) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.ConnectTimeout(str(exc)) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(str(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, a broken answer, a proxy that failed…
            raise requests.ConnectionError(str(exc)) from exc
        return Answer(answer.status, answer.headers, answer.data)


def session_for(base_url: str) -> requests.Session:
    """A keep-alive ``requests`` session with the proxy and CA bundle the environment gives ``base_url``, fixed
    now (``trust_env`` off). Only for what :class:`Pools` does not send: multipart uploads."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, True, None)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    return session
