"""What ships vs what helps: the production image holds no WeChat sandbox, demo or devstack code, and the
production profile runs (and never imports them) without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import PurePosixPath

import pytest

from tests.core.test_config import PRODUCTION_ENV
from tests.deploy.image import ROOT, build_context, ignored, image_files

DEV_ONLY = ("devkit", "wechat_sandbox", "demo", "devstack", "tests", "bench")

# Imported the way the image's processes start: the web (gunicorn wsgi:app), a worker, the scheduler, the CLI.
ENTRY_POINTS = """
import sys
import wsgi, app.gunicorn_conf, workers.__main__, workers.scheduler, app.ops.config_cli
print(",".join(sorted(name for name in sys.modules if name == "devkit" or name.startswith("devkit."))))
"""


def dev_only(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(part.removesuffix(".py") in DEV_ONLY for part in parts)


def test_the_image_holds_no_sandbox_demo_or_devstack_code():
    files = image_files()
    assert {"wsgi.py", "app/__init__.py", "workers/__main__.py", "workers/scheduler.py",
            "deploy/entrypoint.sh", "static/admin/index.html"} <= set(files)  # the product is there
    assert [path for path in files if dev_only(path)] == []
    context = build_context()
    assert {"requirements.txt", "requirements-nodeps.lock"} <= set(context)
    assert "requirements-dev.lock" not in context


def test_the_dockerignore_rules_follow_dockers_semantics():
    rules = "*\n!app/\napp/secret/\n**/__pycache__/\n!static/\nstatic/demo/\n"
    assert ignored("devkit/demo/views.py", rules)
    assert not ignored("app/core/api.py", rules)
    assert ignored("app/secret/x.py", rules)
    assert ignored("app/core/__pycache__/api.cpython-311.pyc", rules)
    assert ignored("static/demo/index.html", rules)
    assert not ignored("static/admin/index.html", rules)


def production_environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return {**env, **PRODUCTION_ENV, "MIAOHUA_ENV": "production", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def run_python(code: str, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    """The image's /srv/miaohua, built from the file set above (no devkit/ in it)."""
    root = tmp_path_factory.mktemp("image") / "srv"
    for target, source in image_files().items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / source, root / target)
    return root


def test_the_production_profile_starts_from_the_image_files_alone(image_tree, tmp_path):
    env = production_environment(MIAOHUA_INSTANCE_DIR=str(tmp_path / "instance"))
    done = run_python(ENTRY_POINTS, image_tree, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    # The check can fail: the development profile asks for the demo, which the image does not hold.
    dev = run_python("import wsgi", image_tree, {**env, "MIAOHUA_ENV": "development"})
    assert dev.returncode != 0 and "DEMO_ENABLED needs the devkit package" in dev.stderr


def test_the_production_profile_never_imports_devkit_even_where_it_exists(tmp_path):
    env = production_environment(MIAOHUA_INSTANCE_DIR=str(tmp_path / "instance"))
    done = run_python(ENTRY_POINTS, ROOT, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    dev = run_python(ENTRY_POINTS, ROOT, {**env, "MIAOHUA_ENV": "development"})
    assert dev.returncode == 0, dev.stderr
    assert "devkit.demo.views" in dev.stdout.strip().split(",")  # development registers the demo: the check sees it


def test_production_refuses_the_demo_and_staging_may_serve_it(monkeypatch):
    from app.config import ConfigError, load_config

    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WECHAT_SANDBOX", raising=False)
    monkeypatch.delenv("DEMO_ENABLED", raising=False)
    assert load_config("production").DEMO_ENABLED is False
    assert load_config("development").DEMO_ENABLED is True
    monkeypatch.setenv("DEMO_ENABLED", "1")
    with pytest.raises(ConfigError, match="production refuses DEMO_ENABLED"):
        load_config("production")
    assert load_config("staging").DEMO_ENABLED is True
