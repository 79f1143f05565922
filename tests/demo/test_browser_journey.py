"""The demo page in headless Chromium on a fresh `make run`: the whole journey, and a child's guardian consent.

What a person would do in the page, click by click (``page_journey.DemoPage``), against the real stack:
WeChat login through the sandbox, policy and consent, upload, generation, watermarked preview, payment in the
sandbox, the HD original saved by the browser (checked here with Pillow), share, "my data" with the source
photo's deletion receipt and the share in the operation log, export, cancellation. With
``DEMO_SCREENSHOTS_DIR`` set, each step is also photographed (``browser_tour.py`` writes docs/demo/ that way).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import new_page
from tests.demo.page_journey import PHONE, DemoPage
from workers.generators.styles import get_style

pytestmark = pytest.mark.slow
STYLE = "id_cn_1inch"  # an exact pixel size to check the HD original against


def shots_dir() -> Path | None:
    folder = os.environ.get("DEMO_SCREENSHOTS_DIR")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def unexpected(errors: list[str], *statuses: int) -> list[str]:
    """Page errors, less Chromium's own console line for a response the journey expects (the 401 after cancelling)."""
    expected = [f"Failed to load resource: the server responded with a status of {status}" for status in statuses]
    return [error for error in errors if not any(line in error for line in expected)]


def test_the_whole_journey_in_the_page(browser, module_stack, tmp_path):
    started = time.monotonic()
    page = new_page(browser, **PHONE)
    demo = DemoPage(page, module_stack.web, shots_dir())
    demo.open()
    demo.log_in()
    demo.consent()
    assert demo.state("guardian") == "skipped"  # 14 or older: no guardian needed
    demo.upload_sample()
    upload_id = demo.demo_state("upload.id")
    demo.generate(STYLE)
    result = demo.demo_state("result")
    assert (result["width"], result["height"]) == tuple(get_style(STYLE).params["size"])
    assert page.locator("#preview-img").is_visible()
    demo.pay()
    assert demo.demo_state("order.status") == "fulfilled"

    # the HD original the browser saved: decodes, and has the ID photo's exact pixel size
    saved = demo.save_hd(tmp_path)
    with Image.open(saved) as image:
        image.load()
        assert image.size == tuple(get_style(STYLE).params["size"]) == (295, 413)
    assert demo.demo_state("hd.matches") is True

    # share: a link to the watermarked preview, which works without logging in
    demo.share()
    share = demo.demo_state("share")
    assert share["result_id"] == result["id"]
    assert dt.datetime.fromisoformat(share["expires_at"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert page.get_attribute("#share-link", "href").endswith(share["token"])
    status, shared = fetch(share["url"])
    assert status == 200
    assert b"http://www.tc260.org.cn/ns/AIGC/1.0/" in Image.open(io.BytesIO(shared)).info.get("xmp", b"")  # labelled
    assert shared != saved.read_bytes()  # never the HD original

    # my data: the source photo's deletion receipt, and the share in the operation log
    demo.my_data()
    receipt = demo.demo_state("sourceReceipt")
    assert receipt["subject_id"] == upload_id
    assert (receipt["data_kind"], receipt["reason"]) == ("portrait_upload", "job_succeeded")
    assert upload_id in page.inner_text("#receipt-callout")
    assert upload_id in page.inner_text("#receipts li.source")
    shared_lines = page.locator("#operations li.shared").all_inner_texts()
    assert any(result["id"] in line for line in shared_lines), shared_lines
    assert {o["action"] for o in demo.demo_state("operations")} >= {"generate", "download_preview",
                                                                    "download_original", "share"}

    demo.export()
    assert demo.demo_state("export.state") == "ready"
    # Chinese first: "my data" in Chinese, and a mistyped cancellation code explained in Chinese
    assert "个人资料" in page.inner_text("#data-table") and "生成完成后立即删除" in page.inner_text("#receipt-callout")
    mistyped = demo.cancel_account(mistype_first=True)
    assert "sms_code_invalid" in mistyped and "验证码错误或已被使用，请重新获取。" in mistyped, mistyped
    assert demo.demo_state("cancelled") is True
    assert "401" in page.inner_text("#cancel-facts")  # the old token no longer works
    status, body = fetch(share["url"])  # the account's results are gone, and their share links with them
    assert status == 404 and json.loads(body)["error"]["code"] == "shared_result_deleted"

    assert unexpected(page.errors, 400, 401) == []  # 400: the mistyped cancellation code
    elapsed = time.monotonic() - started
    assert elapsed < 90, f"the journey took {elapsed:.0f}s"


def test_a_child_uploads_only_after_a_guardian_consents(browser, module_stack):
    page = new_page(browser, **PHONE)
    demo = DemoPage(page, module_stack.web, shots_dir())
    demo.open(shot=False)
    demo.log_in(shot=False)
    demo.consent(birth_year=dt.date.today().year - 10, shot=None)
    assert demo.demo_state("minor") is True

    # before the guardian consents: the page keeps upload locked, and the API refuses the page's session
    assert demo.state("upload") == "locked"
    assert not page.locator("#btn-sample").is_visible()
    status, body = demo.upload_as_the_page_would()
    assert status == 403
    assert body["error"]["code"] == "guardian_consent_required"

    demo.guardian_consents()
    guardian = demo.demo_state("guardian")
    assert guardian["purposes"] == ["face_processing"]
    assert guardian["phone_masked"] in page.inner_text("#guardian-facts")
    assert demo.state("upload") == "active"
    demo.upload_sample(shot=False)  # ... and now the upload goes through
    assert demo.demo_state("upload.status") == "ready"
    assert unexpected(page.errors, 403) == []
