"""WeChat Pay v3 orders through the real wechatpayv3 client: prepay, query, pay (dev API), close, expiry."""

from __future__ import annotations

import json
import time

import pytest
from wechatpayv3 import SignType
from wechatpayv3.type import RequestType

from .conftest import open_notification


def order(wxpay, out_trade_no: str, openid: str, total: int = 100, **options) -> tuple[int, dict]:
    code, text = wxpay.pay(description="画一只猫", out_trade_no=out_trade_no, amount={"total": total},
                           payer={"openid": openid}, **options)
    return code, json.loads(text)


def query(wxpay, **key) -> tuple[int, dict]:
    code, text = wxpay.query(**key)
    return code, json.loads(text)


def test_prepay_is_idempotent_and_query_shows_notpay(wxpay, alice_openid, pay_credentials):
    code, first = order(wxpay, "ORDER-0001", alice_openid, attach="cart-7")
    again = order(wxpay, "ORDER-0001", alice_openid, attach="cart-7")
    status, notpay = query(wxpay, out_trade_no="ORDER-0001")

    assert code == 200 and first["prepay_id"].startswith("wx") and len(first["prepay_id"]) == 36
    assert again == (200, first)
    assert status == 200
    assert notpay == {
        "appid": pay_credentials["appid"], "mchid": pay_credentials["mchid"], "out_trade_no": "ORDER-0001",
        "trade_state": "NOTPAY", "trade_state_desc": "订单未支付", "attach": "cart-7",
        "amount": {"total": 100, "payer_currency": "CNY"}, "promotion_detail": [],
    }


def test_same_out_trade_no_with_other_parameters_is_refused(wxpay, alice_openid):
    order(wxpay, "ORDER-0002", alice_openid, total=100)

    assert order(wxpay, "ORDER-0002", alice_openid, total=200) == (
        400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"})


def test_payment_notifies_and_query_by_both_ids(wxpay, alice_openid, pay_sandbox, pay_receiver, pay_credentials):
    prepay_id = order(wxpay, "ORDER-0003", alice_openid, total=990)[1]["prepay_id"]

    paid = pay_sandbox.dev("pay/pay", {"prepay_id": prepay_id, "user": "alice", "bank_type": "CMB_CREDIT"})
    (received,) = pay_receiver.wait_for(1)
    envelope, resource = open_notification(received, pay_credentials)
    by_out_trade_no = query(wxpay, out_trade_no="ORDER-0003")[1]
    transaction_id = by_out_trade_no["transaction_id"]

    assert paid["transaction"]["trade_state"] == "SUCCESS" and envelope["id"] == paid["notification_id"]
    assert envelope["event_type"] == "TRANSACTION.SUCCESS" and envelope["summary"] == "支付成功"
    assert envelope["resource_type"] == "encrypt-resource"
    assert envelope["resource"]["original_type"] == "transaction"
    assert len(transaction_id) == 28 and transaction_id.startswith("4200")
    assert by_out_trade_no["trade_state"] == "SUCCESS" and by_out_trade_no["bank_type"] == "CMB_CREDIT"
    assert by_out_trade_no["amount"] == {"total": 990, "payer_total": 990, "currency": "CNY", "payer_currency": "CNY"}
    assert by_out_trade_no["payer"] == {"openid": alice_openid} and by_out_trade_no["success_time"].endswith("+08:00")
    assert {key: value for key, value in by_out_trade_no.items() if key != "promotion_detail"} == resource
    assert query(wxpay, transaction_id=transaction_id) == (200, by_out_trade_no)
    assert order(wxpay, "ORDER-0003", alice_openid, total=990) == (
        400, {"code": "ORDERPAID", "message": "该订单已支付"})


def test_request_payment_parameters_are_verified_like_wechat(wxpay, alice_openid, pay_sandbox, pay_credentials):
    prepay_id = order(wxpay, "ORDER-0004", alice_openid)[1]["prepay_id"]
    parameters = {"appId": pay_credentials["appid"], "timeStamp": str(int(time.time())), "nonceStr": "5K8264ILTKCH16CQ",
                  "package": f"prepay_id={prepay_id}", "signType": "RSA"}
    fields = [parameters["appId"], parameters["timeStamp"], parameters["nonceStr"], parameters["package"]]
    forged = {**parameters, "paySign": wxpay.sign([*fields[:3], "prepay_id=wx-other"], SignType.RSA_SHA256)}

    refused = pay_sandbox.dev("pay/pay", {"request_payment": forged}, expected_status=400)
    paid = pay_sandbox.dev("pay/pay", {"request_payment": {**parameters, "paySign": wxpay.sign(fields)}})

    assert refused["error"].startswith("支付验证签名失败")
    assert paid["transaction"]["trade_state"] == "SUCCESS"


def test_only_the_orders_payer_can_pay(wxpay, alice_openid, pay_sandbox):
    order(wxpay, "ORDER-0005", alice_openid)

    refused = pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-0005", "user": "bob"}, expected_status=400)

    assert "payer" in refused["error"]


def test_close_is_reentrant_and_refused_once_paid(wxpay, alice_openid, pay_sandbox):
    order(wxpay, "ORDER-0006", alice_openid)
    order(wxpay, "ORDER-0007", alice_openid)
    pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-0007", "user": "alice"})

    assert wxpay.close(out_trade_no="ORDER-0006") == (204, b"")
    assert wxpay.close(out_trade_no="ORDER-0006") == (204, b"")
    assert query(wxpay, out_trade_no="ORDER-0006")[1]["trade_state"] == "CLOSED"
    assert order(wxpay, "ORDER-0006", alice_openid) == (400, {"code": "ORDER_CLOSED", "message": "该订单已关闭"})
    assert pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-0006"}, expected_status=400)["error"].startswith(
        "the order is CLOSED")
    code, text = wxpay.close(out_trade_no="ORDER-0007")
    assert (code, json.loads(text)) == (400, {"code": "ORDERPAID", "message": "订单已支付"})
    code, text = wxpay.close(out_trade_no="ORDER-9999")
    assert (code, json.loads(text)["code"]) == (404, "ORDER_NOT_EXIST")


def test_prepay_id_lives_two_hours_on_the_sandbox_clock(wxpay, alice_openid, pay_sandbox):
    prepay_id = order(wxpay, "ORDER-0008", alice_openid)[1]["prepay_id"]
    pay_sandbox.advance_clock(7200)

    stale = pay_sandbox.dev("pay/pay", {"prepay_id": prepay_id}, expected_status=400)
    renewed = order(wxpay, "ORDER-0008", alice_openid)[1]["prepay_id"]

    assert "prepay_id" in stale["error"] and renewed != prepay_id
    assert pay_sandbox.dev("pay/pay", {"prepay_id": renewed})["transaction"]["trade_state"] == "SUCCESS"


def test_time_expire_closes_the_unpaid_order(wxpay, alice_openid, pay_sandbox):
    now = pay_sandbox.dev("clock")["now"]
    expire = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + 1800))
    order(wxpay, "ORDER-0009", alice_openid, time_expire=expire)
    order(wxpay, "ORDER-0010", alice_openid)

    pay_sandbox.advance_clock(1801)
    expired = pay_sandbox.dev("pay/transactions/ORDER-0010/expire", {})["transaction"]

    assert query(wxpay, out_trade_no="ORDER-0009")[1]["trade_state"] == "CLOSED"
    assert expired["trade_state"] == "CLOSED"
    assert wxpay.close(out_trade_no="ORDER-0009")[0] == 204


def test_payment_failure_and_user_paying_states(wxpay, alice_openid, pay_sandbox, pay_receiver):
    order(wxpay, "ORDER-0011", alice_openid)

    paying = pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-0011", "result": "USERPAYING"})["transaction"]
    failed = pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-0011", "result": "PAYERROR"})

    assert paying["trade_state"] == "USERPAYING"
    assert failed["transaction"]["trade_state"] == "PAYERROR" and failed["notification_id"] is None
    assert query(wxpay, out_trade_no="ORDER-0011")[1]["trade_state"] == "PAYERROR"
    assert pay_receiver.notifications == []


@pytest.mark.parametrize(
    ("changes", "code", "message_part"),
    [
        ({"out_trade_no": "short"}, "PARAM_ERROR", "“/body/out_trade_no”映射到值字段“商户订单号”"),
        ({"amount": {"total": 0}}, "PARAM_ERROR", "“/body/amount/total”映射到值字段“总金额”数值规则校验失败"),
        ({"amount": {"total": 1, "currency": "USD"}}, "PARAM_ERROR", "只支持CNY"),
        ({"payer": {}}, "PARAM_ERROR", "“/body/payer/openid”映射到值字段“用户标识”必填性规则校验失败"),
        ({"payer": {"openid": "o-not-a-user-of-this-app-00000"}}, "PARAM_ERROR", "appid和openid不匹配"),
        ({"appid": "wx0123456789abcdef"}, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配"),
        ({"mchid": "1900000999"}, "PARAM_ERROR", "mchid"),
        ({"notify_url": "http://backend.example.com/notify"}, "PARAM_ERROR", "https://"),
        ({"notify_url": "https://backend.example.com/notify?order=1"}, "PARAM_ERROR", "不能携带参数"),
        ({"description": "猫" * 43}, "PARAM_ERROR", "字节数 129，大于最大值 127"),
        ({"time_expire": "2020-01-01 10:00:00"}, "PARAM_ERROR", "交易结束时间"),
    ],
)
def test_invalid_orders_get_wechat_errors(wxpay, alice_openid, changes, code, message_part):
    body = {"appid": wxpay._appid, "mchid": wxpay._mchid, "description": "画", "out_trade_no": "ORDER-0100",
            "notify_url": wxpay._notify_url, "amount": {"total": 1}, "payer": {"openid": alice_openid}, **changes}

    status, text = wxpay._core.request("/v3/pay/transactions/jsapi", method=RequestType.POST, data=body)

    assert status == 400 and json.loads(text)["code"] == code
    assert message_part in json.loads(text)["message"]


def test_unknown_orders_and_paths(wxpay):
    assert query(wxpay, out_trade_no="ORDER-NONE") == (404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
    assert query(wxpay, transaction_id="4200000000202601010000000000")[1]["code"] == "ORDER_NOT_EXIST"
    assert query(wxpay, transaction_id="not-a-number") == (400, {"code": "PARAM_ERROR", "message": "微信订单号非法"})
    status, text = wxpay._core.request("/v3/pay/transactions/native-not-emulated")
    assert status == 404 and json.loads(text)["code"] == "RESOURCE_NOT_EXISTS"
