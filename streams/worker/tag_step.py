"""The tag agent's batch step: tag, count in Redis, evaluate spikes, publish tagged articles and alerts."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson

from streams.model.alert import Alert
from streams.model.minutes import to_seconds
from streams.store.client import RedisRetry
from streams.store.counts import Recorded, RollingCounts
from streams.stories.wire import DEFAULT_HORIZON_SECONDS
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.batch import Batch, Message, tag_batch
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox, Record, alert_records
from streams.worker.spike_step import SpikeStep


class TagStep:
    """Runs batches against Redis and Kafka; Redis outages pause the step instead of losing counts."""

    def __init__(
        self,
        *,
        compiled: Callable[[], CompiledWatchlist],
        counter: RollingCounts,
        outbox: Outbox,
        metrics: WorkerMetrics,
        max_bytes: int,
        retrying: RedisRetry,
        spikes: SpikeStep | None = None,
        story_horizon_seconds: int = DEFAULT_HORIZON_SECONDS,
    ) -> None:
        self.compiled = compiled
        self.counter = counter
        self.outbox = outbox
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.retrying = retrying
        self.spikes = spikes
        self.story_horizon_seconds = story_horizon_seconds
        # Counting and spike evaluation happen in clock order: a batch and the idle-clock timer must
        # not interleave, or a detector could step over minutes evaluated by the other.
        self._clock_lock = asyncio.Lock()

    async def run(self, messages: Sequence[Message]) -> Batch:
        started = time.perf_counter()
        compiled = self.compiled()
        batch = tag_batch(compiled, messages, self.max_bytes, datetime.now(UTC))
        spikes = self.spike_request(compiled, batch)
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.record(batch, spikes))
            batch.assign_stories(recorded.stories)
            batch.spike_alerts = await self.spike_alerts(compiled, recorded)
        await self.publish(batch)
        self.observe(batch, recorded, started)
        return batch

    async def record(self, batch: Batch, spikes: bytes | None) -> Recorded:
        """Count the batch and assign its stories in one call (the stories' time bucket is now's)."""
        now = time.time()
        stories = batch.story_request(self.story_horizon_seconds, now)
        return await self.counter.record(batch.tallies, now, spikes=spikes, stories=stories)

    def spike_request(self, compiled: CompiledWatchlist, batch: Batch) -> bytes | None:
        """The spike detectors' part of the counting call, so a batch costs one Redis round trip."""
        if self.spikes is None:
            return None
        counted = [
            (i, a.article, a.tally.minute, a.watched_names)
            for i, a in enumerate(batch.articles, 1)
            if a.watched_names
        ]
        return self.spikes.request(compiled, counted)

    async def spike_alerts(self, compiled: CompiledWatchlist, recorded: Recorded) -> list[Alert]:
        spikes = self.spikes
        if spikes is None:
            return []
        return await self.retrying(lambda: spikes.evaluate(compiled, recorded))

    async def tick(self, caught_up: Sequence[int] = ()) -> None:
        """Let the clock pass idle partitions, and raise or resolve the spikes that follow."""
        compiled = self.compiled()
        spikes = self.spike_request(compiled, Batch())
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.counter.tick(caught_up=caught_up, spikes=spikes))
            alerts = await self.spike_alerts(compiled, recorded)
        self.observe_clock(recorded)
        self.metrics.alerts.labels("spike").inc(len(alerts))

    def observe_clock(self, recorded: Recorded) -> None:
        if recorded.clock_minute >= 0:
            self.metrics.stream_clock.set(to_seconds(recorded.clock_minute))

    async def publish(self, batch: Batch) -> None:
        # Tagged messages and alerts are sent for redelivered articles too: the first delivery may have
        # died before its sends completed. Consumers key on article and alert ids.
        tagged: list[Record] = [
            (a.article.id.encode(), orjson.dumps(a.tagged), a.tally.partition) for a in batch.articles
        ]
        alerts = alert_records([alert for a in batch.articles for alert in a.rule_alerts])
        send = self.outbox
        pending = [send.send_batch("tagged", tagged), send.send_batch("alerts", alerts)]
        pending += [send.send("deadletter", key, orjson.dumps(value)) for key, value in batch.dead]
        await asyncio.gather(*pending)

    def observe(self, batch: Batch, recorded: Recorded, started: float) -> None:
        """Metrics once per batch and label (a labelled inc costs a lock and a dict lookup each)."""
        metrics = self.metrics
        now = time.time()
        for tagged in batch.articles:
            metrics.latency.observe(max(0.0, now - tagged.timestamp))
        mentions: collections.Counter[str] = collections.Counter()
        raised = 0
        for tagged, fresh in zip(batch.articles, recorded.fresh, strict=True):
            if fresh:
                mentions.update(tagged.tally.mentions)
                raised += len(tagged.rule_alerts)
        fresh_count = sum(recorded.fresh)
        metrics.articles.labels("tagged").inc(fresh_count)
        metrics.articles.labels("duplicate").inc(len(recorded.fresh) - fresh_count)
        for entity, count in mentions.items():
            metrics.mentions.labels(entity).inc(count)
        reasons = collections.Counter(record["reason"].split(":", 1)[0] for _, record in batch.dead)
        metrics.articles.labels("deadletter").inc(len(batch.dead))
        for reason, count in reasons.items():
            metrics.rejected.labels(reason).inc(count)
        metrics.alerts.labels("rule").inc(raised)
        metrics.alerts.labels("spike").inc(len(batch.spike_alerts))
        self.observe_clock(recorded)
        metrics.batch_seconds.observe(time.perf_counter() - started)
