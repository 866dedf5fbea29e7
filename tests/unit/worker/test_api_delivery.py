"""alertmanager_api receivers in the deliver step: every Alertmanager, dead letters, markers, re-sends (fake Redis, loopback servers)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.model.alert import Alert
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.webhooks.alertmanager_api import API_PATH
from streams.worker.delivery_step import DeliveryStep
from streams.worker.metrics import WorkerMetrics

AT = datetime(2016, 10, 17, 6, 0, tzinfo=UTC)
NOW = 1_800_000_000.0


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.calls: list[Callable[[], Awaitable[Any]]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def hset(self, key: str, mapping: dict[str, bytes]) -> None:
        self.calls.append(lambda: self.redis.hset(key, mapping))

    def hdel(self, key: str, *fields: str) -> None:
        self.calls.append(lambda: self.redis.hdel(key, *fields))

    async def execute(self) -> None:
        for call in self.calls:
            await call()


class FakeRedis:
    """The commands the deliver step uses, on dicts; ``px`` TTLs are kept but never expire by themselves."""

    def __init__(self) -> None:
        self.strings: dict[str, bytes] = {}
        self.hashes: dict[str, dict[str, bytes]] = {}

    async def exists(self, key: str) -> int:
        return int(key in self.strings)

    async def set(
        self, key: str, value: bytes, ex: int | None = None, nx: bool = False, px: int | None = None
    ) -> bool:
        if nx and key in self.strings:
            return False
        self.strings[key] = value
        return True

    async def hset(self, key: str, mapping: dict[str, bytes]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)

    async def hdel(self, key: str, *fields: str) -> None:
        for field in fields:
            self.hashes.get(key, {}).pop(field, None)

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        return {field.encode(): value for field, value in self.hashes.get(key, {}).items()}

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)


async def once(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def alertmanager() -> AsyncIterator[tuple[str, list[list[dict[str, Any]]]]]:
    """One loopback Alertmanager API that answers 200 and keeps every posted body."""
    posted: list[list[dict[str, Any]]] = []

    async def alerts(request: web.Request) -> web.Response:
        posted.append(orjson.loads(await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(API_PATH, alerts)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", posted
    await runner.cleanup()


def compiled_with(tmp_path: Path, urls: list[str]) -> CompiledWatchlist:
    watchlist = {
        "entities": [{"id": "isis", "names": {"en": ["ISIS"]}}, {"id": "mosul", "names": {"en": ["Mosul"]}}],
        "rules": [{"id": "isis_mosul", "expr": "isis NEAR/8 mosul", "webhooks": ["am"]}],
        "webhooks": {
            "am": {"format": "alertmanager_api", "urls": urls, "max_attempts": 2, "backoff_initial": "1ms",
                   "backoff_max": "1ms", "resend_interval": "1m", "rule_ttl": "5m", "timeout": "2s"},
        },
    }  # fmt: skip
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist), encoding="utf-8")
    return compile_watchlist(path, env={})


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


STEPS: list[DeliveryStep] = []


@pytest.fixture(autouse=True)
async def close_sessions() -> AsyncIterator[None]:
    yield
    while STEPS:
        await STEPS.pop().close()


def make_step(
    compiled: CompiledWatchlist, redis: FakeRedis, clock: Clock
) -> tuple[DeliveryStep, list[dict[str, Any]], WorkerMetrics]:
    dead: list[dict[str, Any]] = []

    async def send_dead(key: bytes | None, value: bytes) -> None:
        dead.append(orjson.loads(value))

    metrics = WorkerMetrics(CollectorRegistry())
    step = DeliveryStep(
        compiled=lambda: compiled, client=redis, prefix="nm:", metrics=metrics,  # type: ignore[arg-type]
        send_dead=send_dead, retrying=once, deadletter_source="news.alerts", delivered_ttl=600,
    )  # fmt: skip
    step.api.clock = clock
    STEPS.append(step)
    return step, dead, metrics


def rule_alert() -> bytes:
    return Alert(id="r1", kind="rule", status="firing", rule_id="isis_mosul", severity="warning",
                 starts_at=AT, receivers=["am"]).to_json()  # fmt: skip


def spike(status: str) -> bytes:
    return Alert(
        id=f"s-{status}", kind="spike", status=status, rule_id="isis_burst", entity="isis", severity="critical",
        starts_at=AT, ends_at=AT if status == "resolved" else None, receivers=["am"],
    ).to_json()  # fmt: skip


def count(metrics: WorkerMetrics, receiver: str, outcome: str) -> float | None:
    labels = {"receiver": receiver, "outcome": outcome}
    return metrics.registry.get_sample_value("newsmon_webhook_deliveries_total", labels)


async def test_a_rule_alert_reaches_every_alertmanager_with_its_subject_as_entity(
    tmp_path: Path, alertmanager: tuple[str, list[list[dict[str, Any]]]]
) -> None:
    url, posted = alertmanager
    compiled = compiled_with(tmp_path, [url, url + "/"])
    step, dead, metrics = make_step(compiled, FakeRedis(), Clock())
    await step.run(b"r1", rule_alert(), partition=0, offset=3)
    assert dead == []
    assert len(posted) == 2 and posted[0] == posted[1]
    (body,) = posted[0]
    assert body["labels"] == {"alertname": "isis_mosul", "entity": "isis", "newsmon_kind": "rule",
                              "rule": "isis_mosul", "severity": "warning"}  # fmt: skip
    assert (body["startsAt"], body["endsAt"]) == ("2016-10-17T06:00:00Z", "2027-01-15T08:05:00Z")
    target = f"am@{url.removeprefix('http://')}"
    assert count(metrics, target, "delivered") == 2.0  # both urls name the same host:port


async def test_an_alertmanager_that_is_down_is_dead_lettered_and_a_redelivery_posts_only_to_it(
    tmp_path: Path, alertmanager: tuple[str, list[list[dict[str, Any]]]]
) -> None:
    url, posted = alertmanager
    down = f"http://127.0.0.1:{closed_port()}"
    compiled = compiled_with(tmp_path, [url, down])
    redis = FakeRedis()
    step, dead, metrics = make_step(compiled, redis, Clock())
    await step.run(b"r1", rule_alert(), partition=1, offset=7)
    up_name, down_name = f"am@{url.removeprefix('http://')}", f"am@{down.removeprefix('http://')}"
    assert len(posted) == 1
    assert [(d["topic"], d["partition"], d["offset"]) for d in dead] == [("news.alerts", 1, 7)]
    assert dead[0]["reason"].startswith(
        f"webhook_failed: receiver {down_name} after 2 attempt(s): gave up after 2 attempts: ClientConnectorError"
    )
    assert orjson.loads(dead[0]["payload"])["id"] == "r1"
    assert (count(metrics, up_name, "delivered"), count(metrics, down_name, "failed")) == (1.0, 1.0)
    assert count(metrics, down_name, "retried") == 1.0
    await step.run(b"r1", rule_alert(), partition=1, offset=7)  # the dead letter replayed
    assert (len(posted), count(metrics, up_name, "duplicate"), count(metrics, down_name, "failed")) == (
        1,
        1.0,
        2.0,
    )


async def test_a_firing_spike_is_re_sent_on_the_interval_until_resolved_also_after_a_restart(
    tmp_path: Path, alertmanager: tuple[str, list[list[dict[str, Any]]]]
) -> None:
    url, posted = alertmanager
    compiled = compiled_with(tmp_path, [url])
    redis, clock = FakeRedis(), Clock()
    step, _, _ = make_step(compiled, redis, clock)
    await step.run(b"s", spike("firing"), partition=0, offset=1)
    assert [a["endsAt"] for (a,) in posted] == ["2027-01-15T08:04:00Z"]  # 4 x resend_interval
    clock.now += 59
    assert await step.resend_due() == 0
    restarted, _, _ = make_step(compiled, redis, clock)  # the state is in Redis, not in the step
    clock.now += 1
    assert await restarted.resend_due() == 1
    assert [a["endsAt"] for (a,) in posted] == ["2027-01-15T08:04:00Z", "2027-01-15T08:05:00Z"]
    assert posted[1][0]["labels"] == posted[0][0]["labels"]
    redis.strings.clear()  # the re-send turn has expired
    assert await restarted.resend_due() == 0  # just re-sent: due again in a minute
    await restarted.run(b"s", spike("resolved"), partition=0, offset=2)
    assert (
        posted[2][0]["status"] if "status" in posted[2][0] else posted[2][0]["endsAt"]
    ) == "2016-10-17T06:00:00Z"
    clock.now += 600
    redis.strings.clear()
    assert (await restarted.resend_due(), len(posted), redis.hashes["nm:amresend:am"]) == (0, 3, {})


async def test_one_worker_re_sends_per_interval(
    tmp_path: Path, alertmanager: tuple[str, list[list[dict[str, Any]]]]
) -> None:
    url, posted = alertmanager
    compiled = compiled_with(tmp_path, [url])
    redis, clock = FakeRedis(), Clock()
    first, _, _ = make_step(compiled, redis, clock)
    second, _, _ = make_step(compiled, redis, clock)
    await first.run(b"s", spike("firing"), partition=0, offset=1)
    clock.now += 60
    # Both read the schedule before either re-sends: only the one that takes the turn posts.
    assert (await asyncio.gather(first.resend_due(), second.resend_due()), len(posted)) == ([1, 0], 2)
    assert redis.strings["nm:amresend:am:turn"] == b"1"
