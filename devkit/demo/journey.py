"""The mini-program's journey over HTTP, step by step, against a running stack (``make run``).

It does what the demo page does, without a browser: a sandbox test user logs in with WeChat, binds a
phone, accepts the policy (with the separate face-processing consent) and declares their age, uploads a
portrait, generates a style, watches the queue, saves the watermarked preview, pays in the sandbox,
saves the HD original, shares the result (a link to its watermarked preview, opened as a friend would),
reads "my data" (the source photo's deletion receipt, the share in the operation log), asks for an export
(when the server offers one) and cancels the account. Only the public API and the sandbox's developer API
are used (through :mod:`.client`): nothing here touches the database.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import API, WEB, ApiCallFailed, DemoError, StackClient, StackNotRunning, image_size

__all__ = ["ApiCallFailed", "DemoError", "Journey", "JourneyOptions", "JourneyReport", "StackNotRunning"]

FINISHED_JOB = {"succeeded", "failed", "cancelled"}
PAID_ORDER = {"fulfilled"}
ONE_PHOTO_KINDS = ("photo", "id_photo")  # free to generate from one portrait (avatars need 3+, videos a credit)


@dataclass
class JourneyOptions:
    out_dir: Path
    photo: Path
    base_url: str = "http://127.0.0.1:5000"
    sandbox_url: str = "http://127.0.0.1:5100"
    style: str = "anime"
    user: str | None = None  # a sandbox test user; None: a fresh one with a fresh phone number
    cancel: bool = True
    timeout_s: float = 180.0
    poll_s: float = 0.5


@dataclass
class JourneyReport:
    user: str = ""
    phone: str = ""
    upload_id: str = ""
    job_id: str = ""
    style: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    preview_path: str = ""
    preview_size: tuple[int, int] | None = None
    hd_path: str = ""
    hd_size: tuple[int, int] | None = None
    order_no: str = ""
    amount_fen: int = 0
    share_url: str = ""
    shared_path: str = ""
    holdings: list[dict[str, Any]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    source_receipt: dict[str, Any] | None = None
    export: dict[str, Any] | None = None
    cancelled: bool = False
    seconds: float = 0.0
    completed: bool = False
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


class Journey(StackClient):
    """One run of the journey; ``echo`` receives each line to print."""

    STEPS = ("stack", "test user", "login", "phone", "policy", "upload", "style", "generation", "preview",
             "payment", "hd download", "share", "my data", "export", "cancellation")

    def __init__(self, options: JourneyOptions, echo: Callable[[str], None] = print) -> None:
        super().__init__(options.base_url, options.sandbox_url, options.out_dir, options.poll_s, options.timeout_s)
        self.options = options
        self.echo = echo
        self.styles: dict[str, dict] = {}
        self.report = JourneyReport(style=options.style)
        self.step_no = 0

    # --- output -----------------------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.step_no += 1
        name = self.STEPS[self.step_no - 1] if self.step_no <= len(self.STEPS) else ""
        self.echo(f"[{self.step_no:2d}/{len(self.STEPS)}] {name:<12} {text}")

    def detail(self, text: str) -> None:
        self.echo(f"{'':21}{text}")

    # --- the journey --------------------------------------------------------------------------------

    def run(self) -> JourneyReport:
        """The whole journey; ``journey.json`` in the output folder records how far it got, even on failure."""
        started = time.monotonic()
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.options.photo.is_file():
                raise DemoError(f"no photo at {self.options.photo}")
            self.check_stack()
            self.pick_user()
            needs_phone = self.login()
            self.bind_phone(needs_phone)
            self.accept_policy()
            self.upload()
            job = self.start_job()
            result = self.follow_job(job)
            self.preview(result)
            self.pay(result)
            self.download_hd(result)
            self.share(result)
            self.my_data()
            self.export()
            self.cancel()
            self.report.completed = True
        except DemoError as exc:
            self.report.error = str(exc)
            raise
        finally:
            self.report.seconds = round(time.monotonic() - started, 1)
            (self.options.out_dir / "journey.json").write_text(
                json.dumps(self.report.as_json(), indent=2, ensure_ascii=False, default=str) + "\n")
        self.summary()
        return self.report

    def check_stack(self) -> None:
        ready = self._send("GET", f"{self.base}/readyz", WEB)
        if ready.status_code != 200:
            raise StackNotRunning(f"{self.base}/readyz answered {ready.status_code}: {ready.text[:200]}")
        apps = self.dev("GET", "apps")["apps"]
        self.styles = {style["id"]: style for style in self.api("GET", "/styles", auth=False)["styles"]}
        style = self.styles.get(self.options.style)
        if style is None:
            raise DemoError(f"no style {self.options.style!r}; the catalogue has: {', '.join(self.styles)}")
        if style["kind"] not in ONE_PHOTO_KINDS or style["min_photos"] > 1:
            one_photo = ", ".join(s["id"] for s in self.styles.values() if s["kind"] in ONE_PHOTO_KINDS)
            raise DemoError(f"style {style['id']!r} ({style['kind']}, {style['min_photos']}+ photos) is not part of "
                            f"this demo; choose one of: {one_photo}")
        self.step(f"web app {self.base} ready; WeChat sandbox {self.sandbox}/sandbox/ ready "
                  f"(appid {apps[0]['appid'] if apps else '?'})")

    def pick_user(self) -> None:
        users = {user["name"]: user for user in self.dev("GET", "users")["users"]}
        name = self.options.user
        if name and name in users and users[name].get("phone"):
            user = users[name]
            self.step(f"sandbox test user {name!r} (phone {user['phone']})")
        else:
            name = name or f"demo-{secrets.token_hex(3)}"
            phone = "139" + "".join(secrets.choice("0123456789") for _ in range(8))
            user = self.dev("POST", "users", {"name": name, "phone": phone})
            self.step(f"new sandbox test user {name!r} with phone {user['phone']}")
        self.report.user, self.report.phone = name, user["phone"]

    def login(self) -> bool:
        code = self.dev("POST", "login-codes", {"user": self.report.user})
        login = self.api("POST", "/auth/wechat", json_body={"code": code["code"]}, auth=False)
        self.token = login["token"]
        self.step(f"wx.login() code from the sandbox → POST {API}/auth/wechat: "
                  f"{'new' if login['new_user'] else 'returning'} user {login['user']['id']}, "
                  f"needs phone: {login['needs_phone']}")
        return bool(login["needs_phone"])

    def bind_phone(self, needs_phone: bool) -> None:
        if not needs_phone:
            self.step("phone already bound")
            return
        code = self.dev("POST", "phone-codes", {"user": self.report.user})
        bound = self.api("POST", "/me/phone/wechat", json_body={"code": code["code"]})
        if bound.get("token"):
            self.token = bound["token"]  # merged into the account that already held this phone
        self.step(f"getPhoneNumber code → POST {API}/me/phone/wechat: bound {bound['user']['phone_masked']}"
                  f"{' (merged into the existing account)' if bound['merged'] else ''}")

    def accept_policy(self) -> None:
        policy = self.api("GET", "/policy/current", auth=False)
        purposes = ["service", "face_processing"]
        self.api("POST", "/me/consents", json_body={"policy_version": policy["id"], "purposes": purposes})
        age = self.api("POST", "/me/age", json_body={"adult_confirmed": True})
        self.step(f"read {policy['title']!r} version {policy['id']} ({self.base}/privacy); consented to "
                  f"{' + '.join(purposes)} (face processing separately); age: 14 or older (minor: {age['minor']})")

    def upload(self) -> None:
        photo = self.options.photo
        with photo.open("rb") as handle:
            upload = self.api("POST", "/uploads", files={"file": (photo.name, handle)},
                              data={"declaration": "own_face"})
        self.report.upload_id = upload["id"]
        self.step(f"POST {API}/uploads {photo.name}: upload {upload['id']} {upload['width']}x{upload['height']}, "
                  f"{upload['status']}")
        upload = self.wait("the content check", lambda: self.api("GET", f"/uploads/{self.report.upload_id}"),
                           lambda u: u["status"] != "pending_review")
        if upload["status"] != "ready":
            raise DemoError(f"the photo was {upload['status']}: {upload.get('rejection_reason')}")
        self.detail(f"content check passed: {upload['status']}")

    def start_job(self) -> dict:
        styles = self.styles
        style = styles[self.options.style]
        job = self.api("POST", "/jobs", json_body={"style": style["id"], "uploads": [self.report.upload_id]})
        self.report.job_id = job["id"]
        self.step(f"{len(styles)} styles; chose {style['id']} ({style['name']} / {style['name_en']}) → job {job['id']}")
        return job

    def follow_job(self, job: dict) -> dict:
        def show(state: tuple) -> None:
            status, progress, position, wait = state
            queue = f", queue position {position}" if position is not None else ""
            eta = f", about {wait}s left" if wait is not None else ""
            self.detail(f"{status} {progress:.0%}{queue}{eta}")

        latest = {"job": job}

        def probe() -> tuple:
            current = latest["job"] = self.api("GET", f"/jobs/{job['id']}")
            return (current["status"], current["progress"], current["queue_position"], current["estimated_wait_s"])

        self.step(f"watching GET {API}/jobs/{job['id']}")
        self.wait("the generation job", probe, lambda state: state[0] in FINISHED_JOB, on_change=show)
        finished = latest["job"]
        if finished["status"] != "succeeded":
            raise DemoError(f"the job {finished['status']}: {finished['error_code']} {finished['error_message']}")
        result = finished["results"][0]
        self.report.result = result
        self.detail(f"result {result['id']}: {result['kind']} {result['width']}x{result['height']}; source photos "
                    f"deleted at {finished['sources_deleted_at']}")
        return result

    def preview(self, result: dict) -> None:
        links = self.api("GET", f"/results/{result['id']}/links")
        if not links.get("preview_url"):
            self.step("no preview for this result")
            return
        path = self.save("preview", self.media(links["preview_url"]))
        self.report.preview_path = str(path)
        if path.suffix != ".mp4":
            self.report.preview_size = image_size(path.read_bytes())
        size = "x".join(map(str, self.report.preview_size)) if self.report.preview_size else "video"
        self.step(f"watermarked preview (free) {size} → {path}")

    def pay(self, result: dict) -> None:
        try:
            created = self.api("POST", "/orders", json_body={"product": "hd_result", "subject": result["id"]})
        except ApiCallFailed as exc:
            if exc.code == "payment_unavailable":
                raise DemoError(f"{exc}\n  The web app cannot reach WeChat Pay: with `make run`, its gateway "
                                f"must be the sandbox: WECHAT_PAY_BASE_URL={self.sandbox}") from exc
            raise
        order, payment = created["order"], created["payment"]
        self.report.order_no, self.report.amount_fen = order["order_no"], order["amount_fen"]
        self.step(f"POST {API}/orders hd_result: order {order['order_no']} {order['item']} "
                  f"¥{order['amount_fen'] / 100:.2f}, {payment['package']}")
        paid = self.dev("POST", "pay/pay", {"user": self.report.user, "request_payment": payment})
        self.detail(f"wx.requestPayment confirmed in the sandbox: {paid['transaction']['trade_state']} "
                    f"(transaction {paid['transaction'].get('transaction_id')})")
        polls = {"count": 0}

        def probe() -> str:
            polls["count"] += 1
            if polls["count"] % 10 == 0:  # the notification is late: ask WeChat Pay, as the client would
                return self.api("POST", f"/orders/{order['order_no']}/sync")["status"]
            return self.api("GET", f"/orders/{order['order_no']}")["status"]

        self.wait("the payment notification", probe, lambda status: status in PAID_ORDER,
                  on_change=lambda status: self.detail(f"order {status}"), timeout_s=60)

    def download_hd(self, result: dict) -> None:
        links = self.api("GET", f"/results/{result['id']}/links")
        response = self.media(links["original_url"])
        path = self.save("hd", response)
        self.report.hd_path = str(path)
        if result["kind"] == "image":
            size = image_size(response.content)
            self.report.hd_size = size
            expected = (result["width"], result["height"])
            if size != expected:
                raise DemoError(f"the HD image is {size[0]}x{size[1]}, the result says {expected[0]}x{expected[1]}")
            self.step(f"HD original {size[0]}x{size[1]} ({len(response.content)} bytes, decodes) → {path}")
        else:
            self.step(f"HD original ({len(response.content)} bytes) → {path}")

    def share(self, result: dict) -> None:
        shared = self.api("POST", f"/results/{result['id']}/share")
        self.report.share_url = shared["url"]
        self.step(f"POST {API}/results/{result['id']}/share: a link until {shared['expires_at']}")
        friend = self.media(shared["url"])  # opened as a friend would: media() sends no token
        path = self.save("shared", friend)
        self.report.shared_path = str(path)
        width, height = image_size(friend.content)
        self.detail(f"what a friend sees: the watermarked preview {width}x{height}, never the HD original → {path}")

    def my_data(self) -> None:
        data = self.api("GET", "/me/data")
        self.report.holdings = data["categories"]
        held = ", ".join(f"{c['name']} {c['count']}" for c in data["categories"] if c["count"])
        self.step(f"GET {API}/me/data: {held}")
        receipts = self.api("GET", "/me/deletion-receipts")["receipts"]
        for receipt in receipts:
            self.detail(f"deletion receipt: {receipt['data_kind']} {receipt['subject_id']} deleted "
                        f"{receipt['deleted_at']} ({receipt['reason']})")
        mine = [r for r in receipts if r["subject_id"] == self.report.upload_id]
        if not mine:
            raise DemoError(f"no deletion receipt for the source photo {self.report.upload_id} in "
                            f"GET {API}/me/deletion-receipts")
        self.report.source_receipt = mine[0]
        self.report.operations = self.api("GET", "/me/operations")["operations"]
        for operation in self.report.operations:
            self.detail(f"operation log: {operation['at']} {operation['action']} {operation['subject_type']} "
                        f"{operation['subject_id']}")
        if self.report.share_url and not any(o["action"] == "share" and o["subject_id"] == self.report.result["id"]
                                             for o in self.report.operations):
            raise DemoError(f"the share is missing from GET {API}/me/operations")

    def export(self) -> None:
        try:
            export = self.api("POST", "/me/exports")
        except ApiCallFailed as exc:
            if exc.status in (404, 405):
                self.step("this server offers no data export yet (POST /me/exports: 404); skipped")
            else:
                self.step(f"export not available now: {exc.status} {exc.code}: {exc.api_message}; skipped")
            self.report.export = {"available": False, "status": exc.status, "code": exc.code}
            return
        self.step(f"POST {API}/me/exports: export {export['id']} {export['state']}")
        try:
            export = self.wait("the export", lambda: self.api("GET", f"/me/exports/{export['id']}"),
                               lambda e: e["state"] in ("ready", "failed", "expired"),
                               on_change=lambda e: self.detail(f"export {e['state']}"), timeout_s=90)
        except DemoError as exc:
            self.detail(f"{exc}; going on without it")
            self.report.export = {"available": True, "id": export["id"], "state": "timeout"}
            return
        self.report.export = {"available": True, "id": export["id"], "state": export["state"]}
        if export["state"] == "ready" and export.get("download_url"):
            path = self.save("export", self.media(export["download_url"]))
            self.report.export["path"] = str(path)
            self.detail(f"archive ({export.get('size_bytes')} bytes) → {path}")
        elif export["state"] == "failed":
            self.detail(f"export failed: {export.get('failure_reason')}")

    def cancel(self) -> None:
        if not self.options.cancel:
            self.step("account kept (--keep-account)")
            return
        self.api("POST", "/me/cancellation/code")
        messages = self.api("GET", f"/dev/sms/{self.report.phone}", auth=False)["messages"]
        if not messages:
            raise DemoError(f"no SMS reached {self.report.phone} (is SMS_PROVIDER=sandbox?)")
        code = messages[-1]["code"]
        self.step(f"POST {API}/me/cancellation/code; SMS on the phone: {messages[-1]['text']}")
        self.api("POST", "/me/cancellation", json_body={"code": code})
        try:
            self.api("GET", "/me")
            raise DemoError("the token still works after cancellation")
        except ApiCallFailed as exc:
            if exc.status != 401:
                raise
        self.report.cancelled = True
        self.detail(f"POST {API}/me/cancellation: account cancelled; the old token now gets 401")

    def summary(self) -> None:
        report = self.report
        receipt = report.source_receipt or {}
        self.echo("")
        self.echo(f"Done in {report.seconds:.1f}s. Files in {self.options.out_dir}:")
        self.echo(f"  preview  {report.preview_path}")
        self.echo(f"  HD       {report.hd_path}" + (f"  ({report.hd_size[0]}x{report.hd_size[1]})"
                                                  if report.hd_size else ""))
        self.echo(f"  shared   {report.shared_path}  ({report.share_url})")
        self.echo(f"  summary  {self.options.out_dir / 'journey.json'}")
        self.echo("Deletion receipt of the source photo:")
        self.echo(f"  {receipt.get('data_kind')} {receipt.get('subject_id')} deleted at {receipt.get('deleted_at')} "
                  f"(reason: {receipt.get('reason')})")
