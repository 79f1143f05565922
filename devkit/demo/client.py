"""The HTTP side of the command-line journey: the backend's API, the sandbox's developer API, signed media.

Errors are for a person: :class:`StackNotRunning` when nothing answers (start ``make run``), :class:`ApiCallFailed`
with the API's stable ``code`` and message, :class:`DemoError` for anything else that stops the journey.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

API = "/api/v1"
WEB, SANDBOX = "web app", "WeChat sandbox"
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "video/mp4": ".mp4",
              "application/zip": ".zip"}


class DemoError(Exception):
    """The journey cannot go on; the message says why, for a person."""


class StackNotRunning(DemoError):
    pass


class ApiCallFailed(DemoError):
    def __init__(self, method: str, path: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method} {path} answered {status} {code}: {message}")
        self.status, self.code, self.api_message = status, code, message


def image_size(data: bytes) -> tuple[int, int]:
    """Decode the image fully (not just its header) and return its size; DemoError if it does not decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DemoError(f"the downloaded image does not decode: {exc}") from exc


class StackClient:
    """One user's session with a running stack: ``token`` is sent to the API once logged in."""

    def __init__(self, base_url: str, sandbox_url: str, out_dir: Path, poll_s: float, timeout_s: float) -> None:
        self.base = base_url.rstrip("/")
        self.sandbox = sandbox_url.rstrip("/")
        self.out_dir = out_dir
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.http = requests.Session()
        self.token: str | None = None

    # --- HTTP -------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", (3, 30))
        try:
            return self.http.request(method, url, **kwargs)
        except requests.ConnectionError as exc:
            base = self.sandbox if what == SANDBOX else self.base
            raise StackNotRunning(
                f"cannot reach the {what} at {base} ({type(exc).__name__}). Is the stack running? "
                f"Start it with `make run` (or pass --base-url/--sandbox-url).") from exc
        except requests.Timeout as exc:
            raise DemoError(f"the {what} did not answer {method} {url} in time") from exc

    def api(self, method: str, path: str, *, json_body: Any = None, auth: bool = True, **kwargs: Any) -> Any:
        """Call the backend's API; answer ``data`` or raise ApiCallFailed with the API's code and message."""
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        response = self._send(method, f"{self.base}{API}{path}", WEB, json=json_body, headers=headers, **kwargs)
        if response.status_code == 204:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            error = (payload or {}).get("error") if isinstance(payload, dict) else None
            if isinstance(error, dict):
                raise ApiCallFailed(method, API + path, response.status_code, error.get("code", "?"),
                                    error.get("message", ""))
            raise ApiCallFailed(method, API + path, response.status_code, "http_error", response.text[:200])
        if not isinstance(payload, dict) or "data" not in payload:
            raise DemoError(f"{method} {API}{path} did not answer JSON {{data: …}}: {response.text[:200]}")
        return payload["data"]

    def dev(self, method: str, path: str, body: dict | None = None) -> Any:
        """The sandbox's developer API: what a phone, WeChat or the payer would do."""
        response = self._send(method, f"{self.sandbox}/sandbox/api/{path}", SANDBOX, json=body)
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text[:200]}
        if response.status_code >= 400:
            raise DemoError(f"sandbox {method} /sandbox/api/{path} answered {response.status_code}: "
                            f"{payload.get('error') if isinstance(payload, dict) else payload}")
        return payload

    def media(self, url: str) -> requests.Response:
        """A signed media link, fetched from the web app we talk to (the link's path carries the signature)."""
        parts = urlsplit(url)
        local = f"{self.base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        response = self._send("GET", local, WEB)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiCallFailed("GET", parts.path, response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise DemoError(f"GET {parts.path} answered {response.status_code}") from None
        return response

    def wait(self, what: str, probe: Callable[[], Any], done: Callable[[Any], bool],
             on_change: Callable[[Any], None] | None = None, timeout_s: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        last = None
        while True:
            value = probe()
            if on_change is not None and value != last:
                on_change(value)
            last = value
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"gave up waiting for {what} after {timeout_s or self.timeout_s:.0f}s")
            time.sleep(self.poll_s)

    def save(self, name: str, response: requests.Response) -> Path:
        mime = response.headers.get("Content-Type", "").split(";")[0].strip()
        path = self.out_dir / f"{name}{EXTENSIONS.get(mime, '.bin')}"
        path.write_bytes(response.content)
        return path
