"""Several processes, one total: the gunicorn setting (PROMETHEUS_MULTIPROC_DIR) across real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from app.monitoring import multiprocess
from app.monitoring.exporter import ExporterMisconfigured, start_worker_exporter
from tests.monitoring.helpers import samples, value

ROOT = Path(__file__).resolve().parents[2]


def start_child(env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    """One process of the app (its own SQLite file: the metrics directory is what they share)."""
    env = {**env, "TEST_DATABASE_URL": f"sqlite:///{Path(env['PROMETHEUS_MULTIPROC_DIR']).parent / name}.db"}
    return subprocess.Popen([sys.executable, "-m", "tests.monitoring.multiprocess_child", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.fixture
def child_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PROMETHEUS_"))}
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env.update(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), PYTHONPATH=str(ROOT))
    return env


def test_counts_from_several_processes_add_up_and_state_gauges_appear_once(child_env, monkeypatch):
    first, second = start_child(child_env, "first", "serve", "3"), start_child(child_env, "second", "serve", "4")
    finish(first)
    finish(second)
    files = sorted(os.listdir(child_env["PROMETHEUS_MULTIPROC_DIR"]))
    assert any(str(first.pid) in f for f in files) and any(str(second.pid) in f for f in files), files

    # gunicorn's child_exit hook for a worker that died: its counts must stay in the totals
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", child_env["PROMETHEUS_MULTIPROC_DIR"])
    multiprocess.child_exit(server=None, worker=SimpleNamespace(pid=first.pid))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")

    text = finish(start_child(child_env, "third", "scrape"))  # a third process answers the scrape
    page = samples(text)
    counter = "miaohua_http_requests_total"
    assert value(page, counter, method="GET", route="/healthz", status="2xx") == 7
    assert value(page, "miaohua_http_request_duration_seconds_count", route="/healthz") == 7
    assert value(page, "miaohua_payment_notifications_rejected_total", reason="signature") == 2
    depth_lines = [line for line in text.splitlines() if line.startswith("miaohua_queue_depth{")]
    assert len(depth_lines) == 3, "scrape-time gauges come once from the scraping process, not per process"
    assert not any(f.startswith("gauge") for f in os.listdir(child_env["PROMETHEUS_MULTIPROC_DIR"])), \
        "shared-state gauges are never written to the multiprocess directory"


def test_on_starting_empties_the_directory_of_a_previous_run(tmp_path, monkeypatch):
    for name in ("counter_101.db", "histogram_101.db", "counter_202.db"):
        (tmp_path / name).write_bytes(b"old")
    (tmp_path / "README").write_text("not a value file")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert multiprocess.clear_multiprocess_dir(keep_pid=202) == 2
    assert sorted(os.listdir(tmp_path)) == ["README", "counter_202.db"]
    multiprocess.on_starting(server=None)
    assert sorted(os.listdir(tmp_path)) == ["README"]


def test_a_worker_serves_its_own_job_counters_behind_the_token(app):
    server = start_worker_exporter(app, 0, host="127.0.0.1", forking=False)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        refused = requests.get(f"{base}/metrics", timeout=5)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "metrics_authentication_required"
        wrong = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        page = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {app.config['METRICS_TOKEN']}"},
                            timeout=5)
        assert page.status_code == 200
        parsed = samples(page.text)
        assert ("miaohua_generation_jobs_ended_total", (("status", "succeeded"),)) in parsed
        assert "miaohua_queue_depth" not in page.text, "queue gauges come from the web's scrape only"
    finally:
        server.shutdown()


def test_a_forking_worker_without_a_multiprocess_directory_refuses_to_export(app, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(ExporterMisconfigured, match="PROMETHEUS_MULTIPROC_DIR"):
        start_worker_exporter(app, 0, host="127.0.0.1", forking=True)
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    with pytest.raises(ExporterMisconfigured, match="METRICS_TOKEN"):
        start_worker_exporter(app, 0, host="127.0.0.1", forking=False)


def test_the_worker_command_takes_a_metrics_port():
    from workers.__main__ import parse_args

    assert parse_args(["--queues", "generation", "--metrics-port", "9101"]).metrics_port == 9101
    assert parse_args([]).metrics_port is None
