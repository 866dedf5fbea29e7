"""Delivery to ``alertmanager_api`` receivers: each alert to every Alertmanager of the receiver, and the re-sends of firing spikes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from streams.model.alert import Alert
from streams.rules.subject import rule_subject
from streams.store.keys import RedisKeys
from streams.store.resend import ResendStore
from streams.watchlist.compiled import CompiledWatchlist
from streams.webhooks.alertmanager_api import api_body, batch_id, resend_changes, schedule_from_entries
from streams.webhooks.alertmanager_receiver import ApiReceiver
from streams.webhooks.client import DeliveryResult, post_to_all
from streams.webhooks.receivers import Receiver
from streams.webhooks.retry import TokenBucket
from streams.webhooks.signing import webhook_id
from streams.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

Retrying = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
WallClock = Callable[[], float]


class ApiDelivery:
    """Posts to every Alertmanager of a receiver; a marker per (alert, Alertmanager) makes a
    redelivered alert go only to the Alertmanagers that did not take it yet."""

    def __init__(
        self,
        *,
        client: aioredis.Redis,
        prefix: str,
        metrics: WorkerMetrics,
        retrying: Retrying,
        delivered_ttl: int,
        session: Callable[[], aiohttp.ClientSession],
        clock: WallClock = time.time,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.resends = ResendStore(client, prefix)
        self.metrics = metrics
        self.retrying = retrying
        self.delivered_ttl = delivered_ttl
        self.session = session
        self.clock = clock
        self.limiters: dict[str, TokenBucket] = {}

    async def deliver(
        self, receiver: ApiReceiver, alert: Alert, compiled: CompiledWatchlist
    ) -> list[DeliveryResult]:
        """Post one alert; returns the failed deliveries (one per Alertmanager that did not take it)."""
        pending = [t for t in receiver.targets if not await self._delivered(alert, t)]
        if not pending:
            return []
        now = self.clock()
        results = await self.post(receiver, pending, [alert], now, compiled)
        for target, result in zip(pending, results, strict=True):
            if result.delivered:
                await self._mark_delivered(alert, target)
        if any(result.delivered for result in results):
            # Re-send while any Alertmanager has it firing; a resolution stops the re-sends.
            firing, resolved = resend_changes([alert], now)
            await self.retrying(lambda: self.resends.update(receiver.name, firing, resolved))
        return [result for result in results if not result.delivered]

    async def _mark_delivered(self, alert: Alert, target: Receiver) -> None:
        marker = self.keys.delivered(webhook_id(alert.id, target.name))
        await self.retrying(lambda: self.client.set(marker, b"1", ex=self.delivered_ttl))

    async def _delivered(self, alert: Alert, target: Receiver) -> bool:
        marker = self.keys.delivered(webhook_id(alert.id, target.name))
        if await self.retrying(lambda: self.client.exists(marker)):
            self.metrics.deliveries.labels(target.name, "duplicate").inc()
            return True
        return False

    async def post(
        self,
        receiver: ApiReceiver,
        targets: Sequence[Receiver],
        alerts: Sequence[Alert],
        now: float,
        compiled: CompiledWatchlist,
    ) -> list[DeliveryResult]:
        """One body to the targets at once, with delivery metrics per Alertmanager."""
        subjects = rule_subjects(compiled, alerts)
        body = api_body(alerts, receiver.policy, datetime.fromtimestamp(now, UTC), subjects)
        for target in targets:
            self.limiters.setdefault(target.name, TokenBucket(target.rate_limit_per_s))
        started = time.perf_counter()
        results = await post_to_all(
            self.session(), targets, batch_id(alerts, now), body, limiters=self.limiters,
            on_retry=lambda name, _: self.metrics.deliveries.labels(name, "retried").inc(),
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        for result in results:
            self.metrics.delivery_seconds.labels(result.receiver).observe(elapsed)
            outcome = "delivered" if result.delivered else "failed"
            self.metrics.deliveries.labels(result.receiver, outcome).inc()
        return results

    async def resend_due(self, compiled: CompiledWatchlist) -> int:
        """Post again the firing spikes whose last post is ``resend_interval`` old (wall clock), one
        worker per receiver and interval; returns how many alerts were re-sent."""
        sent = 0
        for receiver in compiled.receivers.values():
            if isinstance(receiver, ApiReceiver):
                sent += await self._resend(receiver, compiled)
        return sent

    async def _resend(self, receiver: ApiReceiver, compiled: CompiledWatchlist) -> int:
        interval = receiver.policy.resend_interval
        entries = await self.retrying(lambda: self.resends.entries(receiver.name))
        now = self.clock()
        due = schedule_from_entries(entries, interval).due(now)
        if not due or not await self.retrying(lambda: self.resends.take_turn(receiver.name, interval / 2)):
            return 0
        results = await self.post(receiver, receiver.targets, due, now, compiled)
        for result in results:
            if not result.delivered:
                # Not dead-lettered: the next interval re-sends it anyway, and endsAt leaves 4 of them.
                log.warning(
                    "re-send of %d firing spike(s) to %s failed: %s", len(due), result.receiver, result.error
                )
        if any(result.delivered for result in results):
            firing, _ = resend_changes(due, now)
            await self.retrying(lambda: self.resends.update(receiver.name, firing, ()))
        return len(due)


def rule_subjects(compiled: CompiledWatchlist, alerts: Sequence[Alert]) -> dict[str, str]:
    """Rule id → the entity its alerts are about (the ``entity`` label), for the rules of ``alerts``."""
    wanted = {alert.rule_id for alert in alerts if alert.kind == "rule"}
    subjects: dict[str, str] = {}
    for rule in compiled.rules.rules:
        subject = rule_subject(rule.expr) if rule.id in wanted else None
        if subject is not None:
            subjects[rule.id] = subject
    return subjects
