"""HTTP sessions for calls to WeChat: kept alive, with the environment's settings read once.

``requests`` consults the environment on every call when ``trust_env`` is on (proxy variables, scanned
in full for ``no_proxy`` twice per request, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, ``~/.netrc``):
measured at 10 % of a login's and an order's CPU (``python -m bench.hotpaths``). Our outbound calls go
to one configured base URL each, so that answer is the same every time: here it is computed once, when
the client is built, and the session keeps it (``trust_env`` off, the proxies and CA bundle that apply
to that URL set on the session). A changed environment takes effect when the process restarts, as with
every other setting. Not taken over: ``~/.netrc`` credentials, which WeChat's APIs never use. (The WeChat
Pay client goes through urllib3 pools set up the same way: ``app.orders.pay_transport``.)
"""

from __future__ import annotations

import requests


def session_for(base_url: str) -> requests.Session:
    """A keep-alive session with the proxy and CA bundle the environment gives ``base_url``, fixed now."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, True, None)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    return session
