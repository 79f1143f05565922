"""Settings are declared once (app/settings.py); `flask config check` lists every problem; docs follow."""

import os
import subprocess
import sys
from pathlib import Path

from app.ops.config_cli import TABLE_DOCUMENT, TABLE_END, TABLE_START, check_environment, env_example, settings_table
from app.settings import declared, meta
from tests.core.test_config import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_is_generated_from_the_declaration():
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example(), (
        "regenerate it: flask --app wsgi:app config env-example > .env.example")


def test_the_settings_table_is_generated_from_the_declaration():
    document = (ROOT / TABLE_DOCUMENT).read_text(encoding="utf-8")
    table = document[document.index(TABLE_START) + len(TABLE_START):document.index(TABLE_END)].strip()
    assert table == settings_table(), "regenerate it: flask --app wsgi:app config table --write"


def test_every_required_setting_is_an_uncommented_line_of_the_example():
    example = env_example().splitlines()
    for name, field in declared():
        if meta(field)["required"]:
            assert any(line.startswith(f"{name}=") for line in example), name


def test_an_empty_production_environment_lists_every_problem_at_once(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    problems = check_environment(str(empty), "production")
    assert len(problems) >= 4
    missing = next(problem for problem in problems if "refuses to start without" in problem)
    for name in ("SECRET_KEY", "ENCRYPTION_KEY", "WECHAT_APPID", "WECHAT_PAY_APIV3_KEY", "METRICS_TOKEN"):
        assert name in missing
    assert any("PostgreSQL" in problem for problem in problems)
    assert any("REDIS_URL" in problem for problem in problems)


def test_a_complete_production_environment_has_no_problem(tmp_path):
    complete = tmp_path / "complete.env"
    complete.write_text("".join(f"{name}={value!r}\n" if "\n" in value else f"{name}={value}\n"
                                for name, value in {**PRODUCTION_ENV, "MIAOHUA_ENV": "production"}.items()))
    assert check_environment(str(complete)) == []


def test_malformed_values_are_reported_with_the_profile_rules(tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text("".join(f"{name}={value!r}\n" if "\n" in value else f"{name}={value}\n"
                           for name, value in PRODUCTION_ENV.items())
                   + "UPLOAD_MAX_BYTES=lots\nSTORAGE_BACKEND=ftp\nRATE_LIMIT_LOGIN_PER_IP=often\n"
                     "GENERATION_BACKEND=magic\nWECHAT_SANDBOX=maybe\nDATABASE_URL=sqlite:///x.db\n")
    problems = check_environment(str(bad), "production")
    names = {problem.split(":", 1)[0] for problem in problems}
    assert {"UPLOAD_MAX_BYTES", "STORAGE_BACKEND", "RATE_LIMIT_LOGIN_PER_IP", "GENERATION_BACKEND",
            "WECHAT_SANDBOX"} <= names
    assert any("PostgreSQL" in problem for problem in problems)  # the profile's rules ran as well


def test_the_check_runs_where_the_app_cannot_start():
    env = {"PATH": os.environ["PATH"], "MIAOHUA_ENV": "production", "UPLOAD_MAX_BYTES": "lots"}
    done = subprocess.run([sys.executable, "-m", "app.ops.config_cli", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "UPLOAD_MAX_BYTES" in done.stderr and "refuses to start without" in done.stderr
    fine = subprocess.run([sys.executable, "-m", "app.ops.config_cli", "check"], cwd=ROOT,
                          env={"PATH": os.environ["PATH"], "MIAOHUA_ENV": "development"},
                          capture_output=True, text=True, check=False)
    assert (fine.returncode, fine.stdout.strip()) == (0, "the environment: no problems")
