"""WeChat Pay v3 refunds: idempotent out_refund_no, partial refunds, PROCESSING → SUCCESS/ABNORMAL/CLOSED,
refund notifications, and injected faults (including a lost answer after the work is done)."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import open_notification


@pytest.fixture
def paid_order(wxpay, alice_openid, pay_sandbox, pay_receiver) -> dict:
    """ORDER-R1, 1000 fen, paid; its TRANSACTION.SUCCESS notification already received."""
    wxpay.pay(description="会员", out_trade_no="ORDER-R1", amount={"total": 1000}, payer={"openid": alice_openid})
    paid = pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-R1", "user": "alice"})["transaction"]
    pay_receiver.wait_for(1)
    return paid


def refund(wxpay, out_refund_no: str, amount: int, total: int = 1000, **key) -> tuple[int, dict]:
    key = key or {"out_trade_no": "ORDER-R1"}
    code, text = wxpay.refund(out_refund_no=out_refund_no, amount={"refund": amount, "total": total, "currency": "CNY"},
                              reason="用户取消", **key)
    return code, json.loads(text)


def query_refund(wxpay, out_refund_no: str) -> tuple[int, dict]:
    code, text = wxpay.query_refund(out_refund_no=out_refund_no)
    return code, json.loads(text)


def wait_for_refund(wxpay, out_refund_no: str, status: str, timeout: float = 3.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = query_refund(wxpay, out_refund_no)[1]
        if answer["status"] == status:
            return answer
        time.sleep(0.02)
    raise AssertionError(f"refund {out_refund_no} never became {status}")


def test_refund_processes_then_succeeds_and_notifies(wxpay, paid_order, pay_receiver, pay_credentials):
    code, created = refund(wxpay, "REFUND-1", 300)
    succeeded = wait_for_refund(wxpay, "REFUND-1", "SUCCESS")
    received = pay_receiver.wait_for(2)[1]
    envelope, resource = open_notification(received, pay_credentials)

    assert code == 200 and created["status"] == "PROCESSING" and "success_time" not in created
    assert created["refund_id"].startswith("50") and len(created["refund_id"]) == 29
    assert created["transaction_id"] == paid_order["transaction_id"] and created["channel"] == "ORIGINAL"
    assert created["amount"]["refund"] == 300 and created["amount"]["total"] == 1000
    assert succeeded["success_time"].endswith("+08:00")
    assert (envelope["event_type"], envelope["summary"]) == ("REFUND.SUCCESS", "退款成功")
    assert envelope["resource"]["original_type"] == "refund"
    assert resource == {
        "mchid": pay_credentials["mchid"], "out_trade_no": "ORDER-R1", "transaction_id": paid_order["transaction_id"],
        "out_refund_no": "REFUND-1", "refund_id": created["refund_id"], "refund_status": "SUCCESS",
        "success_time": succeeded["success_time"],
        "amount": {"total": 1000, "refund": 300, "payer_total": 1000, "payer_refund": 300},
        "user_received_account": "支付用户零钱",
    }
    assert json.loads(wxpay.query(out_trade_no="ORDER-R1")[1])["trade_state"] == "REFUND"


def test_out_refund_no_is_the_idempotency_key(wxpay, paid_order):
    first = refund(wxpay, "REFUND-2", 300)[1]

    assert refund(wxpay, "REFUND-2", 300)[1]["refund_id"] == first["refund_id"]
    assert refund(wxpay, "REFUND-2", 400) == (400, {
        "code": "INVALID_REQUEST", "message": "订单金额或退款金额与之前请求不一致，请核实后再试"})


def test_partial_refunds_up_to_the_paid_amount(wxpay, paid_order):
    assert refund(wxpay, "REFUND-3", 600)[0] == 200
    assert refund(wxpay, "REFUND-4", 400, transaction_id=paid_order["transaction_id"])[0] == 200
    assert refund(wxpay, "REFUND-5", 1) == (400, {"code": "INVALID_REQUEST", "message": "订单已全额退款"})


def test_refund_larger_than_what_is_left(wxpay, paid_order):
    refund(wxpay, "REFUND-6", 900)

    assert refund(wxpay, "REFUND-7", 200) == (
        400, {"code": "INVALID_REQUEST", "message": "申请退款金额超过订单可退金额"})
    assert refund(wxpay, "REFUND-8", 100, total=999)[1]["code"] == "INVALID_REQUEST"


def test_refunds_of_unknown_or_unpaid_orders(wxpay, alice_openid):
    wxpay.pay(description="会员", out_trade_no="ORDER-R2", amount={"total": 10}, payer={"openid": alice_openid})

    assert refund(wxpay, "REFUND-9", 10, total=10, out_trade_no="ORDER-R2")[1]["code"] == "INVALID_REQUEST"
    assert refund(wxpay, "REFUND-10", 10, out_trade_no="ORDER-NONE") == (
        404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
    assert query_refund(wxpay, "REFUND-NONE") == (404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})


def test_abnormal_then_settled_and_closed_refunds(wxpay, paid_order, pay_sandbox, pay_receiver, pay_credentials):
    assert pay_sandbox.dev("pay/refunds/plan", {"status": "ABNORMAL"})["planned"] == ["ABNORMAL"]
    pay_sandbox.dev("pay/refunds/plan", {"status": "CLOSED"})
    refund(wxpay, "REFUND-11", 100)
    refund(wxpay, "REFUND-12", 100)

    wait_for_refund(wxpay, "REFUND-11", "ABNORMAL")
    wait_for_refund(wxpay, "REFUND-12", "CLOSED")
    settled = pay_sandbox.dev("pay/refunds/REFUND-11/settle", {"status": "SUCCESS"})
    events = sorted(open_notification(n, pay_credentials)[0]["event_type"] for n in pay_receiver.wait_for(4)[1:])

    assert settled["refund"]["status"] == "SUCCESS" and settled["notification_id"]
    assert events == ["REFUND.ABNORMAL", "REFUND.CLOSED", "REFUND.SUCCESS"]
    assert pay_sandbox.dev("pay/refunds/REFUND-12/settle", {}, expected_status=400)["error"].endswith("(final)")
    # A closed refund gives its amount back: 1000 - 100 (REFUND-11) can still be refunded.
    assert refund(wxpay, "REFUND-13", 900)[0] == 200


def test_faults_before_and_after_the_work(wxpay, paid_order, pay_sandbox):
    pay_sandbox.dev("pay/faults", {"path": "/v3/refund/domestic/refunds", "code": "SYSTEM_ERROR"})
    pay_sandbox.dev("pay/faults", {"path": "/v3/refund/", "code": "FREQUENCY_LIMITED", "when": "after"})

    assert refund(wxpay, "REFUND-14", 100) == (500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
    assert query_refund(wxpay, "REFUND-14")[0] == 404  # nothing was done
    lost = refund(wxpay, "REFUND-14", 100)  # done, but the answer is lost
    retried = refund(wxpay, "REFUND-14", 100)  # the same out_refund_no: the same refund

    assert lost == (429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"})
    assert retried[0] == 200 and len(pay_sandbox.dev("pay/refunds")["refunds"]) == 1
    assert pay_sandbox.dev("pay/faults")["faults"] == []


def test_merchant_balance_fault_reads_like_wechat(wxpay, paid_order, pay_sandbox):
    pay_sandbox.dev("pay/faults", {"path": "/v3/refund/domestic/refunds", "code": "NOT_ENOUGH"})

    assert refund(wxpay, "REFUND-15", 100) == (
        403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足，请充值后重新发起"})
