"""Deployment files: compose config, hadolint, Alertmanager config (amtool), systemd units (verify)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv: `pip install -e '.[dev]'` puts the tool binaries here
CACHE = Path(os.environ.get("NEWSMON_CACHE_DIR", Path.home() / ".cache" / "newsmon"))
AMTOOL = CACHE / "alertmanager" / "usr" / "bin" / "amtool"
SYSTEMD = ROOT / "ops" / "systemd"
APP_SERVICES = ("topics", "worker", "exporter", "producer-rss", "producer-ingest")


def tool(name: str) -> str:
    """A dev-extras binary; missing means the dev extras are not installed, which must fail CI."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} not found in {BIN}: install the dev extras (pip install -e '.[dev]')")
    return str(path)


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [tool("docker-compose"), "--project-directory", str(ROOT), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def resolved() -> dict[str, Any]:
    result = compose("--env-file", ".env.example", "--profile", "producers", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_compose_config_is_valid_with_the_example_env() -> None:
    result = compose("--env-file", ".env.example", "--profile", "producers", "config", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_compose_refuses_to_start_grafana_without_a_password() -> None:
    result = compose("--env-file", "/dev/null", "config", "--quiet")
    assert result.returncode == 1
    assert "set GRAFANA_ADMIN_PASSWORD in .env (see .env.example)" in result.stderr


def test_compose_services_are_pinned_checked_and_restarted() -> None:
    services = resolved()["services"]
    assert set(services) == {
        "kafka",
        "kafka-2",
        "kafka-3",
        "redis",
        "prometheus",
        "grafana",
        "alertmanager",
        *APP_SERVICES,
    }
    assert services["kafka"]["image"].startswith("apache/kafka:3.9.")
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        assert service["restart"] in ("unless-stopped", "on-failure"), name
        assert name == "topics" or "healthcheck" in service, name
    assert services["producer-rss"]["profiles"] == ["producers"]
    assert services["producer-ingest"]["profiles"] == ["producers"]


def test_the_worker_scales() -> None:
    worker = resolved()["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert worker["build"]["dockerfile"] == "Dockerfile"


def test_prometheus_and_grafana_mount_the_ops_configs() -> None:
    services = resolved()["services"]
    mounts = {(m["source"], m["target"]) for m in services["prometheus"]["volumes"] if m["type"] == "bind"}
    assert (str(ROOT / "ops" / "prometheus"), "/etc/prometheus") in mounts
    mounts = {(m["source"], m["target"]) for m in services["grafana"]["volumes"] if m["type"] == "bind"}
    assert (str(ROOT / "ops" / "grafana" / "provisioning"), "/etc/grafana/provisioning") in mounts
    assert (str(ROOT / "ops" / "grafana" / "dashboards"), "/var/lib/grafana/dashboards") in mounts


def test_hadolint_is_clean_on_the_dockerfile() -> None:
    result = subprocess.run(
        [tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    # A build stage compiles the C extension; the image itself is the last stage.
    assert [line for line in lines if line.startswith("FROM")] == [
        "FROM python:3.11-slim AS build",
        "FROM python:3.11-slim",
    ]
    assert [line for line in lines if line.startswith("USER ")] == ["USER 10001:10001"]


def fetch_deb(package: str, into: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "download", package], cwd=into, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def amtool() -> str:
    """amtool from Debian's prometheus-alertmanager (10 MB), unpacked into the cache like Prometheus."""
    if not AMTOOL.exists():
        download = CACHE / "deb"
        download.mkdir(parents=True, exist_ok=True)
        fetched = fetch_deb("prometheus-alertmanager", download)
        if fetched.returncode != 0 and os.geteuid() == 0:  # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
            fetched = fetch_deb("prometheus-alertmanager", download)
        debs = sorted(download.glob("prometheus-alertmanager_*.deb"))
        if fetched.returncode != 0 or not debs:
            pytest.fail(f"cannot fetch amtool (apt-get download prometheus-alertmanager): {fetched.stderr}")
        target = AMTOOL.parents[2]
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(target)], check=True, timeout=120)
    return str(AMTOOL)


def test_alertmanager_config_is_valid(amtool: str) -> None:
    result = subprocess.run([amtool, "check-config", "ops/alertmanager/alertmanager.yml"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 3 inhibit rules\n - 6 receivers\n" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["service=newsmon", "severity=critical", "alertname=NewsmonRedisDown"], "newsmon-oncall"),
        (["service=newsmon", "severity=warning", "alertname=NewsmonDeadLetters"], "newsmon-ops"),
        (["alertname=SomethingElse", "severity=critical"], "null"),
    ],
)
def test_alertmanager_routes_newsmon_alerts_to_the_webhooks(
    amtool: str, labels: list[str], receiver: str
) -> None:
    cmd = [amtool, "config", "routes", "test", "--config.file=ops/alertmanager/alertmanager.yml", *labels]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, receiver)


def test_every_pipeline_alert_reaches_a_newsmon_receiver() -> None:
    rules = yaml.safe_load((ROOT / "ops/prometheus/rules/newsmon.yml").read_text())["groups"][0]["rules"]
    assert {r["labels"]["service"] for r in rules if "alert" in r} == {"newsmon"}


def test_systemd_units_verify(tmp_path: Path) -> None:
    # systemd-analyze checks that ExecStart exists: point the units at this venv instead of /opt/newsmon.
    for unit in SYSTEMD.glob("*.service"):
        text = unit.read_text().replace("/opt/newsmon/.venv/bin/", f"{BIN}/")
        (tmp_path / unit.name).write_text(text)
    units = ["newsmon-exporter.service", "newsmon-producer-rss.service", "newsmon-worker@6066.service"]
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed to verify the units (Debian: systemd)"
    result = subprocess.run(
        [analyze, "verify", *units], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_units_restart_read_the_environment_and_are_hardened() -> None:
    for unit in SYSTEMD.glob("*.service"):
        text = unit.read_text()
        for line in ("EnvironmentFile=/etc/newsmon/newsmon.env", "User=newsmon", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
                     "StateDirectory=newsmon", "WantedBy=multi-user.target"):  # fmt: skip
            assert f"\n{line}\n" in text, (unit.name, line)
        assert "\nRestart=always\n" in text, unit.name
