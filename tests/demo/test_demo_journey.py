"""End to end: the journey through `flask demo run` against a fresh `make run` (the stack: conftest.py)."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from workers.generators.styles import get_style

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
STYLE = "id_cn_1inch"  # an exact pixel size to check the HD original against


def test_cli_journey_on_make_run_downloads_the_hd_image_and_shows_the_source_deletion_receipt(stack, tmp_path):
    env, web, sandbox = stack.env, stack.web, stack.sandbox
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
    # the share: a link whose image (what a friend sees) decodes, and a `share` line in the operation log
    assert report["share_url"].startswith(f"{web}/api/v1/shared/"), printed
    with Image.open(report["shared_path"]) as shared:
        shared.load()
    assert {"action": "share", "subject_type": "result", "subject_id": report["result"]["id"]} in [
        {key: operation[key] for key in ("action", "subject_type", "subject_id")} for operation in report["operations"]]
    # ... and the whole journey, account cancellation included, went through
    assert journey.returncode == 0, printed
    assert report["completed"] and report["cancelled"], printed
    assert "Deletion receipt of the source photo:" in journey.stdout
    assert f"portrait_upload {report['upload_id']} deleted at" in journey.stdout.split("Deletion receipt")[-1]
    assert elapsed < 60, f"the journey took {elapsed:.0f}s"
