"""The staff console (``static/admin/``) in real headless Chromium against the live app (issue #9, "Must show").

A staff member holding support + finance + privacy_officer logs in, answers the ticket a user opened in the
mini-program API, refunds the user's order (paid through the WeChat Pay sandbox) and watches the refund settle,
processes a deletion request and sees it completed, and unmasks a phone number with a reason. A support-only staff
member sees no refund button, and a refund posted straight from that browser session is refused with 403
``permission_denied``. An auditor reads the log and its chain status (and sees a row altered in the database); an
admin with a second factor logs in with it and manages staff, which ends the changed account's session at once.
Each test also checks the page ran without errors. ``ADMIN_SCREENSHOTS_DIR=docs/admin`` photographs each page.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text, update

from app.core.db import utcnow
from app.orders.models import Order, Refund
from app.privacy.models import DeletionReceipt, DeletionRequest
from app.staff.models import AuditEntry, StaffSession
from tests.admin_console.console_page import ConsolePage, unexpected_errors
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.orders.conftest import buy, pay, wait_for_order
from tests.privacy.conftest import run_queue
from tests.staff.helpers import StaffClient, create_staff, json_of

PHONE, MASKED = "13811112222", "138****2222"


def ok(response, status: int = 200) -> dict:
    body = json_of(response)
    assert response.status_code == status, body
    return body["data"]


def paid_order(uploader, wechat_sandbox, product: str = "video_pack_5") -> str:
    data = buy(uploader, product)["data"]
    pay(wechat_sandbox, data)
    order_no = data["order"]["order_no"]
    wait_for_order(uploader, order_no, "fulfilled")
    return order_no


def user_public_id(uploader) -> str:
    return uploader.get("/api/v1/me").get_json()["data"]["id"]


def open_ticket(uploader, **fields) -> str:
    return ok(uploader.call("POST", "/api/v1/tickets", json=fields), 201)["id"]


def queue_request(officer: StaffClient, user_id: str, categories: list[str], channel: str, note: str) -> str:
    return ok(officer.post("/admin/api/rights-requests", json={
        "user_public_id": user_id, "kind": "deletion", "categories": categories, "channel": channel, "note": note}),
        201)["id"]


def audit_reasons(dbx, action: str) -> list[str | None]:
    return dbx.run(lambda s: list(s.scalars(select(AuditEntry.reason).where(AuditEntry.action == action))))


def test_staff_answers_a_ticket_refunds_the_order_and_processes_a_deletion(browser, live_server, app, uploader,
                                                                           wechat_sandbox, dbx, sample_jpeg):
    # What the user did in the mini-program: a nickname, a generated photo, a paid order, a dispute ticket about
    # the order, a question about the photo.
    assert uploader.call("PATCH", "/api/v1/me", json={"nickname": "小明同学"}).status_code == 200
    start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))
    run_generation_queue(app)
    buy(uploader, "video_generation")  # started, never paid
    order_no = paid_order(uploader, wechat_sandbox)
    dispute = open_ticket(uploader, category="order_dispute", subject="视频包重复扣款",
                          body="我不小心买了两次视频包，请退还这一笔，谢谢！", order_no=order_no)
    open_ticket(uploader, category="generation_quality", subject="证件照背景不够白",
                body="背景有一点灰，可以重新生成吗？")
    user_id = user_public_id(uploader)
    # Requests that came by email and phone, queued by the privacy officer through the staff API; one overdue.
    create_staff(app, "officer", ["privacy_officer"])
    officer = StaffClient.login(app, "officer")
    deletion = queue_request(officer, user_id, ["operation_logs"], "email", "用户来信要求删除操作日志；已短信核实身份")
    overdue = queue_request(officer, user_id, ["results"], "phone", "电话申请删除生成结果；已回拨绑定手机核实")
    dbx.execute(update(DeletionRequest).where(DeletionRequest.public_id == overdue)
                .values(due_at=utcnow() - timedelta(days=3)))

    create_staff(app, "lin_lead", ["support", "finance", "privacy_officer"])
    console = ConsolePage(browser, live_server)
    page = console.page
    console.open()
    console.shot("01-login")
    console.log_in("lin_lead")
    console.logged_in_as("lin_lead")
    assert console.nav_sections() == ["dashboard", "tickets", "orders", "rights", "users", "notices"]  # no audit, staff

    # Dashboard: tickets and rights requests waiting, the overdue alert.
    dashboard = console.loaded("dashboard")
    assert dashboard.locator("[data-card=tickets] .value").text_content() == "2"
    assert dashboard.locator("[data-card=rights] .value").text_content() == "2"
    assert dashboard.locator("[data-alert=rights_request_overdue]").is_visible()
    assert dashboard.locator("#queues").is_visible()
    assert "—" not in dashboard.locator("[data-card=latency] .value").text_content()  # the job's latency is there
    assert "已完成 1" in dashboard.locator("[data-card=latency] .sub").text_content()
    console.shot("02-dashboard")

    # Tickets: the masked list, then the thread; the answer reaches the user.
    console.go("tickets")
    row = page.locator(f"#ticket-list tr[data-key='{dispute}']")
    assert MASKED in row.text_content() and "视频包重复扣款" not in row.text_content()  # the subject is masked too
    console.shot("03-tickets")
    row.click()
    console.loaded("tickets", dispute)
    assert "我不小心买了两次视频包" in page.locator("#thread").text_content()
    page.fill("#reply-body", "您好，已核实重复扣款，我们将为您退还这一笔，1-3 个工作日原路到账。")
    page.click("#reply-send")
    page.locator("#thread .msg[data-author=staff]").wait_for()
    assert page.locator(".page-head [data-status=waiting_user]").is_visible()
    console.shot("04-ticket-thread")
    mine = uploader.get(f"/api/v1/tickets/{dispute}").get_json()["data"]
    assert mine["status"] == "waiting_user" and mine["messages"][-1]["author"] == "staff"
    assert "原路到账" in mine["messages"][-1]["body"]

    # The ticket's order → refund with a reason (linked to the ticket) → WeChat Pay settles it.
    page.click("#ticket-order-link")
    console.loaded("orders", order_no)
    assert page.text_content("#order-no") == order_no
    assert MASKED in page.text_content("#order-buyer")
    page.click("#refund-button")
    page.locator("#dialog").wait_for(state="visible")
    assert page.input_value("#dlg-amount") == "79.90" and page.input_value("#dlg-ticket_id") == dispute
    page.fill("#dlg-reason", "重复购买，按工单退款")
    console.shot("05-order-refund-dialog")
    console.dialog_submit()
    page.locator("#refunds [data-status=requested]").wait_for()
    assert page.locator("#refund-button").count() == 0  # nothing left to refund
    run_queue(app, "default")  # the refund job → the sandbox's refund API → REFUND.SUCCESS notification to us
    page.locator("#refunds [data-status=success]").wait_for(timeout=30_000)  # the page re-reads the order itself
    page.locator(".page-head [data-status=refunded]").wait_for()
    assert page.text_content("#refunded-fen") == "¥79.90"
    console.shot("06-order-refunded")
    assert wait_for_order(uploader, order_no, "refunded")["status"] == "refunded"
    [refund] = dbx.run(lambda s: [(r.amount_fen, r.status) for r in s.scalars(select(Refund))])
    assert refund == (7990, "success")
    assert audit_reasons(dbx, "order.refund") == ["重复购买，按工单退款"]

    console.go("orders")
    assert page.locator(f"#order-list tr[data-key='{order_no}'] .badge").get_attribute("data-status") == "refunded"
    assert page.locator("#order-list tbody tr").count() == 2
    console.shot("07-orders")

    # Rights queue: the overdue request first and highlighted; process the other one.
    console.go("rights")
    rows = page.locator("#rights-queue tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.key)") == [overdue, deletion]
    assert "overdue" in (rows.nth(0).get_attribute("class") or "")
    assert "overdue" not in (rows.nth(1).get_attribute("class") or "")
    console.shot("08-rights-queue")
    page.click(f"#rights-queue tr[data-key='{deletion}'] [data-action=process]")
    page.locator("#dialog").wait_for(state="visible")
    console.dialog_submit()
    page.locator(f"#rights-queue tr[data-key='{deletion}']").wait_for(state="detached")
    page.select_option("#rights-status", "completed")
    console.loaded("rights")
    done = page.locator(f"#rights-queue tr[data-key='{deletion}']")
    assert done.locator("[data-status=completed]").is_visible()
    mine = {r["id"]: r["status"] for r in uploader.get("/api/v1/me/deletion-requests").get_json()["data"]["requests"]}
    assert mine == {deletion: "completed", overdue: "pending"}
    assert dbx.count(DeletionReceipt, DeletionReceipt.data_kind == "operation_logs") == 1

    # Users: find by phone (masked), unmask the phone with a reason.
    console.go("users")
    page.fill("#user-query", PHONE)
    page.click("#user-search button[type=submit]")
    page.locator(f"#user-results tr[data-key='{user_id}']").wait_for()
    assert PHONE not in page.text_content("#user-results") and MASKED in page.text_content("#user-results")
    assert PHONE not in page.url  # the search text never goes into the address bar
    page.click(f"#user-results a[href='#/users/{user_id}']")
    console.loaded("users", user_id)
    assert page.text_content("#field-phone").startswith(MASKED)
    assert page.text_content("#field-nickname").startswith("小***")
    assert page.locator("img").count() == 0  # no user images anywhere in the console
    console.shot("09-user-masked")
    page.click("#unmask-phone")
    page.fill("#dlg-reason", "用户来电要求回拨，核对号码")
    console.dialog_submit()
    assert page.text_content("[data-unmasked=phone]").startswith(PHONE)
    assert page.text_content("#field-nickname").startswith("小***")  # only the one field asked for
    console.shot("10-user-unmasked")
    assert audit_reasons(dbx, "user.unmask") == ["用户来电要求回拨，核对号码"]

    assert unexpected_errors(console.errors, 401) == []  # 401: the session check before logging in
    console.close()


def test_a_support_only_staff_sees_no_refund_button_and_cannot_call_the_refund_endpoint(browser, live_server, app,
                                                                                       uploader, wechat_sandbox, dbx):
    order_no = paid_order(uploader, wechat_sandbox)
    create_staff(app, "sam_support", ["support"])
    console = ConsolePage(browser, live_server)
    page = console.page
    console.open()
    console.log_in("sam_support")
    console.logged_in_as("sam_support")
    assert console.nav_sections() == ["dashboard", "tickets", "orders", "users"]
    console.go("orders")
    page.click(f"#order-list a[href='#/orders/{order_no}']")
    console.loaded("orders", order_no)
    assert page.text_content("#order-no") == order_no
    assert page.locator("#refund-button").count() == 0
    assert page.locator("button", has_text=re.compile("退款|Refund")).count() == 0

    # The endpoint itself refuses, even with this session's valid cookie and CSRF token.
    answer = page.evaluate("""async (orderNo) => {
        const session = await (await fetch('/admin/api/session')).json();
        const response = await fetch(`/admin/api/orders/${orderNo}/refund`, {
            method: 'POST', headers: {'Content-Type': 'application/json',
                                      'X-CSRF-Token': session.data.csrf_token},
            body: JSON.stringify({reason: 'trying without the role'})});
        return {status: response.status, body: await response.json()};
    }""", order_no)
    assert answer["status"] == 403 and answer["body"]["error"]["code"] == "permission_denied"
    assert dbx.count(Refund) == 0
    assert dbx.one(select(Order).where(Order.out_trade_no == order_no)).status == "fulfilled"
    actions = dbx.run(lambda s: list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))))
    assert "order.refund" not in actions and actions[-1] == "staff.permission_denied"  # the probe is on record
    assert unexpected_errors(console.errors, 401, 403) == []
    console.close()


def test_an_auditor_reads_the_log_and_its_chain_and_an_admin_with_totp_manages_staff(browser, live_server, app,
                                                                                       uploader, dbx):
    # Some real staff activity to read: a support agent looks a user up and unmasks the phone.
    create_staff(app, "sam_support", ["support"])
    support = StaffClient.login(app, "sam_support")
    user_id = user_public_id(uploader)
    ok(support.get("/admin/api/users", query_string={"q": PHONE}))
    ok(support.get(f"/admin/api/users/{user_id}"))
    ok(support.post(f"/admin/api/users/{user_id}/unmask", json={"field": "phone", "reason": "用户来电核实身份"}))

    create_staff(app, "zhao_audit", ["auditor"])
    auditor = ConsolePage(browser, live_server)
    page = auditor.page
    auditor.open()
    auditor.log_in("zhao_audit")
    auditor.logged_in_as("zhao_audit")
    assert auditor.nav_sections() == ["dashboard", "audit", "review"]
    auditor.go("audit")
    page.locator("#chain-status [data-chain=ok]").wait_for()
    actions = page.locator("#audit-entries tbody tr td:nth-child(4)").all_text_contents()
    assert {"user.search", "user.view", "user.unmask"} <= set(actions)
    page.fill("#audit-action", "user.unmask")
    page.click("#audit-filters button[type=submit]")
    auditor.loaded("audit")
    [row] = page.locator("#audit-entries tbody tr").all()
    assert "用户来电核实身份" in row.text_content() and "sam_support" in row.text_content()
    assert PHONE not in page.text_content("#audit-entries")  # the log never holds the unmasked value
    page.fill("#audit-action", "")
    page.click("#audit-filters button[type=submit]")
    auditor.loaded("audit")
    auditor.shot("11-audit-log")

    # A row altered directly in the database: the chain check in the page names it.
    first = dbx.run(lambda s: s.scalar(select(AuditEntry.id).where(AuditEntry.action == "user.view")))
    dbx.execute(text("UPDATE staff_audit_log SET reason = 'nothing to see' WHERE id = :id").bindparams(id=first))
    page.click("#audit-verify")
    broken = page.locator("#chain-status [data-chain=broken]")
    broken.wait_for()
    auditor.loaded("audit")
    assert f"#{first}" in broken.text_content()
    altered = page.locator(f"#audit-entries tr[data-key='{first}']")
    assert "broken" in altered.get_attribute("class") and "nothing to see" in altered.text_content()
    auditor.shot("12-audit-chain-broken")
    assert unexpected_errors(auditor.errors, 401) == []

    # §7 periodic access review: every account with its roles and last use, then the review is recorded.
    auditor.go("review")
    page.locator("#review-status[data-overdue=true]").wait_for()
    assert "support" in page.text_content("#review-accounts tr[data-key=sam_support]")
    assert page.locator("#review-accounts tr[data-key=zhao_audit]").is_visible()
    page.fill("#review-changes", "no changes")
    page.click("#review-submit")
    page.locator("#review-status[data-overdue=false]").wait_for()
    auditor.loaded("review")
    assert "no changes" in page.text_content("#review-history") and "zhao_audit" in page.text_content("#review-status")
    assert dbx.count(AuditEntry, AuditEntry.action == "staff.access_review") == 1
    auditor.shot("12b-access-review")
    assert unexpected_errors(auditor.errors, 401) == []

    # The admin has a second factor: the page asks for it, then lets them in.
    secret = pyotp.random_base32()
    create_staff(app, "root_admin", ["admin"], totp_secret=secret)
    admin = ConsolePage(browser, live_server)
    apage = admin.page
    admin.open()
    admin.log_in("root_admin")
    apage.locator("#totp-field").wait_for(state="visible")
    apage.locator("#login-error [data-code=totp_required]").wait_for()
    apage.fill("#login-totp", pyotp.TOTP(secret).now())
    apage.click("#login-submit")
    admin.logged_in_as("root_admin")
    assert admin.nav_sections() == ["dashboard", "staff"]
    admin.go("staff")
    assert apage.locator("#staff-list tr[data-key=zhao_audit]").is_visible()

    # Create an account with a role, with a clear error first for a weak password.
    apage.click("#staff-create")
    apage.fill("#dlg-username", "wang_fin")
    apage.check("#dlg-roles input[value=finance]")
    apage.fill("#dlg-password", "short")
    apage.click("#dlg-submit")
    apage.locator("#dialog .error[data-code=weak_password]").wait_for()  # the dialog stays open with the reason
    apage.fill("#dlg-password", "a long enough passphrase 7")
    admin.dialog_submit()
    created = apage.locator("#staff-list tr[data-key=wang_fin]")
    created.wait_for()
    assert "finance" in created.text_content()

    # Give the auditor a second role: their sessions end at once, and their page goes back to login.
    apage.click("#staff-list tr[data-key=zhao_audit] [data-action=roles]")
    apage.check("#dlg-roles input[value=finance]")
    admin.dialog_submit()
    apage.locator("#staff-list tr[data-key=zhao_audit]", has_text="finance").wait_for()
    apage.click("#staff-list tr[data-key=wang_fin] [data-action=disable]")
    apage.fill("#dlg-reason", "离职 left the company")
    admin.dialog_submit()
    apage.locator("#staff-list tr[data-key=wang_fin] .badge.bad").wait_for()
    admin.shot("13-staff")
    assert unexpected_errors(admin.errors, 401, 422) == []  # 401 totp_required, 422 weak_password: expected

    page.click("#nav a[data-section=dashboard]")
    page.locator("#login-screen").wait_for(state="visible")
    assert "会话已结束" in page.text_content("#login-notice")
    auditor.log_in("zhao_audit")
    auditor.logged_in_as("zhao_audit")
    assert auditor.nav_sections() == ["dashboard", "tickets", "orders", "audit", "review"]  # finance: tickets, orders
    assert unexpected_errors(auditor.errors, 401) == []
    auditor.close()
    admin.close()


@pytest.mark.parametrize("path", ["/admin/", "/admin/assets/js/app.js", "/admin/assets/console.css"])
def test_the_page_and_its_assets_carry_strict_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_has_no_inline_script_or_style_and_unknown_files_are_json_404s(client):
    html = client.get("/admin/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers either
    assert client.get("/admin").status_code == 308 and client.get("/admin").headers["Location"].endswith("/admin/")
    for missing in ("/admin/assets/nope.js", "/admin/assets/../index.html", "/admin/assets/js/app.py"):
        response = client.get(missing)
        assert response.status_code == 404, missing
        assert response.get_json()["error"]["code"] == "console_asset_not_found"


def test_a_staff_member_idle_past_the_timeout_is_logged_out_and_the_session_ended(browser, live_server, app, dbx):
    """Nothing done for the idle timeout (30 min; the page's clock is fast-forwarded): the page ends the session
    on the server and shows the login with why."""
    create_staff(app, "idle_ida", ["auditor"])
    console = ConsolePage(browser, live_server)
    console.page.clock.install()
    console.open()
    console.log_in("idle_ida")
    console.logged_in_as("idle_ida")
    console.loaded("dashboard")
    assert dbx.count(StaffSession, StaffSession.revoked_at.is_(None)) == 1
    console.page.clock.run_for(app.config["STAFF_SESSION_IDLE_TIMEOUT_S"] * 1000 - 10_000)
    assert console.page.locator("#console").is_visible()  # not yet
    console.page.clock.run_for(20_000)
    console.page.locator("#login-screen").wait_for(state="visible")
    assert "闲置" in console.page.text_content("#login-notice")
    deadline = time.monotonic() + 5
    while dbx.count(StaffSession, StaffSession.revoked_at.is_(None)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dbx.count(StaffSession, StaffSession.revoked_at.is_(None)) == 0  # ended on the server, not only hidden
    assert unexpected_errors(console.errors, 401) == []
    console.close()
