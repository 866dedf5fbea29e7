"""The tag agent's batch step: tag, count in Redis, evaluate spikes, publish tagged articles and alerts."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson

from streams.model.alert import Alert
from streams.model.minutes import to_seconds
from streams.store.client import RedisRetry
from streams.store.counts import Recorded, RollingCounts
from streams.store.replicas import ReplicaWait
from streams.stories.wire import DEFAULT_HORIZON_SECONDS
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.batch import Batch, Message, tag_batch
from streams.worker.digest_step import DigestStep
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox, Record, alert_records
from streams.worker.spike_step import SpikeStep

log = logging.getLogger(__name__)


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
        replica_wait: ReplicaWait | None = None,
        digests: DigestStep | None = None,
        story_horizon_seconds: int = DEFAULT_HORIZON_SECONDS,
    ) -> None:
        self.compiled = compiled
        self.counter = counter
        self.outbox = outbox
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.retrying = retrying
        self.spikes = spikes
        self.replica_wait = replica_wait
        self._replicas_short = False  # the last WAIT timed out (logged once per episode)
        self.digests = digests
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
            batch.assign_stories(recorded.stories, recorded.rule_stories)
            batch.spike_alerts = await self.spike_alerts(compiled, recorded)
            await self.digest(compiled, recorded, batch)
        # The agent acknowledges the batch (and Faust later commits it) only after both.
        await asyncio.gather(self.publish(batch), self.confirm_replicas())
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

    async def confirm_replicas(self) -> None:
        """WAIT until NEWSMON_REDIS_WAIT_REPLICAS replicas hold the batch's writes (off when None): what
        a failover then loses was never acknowledged, so Kafka redelivers it and it is counted again."""
        wait = self.replica_wait
        if wait is None:
            return
        began = time.perf_counter()
        acknowledged = await self.retrying(wait)
        self.metrics.redis_wait_seconds.observe(time.perf_counter() - began)
        short = acknowledged < wait.replicas
        if short:
            self.metrics.redis_wait_timeouts.inc()
        if short != self._replicas_short:
            if short:
                log.warning("Redis WAIT: %d of %d replicas within %d ms; batches go on unconfirmed",
                            acknowledged, wait.replicas, wait.timeout_ms)  # fmt: skip
            else:
                log.info("Redis WAIT: %d replicas acknowledge batches again", acknowledged)
            self._replicas_short = short

    async def digest(self, compiled: CompiledWatchlist, recorded: Recorded, batch: Batch) -> None:
        """Tally the batch for the digests, then publish those of the periods the clock closed."""
        digests = self.digests
        if digests is None or not compiled.digests:
            return
        await self.retrying(lambda: digests.record(compiled, batch, recorded.fresh))
        sent = await self.retrying(lambda: digests.advance(compiled, recorded.clock_minute))
        self.metrics.alerts.labels("digest").inc(len(sent))

    async def tick(self, caught_up: Sequence[int] = ()) -> None:
        """Let the clock pass idle partitions, and raise or resolve the spikes that follow."""
        compiled = self.compiled()
        spikes = self.spike_request(compiled, Batch())
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.counter.tick(caught_up=caught_up, spikes=spikes))
            alerts = await self.spike_alerts(compiled, recorded)
            await self.digest(compiled, recorded, Batch())
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
        # A story's rule alert goes out again with each copy (its evidence grows; same id, so the
        # deliver agent sends its webhooks once).
        rule_alerts = [alert for a in batch.articles for alert in a.rule_alerts]
        alerts = alert_records(rule_alerts + [alert for alert, _ in batch.story_alerts])
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
        fresh_ids = set()
        for tagged, fresh in zip(batch.articles, recorded.fresh, strict=True):
            if fresh:
                mentions.update(tagged.tally.mentions)
                raised += len(tagged.rule_alerts)
                fresh_ids.add(tagged.article.id)
        # A story's alert is raised once: by its first copy matching the rule.
        raised += sum(
            1 for alert, first in batch.story_alerts if first and alert.evidence[0].article_id in fresh_ids
        )
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
