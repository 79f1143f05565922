"""Each gunicorn worker loads the face detector as it starts, not at the first upload it serves.

The hook runs in a fresh interpreter here, as in a worker after the fork: building the detector in the test
process would make every later fork of it unable to use mediapipe (``workers/generators/analysis.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import json, sys, types
import app.gunicorn_conf as conf
from app import create_app

flask_app = create_app()
before = "workers.generators.analysis" in sys.modules
conf.post_worker_init(types.SimpleNamespace(wsgi=flask_app))
analysis = sys.modules.get("workers.generators.analysis")
print(json.dumps({"imported_before": before, "imported_after": analysis is not None,
                  "built": bool(analysis and analysis._state["graphs_built"])}))
"""


def _worker_start(tmp_path: Path, face_check: str) -> dict:
    env = {**os.environ, "MIAOHUA_ENV": "development", "MIAOHUA_INSTANCE_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "FACE_CHECK_ENABLED": face_check,
           "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_builds_the_face_detector_when_it_starts(tmp_path):
    state = _worker_start(tmp_path, "true")
    assert state == {"imported_before": False, "imported_after": True, "built": True}


def test_without_the_face_check_a_worker_loads_no_detector(tmp_path):
    state = _worker_start(tmp_path, "false")
    assert state == {"imported_before": False, "imported_after": False, "built": False}
