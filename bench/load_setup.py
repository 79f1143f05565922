"""The load test's cast: the WeChat sandbox (in this process) and the simulated phones, made over HTTP.

Everything a phone does here goes through the served app exactly as the mini-program would: WeChat
login with a code the sandbox minted (``wx.login``), phone binding with a ``getPhoneNumber`` code, the
policy and face-processing consent, the age declaration, an upload (reviewed for real: the sandbox
fetches it from the app and pushes its verdict back) and a generation job, which the real workers run.
Each phone sends its own ``X-Forwarded-For`` address and device id (the app runs with
``TRUSTED_PROXIES=1``, as behind nginx), so the per-IP and per-device login limits apply per phone as
they would in production, not to the one loopback address every request comes from.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server

UPLOAD_BOUNDARY = "----miaohua-bench-7d1c0e9a"
SETUP_CLIENTS = 4  # set-up requests in flight at once
SETUP_STYLE = "id_cn_1inch"  # the cheapest real job: the polled jobs only need to exist and have ended


class SetupFailed(RuntimeError):
    pass


def call(base_url: str, method: str, path: str, *, json_body: dict | None = None, body: bytes | None = None,
         headers: dict[str, str] | None = None, expect: tuple[int, ...] = (200,)) -> dict:
    """One request on a fresh connection; the decoded JSON answer, or ``SetupFailed`` with the body."""
    parts = urlsplit(base_url)
    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    if response.status not in expect:
        raise SetupFailed(f"{method} {path}: {response.status} {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def multipart_upload(jpeg: bytes) -> bytes:
    """The body of ``POST /api/v1/uploads`` as wx.uploadFile sends it (file + declaration)."""
    b = UPLOAD_BOUNDARY.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="declaration"\r\n\r\nown_face\r\n'
            + b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            + b"Content-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n--" + b + b"--\r\n")


def forwarded_for(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def device(device_id: str) -> dict:
    return {"device_id": device_id, "model": "iPhone 15", "os": "iOS 18.1", "app_version": "1.0.0"}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """No access line per request: thousands of them would bury the benchmark's output."""


class InProcessSandbox:
    """The WeChat sandbox served from a thread of this process: the app reaches it over HTTP like WeChat,
    and this process mints codes straight from its state (what a phone's ``wx.login`` would get)."""

    def __init__(self, keys_dir: Path) -> None:
        from devkit.wechat_sandbox import create_sandbox_app
        from devkit.wechat_sandbox.pay.settings import PaySettings
        from devkit.wechat_sandbox.settings import SandboxSettings

        settings = SandboxSettings.from_env({"WECHAT_SANDBOX_MEDIA_CHECK_DELAY": "0"})
        settings = dataclasses.replace(settings, pay=PaySettings(keys_dir=str(keys_dir)))
        self.app = create_sandbox_app(settings)
        self.state = self.app.extensions["wechat_sandbox"]
        self.appid = settings.default_app.appid
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="wechat-sandbox", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> InProcessSandbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)

    @contextmanager
    def media_checks_held(self) -> Iterator[list]:
        """Inside: ``media_check_async`` answers as usual, but WeChat's half (download the photo from the app,
        push the verdict to it) waits in the list this yields; ``run_held`` does it later. So a benchmark can
        time the upload request alone and, apart, the two requests WeChat's check sends the app per upload."""
        from devkit.wechat_sandbox import miniprogram

        held: list = []
        started = miniprogram.start_media_check
        miniprogram.start_media_check = lambda state, app, check: held.append((state, app, check))
        try:
            yield held
        finally:
            miniprogram.start_media_check = started

    @staticmethod
    def run_held(held: list) -> int:
        """Run held media checks one after another in this thread (download + push each); how many ran."""
        from devkit.wechat_sandbox.media_check import run_media_check

        count = 0
        while held:
            run_media_check(*held.pop(0))
            count += 1
        return count

    def login_code(self, user: str) -> str:
        from devkit.wechat_sandbox.records import LOGIN_CODE

        return self.state.mint_code(LOGIN_CODE, user, self.appid).code

    def phone_code(self, user: str) -> str:
        from devkit.wechat_sandbox.records import PHONE_CODE

        return self.state.mint_code(PHONE_CODE, user, self.appid).code

    def add_user(self, name: str, phone: str) -> None:
        self.state.upsert_user(name, phone=phone)

    def set_push_url(self, url: str) -> None:
        self.state.set_push_url(self.appid, url)

    def media_check_statuses(self) -> Counter:
        """Content checks by state: ``delivered`` (the verdict reached the app), ``pending`` (in flight),
        ``failed`` / ``no_push_url`` (lost: the load must have none)."""
        return Counter(check["status"] for check in self.state.list_media_checks())


@dataclass
class PhoneUser:
    """A simulated phone: its token, the id of its (finished) job, its address."""

    name: str
    token: str
    job_id: str
    ip: str


def login(base_url: str, sandbox: InProcessSandbox, name: str, n: int) -> str:
    answer = call(base_url, "POST", "/api/v1/auth/wechat", headers={"X-Forwarded-For": forwarded_for(n)},
                  json_body={"code": sandbox.login_code(name), "device": device(f"bench-device-{name}")})
    return answer["data"]["token"]


def make_phone(base_url: str, sandbox: InProcessSandbox, n: int, jpeg: bytes, tag: str) -> tuple[PhoneUser, str]:
    """Log in, bind the phone, consent, declare adult, upload; returns the phone and its upload id."""
    name = f"bench-{tag}-p{n}"
    sandbox.add_user(name, phone=f"139{n:08d}")
    ip = forwarded_for(n)
    token = login(base_url, sandbox, name, n)
    auth = {"Authorization": f"Bearer {token}", "X-Forwarded-For": ip}
    call(base_url, "POST", "/api/v1/me/phone/wechat", headers=auth, json_body={"code": sandbox.phone_code(name)})
    version = call(base_url, "GET", "/api/v1/policy/current")["data"]["id"]
    call(base_url, "POST", "/api/v1/me/consents", headers=auth, expect=(204,),
         json_body={"policy_version": version, "purposes": ["service", "face_processing"]})
    call(base_url, "POST", "/api/v1/me/age", headers=auth, json_body={"adult_confirmed": True})
    upload = call(base_url, "POST", "/api/v1/uploads", body=multipart_upload(jpeg), expect=(201,),
                  headers={**auth, "Content-Type": f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"})
    return PhoneUser(name, token, "", ip), upload["data"]["id"]


def wait_ready(base_url: str, phone: PhoneUser, upload_id: str, timeout_s: float = 60) -> None:
    auth = {"Authorization": f"Bearer {phone.token}", "X-Forwarded-For": phone.ip}
    deadline = time.monotonic() + timeout_s
    while True:
        status = call(base_url, "GET", f"/api/v1/uploads/{upload_id}", headers=auth)["data"]["status"]
        if status == "ready":
            return
        if status != "pending_review" or time.monotonic() > deadline:
            raise SetupFailed(f"upload {upload_id} of {phone.name} is {status}, not ready")
        time.sleep(0.1)


def make_phones(base_url: str, sandbox: InProcessSandbox, count: int, jpeg: bytes) -> list[PhoneUser]:
    """``count`` phones, each with one generation job queued (``wait_for_jobs`` waits for the workers)."""
    tag = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(SETUP_CLIENTS) as pool:
        made = list(pool.map(lambda n: make_phone(base_url, sandbox, n, jpeg, tag), range(1, count + 1)))
    phones = []
    for phone, upload_id in made:
        wait_ready(base_url, phone, upload_id)
        auth = {"Authorization": f"Bearer {phone.token}", "X-Forwarded-For": phone.ip}
        job = call(base_url, "POST", "/api/v1/jobs", headers=auth, expect=(202,),
                   json_body={"style": SETUP_STYLE, "uploads": [upload_id]})
        phone.job_id = job["data"]["id"]
        phones.append(phone)
    return phones


def wait_for_jobs(base_url: str, phones: list[PhoneUser], timeout_s: float = 600) -> None:
    """Until the workers have run every phone's job to success (they are what the load polls)."""
    deadline = time.monotonic() + timeout_s
    for phone in phones:
        auth = {"Authorization": f"Bearer {phone.token}", "X-Forwarded-For": phone.ip}
        while (status := call(base_url, "GET", f"/api/v1/jobs/{phone.job_id}", headers=auth)["data"]["status"]) \
                in ("queued", "running"):
            if time.monotonic() > deadline:
                raise SetupFailed(f"job {phone.job_id} still {status} after {timeout_s:.0f} s")
            time.sleep(0.2)
        if status != "succeeded":
            raise SetupFailed(f"setup job {phone.job_id} ended {status}")


def make_login_users(base_url: str, sandbox: InProcessSandbox, count: int) -> list[str]:
    """Returning users for the login share of the mix (each logged in once already)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"bench-{tag}-l{n}" for n in range(count)]

    def first_login(n: int) -> None:
        sandbox.add_user(names[n], phone=f"137{n:08d}")
        login(base_url, sandbox, names[n], 100_000 + n)

    with ThreadPoolExecutor(SETUP_CLIENTS) as pool:
        list(pool.map(first_login, range(count)))
    return names
