"""Producer metrics: names, bounded labels, and the /metrics server."""

from __future__ import annotations

import socket
import subprocess
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from producers.metrics import ProducerMetrics, serve_metrics
from producers.validate import Rejection


def test_names_and_bounded_reason_labels() -> None:
    metrics = ProducerMetrics(CollectorRegistry())
    metrics.reject(Rejection.OVERSIZE)
    names = {family.name for family in metrics.registry.collect()}
    assert {
        "newsmon_producer_articles_published",
        "newsmon_producer_articles_deduplicated",
        "newsmon_producer_articles_rejected",
        "newsmon_producer_send_latency_seconds",
    } <= names
    reasons = {
        sample.labels["reason"]
        for family in metrics.registry.collect()
        if family.name == "newsmon_producer_articles_rejected"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert reasons == {reason.value for reason in Rejection}
    assert (
        metrics.registry.get_sample_value("newsmon_producer_articles_rejected_total", {"reason": "oversize"})
        == 1
    )


def test_metrics_are_served_on_the_port() -> None:
    registry = CollectorRegistry()
    ProducerMetrics(registry).published.labels(command="replay").inc(3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve_metrics(port, registry)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'newsmon_producer_articles_published_total{command="replay"} 3.0' in body


def test_port_zero_disables_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    monkeypatch.setattr("producers.metrics.start_http_server", lambda port, **_: started.append(port))
    serve_metrics(0, CollectorRegistry())
    serve_metrics(9, CollectorRegistry())
    assert started == [9]  # 0 binds nothing; any other port starts the server on it


def test_exposition_passes_promtool(promtool: str) -> None:
    metrics = ProducerMetrics(CollectorRegistry())
    metrics.reject(Rejection.OVERSIZE)
    check = subprocess.run(
        [promtool, "check", "metrics"], input=generate_latest(metrics.registry), capture_output=True
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
