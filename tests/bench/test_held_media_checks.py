"""``bench.hotpaths`` times an upload without WeChat's half of its content check: the in-process sandbox holds
the download and the verdict push (``InProcessSandbox.media_checks_held``) and sends them when told."""

from __future__ import annotations

import time

from bench.load_setup import InProcessSandbox
from devkit.wechat_sandbox.pay import dev_credentials
from tests.wechat_sandbox.conftest import FakeBackend, sandbox_wechat_client, serve

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _start_check(client, openid: str, media_url: str) -> str:
    body = {"media_url": media_url, "media_type": 2, "version": 2, "openid": openid, "scene": 1}
    return client.post(client.api_url("wxa/media_check_async"), data=body)["trace_id"]


def test_held_checks_wait_until_run_and_later_ones_run_at_once(tmp_path):
    dev_credentials(tmp_path / "keys")
    backend = FakeBackend(media={"a.png": PNG})
    with serve(backend) as backend_url, InProcessSandbox(tmp_path / "keys") as sandbox:
        backend.url = backend_url
        sandbox.set_push_url(backend.push_url)
        sandbox.add_user("alice", phone="13900000001")
        app = sandbox.state.settings.default_app
        client = sandbox_wechat_client(sandbox.base_url, app.appid, app.secret)
        openid = client.wxa.code_to_session(sandbox.login_code("alice"))["openid"]

        with sandbox.media_checks_held() as held:
            first = _start_check(client, openid, backend.media_url("a.png"))
            second = _start_check(client, openid, backend.media_url("a.png"))
            time.sleep(0.3)  # unheld, the sandbox (no delay here) would have pushed both by now
            assert backend.pushes == []
            assert [check.trace_id for _state, _app, check in held] == [first, second]

            assert sandbox.run_held(held) == 2  # in this thread: both delivered when it returns
            assert held == []
            assert len(backend.pushes) == 2

        _start_check(client, openid, backend.media_url("a.png"))  # no longer held
        assert len(backend.wait_for_pushes(3)) == 3
        deadline = time.monotonic() + 5  # the sandbox records the delivery just after the push is answered
        while sandbox.media_check_statuses() != {"delivered": 3} and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sandbox.media_check_statuses() == {"delivered": 3}
