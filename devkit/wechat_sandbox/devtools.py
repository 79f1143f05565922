"""Developer API (``/sandbox/api/…``, JSON) and page (``/sandbox/``): what a phone would do, on demand.

Real WeChat codes come from a phone (``wx.login``, the phone-number button, the subscribe dialog);
here tests and developers ask for them.  Errors are ``{"error": "..."}`` with HTTP 400/404.
``appid`` is optional everywhere and defaults to the first configured app.

==========================================  =============================================================
``GET  /sandbox/api/apps``                  → ``{apps: [{appid, original_id, unionid_enabled, push_url}]}``
``POST /sandbox/api/apps/<appid>/push-url`` ``{url}`` (``""`` disables pushes) → the app
``GET  /sandbox/api/users``                 → ``{users: [USER]}``
``POST /sandbox/api/users``                 ``{name, phone?, country_code?, high_risk?}`` → USER (201 new,
                                            200 changed); USER = ``{name, phone, country_code, high_risk,
                                            unionid, openids: {appid: openid}}``
``POST /sandbox/api/login-codes``           ``{user, appid?}`` → ``{code, expires_in, openid}`` (user
                                            created on demand)
``POST /sandbox/api/phone-codes``           ``{user, appid?}`` → ``{code, expires_in}``
``GET  /sandbox/api/clock``                 → ``{now, offset}``; ``POST`` ``{seconds}`` advances it
``GET|POST /sandbox/api/risky-texts``       ``{term, suggest?: risky|review, label?: 20006}`` →
                                            ``{risky_texts: [...]}``
``GET|POST /sandbox/api/risky-media``       ``{sha256? | url_contains?, suggest?, label?: 20002}`` →
                                            ``{risky_media: [...]}``
``POST /sandbox/api/subscriptions``         ``{user, template_id, appid?, count?: 1}`` →
                                            ``{user, appid, openid, template_id, remaining}``
``GET  /sandbox/api/subscribe-messages``    → ``{messages: [{msgid, appid, user, touser, template_id, page,
                                            data, miniprogram_state, lang, sent_at}]}``
``GET  /sandbox/api/media-checks``          ``?trace_id=`` → ``{media_checks: [{trace_id, status, suggest,
                                            label, errcode, sha256, size, push_attempts, …}]}``;
                                            status: pending, delivered, failed, no_push_url
``GET|POST|DELETE /sandbox/api/faults``     ``{path, mode: delay|errcode|http500|garbage, count?: 1,
                                            seconds?, errcode?: -1, errmsg?}`` → ``{faults: [...]}``
``POST /sandbox/api/reset``                 → ``{reset: true}``: default users only, clock back, no
                                            tokens, codes, registries, records or faults (WeChat Pay's too)
==========================================  =============================================================

WeChat Pay's developer API lives under ``/sandbox/api/pay/…`` and its page at ``/sandbox/pay``
(:mod:`devkit.wechat_sandbox.pay.dev`).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template_string, request

from devkit.wechat_sandbox import errors
from devkit.wechat_sandbox.miniprogram import EMULATED_PATHS, sandbox_state
from devkit.wechat_sandbox.records import (
    FAULT_MODES,
    LOGIN_CODE,
    PHONE_CODE,
    SUGGESTIONS,
    Fault,
    RiskyMedia,
    RiskyText,
    TestUser,
)
from devkit.wechat_sandbox.settings import USER_NAME_PATTERN, SandboxApp
from devkit.wechat_sandbox.state import SandboxState

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
PHONE_PATTERN = re.compile(r"^[0-9]{5,20}$")
COUNTRY_CODE_PATTERN = re.compile(r"^[0-9]{1,4}$")
MAX_GRANT_COUNT = 1000

blueprint = Blueprint("wechat_sandbox_dev", __name__, url_prefix="/sandbox")


class DevApiError(Exception):
    """A refused dev-API call; answered as ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@blueprint.errorhandler(DevApiError)
def answer_dev_error(error: DevApiError) -> tuple[Response, int]:
    return jsonify({"error": error.message}), error.status


def request_fields() -> dict[str, Any]:
    """The JSON object sent, or an empty one for a bodyless POST."""
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise DevApiError("the body must be a JSON object")
    return body


def chosen_app(fields: dict[str, Any], state: SandboxState) -> SandboxApp:
    appid = fields.get("appid") or state.settings.default_app.appid
    app = state.settings.app(str(appid))
    if app is None:
        raise DevApiError(f"unknown appid {appid!r}", 404)
    return app


def user_name(fields: dict[str, Any], key: str = "user") -> str:
    name = fields.get(key)
    if not isinstance(name, str) or not USER_NAME_PATTERN.match(name):
        raise DevApiError(f"{key} must be a name of 1-64 characters [A-Za-z0-9_.-]")
    return name


def integer(fields: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = fields.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DevApiError(f"{key} must be an integer from {low} to {high}")
    return value


def number(fields: dict[str, Any], key: str, high: float) -> float:
    value = fields.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise DevApiError(f"{key} must be a number from 0 to {high:g}")
    return float(value)


def suggestion(fields: dict[str, Any]) -> str:
    value = fields.get("suggest", "risky")
    if value not in SUGGESTIONS:
        raise DevApiError(f"suggest must be one of {', '.join(SUGGESTIONS)}")
    return str(value)


def user_json(user: TestUser, state: SandboxState) -> dict[str, Any]:
    return {
        "name": user.name,
        "phone": user.phone,
        "country_code": user.country_code,
        "high_risk": user.high_risk,
        "unionid": state.unionid_for(user.name),
        "openids": {app.appid: state.openid_for(app.appid, user.name) for app in state.settings.apps},
    }


def app_json(app: SandboxApp, state: SandboxState) -> dict[str, Any]:
    return {
        "appid": app.appid,
        "original_id": app.original_id,
        "unionid_enabled": app.unionid_enabled,
        "push_url": state.push_url(app.appid),
    }


@blueprint.get("/api/apps")
def list_apps() -> Response:
    state = sandbox_state()
    return jsonify({"apps": [app_json(app, state) for app in state.settings.apps]})


@blueprint.post("/api/apps/<appid>/push-url")
def set_push_url(appid: str) -> Response:
    state = sandbox_state()
    app = chosen_app({"appid": appid}, state)
    url = request_fields().get("url", "")
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
        raise DevApiError("url must be an http(s) URL or empty")
    state.set_push_url(app.appid, url)
    return jsonify(app_json(app, state))


@blueprint.get("/api/users")
def list_users() -> Response:
    state = sandbox_state()
    return jsonify({"users": [user_json(user, state) for user in state.list_users()]})


@blueprint.post("/api/users")
def upsert_user() -> tuple[Response, int]:
    state = sandbox_state()
    fields = request_fields()
    name = user_name(fields, "name")
    phone = fields.get("phone")
    if phone is not None and not (isinstance(phone, str) and PHONE_PATTERN.match(phone)):
        raise DevApiError("phone must be 5-20 digits")
    country_code = fields.get("country_code")
    valid_country_code = isinstance(country_code, str) and COUNTRY_CODE_PATTERN.match(country_code)
    if country_code is not None and not valid_country_code:
        raise DevApiError("country_code must be 1-4 digits, e.g. \"86\"")
    high_risk = fields.get("high_risk")
    if high_risk is not None and not isinstance(high_risk, bool):
        raise DevApiError("high_risk must be true or false")
    user, created = state.upsert_user(name, phone=phone, country_code=country_code, high_risk=high_risk)
    return jsonify(user_json(user, state)), 201 if created else 200


@blueprint.post("/api/login-codes")
def mint_login_code() -> tuple[Response, int]:
    state = sandbox_state()
    fields = request_fields()
    app = chosen_app(fields, state)
    name = user_name(fields)
    issued = state.mint_code(LOGIN_CODE, name, app.appid)
    openid = state.openid_for(app.appid, name)
    body = {"code": issued.code, "expires_in": state.settings.code_ttl, "openid": openid}
    return jsonify(body), 201


@blueprint.post("/api/phone-codes")
def mint_phone_code() -> tuple[Response, int]:
    state = sandbox_state()
    fields = request_fields()
    app = chosen_app(fields, state)
    issued = state.mint_code(PHONE_CODE, user_name(fields), app.appid)
    return jsonify({"code": issued.code, "expires_in": state.settings.code_ttl}), 201


@blueprint.route("/api/clock", methods=["GET", "POST"])
def clock() -> Response:
    state = sandbox_state()
    if request.method == "POST":
        state.clock.advance(number(request_fields(), "seconds", 10 * 365 * 86400))
    return jsonify({"now": state.clock.now(), "offset": state.clock.offset})


@blueprint.route("/api/risky-texts", methods=["GET", "POST"])
def risky_texts() -> Response:
    state = sandbox_state()
    if request.method == "POST":
        fields = request_fields()
        term = fields.get("term")
        if not isinstance(term, str) or not term.strip():
            raise DevApiError("term must be a non-empty string")
        label = integer(fields, "label", 20006, 100, 99999)
        state.add_risky_text(RiskyText(term=term, suggest=suggestion(fields), label=label))
    return jsonify({"risky_texts": state.list_risky_texts()})


@blueprint.route("/api/risky-media", methods=["GET", "POST"])
def risky_media() -> Response:
    state = sandbox_state()
    if request.method == "POST":
        fields = request_fields()
        sha256 = fields.get("sha256")
        url_contains = fields.get("url_contains")
        if sha256 is not None and not (isinstance(sha256, str) and SHA256_PATTERN.match(sha256.lower())):
            raise DevApiError("sha256 must be 64 hex characters")
        if url_contains is not None and not (isinstance(url_contains, str) and url_contains):
            raise DevApiError("url_contains must be a non-empty string")
        if sha256 is None and url_contains is None:
            raise DevApiError("give sha256 or url_contains")
        label = integer(fields, "label", 20002, 100, 99999)
        entry = RiskyMedia(sha256=sha256.lower() if sha256 else None, url_contains=url_contains,
                           suggest=suggestion(fields), label=label)
        state.add_risky_media(entry)
    return jsonify({"risky_media": state.list_risky_media()})


@blueprint.post("/api/subscriptions")
def grant_subscription() -> tuple[Response, int]:
    state = sandbox_state()
    fields = request_fields()
    app = chosen_app(fields, state)
    name = user_name(fields)
    template_id = fields.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise DevApiError("template_id must be a non-empty string")
    count = integer(fields, "count", 1, 1, MAX_GRANT_COUNT)
    openid, remaining = state.grant_subscription(app.appid, name, template_id, count)
    body = {"user": name, "appid": app.appid, "openid": openid, "template_id": template_id}
    body["remaining"] = remaining
    return jsonify(body), 201


@blueprint.get("/api/subscribe-messages")
def list_subscribe_messages() -> Response:
    return jsonify({"messages": sandbox_state().list_subscribe_messages()})


@blueprint.get("/api/shipping-uploads")
def list_shipping_uploads() -> Response:
    """``{shipping_uploads: [{appid, order_key, logistics_type, shipping_list, upload_time, payer}]}``."""
    return jsonify({"shipping_uploads": sandbox_state().list_shipping_uploads()})


@blueprint.get("/api/media-checks")
def list_media_checks() -> Response:
    checks = sandbox_state().list_media_checks()
    trace_id = request.args.get("trace_id")
    if trace_id:
        checks = [check for check in checks if check["trace_id"] == trace_id]
    return jsonify({"media_checks": checks})


@blueprint.route("/api/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Response:
    state = sandbox_state()
    if request.method == "DELETE":
        state.clear_faults()
    elif request.method == "POST":
        fields = request_fields()
        path = fields.get("path")
        if path not in EMULATED_PATHS:
            raise DevApiError(f"path must be one of {', '.join(EMULATED_PATHS)}")
        mode = fields.get("mode")
        if mode not in FAULT_MODES:
            raise DevApiError(f"mode must be one of {', '.join(FAULT_MODES)}")
        errmsg = fields.get("errmsg")
        if errmsg is not None and not isinstance(errmsg, str):
            raise DevApiError("errmsg must be a string")
        state.add_fault(Fault(
            path=path,
            mode=mode,
            remaining=integer(fields, "count", 1, 1, MAX_GRANT_COUNT),
            seconds=number(fields, "seconds", state.settings.max_fault_delay),
            errcode=integer(fields, "errcode", errors.SYSTEM_ERROR, -99999, 99999),
            errmsg=errmsg,
        ))
    return jsonify({"faults": state.list_faults()})


@blueprint.post("/api/reset")
def reset() -> Response:
    sandbox_state().reset()
    pay_state = current_app.extensions.get("wechat_sandbox_pay")  # WeChat Pay, when enabled
    if pay_state is not None:
        pay_state.reset()
    return jsonify({"reset": True})


PAGE_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WeChat sandbox</title>
<style>body{font:14px sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
form{margin:.4em 0}pre{background:#f4f4f4;padding:.5em}code{font-size:12px}</style></head><body>
<h1>WeChat sandbox</h1>
<p>Not WeChat: a development emulator of api.weixin.qq.com. Clock: {{ now }} (advanced {{ offset }} s).
WeChat Pay (api.mch.weixin.qq.com): <a href="pay">payments page</a>.</p>
<h2>Apps</h2><table><tr><th>appid</th><th>original id</th><th>unionid</th><th>push URL</th></tr>
{% for app in apps %}<tr><td><code>{{ app.appid }}</code></td><td>{{ app.original_id }}</td>
<td>{{ app.unionid_enabled }}</td><td>{{ app.push_url or "(none)" }}</td></tr>{% endfor %}</table>
<h2>Test users</h2><table><tr><th>name</th><th>phone</th><th>high risk</th><th>openids</th></tr>
{% for user in users %}<tr><td>{{ user.name }}</td><td>+{{ user.country_code }} {{ user.phone }}</td>
<td>{{ user.high_risk }}</td><td>{% for appid, openid in user.openids.items() %}<code>{{ openid }}</code>
{% endfor %}</td></tr>{% endfor %}</table>
<h2>Actions</h2>
<form data-endpoint="users">User <input name="name" required> phone <input name="phone">
<label><input type="checkbox" name="high_risk"> high risk</label> <button>create / update</button></form>
<form data-endpoint="login-codes">Login code for <input name="user" required> <button>mint</button></form>
<form data-endpoint="phone-codes">Phone code for <input name="user" required> <button>mint</button></form>
<form data-endpoint="clock">Advance clock by <input name="seconds" type="number" min="0" required> s
<button>advance</button></form>
<form data-endpoint="reset"><button>reset everything</button></form>
<pre id="result">results appear here</pre>
<h2>Subscribe messages ({{ messages|length }})</h2>
<table><tr><th>msgid</th><th>user</th><th>template</th><th>page</th></tr>
{% for message in messages[-20:] %}<tr><td>{{ message.msgid }}</td><td>{{ message.user }}</td>
<td>{{ message.template_id }}</td><td>{{ message.page }}</td></tr>{% endfor %}</table>
<h2>Media checks ({{ checks|length }})</h2><table><tr><th>trace id</th><th>status</th><th>suggest</th>
<th>url</th></tr>{% for check in checks[-20:] %}<tr><td>{{ check.trace_id }}</td><td>{{ check.status }}</td>
<td>{{ check.suggest }}</td><td>{{ check.media_url }}</td></tr>{% endfor %}</table>
<script>
document.querySelectorAll("form[data-endpoint]").forEach(function (form) {
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var body = {};
    form.querySelectorAll("input").forEach(function (input) {
      if (input.type === "checkbox") { body[input.name] = input.checked; }
      else if (input.type === "number") { body[input.name] = Number(input.value); }
      else if (input.value) { body[input.name] = input.value; }
    });
    var response = await fetch("api/" + form.dataset.endpoint, {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    document.getElementById("result").textContent = await response.text();
  });
});
</script></body></html>"""


@blueprint.get("/")
def page() -> str:
    """A plain page showing the state, with forms for the common actions (no external assets)."""
    state = sandbox_state()
    return render_template_string(
        PAGE_TEMPLATE,
        now=int(state.clock.now()),
        offset=state.clock.offset,
        apps=[app_json(app, state) for app in state.settings.apps],
        users=[user_json(user, state) for user in state.list_users()],
        messages=state.list_subscribe_messages(),
        checks=state.list_media_checks(),
    )
