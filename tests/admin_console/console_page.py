"""The staff console driven the way a staff member uses it: log in, pick a section, click, type, confirm.

``ConsolePage`` wraps a Playwright page on the live server. The console marks each rendered section with
``.page[data-page=…][data-loaded=true]`` once its API calls have answered, so a step waits for that instead of
sleeping. With ``ADMIN_SCREENSHOTS_DIR`` set, ``shot(name)`` saves a PNG of the page (docs/admin/ is made so).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.browser import new_page
from tests.staff.helpers import DEFAULT_PASSWORD

VIEWPORT = {"width": 1440, "height": 900}


def screenshots_dir() -> Path | None:
    folder = os.environ.get("ADMIN_SCREENSHOTS_DIR")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def browser_base_url(live_server: str) -> str:
    """``http://localhost:<port>``: Chromium treats localhost as a secure context, so it keeps the staff cookie,
    which is ``Secure`` by default, over plain http (no STAFF_COOKIE_SECURE=False needed)."""
    return live_server.replace("127.0.0.1", "localhost")


def unexpected_errors(errors: list[str], *statuses: int) -> list[str]:
    """Page errors, less Chromium's own console line for a response the step expects (e.g. the 401 of the
    session check before login): every uncaught exception and every other console error stays."""
    expected = [f"Failed to load resource: the server responded with a status of {status}" for status in statuses]
    return [error for error in errors if not any(line in error for line in expected)]


class ConsolePage:
    def __init__(self, browser, live_server: str) -> None:
        self.page = new_page(browser, viewport=VIEWPORT, locale="zh-CN")
        self.base = browser_base_url(live_server)

    @property
    def errors(self) -> list[str]:
        return self.page.errors  # type: ignore[attr-defined]

    def open(self) -> None:
        self.page.goto(f"{self.base}/admin/")
        self.page.locator("#login-screen").wait_for(state="visible")

    def log_in(self, username: str, password: str = DEFAULT_PASSWORD) -> None:
        self.page.fill("#login-username", username)
        self.page.fill("#login-password", password)
        self.page.click("#login-submit")

    def logged_in_as(self, username: str) -> None:
        self.page.locator("#console").wait_for(state="visible")
        assert self.page.text_content("#whoami-name") == username

    def nav_sections(self) -> list[str]:
        return self.page.eval_on_selector_all("#nav a", "links => links.map(a => a.dataset.section)")

    def go(self, section: str) -> None:
        self.page.click(f"#nav a[data-section={section}]")
        self.loaded(section)

    def loaded(self, section: str, item: str | None = None):
        """The section (one item of it: an order number, a ticket id…) once the page has drawn it."""
        selector = f".page[data-page={section}][data-loaded=true]"
        selector += f"[data-id='{item}']" if item else ":not([data-id])"
        page = self.page.locator(selector)
        page.wait_for()
        return page

    def dialog_submit(self) -> None:
        self.page.click("#dlg-submit")
        self.page.locator("#dialog").wait_for(state="hidden")

    def shot(self, name: str) -> None:
        folder = screenshots_dir()
        if folder is not None:
            self.page.evaluate("document.querySelectorAll('.toast').forEach(t => t.remove())")  # keep pages clear
            self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.context.close()
