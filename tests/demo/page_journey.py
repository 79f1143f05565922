"""The demo page (/demo/) driven like a person would, through Playwright: one method per step.

Used by the browser tests (``test_browser_journey.py``) and by ``browser_tour.py``, which takes the
screenshots of ``docs/demo/``. Every method clicks what a person would click and waits for the step's card
to say it is done; a card in the ``error`` state fails at once with the message the page shows (the API's
code and message), so a failure reads like the page would to a person.

Screenshots are taken only when a folder is given (``DEMO_SCREENSHOTS_DIR`` in the tests), each named by
its fixed number and step, so reruns overwrite the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A phone-sized page (the mini-program's viewport), at the pixel density of the screenshots.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}


class StepFailed(AssertionError):
    pass


@dataclass
class DemoPage:
    page: Any  # playwright.sync_api.Page, from tests.browser.new_page
    base_url: str
    shots_dir: Path | None = None
    shots: list[Path] = field(default_factory=list)

    # --- looking at the page ----------------------------------------------------------------------

    def state(self, step: str) -> str:
        return self.page.get_attribute(f"#step-{step}", "data-state") or ""

    def error_text(self, step: str) -> str:
        box = self.page.locator(f"#step-{step} .error")
        return box.inner_text() if box.is_visible() else ""

    def wait_step(self, step: str, states: tuple[str, ...] = ("done",), timeout_s: float = 30) -> str:
        """Wait until the step's card is in one of ``states``; the card's error message if it failed instead."""
        self.page.wait_for_function(
            "([id, wanted]) => { const s = document.getElementById(`step-${id}`).dataset.state;"
            " return wanted.includes(s) || s === 'error'; }", arg=[step, list(states)], timeout=timeout_s * 1000)
        state = self.state(step)
        if state not in states:
            raise StepFailed(f"step {step!r} is {state!r}: {self.error_text(step)!r}; page errors: {self.page.errors}")
        return state

    def demo_state(self, expression: str) -> Any:
        """A value from the page's state (``window.__demo``), e.g. ``'hd'`` or ``'share.url'``."""
        return self.page.evaluate(f"() => window.__demo.{expression}")

    def shot(self, name: str, step: str | None = None) -> None:
        if self.shots_dir is None:
            return
        self.page.wait_for_timeout(400)  # the page's own smooth scroll to a newly unlocked step, images decoding
        if step:
            self.page.eval_on_selector(f"#step-{step}", "e => e.scrollIntoView({block: 'start', behavior: 'instant'})")
            self.page.wait_for_timeout(100)
        path = self.shots_dir / f"{name}.png"
        self.page.screenshot(path=str(path))
        self.shots.append(path)

    # --- the journey, step by step ------------------------------------------------------------------

    def open(self, shot: bool = True) -> None:
        self.page.goto(f"{self.base_url.rstrip('/')}/demo/")
        self.page.wait_for_selector("body[data-ready='1']")
        if shot:
            self.shot("01-start")

    def log_in(self, shot: bool = True) -> None:
        """A fresh sandbox user logs in with WeChat and binds the phone the sandbox gave them."""
        self.page.click("#btn-login")
        self.wait_step("login")
        if shot:
            self.shot("02-logged-in", "login")
        self.page.click("#btn-phone")
        self.wait_step("phone")
        self.page.wait_for_selector("#purpose-face_processing")

    def consent(self, birth_year: int | None = None, shot: str | None = "03-policy-and-consent") -> None:
        """Accept the policy with the separate face-processing consent; ``birth_year``: a child's age step."""
        self.page.check("#purpose-face_processing")
        if birth_year is not None:
            self.page.check("#age-minor")
            self.page.fill("#birth-year", str(birth_year))
        self.page.check("#policy-read")
        if shot:
            self.shot(shot, "policy")
        self.page.click("#btn-consent")
        self.wait_step("policy")

    def upload_sample(self, shot: bool = True) -> None:
        self.page.click("#btn-sample")
        self.wait_step("upload", timeout_s=60)
        if shot:
            self.shot("04-portrait-uploaded", "upload")

    def generate(self, style: str) -> None:
        self.page.wait_for_selector(f"#style-grid [data-style='{style}']:not([disabled])")
        self.shot("05-styles", "style")
        self.page.click(f"#style-grid [data-style='{style}']")
        self.page.wait_for_function("document.getElementById('step-job').dataset.state !== 'locked'")
        self.shot("06-generating", "job")
        self.wait_step("job", timeout_s=120)
        self.wait_step("preview")
        self.shot("07-watermarked-preview", "preview")

    def pay(self) -> None:
        self.page.wait_for_function("document.getElementById('btn-order').textContent.includes('¥')")
        self.page.click("#btn-order")
        self.page.wait_for_selector("#paysheet:not([hidden])")
        self.shot("08-pay-in-sandbox", "pay")
        self.page.click("#btn-pay-confirm")
        self.wait_step("pay", timeout_s=60)

    def save_hd(self, folder: Path) -> Path:
        """The HD original as the page saves it ("保存到相册"): the file the browser downloads."""
        self.wait_step("hd")
        self.shot("09-hd-original", "hd")
        with self.page.expect_download() as download:
            self.page.click("#hd-download")
        path = folder / (download.value.suggested_filename or "hd-original")
        download.value.save_as(path)
        return path

    def share(self) -> None:
        self.page.click("#btn-share")
        self.wait_step("share")
        self.shot("10-share", "share")

    def my_data(self) -> None:
        self.page.click("#btn-data")
        self.wait_step("data")
        self.shot("11-my-data-deletion-receipt", "data")

    def export(self) -> None:
        self.page.click("#btn-export")
        self.wait_step("export", timeout_s=90)
        self.page.wait_for_selector("#export-download:not([hidden])")
        self.shot("12-export", "export")

    def cancel_account(self, mistype_first: bool = False) -> str | None:
        """Cancel the account; with ``mistype_first``, after a wrong code whose error text is returned."""
        self.page.click("#btn-cancel-code")
        self.page.wait_for_selector("#sms:not([hidden])")
        self.shot("13-cancel-sms-code", "cancel")
        error = self.mistype_cancel_code() if mistype_first else None
        self.page.click("#btn-cancel-confirm")
        self.wait_step("cancel")
        self.shot("14-account-cancelled", "cancel")
        self.page.evaluate("() => { document.getElementById('log-box').open = true; }")
        self.shot("15-api-calls")
        return error

    def mistype_cancel_code(self) -> str:
        """Confirm with a wrong SMS code: the step shows the API's error as a user reads it (zh-CN); the right
        code is put back. Returns the error box's text."""
        right = self.page.input_value("#cancel-code")
        self.page.fill("#cancel-code", "000000" if right != "000000" else "111111")
        self.page.click("#btn-cancel-confirm")
        self.wait_step("cancel", ("error",))
        text = self.page.locator("#step-cancel .error").inner_text()
        self.shot("13a-chinese-error", "cancel")
        self.page.fill("#cancel-code", right)
        return text

    # --- the guardian's consent (a user under 14, policy §9) -----------------------------------------

    def guardian_consents(self) -> None:
        self.wait_step("guardian", ("active",))
        self.shot("16-guardian-under-14", "guardian")
        self.page.click("#btn-guardian-code")
        self.page.wait_for_selector("#guardian-sms:not([hidden])")
        self.page.click("#btn-guardian-consent")
        self.wait_step("guardian")
        self.shot("17-guardian-consented", "guardian")

    def upload_as_the_page_would(self) -> tuple[int, dict]:
        """POST the sample to /api/v1/uploads with the page's own session, bypassing the page's locked step."""
        return tuple(self.page.evaluate("""async () => {
            const sample = await (await fetch(window.__demo.config.sample_photo)).blob();
            const form = new FormData();
            form.append("file", sample, "portrait.png");
            form.append("declaration", "own_face");
            const response = await fetch("/api/v1/uploads", { method: "POST", body: form,
                headers: { Authorization: `Bearer ${window.__demo.token}` } });
            return [response.status, await response.json()];
        }"""))
