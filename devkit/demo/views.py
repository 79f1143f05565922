"""``/demo/``: the simulated mini-program page, its configuration and a same-origin sandbox proxy.

The page (``static/demo/``) calls ``/api/v1`` like the mini-program does. What a phone and WeChat would
do (``wx.login``, the phone-number button, ``wx.requestPayment``) is asked of the WeChat sandbox's developer
API. The sandbox runs on another port and sends no CORS headers, so the few calls the page needs go through
``/demo/sandbox/<path>`` here; that proxy exists only while ``WECHAT_SANDBOX`` is on (never in production,
which refuses the sandbox) and only forwards to the sandbox's developer API, for the paths in
:data:`SANDBOX_PATHS`.
"""

from __future__ import annotations

from pathlib import Path

import requests
from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from app.config import WECHAT_API_BASE_URL as OFFICIAL_WECHAT_API
from app.core.api import API_PREFIX
from app.core.errors import ApiError, NotFound
from app.core.i18n import _l

bp = Blueprint("demo", __name__, url_prefix="/demo")

SAMPLE_PHOTO = "samples/portrait-astronaut.png"
# The sandbox developer API calls the page makes, by method: test users, wx.login and getPhoneNumber codes,
# and the payer confirming wx.requestPayment.
SANDBOX_PATHS: dict[str, frozenset[str]] = {
    "users": frozenset({"GET", "POST"}),
    "login-codes": frozenset({"POST"}),
    "phone-codes": frozenset({"POST"}),
    "pay/pay": frozenset({"POST"}),
}
SANDBOX_TIMEOUT = (3.0, 30.0)  # a payment waits for the notification to reach us


class SandboxUnreachable(ApiError):
    status, code = 502, "sandbox_unreachable"
    message = "The WeChat sandbox is not answering; is `make run` (or python -m devkit.wechat_sandbox) running?"


def demo_dir() -> Path:
    return Path(current_app.static_folder or "static") / "demo"


def sandbox_base_url() -> str | None:
    """Where the sandbox listens: WeChat's base URL when it points at the sandbox, else its `make run` port."""
    config = current_app.config
    if not config["WECHAT_SANDBOX"]:
        return None
    base = (config.get("WECHAT_API_BASE_URL") or "").rstrip("/")
    if base and base != OFFICIAL_WECHAT_API:
        return base
    return f"http://127.0.0.1:{config['WECHAT_SANDBOX_PORT']}"


@bp.get("/")
def page() -> Response:
    response = send_from_directory(demo_dir(), "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/config.json")
def config() -> Response:
    """What the page needs to know about this server (no secrets)."""
    sandbox = sandbox_base_url()
    return jsonify({
        "environment": current_app.config["ENV_NAME"],
        "api_base": API_PREFIX,
        "sandbox": sandbox is not None,
        "sandbox_url": f"{sandbox}/sandbox/" if sandbox else None,
        "sandbox_proxy": "/demo/sandbox/" if sandbox else None,
        # False: orders will answer 503 payment_unavailable (WeChat Pay's gateway is not the sandbox)
        "pay_sandbox": bool(sandbox) and current_app.config["WECHAT_PAY_BASE_URL"].rstrip("/") == sandbox,
        "sms_outbox": current_app.config["SMS_PROVIDER"] == "sandbox",
        "privacy_url": "/privacy",
        "sample_photo": f"/demo/{SAMPLE_PHOTO}",
    })


@bp.route("/sandbox/<path:path>", methods=["GET", "POST"])
def sandbox_proxy(path: str) -> Response:
    """Forward one developer-API call to the sandbox and answer what it answered (development only)."""
    sandbox = sandbox_base_url()
    if sandbox is None:
        raise NotFound("The WeChat sandbox is off (WECHAT_SANDBOX=0): the demo's sandbox proxy exists only in "
                       "development.", code="sandbox_disabled")
    if request.method not in SANDBOX_PATHS.get(path, frozenset()):
        raise NotFound(_l("The demo proxy does not forward %(method)s /sandbox/api/%(path)s.",
                          method=request.method, path=path),
                       code="sandbox_path_not_proxied", details={"paths": sorted(SANDBOX_PATHS)})
    body = request.get_json(silent=True) if request.method == "POST" else None
    try:
        answer = requests.request(request.method, f"{sandbox}/sandbox/api/{path}", json=body,
                                  timeout=SANDBOX_TIMEOUT)
    except requests.RequestException as exc:
        raise SandboxUnreachable(details={"sandbox_url": sandbox, "error": type(exc).__name__}) from exc
    return Response(answer.content, status=answer.status_code,
                    mimetype=answer.headers.get("Content-Type", "application/json"),
                    headers={"Cache-Control": "no-store"})


@bp.get("/<path:filename>")
def asset(filename: str) -> Response:
    response = send_from_directory(demo_dir(), filename)
    response.headers["Cache-Control"] = "no-cache"
    return response
