"""HTTP sessions for calls to WeChat: kept alive, with the environment's settings read once.

``requests`` consults the environment on every call when ``trust_env`` is on (proxy variables, scanned
in full for ``no_proxy`` twice per request, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, ``~/.netrc``):
measured at 10 % of a login's and an order's CPU (``python -m bench.hotpaths``). Our outbound calls go
to one configured base URL each, so that answer is the same every time: here it is computed once, when
the client is built, and the session keeps it (``trust_env`` off, the proxies and CA bundle that apply
to that URL set on the session). A changed environment takes effect when the process restarts, as with
every other setting. Not taken over: ``~/.netrc`` credentials, which WeChat's APIs never use.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests


def session_for(base_url: str) -> requests.Session:
    """A keep-alive session with the proxy and CA bundle the environment gives ``base_url``, fixed now."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, True, None)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    return session


class PooledRequests:
    """Stands in for the ``requests`` module inside a library that calls ``requests.post(url, …)`` (a new
    session, a new connection and a scan of the environment each time; ``wechatpayv3`` does): the same calls,
    through one kept-alive :func:`session_for` session per scheme and host."""

    def __init__(self) -> None:
        self._sessions: dict[str, requests.Session] = {}

    def _session(self, url: str) -> requests.Session:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.get(origin)
        if session is None:
            session = self._sessions[origin] = session_for(origin)
        return session

    def request(self, method: str, url: str, **kwargs):
        return self._session(url).request(method, url, **kwargs)

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def __getattr__(self, name: str):
        return getattr(requests, name)  # exceptions and the rest of the module, unchanged
