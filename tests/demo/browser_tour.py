"""Drive the demo page (/demo/) in headless Chromium through the whole journey, one screenshot per step.

Not part of the test suite (pytest collects ``test_*.py`` only): it needs Chromium (Debian: ``apt-get install -y
chromium``) and ``websocket-client`` (not in requirements.txt; e.g. ``python3 -m venv /tmp/cdp &&
/tmp/cdp/bin/pip install websocket-client``). With a ``make run`` stack up::

    /tmp/cdp/bin/python tests/demo/browser_tour.py --base-url http://127.0.0.1:5000 --out docs/demo

It talks to Chromium over the DevTools protocol directly (no Playwright/Selenium), checks at the end that the
HD image the page downloaded decoded at the result's size and that the source photo's deletion receipt is
shown in "my data", and exits non-zero otherwise (or on any page error).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket  # websocket-client

VIEWPORT = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


class Browser:
    def __init__(self, chromium: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="demo-chromium-")
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("chromium did not start (is it installed? apt-get install -y chromium)")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            page = next(t for t in json.loads(response.read()) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.errors: list[str] = []

    def send(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.event(message)

    def event(self, message: dict) -> None:
        method = message.get("method")
        if method == "Runtime.exceptionThrown":
            details = message["params"]["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Runtime.consoleAPICalled" and message["params"]["type"] == "error":
            arguments = message["params"]["args"]
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in arguments))

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait(self, expression: str, what: str, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {what} ({expression}); page errors: {self.errors}")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)


def step_state(step: str) -> str:
    return f"document.getElementById('step-{step}').dataset.state"


def tour(base_url: str, out: Path, style: str, chromium: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    browser = Browser(chromium)
    shots: list[str] = []
    started = time.monotonic()

    def shot(name: str, step: str | None = None) -> None:
        if step:
            browser.js(f"document.getElementById('step-{step}').scrollIntoView({{block: 'start'}}); true")
            time.sleep(0.4)  # smooth scrolling and image decoding
        data = browser.send("Page.captureScreenshot", format="png")["data"]
        path = out / f"{len(shots) + 1:02d}-{name}.png"
        path.write_bytes(base64.b64decode(data))
        shots.append(str(path))
        print(f"{time.monotonic() - started:5.1f}s  {path}")

    def done(step: str, states: str = "done", timeout_s: float = 60) -> None:
        wanted = json.dumps(states.split("|"))
        browser.wait(f"{wanted}.includes({step_state(step)})", f"step {step} {states}", timeout_s)
        error = browser.js(f"document.querySelector('#step-{step} .error').hidden ? '' : "
                           f"document.querySelector('#step-{step} .error').textContent")
        if error and "done" in states.split("|") and browser.js(step_state(step)) == "error":
            raise SystemExit(f"step {step}: {error}")

    try:
        for domain in ("Page", "Runtime"):
            browser.send(f"{domain}.enable")
        browser.send("Emulation.setDeviceMetricsOverride", **VIEWPORT)
        browser.send("Page.navigate", url=f"{base_url.rstrip('/')}/demo/")
        browser.wait("document.body && document.body.dataset.ready === '1'", "the page to load", 30)
        shot("start")
        browser.js("document.getElementById('btn-login').click(); true")
        done("login")
        shot("logged-in", "login")
        browser.js("document.getElementById('btn-phone').click(); true")
        done("phone")
        browser.wait("document.querySelectorAll('#purposes input').length > 0", "the policy's purposes")
        browser.js("document.getElementById('purpose-face_processing').click();"
                   "document.getElementById('policy-read').click(); true")
        shot("policy-and-consent", "policy")
        browser.js("document.getElementById('btn-consent').click(); true")
        done("policy")
        browser.js("document.getElementById('btn-sample').click(); true")
        done("upload")
        shot("portrait-uploaded", "upload")
        browser.wait("document.querySelector('#style-grid button') !== null", "the styles")
        shot("styles", "style")
        browser.js(f"document.querySelector('[data-style={style}]').click(); true")
        browser.wait(f"{step_state('job')} !== 'locked'", "the job step")
        shot("generating", "job")
        done("job", timeout_s=180)
        done("preview")
        shot("watermarked-preview", "preview")
        browser.wait("document.getElementById('btn-order').textContent.includes('¥')", "the price")
        browser.js("document.getElementById('btn-order').click(); true")
        browser.wait("!document.getElementById('paysheet').hidden", "the payment sheet")
        shot("pay-in-sandbox", "pay")
        browser.js("document.getElementById('btn-pay-confirm').click(); true")
        done("pay")
        done("hd")
        shot("hd-original", "hd")
        browser.js("document.getElementById('btn-data').click(); true")
        done("data")
        shot("my-data-deletion-receipt", "data")
        browser.js("document.getElementById('btn-export').click(); true")
        done("export", "done|skipped|error", 150)
        shot("export", "export")
        browser.js("document.getElementById('btn-cancel-code').click(); true")
        browser.wait("!document.getElementById('sms').hidden", "the SMS code")
        shot("cancel-sms-code", "cancel")
        browser.js("document.getElementById('btn-cancel-confirm').click(); true")
        done("cancel")
        shot("account-cancelled", "cancel")
        browser.js("document.getElementById('log-box').open = true; true")
        shot("api-calls")
        state = browser.js("JSON.stringify({hd: window.__demo.hd, result: window.__demo.result, "
                           "receipt: window.__demo.sourceReceipt, upload: window.__demo.upload.id, "
                           "export: window.__demo.export && window.__demo.export.state, "
                           "exportStep: document.getElementById('step-export').dataset.state, "
                           "cancelled: window.__demo.cancelled})")
    finally:
        browser.close()
    summary = json.loads(state)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    problems = []
    if not (summary["hd"] and summary["hd"]["matches"]):
        problems.append("the HD image did not decode at the result's size")
    if not (summary["receipt"] and summary["receipt"]["subject_id"] == summary["upload"]):
        problems.append("no deletion receipt for the source photo in 'my data'")
    if not summary["cancelled"]:
        problems.append("the account was not cancelled")
    if browser.errors:
        problems.append(f"page errors: {browser.errors}")
    print(f"{len(shots)} screenshots in {out} after {time.monotonic() - started:.1f}s"
          + (f"; PROBLEMS: {'; '.join(problems)}" if problems else "; all checks passed"))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--out", type=Path, default=Path("docs/demo"))
    parser.add_argument("--style", default="anime")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    arguments = parser.parse_args()
    return tour(arguments.base_url, arguments.out, arguments.style, arguments.chromium)


if __name__ == "__main__":
    sys.exit(main())
