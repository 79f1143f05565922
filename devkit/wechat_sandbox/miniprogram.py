"""The emulated ``api.weixin.qq.com`` endpoints, same paths, parameters and answers as WeChat.

================================================  ===========================================================
``GET  /cgi-bin/token``                           ``?grant_type=client_credential&appid&secret`` →
                                                  ``{access_token, expires_in}``; replaces the app's token
``POST /cgi-bin/stable_token``                    ``{grant_type, appid, secret, force_refresh}`` →
                                                  ``{access_token, expires_in}``
``GET  /sns/jscode2session``                      ``?appid&secret&js_code&grant_type=authorization_code`` →
                                                  ``{openid, session_key[, unionid]}``
``POST /wxa/business/getuserphonenumber``         ``{code}`` → ``{errcode, errmsg, phone_info}``
``POST /wxa/msg_sec_check``                       ``{content, version:2, openid, scene}`` →
                                                  ``{errcode, errmsg, result, detail, trace_id}``
``POST /wxa/media_check_async``                   ``{media_url, media_type, version:2, openid, scene}`` →
                                                  ``{errcode, errmsg, trace_id}``, verdict pushed later
``POST /cgi-bin/message/subscribe/send``          ``{touser, template_id, page, data, miniprogram_state,
                                                  lang}`` → ``{errcode, errmsg, msgid}``
================================================  ===========================================================

The POST endpoints take ``?access_token=`` in the query, as WeChat (and wechatpy) do, and read the
body as JSON whatever its Content-Type (wechatpy sends none).  Errors are HTTP 200 with
``{errcode, errmsg}``, like WeChat; faults injected through the dev API are applied first.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from devkit.wechat_sandbox import errors
from devkit.wechat_sandbox.errors import WeChatApiError, error_body
from devkit.wechat_sandbox.media_check import start_media_check
from devkit.wechat_sandbox.records import MediaCheck
from devkit.wechat_sandbox.settings import SandboxApp
from devkit.wechat_sandbox.state import SandboxState

EXTENSION_KEY = "wechat_sandbox"
SCENES = (1, 2, 3, 4)  # 1 profile, 2 comment, 3 forum, 4 social log
MEDIA_TYPES = (1, 2)  # 1 audio, 2 image
MINIPROGRAM_STATES = ("developer", "trial", "formal")
LANGUAGES = ("zh_CN", "en_US", "zh_HK", "zh_TW")
MAX_TEXT_CHARS = 2500

blueprint = Blueprint("wechat_sandbox_api", __name__)

# Paths a fault can be injected on (the dev API refuses others, so a typo does not silently do nothing).
EMULATED_PATHS = (
    "/cgi-bin/token",
    "/cgi-bin/stable_token",
    "/sns/jscode2session",
    "/wxa/business/getuserphonenumber",
    "/wxa/msg_sec_check",
    "/wxa/media_check_async",
    "/cgi-bin/message/subscribe/send",
    "/wxa/sec/order/upload_shipping_info",
)
LOGISTICS_TYPES = (1, 2, 3, 4)  # 3: virtual goods
ORDER_NUMBER_TYPES = (1, 2)  # 1: mchid + out_trade_no, 2: transaction_id


def sandbox_state() -> SandboxState:
    """The state of the sandbox serving this request."""
    return current_app.extensions[EXTENSION_KEY]


def wechat_json(body: dict[str, Any]) -> Response:
    """A WeChat-style JSON answer (always HTTP 200, UTF-8 kept readable)."""
    return Response(json.dumps(body, ensure_ascii=False), status=200, mimetype="application/json")


def new_trace_id(now: float) -> str:
    """A trace id shaped like WeChat's (``60f96f1d-3845297a-1976a3ae``)."""
    return f"{int(now) & 0xFFFFFFFF:08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


@blueprint.errorhandler(WeChatApiError)
def answer_wechat_error(error: WeChatApiError) -> Response:
    return wechat_json(error.body())


@blueprint.before_request
def apply_injected_fault() -> Response | None:
    """Misbehave as requested through ``/sandbox/api/faults`` for this path, else carry on."""
    fault = sandbox_state().take_fault(request.path)
    if fault is None:
        return None
    if fault.mode == "delay":
        time.sleep(fault.seconds)
        return None
    if fault.mode == "errcode":
        body = error_body(fault.errcode)
        if fault.errmsg is not None:
            body["errmsg"] = fault.errmsg
        return wechat_json(body)
    if fault.mode == "http500":
        return Response("<html><body><h1>500 Internal Server Error</h1></body></html>", status=500,
                        mimetype="text/html")
    # "garbage": what a misbehaving proxy in front of WeChat returns: HTTP 200, not JSON.
    return Response("<html><body>upstream connect error or disconnect/reset before headers</body></html>",
                    status=200, mimetype="text/html")


def require_post() -> None:
    """WeChat answers 43002 to a GET on a POST-only API."""
    if request.method != "POST":
        raise WeChatApiError(errors.REQUIRE_POST_METHOD)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, whatever the Content-Type; 47001 otherwise."""
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except ValueError as exc:
        raise WeChatApiError(errors.DATA_FORMAT_ERROR) from exc
    if not isinstance(body, dict):
        raise WeChatApiError(errors.DATA_FORMAT_ERROR)
    return body


def authenticate_app(appid: Any, secret: Any) -> SandboxApp:
    """The app these credentials belong to: 41002/40013 for the appid, 41004/40125 for the secret."""
    if not appid:
        raise WeChatApiError(errors.APPID_MISSING)
    app = sandbox_state().settings.app(str(appid))
    if app is None:
        raise WeChatApiError(errors.INVALID_APPID)
    if not secret:
        raise WeChatApiError(errors.APPSECRET_MISSING)
    if not secrets.compare_digest(str(secret).encode(), app.secret.encode()):
        raise WeChatApiError(errors.INVALID_APPSECRET)
    return app


def authenticated_appid() -> str:
    """The appid of the ``access_token`` query parameter (41001, 40001, 42001 otherwise)."""
    return sandbox_state().check_access_token(request.args.get("access_token"))


def require_argument(valid: bool, name: str) -> None:
    """47003 with WeChat's way of naming the offending field."""
    if not valid:
        raise WeChatApiError(errors.ARGUMENT_INVALID, f"data.{name} invalid")


def checked_security_request(body: dict[str, Any], appid: str) -> tuple[str, int]:
    """Fields shared by the v2 content-security APIs; returns (openid, scene)."""
    require_argument(body.get("version") == 2, "version")
    scene = body.get("scene")
    require_argument(isinstance(scene, int) and scene in SCENES, "scene")
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WeChatApiError(errors.INVALID_OPENID)
    sandbox_state().user_for_openid(appid, openid)
    return openid, scene


@blueprint.route("/cgi-bin/token", methods=["GET"])
def get_access_token() -> Response:
    if request.args.get("grant_type") != "client_credential":
        raise WeChatApiError(errors.INVALID_GRANT_TYPE)
    app = authenticate_app(request.args.get("appid"), request.args.get("secret"))
    token = sandbox_state().issue_token(app.appid)
    return wechat_json({"access_token": token.token, "expires_in": sandbox_state().settings.access_token_ttl})


@blueprint.route("/cgi-bin/stable_token", methods=["GET", "POST"])
def get_stable_access_token() -> Response:
    require_post()
    body = json_body()
    if body.get("grant_type") != "client_credential":
        raise WeChatApiError(errors.INVALID_GRANT_TYPE)
    app = authenticate_app(body.get("appid"), body.get("secret"))
    force_refresh = body.get("force_refresh", False)
    require_argument(isinstance(force_refresh, bool), "force_refresh")
    token, expires_in = sandbox_state().stable_token(app.appid, force_refresh)
    return wechat_json({"access_token": token.token, "expires_in": expires_in})


@blueprint.route("/sns/jscode2session", methods=["GET"])
def code_to_session() -> Response:
    app = authenticate_app(request.args.get("appid"), request.args.get("secret"))
    if request.args.get("grant_type") != "authorization_code":
        raise WeChatApiError(errors.INVALID_GRANT_TYPE)
    js_code = request.args.get("js_code")
    if not js_code:
        raise WeChatApiError(errors.CODE_MISSING)
    state = sandbox_state()
    user_name, openid = state.redeem_login_code(app.appid, js_code)
    session = {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(), "openid": openid}
    if app.unionid_enabled:
        session["unionid"] = state.unionid_for(user_name)
    return wechat_json(session)


@blueprint.route("/wxa/business/getuserphonenumber", methods=["GET", "POST"])
def get_user_phone_number() -> Response:
    require_post()
    appid = authenticated_appid()
    code = json_body().get("code")
    if not isinstance(code, str):
        raise WeChatApiError(errors.DATA_FORMAT_ERROR)
    state = sandbox_state()
    user = state.redeem_phone_code(appid, code)
    phone_number = user.phone if user.country_code == "86" else f"+{user.country_code} {user.phone}"
    return wechat_json({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone_number,
            "purePhoneNumber": user.phone,
            "countryCode": user.country_code,
            "watermark": {"timestamp": int(state.clock.now()), "appid": appid},
        },
    })


@blueprint.route("/wxa/msg_sec_check", methods=["GET", "POST"])
def check_text() -> Response:
    require_post()
    appid = authenticated_appid()
    body = json_body()
    content = body.get("content")
    require_argument(isinstance(content, str) and 0 < len(content) <= MAX_TEXT_CHARS, "content")
    checked_security_request(body, appid)
    state = sandbox_state()
    hits = state.matching_texts(content)
    if hits:
        suggest, label = hits[0].suggest, hits[0].label
    else:
        suggest, label = "pass", 100
    detail: list[dict[str, Any]] = [
        {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90},
    ]
    detail.extend(
        {"strategy": "keyword", "errcode": 0, "suggest": hit.suggest, "label": hit.label, "level": 20,
         "keyword": hit.term}
        for hit in hits
    )
    return wechat_json({
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": label},
        "detail": detail,
        "trace_id": new_trace_id(state.clock.now()),
    })


@blueprint.route("/wxa/media_check_async", methods=["GET", "POST"])
def check_media_async() -> Response:
    require_post()
    appid = authenticated_appid()
    body = json_body()
    media_url = body.get("media_url")
    is_http_url = isinstance(media_url, str) and media_url.startswith(("http://", "https://"))
    require_argument(is_http_url, "media_url")
    media_type = body.get("media_type")
    require_argument(isinstance(media_type, int) and media_type in MEDIA_TYPES, "media_type")
    openid, scene = checked_security_request(body, appid)
    state = sandbox_state()
    now = state.clock.now()
    check = MediaCheck(
        trace_id=new_trace_id(now),
        appid=appid,
        openid=openid,
        media_url=media_url,
        media_type=media_type,
        scene=scene,
        created_at=now,
    )
    app = state.settings.app(appid)
    if app is None:  # cannot happen (tokens are only issued to configured apps); narrows the type
        raise WeChatApiError(errors.INVALID_APPID)
    state.add_media_check(check)
    start_media_check(state, app, check)
    return wechat_json({"errcode": 0, "errmsg": "ok", "trace_id": check.trace_id})


@blueprint.route("/cgi-bin/message/subscribe/send", methods=["GET", "POST"])
def send_subscribe_message() -> Response:
    require_post()
    appid = authenticated_appid()
    body = json_body()
    touser = body.get("touser")
    if not isinstance(touser, str) or not touser:
        raise WeChatApiError(errors.INVALID_OPENID)
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise WeChatApiError(errors.INVALID_TEMPLATE_ID)
    data = body.get("data")
    require_argument(
        isinstance(data, dict) and all(isinstance(item, dict) and "value" in item for item in data.values()),
        "data",
    )
    page = body.get("page")
    require_argument(page is None or isinstance(page, str), "page")
    miniprogram_state = body.get("miniprogram_state", "formal")
    require_argument(miniprogram_state in MINIPROGRAM_STATES, "miniprogram_state")
    lang = body.get("lang", "zh_CN")
    require_argument(lang in LANGUAGES, "lang")
    message = {
        "touser": touser,
        "template_id": template_id,
        "page": page,
        "data": data,
        "miniprogram_state": miniprogram_state,
        "lang": lang,
    }
    msgid = sandbox_state().send_subscribe_message(appid, message)
    return wechat_json({"errcode": 0, "errmsg": "ok", "msgid": msgid})


@blueprint.route("/wxa/sec/order/upload_shipping_info", methods=["GET", "POST"])
def upload_shipping_info() -> Response:
    """Shipping info for a mini-program payment; without it WeChat may keep the money frozen."""
    require_post()
    appid = authenticated_appid()
    body = json_body()
    order_key = body.get("order_key")
    require_argument(isinstance(order_key, dict) and order_key.get("order_number_type") in ORDER_NUMBER_TYPES,
                     "order_key")
    if order_key["order_number_type"] == 2:
        require_argument(isinstance(order_key.get("transaction_id"), str) and order_key["transaction_id"],
                         "order_key.transaction_id")
    else:
        require_argument(bool(order_key.get("mchid")) and bool(order_key.get("out_trade_no")), "order_key")
    require_argument(body.get("logistics_type") in LOGISTICS_TYPES, "logistics_type")
    require_argument(body.get("delivery_mode") in (1, 2), "delivery_mode")
    shipping_list = body.get("shipping_list")
    require_argument(isinstance(shipping_list, list) and 1 <= len(shipping_list) <= 10
                     and all(isinstance(item, dict) and item.get("item_desc") for item in shipping_list),
                     "shipping_list")
    require_argument(isinstance(body.get("upload_time"), str) and "T" in body["upload_time"], "upload_time")
    payer = body.get("payer")
    require_argument(isinstance(payer, dict) and isinstance(payer.get("openid"), str), "payer")
    sandbox_state().upload_shipping_info(appid, {
        "order_key": order_key, "logistics_type": body["logistics_type"], "delivery_mode": body["delivery_mode"],
        "shipping_list": shipping_list, "upload_time": body["upload_time"], "payer": payer,
    })
    return wechat_json({"errcode": 0, "errmsg": "ok"})
