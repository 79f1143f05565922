"""The demo page (/demo/), its config and its same-origin proxy to the WeChat sandbox's developer API."""

import io
import re
from pathlib import Path

from PIL import Image

from tests.conftest import free_port, make_app

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "static" / "demo"


def test_page_and_every_asset_it_references_are_served_and_local(client):
    assert client.get("/demo").status_code == 308  # relative asset paths need the trailing slash
    page = client.get("/demo/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<script type="module" src="js/app.js">' in html
    assert 'href="/privacy"' in html
    # every asset the page loads, following the ES modules' imports from app.js
    pending = set(re.findall(r'(?:src|href)="((?:js|css)/[^"]+)"', html))
    referenced: set[str] = set()
    while pending:
        asset = pending.pop()
        referenced.add(asset)
        response = client.get(f"/demo/{asset}")
        assert response.status_code == 200, asset
        assert response.mimetype in ("text/javascript", "text/css"), asset
        if asset.endswith(".js"):
            imported = re.findall(r'from\s+"\./([\w-]+\.js)"', response.get_data(as_text=True))
            pending |= {f"js/{name}" for name in imported} - referenced
    assert {"js/app.js", "css/demo.css", "js/api.js", "js/ui.js", "js/state.js", "js/creation.js",
            "js/rights.js"} <= referenced
    assert referenced >= {f"js/{path.name}" for path in (DEMO / "js").glob("*.js")}  # no module left unused
    # nothing outside this machine: no CDN, no remote font, no remote script
    for path in DEMO.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            assert not re.search(r"(?:src|href|url\(|import[^;]*from)\s*=?\s*[\"']?https?://", path.read_text()), path
    sample = client.get("/demo/samples/portrait-astronaut.png")
    assert sample.status_code == 200
    assert Image.open(io.BytesIO(sample.data)).size[0] >= 256
    assert client.get("/demo/no-such-file.js").status_code == 404
    assert client.get("/demo/../app/config.py").status_code == 404


def test_config_names_the_sandbox_and_the_proxy(client, app):
    config = client.get("/demo/config.json").get_json()
    assert config["sandbox"] is True
    assert config["sandbox_url"] == app.config["WECHAT_API_BASE_URL"].rstrip("/") + "/sandbox/"
    assert config["sandbox_proxy"] == "/demo/sandbox/"
    assert config["api_base"] == "/api/v1"
    assert config["sms_outbox"] is True
    assert config["sample_photo"] == "/demo/samples/portrait-astronaut.png"
    assert config["pay_sandbox"] is (app.config["WECHAT_PAY_BASE_URL"] == app.config["WECHAT_API_BASE_URL"])


def test_proxied_login_code_logs_in_like_a_phone(client, app):
    minted = client.post("/demo/sandbox/login-codes", json={"user": "alice"})
    assert minted.status_code == 201
    assert minted.headers["Cache-Control"] == "no-store"
    login = client.post("/api/v1/auth/wechat", json={"code": minted.get_json()["code"]})
    assert login.status_code == 200, login.get_json()
    assert login.get_json()["data"]["token"].startswith("mh_")
    users = client.get("/demo/sandbox/users").get_json()["users"]
    assert "alice" in {user["name"] for user in users}


def test_proxy_answers_what_the_sandbox_answered(client):
    refused = client.post("/demo/sandbox/login-codes", json={"user": "no spaces allowed"})
    assert refused.status_code == 400
    assert "user must be" in refused.get_json()["error"]


def test_proxy_forwards_only_the_calls_the_page_makes(client):
    for method, path in (("POST", "reset"), ("POST", "clock"), ("GET", "login-codes"), ("POST", "pay/faults"),
                         ("GET", "../../cgi-bin/token")):
        response = client.open(f"/demo/sandbox/{path}", method=method, json={} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"]["code"] in ("sandbox_path_not_proxied", "not_found")


def test_proxy_refuses_when_the_sandbox_is_off():
    app = make_app(WECHAT_SANDBOX=False)
    client = app.test_client()
    response = client.post("/demo/sandbox/login-codes", json={"user": "alice"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "sandbox_disabled"
    config = client.get("/demo/config.json").get_json()
    assert config["sandbox"] is False
    assert config["sandbox_url"] is None
    assert config["sandbox_proxy"] is None
    assert config["pay_sandbox"] is False
    assert client.get("/demo/").status_code == 200  # the page itself says the sandbox is off


def test_proxy_says_when_the_sandbox_does_not_answer():
    app = make_app(WECHAT_API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    response = app.test_client().post("/demo/sandbox/login-codes", json={"user": "alice"})
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "sandbox_unreachable"


def test_cli_says_clearly_when_the_stack_is_not_running(app, tmp_path):
    port = free_port()
    result = app.test_cli_runner().invoke(args=["demo", "run", "--base-url", f"http://127.0.0.1:{port}",
                                                "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the web app at http://127.0.0.1:{port}" in result.output
    assert "make run" in result.output
