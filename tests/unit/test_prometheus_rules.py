"""Prometheus rules and config: promtool checks, unit tests, and every alert tested, labelled and documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
RULES = PROM / "rules" / "newsmon.yml"
TESTS = PROM / "rules" / "newsmon_test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
EXPECTED_ALERTS = {
    "NewsmonConsumerLagGrowing", "NewsmonDeadLetters", "NewsmonWebhookFailures", "NewsmonWebhookRetrying",
    "NewsmonNoArticles", "NewsmonWorkerDown", "NewsmonNoWorkers", "NewsmonExporterDown", "NewsmonRedisDown",
    "NewsmonFeedFailing", "NewsmonFeedSilent",
}  # fmt: skip


def run(promtool: str, *args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(TESTS), cwd=TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config_of_the_production_example(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expected_alerts_exist_with_severity_service_and_runbook() -> None:
    rules = alerts()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    anchors = {
        line[3:].strip().lower() for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")
    }
    for rule in rules:
        assert rule["labels"]["service"] == "newsmon"
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in anchors


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS


def test_the_local_stack_loads_the_rules_but_not_their_tests() -> None:
    # ops/local/stack.py globs rules/*.yml and skips *_test.yml: keep test files named that way.
    names = sorted(path.name for path in (PROM / "rules").glob("*.yml"))
    assert names == ["newsmon.yml", "newsmon_test.yml"]
    assert all(re.fullmatch(r"[a-z_]+\.yml", name) for name in names)
