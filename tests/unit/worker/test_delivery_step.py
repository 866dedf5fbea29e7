"""DeliveryStep with a fake Redis: bad alerts and unknown receivers are dead-lettered, duplicates skipped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.model.alert import Alert
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.webhooks.signing import webhook_id
from streams.worker.delivery_step import DeliveryStep
from streams.worker.metrics import WorkerMetrics

WATCHLIST = {
    "entities": [{"id": "isis", "names": {"en": ["ISIS"]}}],
    "webhooks": {"ops": {"url": "http://127.0.0.1:1/hook", "format": "slack", "secret_env": "OPS_SECRET"}},
}


class FakeRedis:
    def __init__(self, keys: set[str]) -> None:
        self.keys = keys

    async def exists(self, key: str) -> int:
        return int(key in self.keys)


async def once(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(WATCHLIST), encoding="utf-8")
    return compile_watchlist(path, env={"OPS_SECRET": "whsec_c2VjcmV0"})


def alert(receivers: list[str]) -> bytes:
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    return Alert(
        id="a1", kind="rule", status="firing", rule_id="r", severity="info", starts_at=at, receivers=receivers
    ).to_json()


def make_step(
    compiled: CompiledWatchlist, delivered: set[str]
) -> tuple[DeliveryStep, list[dict[str, Any]], WorkerMetrics]:
    dead: list[dict[str, Any]] = []

    async def send_dead(key: bytes | None, value: bytes) -> None:
        dead.append({"key": key, **orjson.loads(value)})

    metrics = WorkerMetrics(CollectorRegistry())
    step = DeliveryStep(
        compiled=lambda: compiled, client=FakeRedis(delivered), prefix="nm:", metrics=metrics,  # type: ignore[arg-type]
        send_dead=send_dead, retrying=once, deadletter_source="news.alerts", delivered_ttl=600,
    )  # fmt: skip
    return step, dead, metrics


async def test_an_invalid_alert_and_an_unknown_receiver_are_dead_lettered(
    compiled: CompiledWatchlist,
) -> None:
    step, dead, _ = make_step(compiled, set())
    await step.run(b"k1", b"\xff not json", partition=1, offset=5)
    await step.run(b"k2", alert(["nobody"]), partition=2, offset=6)
    assert [(d["key"], d["reason"].split(":")[0], d["partition"], d["offset"], d["topic"]) for d in dead] == [
        (b"k1", "invalid_alert", 1, 5, "news.alerts"),
        (b"k2", "unknown_receiver", 2, 6, "news.alerts"),
    ]
    assert dead[1]["reason"] == "unknown_receiver: 'nobody' is not in the watchlist"
    assert (dead[0]["payload_encoding"], dead[1]["payload_encoding"]) == ("base64", "text")


async def test_an_alert_already_delivered_to_a_receiver_is_not_sent_again(
    compiled: CompiledWatchlist,
) -> None:
    step, dead, metrics = make_step(compiled, {f"nm:delivered:{webhook_id('a1', 'ops')}"})
    await step.run(b"a1", alert(["ops"]), partition=0, offset=1)
    labels = {"receiver": "ops", "outcome": "duplicate"}
    assert (dead, metrics.registry.get_sample_value("newsmon_webhook_deliveries_total", labels)) == ([], 1.0)
