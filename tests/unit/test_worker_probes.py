"""systemd, compose and Kubernetes use the worker's health endpoints and allow for its drain."""

from __future__ import annotations

import configparser
import re

from streams.model.settings import Settings
from tests.unit.test_deploy import SYSTEMD, resolved
from tests.unit.test_k8s import of_kind

DRAIN = Settings(_env_file=None).worker_drain_seconds  # type: ignore[call-arg]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)s?", value.strip())
    assert match, value
    return float(match.group(1))


def test_the_systemd_worker_is_notify_with_a_watchdog_and_outlasts_the_drain() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(SYSTEMD / "newsmon-worker@.service")
    service = unit["Service"]
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
    assert seconds(service["WatchdogSec"]) == 30
    assert seconds(service["TimeoutStopSec"]) > DRAIN


def test_the_compose_worker_checks_livez_and_outlasts_the_drain() -> None:
    worker = resolved()["services"]["worker"]
    assert "/livez" in " ".join(worker["healthcheck"]["test"])
    assert seconds(worker["stop_grace_period"]) > DRAIN


def test_the_kubernetes_workers_probe_livez_and_readyz_and_outlast_the_drain() -> None:
    (statefulset,) = of_kind("StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    probes = {
        kind: container[kind]["httpGet"]["path"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes == {"startupProbe": "/livez", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
    assert pod["terminationGracePeriodSeconds"] > DRAIN
