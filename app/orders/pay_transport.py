"""The HTTP under the WeChat Pay client: kept-alive urllib3 pools in place of ``requests`` (issue #20).

``wechatpayv3`` calls ``requests.get/post/…(url, headers=…, json=…, timeout=…)`` per API call: a new
session, a new connection (a TLS handshake with WeChat) and a scan of the environment each time; even
through one kept-alive ``requests.Session`` the session machinery (request preparation, hooks, cookie
jar, adapters) is ~40 % of the call's CPU (1.9 ms against 1.1 ms for urllib3 alone on the 2-core
development machine; ``python -m bench.hotpaths --only order --profile``). :class:`PayTransport` stands
in for the ``requests`` module inside ``wechatpayv3.core``: the same calls, sent through one urllib3 pool
per origin, answered with the three things the library reads (``status_code``, ``headers``,
``text``/``content``).

What ``requests`` would have taken from the environment is read once per origin, as
``app.core.outbound.session_for`` does: the proxy (``HTTPS_PROXY``/``NO_PROXY``…) and the CA bundle
(``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else certifi's, as ``requests`` does). Failures are raised
as ``requests`` exceptions (``ConnectionError``, ``Timeout``), so callers keep catching
``requests.RequestException``. Multipart uploads (``files=``, merchant media APIs we do not use) go
through a kept-alive ``requests`` session, unchanged.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers

POOL_SIZE = 10  # connections kept per origin and process: gunicorn's threads (4) with room to spare


class PayResponse:
    """What ``wechatpayv3`` reads of an answer: status, headers (case-insensitive) and the body."""

    def __init__(self, status: int, headers: Any, content: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def text(self) -> str:
        """The body decoded as ``requests`` would: the declared charset, UTF-8 for JSON without one."""
        return str(self.content, get_encoding_from_headers(self.headers) or "utf-8", errors="replace")


def pool_for(origin: str) -> urllib3.PoolManager:
    """A pool for ``origin`` with the proxy and CA bundle the environment gives it, fixed now."""
    settings = requests.Session().merge_environment_settings(origin, {}, None, True, None)
    verify = settings["verify"]
    tls: dict[str, Any] = {}
    if verify is False:
        tls["cert_reqs"] = "CERT_NONE"
    else:
        bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
        tls["cert_reqs"] = "CERT_REQUIRED"
        tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    proxy = requests.utils.select_proxy(origin, settings["proxies"])
    if proxy:
        return urllib3.ProxyManager(proxy, num_pools=1, maxsize=POOL_SIZE, **tls)
    return urllib3.PoolManager(num_pools=1, maxsize=POOL_SIZE, **tls)


def _timeout(timeout: Any) -> urllib3.Timeout:
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)


class PayTransport:
    """Stands in for the ``requests`` module in ``wechatpayv3.core`` (see the module docstring)."""

    def __init__(self) -> None:
        self._pools: dict[str, urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._fallback: requests.Session | None = None

    def _pool(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    pool = self._pools[origin] = pool_for(origin)
        return pool

    def request(self, method: str, url: str, *, headers: dict | None = None, json: Any = None, data: Any = None,
                files: Any = None, proxies: dict | None = None, timeout: Any = None) -> Any:
        if files or proxies:  # multipart, or a proxy chosen by the caller: requests, as the library meant
            if self._fallback is None:
                from app.core.outbound import session_for

                self._fallback = session_for(url)
            return self._fallback.request(method, url, headers=headers, json=json, data=data, files=files,
                                          proxies=proxies, timeout=timeout)
        body = data
        if json is not None:
            body = _dumps(json)
        try:
            answer = self._pool(url).request(method, url, body=body, headers=headers, timeout=_timeout(timeout),
                                             retries=False, redirect=False)
        except urllib3.exceptions.NewConnectionError as exc:  # before its base class, ConnectTimeoutError
            raise requests.ConnectionError(str(exc)) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.ConnectTimeout(str(exc)) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(str(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, a broken answer, a proxy that failed…
            raise requests.ConnectionError(str(exc)) from exc
        return PayResponse(answer.status, answer.headers, answer.data)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)  # exceptions and the rest of the module, unchanged


def _dumps(value: Any) -> bytes:
    """The body ``requests`` sends for ``json=``: the very text wechatpayv3 signed (``json.dumps``, defaults)."""
    return json.dumps(value, allow_nan=False).encode()


def install() -> None:
    """Point ``wechatpayv3`` at a :class:`PayTransport` (once per process)."""
    import wechatpayv3.core

    if not isinstance(wechatpayv3.core.requests, PayTransport):
        wechatpayv3.core.requests = PayTransport()
