"""Real headless Chromium for browser tests, driven by Playwright (the system's Chromium, not a download).

``chromium_path()`` finds the browser (``CHROMIUM`` env var, then Debian's ``/usr/bin/chromium``, then
``chromium``/``chromium-browser``/``google-chrome`` on PATH). Where none is installed the browser tests are
skipped with the reason, except when ``MIAOHUA_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then they fail,
so CI can never pass without running them.

Fixtures (import them into a package's ``conftest.py``): ``browser`` (one Chromium per test module) and
``page_errors`` helpers via ``new_page(browser)``, which records console errors and uncaught exceptions so
a test can assert the page ran cleanly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without these, Chromium keeps trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        reason = "no Chromium installed (Debian: apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("MIAOHUA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MIAOHUA_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class PageErrors(list):
    """Console errors and uncaught exceptions of one page, as strings."""


def new_page(browser, **context_options):
    """A page in a fresh context (its own cookies), with ``page.errors`` collecting what went wrong."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)
    return page
