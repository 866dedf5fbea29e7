"""The example Alertmanager config: valid for amtool 0.25, routing newsmon's alerts by severity and entity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_check_config_passes(amtool: str) -> None:
    result = amtool_run(amtool, "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["newsmon_kind=rule", "severity=warning", "entity=baghdad", "alertname=r1"], "newsmon-news"),
        (["newsmon_kind=spike", "severity=info", "entity=baghdad", "alertname=surge"], "newsmon-news"),
        (["newsmon_kind=rule", "severity=critical", "entity=isis", "alertname=r1"], "newsmon-news-urgent"),
        (
            ["newsmon_kind=spike", "severity=warning", "entity=mosul", "alertname=surge"],
            "newsmon-desk-iraq-syria",
        ),
        (
            ["newsmon_kind=rule", "severity=warning", "entity=raqqa", "alertname=r1"],
            "newsmon-desk-iraq-syria",
        ),
        (["service=newsmon", "severity=critical", "alertname=NewsmonRedisDown"], "newsmon-oncall"),
        (["alertname=SomethingElse", "severity=critical"], "null"),
    ],
)
def test_routes_by_kind_severity_and_entity(amtool: str, labels: list[str], receiver: str) -> None:
    result = amtool_run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert (result.returncode, result.stdout.strip()) == (0, receiver)


def test_news_alerts_group_by_rule_and_entity_and_spikes_inhibit_their_entitys_rule_alerts() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    news = config["route"]["routes"][0]
    assert news["matchers"] == ['newsmon_kind=~"rule|spike"']
    assert news["group_by"] == ["alertname", "entity"]
    assert config["inhibit_rules"][0] == {
        "source_matchers": ['newsmon_kind="spike"'],
        "target_matchers": ['newsmon_kind="rule"'],
        "equal": ["entity"],
    }
