"""End to end: the `make run` stack, and the mini-program's journey through `flask demo run` against it."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import free_port
from workers.generators.styles import get_style

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
STYLE = "id_cn_1inch"  # an exact pixel size to check the HD original against


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the stack exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout_s}s")


@pytest.fixture
def stack(tmp_path):
    """`make run` on free ports with a temporary instance folder; yields (env, web URL, sandbox URL)."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "REDIS_URL", "MIAOHUA_ENV", "TEST_DATABASE_URL", "TEST_REDIS_URL"}}
    web_port, sandbox_port = free_port(), free_port()
    env.update(MIAOHUA_INSTANCE_DIR=str(tmp_path / "instance"), WEB_PORT=str(web_port),
               EMBEDDED_REDIS_PORT=str(free_port()), WECHAT_SANDBOX_PORT=str(sandbox_port),
               WECHAT_SANDBOX_PAY_KEYS_DIR=str(tmp_path / "instance" / "wechat_sandbox_pay"),
               WECHAT_SANDBOX_MEDIA_CHECK_DELAY="0", PYTHONUNBUFFERED="1")
    # WeChat Pay's gateway: the stack's own sandbox (the default while config.py does not point it there itself).
    env.setdefault("WECHAT_PAY_BASE_URL", f"http://127.0.0.1:{sandbox_port}")
    proc = subprocess.Popen([sys.executable, "-m", "app.devstack"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    web, sandbox = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        wait_ready(f"{web}/readyz", proc)
        wait_ready(f"{sandbox}/sandbox/api/apps", proc)
        yield env, web, sandbox
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        assert proc.returncode == 0, output[-4000:]


def test_cli_journey_on_make_run_downloads_the_hd_image_and_shows_the_source_deletion_receipt(stack, tmp_path):
    env, web, sandbox = stack
    with urllib.request.urlopen(f"{web}/demo/config.json", timeout=5) as response:
        config = json.loads(response.read())
    assert config["sandbox_url"] == f"{sandbox}/sandbox/"
    assert config["pay_sandbox"] is True
    out = tmp_path / "demo-output"
    started = time.monotonic()
    journey = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi:app", "demo", "run", "--base-url", web,
                              "--sandbox-url", sandbox, "--out", str(out), "--style", STYLE, "--timeout", "45"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    elapsed = time.monotonic() - started
    printed = journey.stdout + journey.stderr
    report = json.loads((out / "journey.json").read_text())

    # the HD original: paid for, downloaded, decodes, and has the style's exact pixel size
    assert report["hd_path"], printed
    hd = Path(report["hd_path"])
    with Image.open(hd) as image:
        image.load()
        assert image.size == tuple(get_style(STYLE).params["size"]), printed
    assert Path(report["preview_path"]).is_file()
    assert report["order_no"].startswith("MH")
    # the source photo was deleted when the job ended, and "my data" lists its receipt
    receipt = report["source_receipt"]
    assert receipt is not None, printed
    assert receipt["subject_id"] == report["upload_id"]
    assert receipt["data_kind"] == "portrait_upload"
    assert receipt["reason"] == "job_succeeded"
    # ... and the whole journey, account cancellation included, went through
    assert journey.returncode == 0, printed
    assert report["completed"] and report["cancelled"], printed
    assert "Deletion receipt of the source photo:" in journey.stdout
    assert f"portrait_upload {report['upload_id']} deleted at" in journey.stdout.split("Deletion receipt")[-1]
    assert elapsed < 60, f"the journey took {elapsed:.0f}s"
