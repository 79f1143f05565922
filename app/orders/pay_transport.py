"""The HTTP under the WeChat Pay client: kept-alive urllib3 pools in place of ``requests`` (issue #20).

``wechatpayv3`` calls ``requests.get/post/…(url, headers=…, json=…, timeout=…)`` per API call: a new
session, a new connection (a TLS handshake with WeChat) and a scan of the environment each time; even
through one kept-alive ``requests.Session`` the session machinery (request preparation, hooks, cookie
jar, adapters) is ~40 % of the call's CPU (1.9 ms against 1.1 ms for urllib3 alone on the 2-core
development machine; ``python -m bench.hotpaths --only order --profile``). :class:`PayTransport` stands
in for the ``requests`` module inside ``wechatpayv3.core``: the same calls, sent through one urllib3 pool
per origin, answered with the three things the library reads (``status_code``, ``headers``,
``text``/``content``). The pools are ``app.core.outbound``'s (shared with the mini-program client).

What ``requests`` would have taken from the environment is read once per origin
(``app.core.outbound.pool_for``): the proxy (``HTTPS_PROXY``/``NO_PROXY``…) and the CA bundle
(``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else certifi's, as ``requests`` does). Failures are raised
as ``requests`` exceptions (``ConnectionError``, ``Timeout``), so callers keep catching
``requests.RequestException``. Multipart uploads (``files=``, merchant media APIs we do not use) go
through a kept-alive ``requests`` session, unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from app.core.outbound import Pools, pool_for, session_for  # noqa: F401 - pool_for: re-exported for the tests


class PayTransport:
    """Stands in for the ``requests`` module in ``wechatpayv3.core`` (see the module docstring)."""

    def __init__(self) -> None:
        self._pools = Pools()
        self._fallback: requests.Session | None = None

    def request(self, method: str, url: str, *, headers: dict | None = None, json: Any = None, data: Any = None,
                files: Any = None, proxies: dict | None = None, timeout: Any = None) -> Any:
        if files or proxies:  # multipart, or a proxy chosen by the caller: requests, as the library meant
            if self._fallback is None:
                self._fallback = session_for(url)
            return self._fallback.request(method, url, headers=headers, json=json, data=data, files=files,
                                          proxies=proxies, timeout=timeout)
        body = data
        if json is not None:
            body = _dumps(json)
        return self._pools.send(method, url, body=body, headers=headers, timeout=timeout)

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
