"""``bench/load.lua`` under real wrk against a stand-in app that checks every request it builds.

The stand-in answers 2xx only to well-formed requests of the mix (a known token and job, a login code
from the file, never twice, a multipart upload with the file and the declaration, an order body) and
400 otherwise, so a broken script shows up as errors, and the counts show the mix and the codes used.
"""

import json
import shutil
import threading
from collections import Counter

import pytest
from flask import Flask, request

from bench.load import MIX, run_wrk
from bench.load_setup import UPLOAD_BOUNDARY, multipart_upload
from tests.conftest import serve_in_thread

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk on PATH (apt-get install -y wrk)")

PHONES = [("tok-a", "job-a", "10.0.0.1"), ("tok-b", "job-b", "10.0.0.2")]
CODES = [(f"code{i}", f"dev{i}", f"10.1.0.{i}") for i in range(400)]


def stand_in(seen: dict) -> Flask:
    app = Flask(__name__)
    lock = threading.Lock()
    jobs = {token: job for token, job, _ in PHONES}
    known_codes = {code: (device, ip) for code, device, ip in CODES}

    def record(kind: str, ok: bool):
        with lock:
            seen[kind if ok else f"bad {kind}"] += 1
        return ("", 200 if kind in ("poll", "login", "root") else 201) if ok else ("bad", 400)

    def token() -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    @app.get("/")
    def root():
        return record("root", True)

    @app.get("/api/v1/jobs/<job_id>")
    def poll(job_id):
        forwarded = request.headers.get("X-Forwarded-For", "")
        return record("poll", jobs.get(token()) == job_id and forwarded.startswith("10."))

    @app.post("/api/v1/auth/wechat")
    def login():
        body = request.get_json()
        device, ip = known_codes.get(body["code"], (None, None))
        with lock:
            fresh = body["code"] not in seen["codes"]
            seen["codes"].add(body["code"])
        ok = fresh and body["device"]["device_id"] == device and request.headers.get("X-Forwarded-For") == ip
        return record("login", ok)

    @app.post("/api/v1/uploads")
    def upload():
        photo = request.files.get("file")
        return record("upload", token() in jobs and request.form.get("declaration") == "own_face"
                      and photo is not None and photo.read() == b"\xff\xd8fake-jpeg\xff\xd9")

    @app.post("/api/v1/orders")
    def order():
        return record("order", token() in jobs and json.loads(request.data) == {"product": "video_generation"})

    return app


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "phones.tsv").write_text("".join("\t".join(p) + "\n" for p in PHONES))
    (tmp_path / "codes.tsv").write_text("".join("\t".join(c) + "\n" for c in CODES))
    (tmp_path / "upload.body").write_bytes(multipart_upload(b"\xff\xd8fake-jpeg\xff\xd9"))
    (tmp_path / "upload.boundary").write_text(UPLOAD_BOUNDARY + "\n")
    return tmp_path


def test_the_mix_is_sent_well_formed_in_its_proportions_and_no_code_twice(data_dir):
    seen = Counter()
    seen["codes"] = set()
    with serve_in_thread(stand_in(seen)) as base_url:
        result = run_wrk(base_url, 4, 1, data_dir, ",".join(MIX), "app")
    assert not result.errors, result.errors
    assert not [k for k in seen if str(k).startswith("bad")], seen
    assert result.ok > 20 and result.latency_ms["p99"] >= result.latency_ms["p50"] > 0, (result.ok, result.latency_ms)
    total = sum(result.sent.values())
    assert abs(result.sent["poll"] / total - MIX.count("poll") / len(MIX)) < 0.1
    # Every login the server saw used a fresh code (a repeat would be a "bad login" above). wrk may also have
    # built up to one request per connection that was still in flight when its time ran out.
    assert 0 < len(seen["codes"]) == seen["login"] <= result.sent["login"] <= seen["login"] + 4
    assert result.exhausted == 0
    assert set(seen) >= {"poll", "login", "upload", "order"}


def test_a_rejected_request_is_counted_as_an_error(data_dir):
    (data_dir / "phones.tsv").write_text("tok-unknown\tjob-a\t10.0.0.9\n")
    seen = Counter()
    seen["codes"] = set()
    with serve_in_thread(stand_in(seen)) as base_url:
        result = run_wrk(base_url, 2, 1, data_dir, "poll", "app")
    assert result.ok == 0 and result.errors["status 400"] > 0
