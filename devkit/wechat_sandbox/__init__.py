"""WeChat sandbox: a standalone emulator of ``api.weixin.qq.com`` for development and tests.

It speaks WeChat's protocol (paths, query parameters, JSON bodies, errcode/errmsg values, encrypted
message push), so the backend uses the real ``wechatpy`` client against it and only changes base
URLs.  Run it as its own process::

    python -m devkit.wechat_sandbox --host 127.0.0.1 --port 5100

or build it in a test with :func:`create_sandbox_app` and serve it on a loopback port.  It refuses to
exist when ``MIAOHUA_ENV`` or ``FLASK_ENV`` is ``production``.

Modules: :mod:`.settings` (``WECHAT_SANDBOX_*`` variables), :mod:`.state` (memory and WeChat's
rules), :mod:`.miniprogram` (the emulated WeChat API), :mod:`.devtools` (developer API and page
under ``/sandbox/``), :mod:`.media_check` and :mod:`.push` (asynchronous verdicts, encrypted push),
:mod:`.pay` (WeChat Pay API v3, ``api.mch.weixin.qq.com``: ``/v3/…`` and ``/sandbox/api/pay/…``).
"""

from __future__ import annotations

from flask import Flask

from devkit.wechat_sandbox import devtools, miniprogram
from devkit.wechat_sandbox.clock import SandboxClock
from devkit.wechat_sandbox.pay import api as pay_api
from devkit.wechat_sandbox.pay import dev as pay_dev
from devkit.wechat_sandbox.pay.state import PayState
from devkit.wechat_sandbox.settings import SandboxApp, SandboxSettings, refuse_production
from devkit.wechat_sandbox.state import SandboxState

MAX_REQUEST_BYTES = 1024 * 1024

__all__ = ["SandboxApp", "SandboxClock", "SandboxSettings", "SandboxState", "create_sandbox_app"]


def create_sandbox_app(settings: SandboxSettings | None = None, clock: SandboxClock | None = None) -> Flask:
    """Build the sandbox web app; settings default to the ``WECHAT_SANDBOX_*`` environment.

    Raises RuntimeError in production (see :func:`~devkit.wechat_sandbox.settings.refuse_production`).
    The state is ``app.extensions["wechat_sandbox"]`` (a :class:`SandboxState`) for tests that
    want to look inside without going through the dev API; WeChat Pay's is
    ``app.extensions["wechat_sandbox_pay"]`` (a :class:`~devkit.wechat_sandbox.pay.state.PayState`).
    """
    refuse_production()
    settings = settings or SandboxSettings.from_env()
    sandbox = Flask(__name__)
    # WeChat's bodies are small; refuse anything absurd before buffering it (HTTP 413).
    sandbox.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    sandbox.json.sort_keys = False  # type: ignore[attr-defined]  # keep WeChat's field order in dev answers
    state = SandboxState(settings, clock)
    sandbox.extensions[miniprogram.EXTENSION_KEY] = state
    sandbox.register_blueprint(miniprogram.blueprint)
    sandbox.register_blueprint(devtools.blueprint)
    # WeChat Pay API v3 (api.mch.weixin.qq.com), its dev API and page: see devkit.wechat_sandbox.pay.
    if settings.pay.enabled:
        sandbox.extensions[pay_api.PAY_EXTENSION_KEY] = PayState(settings, state)
        sandbox.register_blueprint(pay_api.blueprint)
        sandbox.register_blueprint(pay_dev.blueprint)
    return sandbox
