"""The deliver step on real Redis and a real HTTP receiver: once per webhook-id, failures dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.model.alert import Alert, Evidence
from streams.model.settings import Settings
from streams.rules.rule import RuleSet
from streams.watchlist.compiled import CompiledWatchlist
from streams.watchlist.file import parse_watchlist
from streams.webhooks.receivers import Receiver
from streams.webhooks.signing import verify
from streams.worker.delivery_step import DeliveryStep
from streams.worker.metrics import WorkerMetrics

pytestmark = pytest.mark.integration
SECRET = "whsec_" + "dGVzdC1rZXktZm9yLWRlbGl2ZXJ5"


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, list[int]]]]:
    """/ok verifies and answers 204; /gone answers 410 (permanent)."""
    seen: dict[str, list[int]] = {"ok": [], "gone": []}

    async def ok(request: web.Request) -> web.Response:
        verify(await request.read(), request.headers, SECRET)
        seen["ok"].append(1)
        return web.Response(status=204)

    async def gone(request: web.Request) -> web.Response:
        seen["gone"].append(1)
        return web.Response(status=410, text="receiver retired")

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/gone", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


def engine_with(receivers: dict[str, Receiver]) -> CompiledWatchlist:
    watchlist = parse_watchlist({"entities": [{"id": "isis", "names": {"en": ["ISIS"]}}]})
    return CompiledWatchlist(watchlist, watchlist.matcher(), RuleSet(()), (), receivers)


def alert(receivers: list[str]) -> Alert:
    evidence = Evidence(
        article_id="a1", title="t", url="u", source="s", published_at=None, matched_names=["ISIS"]
    )
    return Alert(id="alert-1", kind="rule", status="firing", rule_id="r", severity="warning",
                 starts_at=datetime(2026, 11, 23, tzinfo=UTC), evidence=[evidence], receivers=receivers)  # fmt: skip


async def test_delivered_once_per_webhook_id_and_permanent_failures_dead_lettered(
    stack_settings: Settings, server: tuple[str, dict[str, list[int]]]
) -> None:
    base, seen = server
    receivers = {
        "ok": Receiver(name="ok", url=f"{base}/ok", format="alertmanager", secret=SECRET),
        "gone": Receiver(name="gone", url=f"{base}/gone", format="alertmanager", secret=SECRET),
    }
    client = aioredis.from_url(stack_settings.redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    dead: list[tuple[bytes | None, dict[str, object]]] = []

    async def send_dead(key: bytes | None, value: bytes) -> None:
        dead.append((key, orjson.loads(value)))

    async def once(call):  # type: ignore[no-untyped-def]
        return await call()

    metrics = WorkerMetrics(CollectorRegistry())
    step = DeliveryStep(
        compiled=lambda: engine_with(receivers), client=client, prefix=prefix, metrics=metrics,
        send_dead=send_dead, retrying=once, deadletter_source="news.alerts", delivered_ttl=600,
    )  # fmt: skip
    value = alert(["ok", "gone", "nobody"]).model_dump_json().encode()
    try:
        await step.run(b"alert-1", value, partition=3, offset=41)
        await step.run(b"alert-1", value, partition=3, offset=41)  # redelivered after a crash
        assert seen == {"ok": [1], "gone": [1, 1]}  # 'gone' is retried on redelivery: it never succeeded
        assert await client.exists(f"{prefix}delivered:alert-1.ok") == 1
        reasons = [record["reason"] for _, record in dead]
        assert (
            reasons
            == [
                "webhook_failed: receiver gone after 1 attempt(s): HTTP 410: receiver retired",
                "unknown_receiver: 'nobody' is not in the watchlist",
            ]
            * 2
        )
        assert {(key, record["partition"], record["offset"], record["topic"]) for key, record in dead} == {
            (b"alert-1", 3, 41, "news.alerts")
        }
        assert metrics.deliveries.labels("ok", "delivered")._value.get() == 1
        assert metrics.deliveries.labels("ok", "duplicate")._value.get() == 1
        assert metrics.deliveries.labels("gone", "failed")._value.get() == 2
    finally:
        await step.close()
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
