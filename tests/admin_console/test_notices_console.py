"""The notices section in headless Chromium: a privacy officer writes an incident notice for the users who had
uploads in a window (typed in Beijing time), sends it after confirming, and the user finds it in the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.core.chinatime import BEIJING
from app.notices.models import Notice
from tests.admin_console.console_page import ConsolePage, unexpected_errors
from tests.generation.conftest import upload_ids
from tests.privacy.conftest import run_queue
from tests.staff.helpers import create_staff


def test_a_privacy_officer_writes_and_sends_an_incident_notice(browser, live_server, app, uploader, sample_jpeg,
                                                                dbx):
    upload_ids(uploader, sample_jpeg)  # the user had an upload stored now: inside the window below
    create_staff(app, "wang_dpo", ["privacy_officer"])
    console = ConsolePage(browser, live_server)
    page = console.page
    console.open()
    console.log_in("wang_dpo")
    console.logged_in_as("wang_dpo")
    assert "notices" in console.nav_sections()
    console.go("notices")
    assert "还没有通知" in page.text_content("#notices-list")

    now = datetime.now(BEIJING).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=2), now + timedelta(hours=2)
    page.click("#notice-new")
    page.locator("#dialog").wait_for(state="visible")
    page.select_option("#dlg-kind", "incident")
    page.fill("#dlg-title", "照片存储安全事件通知")
    page.fill("#dlg-body", "我们发现一台存储服务器曾短暂对外开放。您的照片可能受影响，我们已关闭访问并通知监管部门。")
    page.select_option("#dlg-audience", "data_class")
    page.select_option("#dlg-data_class", "uploads")
    page.fill("#dlg-window_start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#dlg-window_end", end.strftime("%Y-%m-%dT%H:%M"))
    console.dialog_submit()
    console.loaded("notices")
    row = page.locator("#notices-list tbody tr")
    row.locator("[data-status=draft]").wait_for()
    notice = dbx.one(select(Notice))
    assert notice.window_start == start.astimezone(UTC) and notice.window_end == end.astimezone(UTC)  # Beijing time
    assert uploader.get("/api/v1/me/notices").get_json()["data"]["notices"] == []
    console.shot("14-notices-draft")

    page.click(f"#notices-list tr[data-key='{notice.public_id}'] [data-action=send]")
    page.locator("#dialog").wait_for(state="visible")
    assert "照片存储安全事件通知" in page.text_content("#dialog")
    console.dialog_submit()
    page.locator(f"#notices-list tr[data-key='{notice.public_id}'] [data-status=sending]").wait_for()
    run_queue(app, "default")  # the worker sends it
    console.go("dashboard")
    console.go("notices")
    sent = page.locator(f"#notices-list tr[data-key='{notice.public_id}']")
    sent.locator("[data-status=sent]").wait_for()
    assert "1/1" in sent.text_content() and sent.locator("[data-action=send]").count() == 0
    console.shot("15-notices-sent")

    inbox = uploader.get("/api/v1/me/notices").get_json()["data"]
    assert inbox["unread"] == 1 and inbox["notices"][0]["title"] == "照片存储安全事件通知"
    assert unexpected_errors(console.errors, 401) == []
    console.close()
