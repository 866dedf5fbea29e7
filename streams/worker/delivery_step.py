"""The deliver agent's step: each alert to each of its receivers once per webhook-id, failures dead-lettered."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError

from streams.model.alert import Alert
from streams.model.deadletter import deadletter_record
from streams.model.validation import describe_validation_error
from streams.store.keys import RedisKeys
from streams.watchlist.compiled import CompiledWatchlist
from streams.webhooks.alertmanager_receiver import ApiReceiver
from streams.webhooks.client import DeliveryResult, deliver
from streams.webhooks.retry import TokenBucket
from streams.webhooks.signing import webhook_id
from streams.worker.api_delivery import ApiDelivery
from streams.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

SendDead = Callable[[bytes | None, bytes], Awaitable[Any]]
Retrying = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class DeliveryStep:
    """Delivers alerts; a Redis marker per webhook-id keeps redelivered alerts from being sent twice."""

    def __init__(
        self,
        *,
        compiled: Callable[[], CompiledWatchlist],
        client: aioredis.Redis,
        prefix: str,
        metrics: WorkerMetrics,
        send_dead: SendDead,
        retrying: Retrying,
        deadletter_source: str,
        delivered_ttl: int,
    ) -> None:
        self.compiled = compiled
        self.client = client
        self.keys = RedisKeys(prefix)
        self.metrics = metrics
        self.send_dead = send_dead
        self.retrying = retrying
        self.source_topic = deadletter_source
        self.delivered_ttl = delivered_ttl
        self.limiters: dict[str, TokenBucket] = {}
        self._session: aiohttp.ClientSession | None = None
        self.api = ApiDelivery(
            client=client, prefix=prefix, metrics=metrics, retrying=retrying,
            delivered_ttl=delivered_ttl, session=self.session,
        )  # fmt: skip

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def run(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        try:
            alert = Alert.model_validate_json(value or b"")
        except ValidationError as err:
            await self.dead(
                key, value, partition, offset, f"invalid_alert: {describe_validation_error(err, limit=1)}"
            )
            return
        for name in alert.receivers:
            await self.deliver_to(name, alert, key, value, partition, offset)

    async def deliver_to(
        self, name: str, alert: Alert, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None:
        receiver = self.compiled().receivers.get(name)
        if receiver is None:
            await self.dead(
                key, value, partition, offset, f"unknown_receiver: {name!r} is not in the watchlist"
            )
            return
        if isinstance(receiver, ApiReceiver):
            for failed in await self.api.deliver(receiver, alert, self.compiled()):
                await self.dead(key, value, partition, offset, _failure(failed))
            return
        marker = self.keys.delivered(webhook_id(alert.id, name))
        if await self.retrying(lambda: self.client.exists(marker)):
            self.metrics.deliveries.labels(name, "duplicate").inc()
            return
        limiter = self.limiters.setdefault(name, TokenBucket(receiver.rate_limit_per_s))
        started = time.perf_counter()
        retried = self.metrics.deliveries.labels(name, "retried")
        result = await deliver(
            self.session(), receiver, alert, limiter=limiter, on_retry=lambda _: retried.inc()
        )
        self.metrics.delivery_seconds.labels(name).observe(time.perf_counter() - started)
        if result.delivered:
            await self.retrying(lambda: self.client.set(marker, b"1", ex=self.delivered_ttl))
            self.metrics.deliveries.labels(name, "delivered").inc()
            return
        self.metrics.deliveries.labels(name, "failed").inc()
        await self.dead(key, value, partition, offset, _failure(result))

    async def resend_due(self) -> int:
        """Re-send the firing spikes of alertmanager_api receivers that are due (a worker timer)."""
        return await self.api.resend_due(self.compiled())

    async def dead(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int, reason: str
    ) -> None:
        log.error("alert to dead-letter topic (%s offset %d): %s", self.source_topic, offset, reason)
        record = deadletter_record(
            reason, topic=self.source_topic, partition=partition, offset=offset,
            received_at=datetime.now(UTC), payload=value,
        )  # fmt: skip
        await self.send_dead(key, orjson.dumps(record))


def _failure(result: DeliveryResult) -> str:
    return f"webhook_failed: receiver {result.receiver} after {result.attempts} attempt(s): {result.error}"
