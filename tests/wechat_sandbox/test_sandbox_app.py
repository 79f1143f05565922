"""The sandbox as a program: production refusal, settings from the environment, dev page, reset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devkit.wechat_sandbox import SandboxClock, SandboxSettings, create_sandbox_app
from devkit.wechat_sandbox.__main__ import main
from devkit.wechat_sandbox.settings import DEFAULT_APPID, SandboxConfigError

from .conftest import OTHER_APPID

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("variable", "value"), [("MIAOHUA_ENV", "production"), ("FLASK_ENV", "Production")])
def test_refuses_to_exist_in_production(monkeypatch, capsys, variable, value):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    monkeypatch.setenv(variable, value)

    with pytest.raises(RuntimeError, match="refuses to run in production"):
        create_sandbox_app(SandboxSettings())
    assert main(["--port", "0"]) == 2
    assert "refuses to run in production" in capsys.readouterr().err


def test_command_line_refuses_production():
    environment = {**os.environ, "MIAOHUA_ENV": "production"}
    result = subprocess.run(
        [sys.executable, "-m", "devkit.wechat_sandbox", "--port", "0"],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "refuses to run in production" in result.stderr


def test_settings_from_environment():
    settings = SandboxSettings.from_env({
        "WECHAT_SANDBOX_PUSH_URL": "http://127.0.0.1:5000/wechat/push",
        "WECHAT_SANDBOX_UNIONID": "1",
        "WECHAT_SANDBOX_MEDIA_CHECK_DELAY": "0",
        "WECHAT_SANDBOX_CODE_TTL": "60",
        "WECHAT_SANDBOX_PUSH_RETRY_DELAYS": "0.1, 0.2",
        "WECHAT_SANDBOX_USERS": "carol, dave",
        "WECHAT_SANDBOX_EXTRA_APPS": f'[{{"appid": "{OTHER_APPID}", "secret": "s2"}}]',
    })

    assert settings.default_app.appid == DEFAULT_APPID
    assert settings.default_app.push_url == "http://127.0.0.1:5000/wechat/push"
    assert settings.default_app.unionid_enabled is True
    assert (settings.media_check_delay, settings.code_ttl, settings.access_token_ttl) == (0.0, 60, 7200)
    assert settings.push_retry_delays == (0.1, 0.2)
    assert settings.default_users == ("carol", "dave")
    assert settings.app(OTHER_APPID).secret == "s2"
    assert settings.app(OTHER_APPID).original_id == "gh_456789abcdef"


def test_defaults_give_one_development_app():
    settings = SandboxSettings.from_env({})
    app = settings.default_app

    assert [a.appid for a in settings.apps] == ["wx5a1d0b0c0ffee001"]
    assert (app.secret, app.push_token, app.push_url) == ("sandbox-app-secret", "sandbox-push-token", "")
    assert len(app.encoding_aes_key) == 43


@pytest.mark.parametrize(
    "environment",
    [{"WECHAT_SANDBOX_APPID": "wx123"}, {"WECHAT_SANDBOX_ENCODING_AES_KEY": "short"},
     {"WECHAT_SANDBOX_ACCESS_TOKEN_TTL": "soon"}, {"WECHAT_SANDBOX_UNIONID": "maybe"},
     {"WECHAT_SANDBOX_EXTRA_APPS": "{}"}],
)
def test_unusable_settings_are_refused(environment):
    with pytest.raises(SandboxConfigError):
        SandboxSettings.from_env(environment)


def test_injected_clock_and_reset(monkeypatch):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    clock = SandboxClock(start=1_800_000_000)
    test_client = create_sandbox_app(SandboxSettings(), clock=clock).test_client()

    assert test_client.post("/sandbox/api/clock", json={"seconds": 90}).json == {
        "now": 1_800_000_090, "offset": 90}
    assert test_client.post("/sandbox/api/users", json={"name": "eve"}).status_code == 201
    assert test_client.post("/sandbox/api/risky-texts", json={"term": "x"}).status_code == 200

    assert test_client.post("/sandbox/api/reset").json == {"reset": True}

    assert clock.now() == 1_800_000_000
    assert [user["name"] for user in test_client.get("/sandbox/api/users").json["users"]] == ["alice", "bob"]
    assert test_client.get("/sandbox/api/risky-texts").json == {"risky_texts": []}


def test_dev_page_and_api_errors(sandbox):
    page = requests.get(f"{sandbox.url}/sandbox/", timeout=5)
    sandbox.dev("users", {"name": "<script>"}, expected_status=400)

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "alice" in page.text and DEFAULT_APPID in page.text
    assert "src=" not in page.text and "<link" not in page.text  # no external assets
    assert sandbox.dev("login-codes", {"user": "alice", "appid": "wx00000000000000ff"},
                       expected_status=404)["error"].startswith("unknown appid")
    assert sandbox.dev("clock", {"seconds": -5}, expected_status=400)["error"]
    assert sandbox.dev("risky-media", {"suggest": "risky"}, expected_status=400)["error"]
