"""docs/monitoring/alerts.yml stays true to the metrics the app exports and to its README."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.helpers import scrape_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
RULES = DOCS / "alerts.yml"


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_uses_is_exported(app, client):
    assert client.get("/healthz").status_code == 200  # request series appear with the first request
    exported: set[str] = set()
    for family in text_string_to_metric_families(scrape_text(client, app)):
        exported.update(sample.name for sample in family.samples)
        exported.add(family.name)
    used = {name for rule in alert_rules() for name in re.findall(r"\bmiaohua_[a-z_]+", rule["expr"])}
    assert used, "the rules reference the app's metrics"
    assert sorted(used - exported) == []


def test_every_alert_has_a_severity_a_runbook_and_a_readme_section():
    readme = (DOCS / "README.md").read_text()
    headings = {m.lower() for m in re.findall(r"^### `?(Miaohua\w+)`?", readme, flags=re.MULTILINE)}
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["runbook"] == f"docs/monitoring/README.md#{name.lower()}", name
        assert name.lower() in headings, f"README.md explains {name}"


def test_the_documented_defaults_match_the_configuration(app):
    readme = (DOCS / "README.md").read_text()
    assert f"`ALERT_DELETION_BACKLOG_AGE_S` | {app.config['ALERT_DELETION_BACKLOG_AGE_S']}" in readme
    for queue, seconds in app.config["ALERT_QUEUE_AGE_S"].items():
        assert f"`ALERT_QUEUE_AGE_{queue.upper()}_S` | {seconds}" in readme


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus) on PATH")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=DOCS, capture_output=True, text=True,
                          timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr
