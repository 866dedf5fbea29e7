"""The tag agent's batch step: validate, tag, count in Redis, publish tagged articles and rule alerts."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
import redis.exceptions
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.model.alert import Alert
from streams.model.article import Article
from streams.model.deadletter import Rejected, deadletter_record
from streams.model.decode import decode_article, event_time
from streams.model.minutes import minute_of, to_seconds
from streams.model.tagged import tagged_record
from streams.spikes.evidence import names_by_entity, spike_watched
from streams.store.counts import Recorded, RollingCounts, Tally
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.metrics import WorkerMetrics
from streams.worker.spike_step import SpikeStep

log = logging.getLogger(__name__)

# ("tagged" | "alerts" | "deadletter", key, value) -> completes when the broker has the message.
Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]
# ("tagged" | "alerts", [(key, value, source partition or None), ...]) -> completes when the broker
# has every one of them.
SendBatch = Callable[[str, Sequence[tuple[bytes, bytes, int | None]]], Awaitable[None]]
T = TypeVar("T")
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Message(Protocol):
    """What the step needs of a consumed Kafka message (faust's Message satisfies it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


@dataclass
class Batch:
    """Everything one batch produces, gathered before any I/O."""

    tallies: list[Tally] = field(default_factory=list)
    tagged: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    alerts: list[tuple[int, Alert]] = field(default_factory=list)  # (index into tallies, alert)
    dead: list[tuple[bytes | None, dict[str, Any]]] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    # Per article, the names matched for each spike-watched entity it mentions (spike evidence).
    watched_names: list[dict[str, list[str]]] = field(default_factory=list)
    spike_alerts: list[Alert] = field(default_factory=list)  # already published by the spike step


def tag_batch(
    compiled: CompiledWatchlist, messages: Sequence[Message], max_bytes: int, now: datetime
) -> Batch:
    """The pure part of a batch: decode, tag and evaluate rules for every message."""
    batch = Batch()
    for message in messages:
        result = decode_article(message.value, max_bytes)
        if isinstance(result, Rejected):
            record = deadletter_record(
                result.describe(), topic=message.topic, partition=message.partition, offset=message.offset,
                received_at=now, payload=message.value,
            )  # fmt: skip
            batch.dead.append((message.key, record))
            continue
        tag_article(compiled, result, event_time(result, now), message, batch)
    return batch


def tag_article(
    compiled: CompiledWatchlist, article: Article, at: datetime, message: Message, batch: Batch
) -> None:
    rules = compiled.rules
    if rules.needs_positions:
        matches = compiled.matcher.find(article.title, article.body)
        mentions: dict[str, int] = {}
        for match in matches:
            mentions[match.entity] = mentions.get(match.entity, 0) + 1
        hits = rules.hits_for_matches(matches)
    else:
        mentions = compiled.matcher.mentions(article.title, article.body)
        hits = rules.hits_mentioned(mentions.keys())
    watched = spike_watched(compiled.spikes, mentions)
    if not rules.needs_positions:
        # Rule and spike evidence name the matched names: one more scan, only when there is evidence.
        matches = compiled.matcher.find(article.title, article.body) if hits or watched else []
    for rule in hits:
        names = sorted({m.name for m in matches if m.entity in rule.entities})
        batch.alerts.append((len(batch.tallies), rule.alert(article, names, at)))
    batch.tallies.append(Tally(article.id, minute_of(at), article.source, mentions, message.partition))
    batch.tagged.append(
        (article.id, tagged_record(article, at, mentions, [r.id for r in hits]), message.timestamp)
    )
    batch.articles.append(article)
    batch.watched_names.append(names_by_entity(matches, watched) if watched else {})


class TagStep:
    """Runs batches against Redis and Kafka; Redis outages pause the step instead of losing counts."""

    def __init__(
        self,
        *,
        compiled: Callable[[], CompiledWatchlist],
        counter: RollingCounts,
        send: Send,
        metrics: WorkerMetrics,
        max_bytes: int,
        spikes: SpikeStep | None = None,
        send_batch: SendBatch | None = None,
    ) -> None:
        self.compiled = compiled
        self.counter = counter
        self.send = send
        self.send_batch = send_batch or self._send_one_by_one
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.spikes = spikes
        # Counting and spike evaluation happen in clock order: a batch and the idle-clock timer must
        # not interleave, or a detector could step over minutes evaluated by the other.
        self._clock_lock = asyncio.Lock()

    async def run(self, messages: Sequence[Message]) -> Batch:
        started = time.perf_counter()
        compiled = self.compiled()
        batch = tag_batch(compiled, messages, self.max_bytes, datetime.now(UTC))
        spikes = self.spike_request(compiled, batch)
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.counter.record(batch.tallies, spikes=spikes))
            batch.spike_alerts = await self.spike_alerts(compiled, recorded)
        await self.publish(batch)
        self.observe(batch, recorded, started)
        return batch

    def spike_request(self, compiled: CompiledWatchlist, batch: Batch) -> bytes | None:
        """The spike detectors' part of the counting call, so a batch costs one Redis round trip."""
        if self.spikes is None:
            return None
        counted = enumerate(zip(batch.articles, batch.tallies, batch.watched_names, strict=True), 1)
        return self.spikes.request(
            compiled, [(i, a, t.minute, names) for i, (a, t, names) in counted if names]
        )

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

    async def publish_alerts(self, alerts: list[Alert]) -> None:
        """Send alerts and wait for the broker (spike alerts go out before their state is written)."""
        await self.send_batch("alerts", [(a.id.encode(), a.model_dump_json().encode(), None) for a in alerts])

    def observe_clock(self, recorded: Recorded) -> None:
        if recorded.clock_minute >= 0:
            self.metrics.stream_clock.set(to_seconds(recorded.clock_minute))

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry a Redis call until Redis answers: consumption pauses, nothing is dropped."""
        delay = 0.2
        while True:
            try:
                return await call()
            except REDIS_DOWN as err:
                self.metrics.redis_retries.inc()
                log.warning("Redis unavailable (%s); retrying in %.1fs, consumption paused", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def publish(self, batch: Batch) -> None:
        # Tagged messages and alerts are sent for redelivered articles too: the first delivery may have
        # died before its sends completed. Consumers key on article and alert ids.
        tagged = [
            (key.encode(), orjson.dumps(value), tally.partition)
            for (key, value, _), tally in zip(batch.tagged, batch.tallies, strict=True)
        ]
        alerts: list[tuple[bytes, bytes, int | None]] = [
            (a.id.encode(), a.model_dump_json().encode(), None) for _, a in batch.alerts
        ]
        pending = [self.send_batch("tagged", tagged), self.send_batch("alerts", alerts)]
        pending += [self.send("deadletter", key, orjson.dumps(value)) for key, value in batch.dead]
        await asyncio.gather(*pending)

    async def _send_one_by_one(self, kind: str, records: Sequence[tuple[bytes, bytes, int | None]]) -> None:
        await asyncio.gather(*(self.send(kind, key, value) for key, value, _ in records))

    def observe(self, batch: Batch, recorded: Recorded, started: float) -> None:
        """Metrics once per batch and label (a labelled inc costs a lock and a dict lookup each)."""
        metrics = self.metrics
        now = time.time()
        for _, _, timestamp in batch.tagged:
            metrics.latency.observe(max(0.0, now - timestamp))
        mentions: collections.Counter[str] = collections.Counter()
        for tally, fresh in zip(batch.tallies, recorded.fresh, strict=True):
            if fresh:
                mentions.update(tally.mentions)
        fresh_count = sum(recorded.fresh)
        metrics.articles.labels("tagged").inc(fresh_count)
        metrics.articles.labels("duplicate").inc(len(recorded.fresh) - fresh_count)
        for entity, count in mentions.items():
            metrics.mentions.labels(entity).inc(count)
        reasons = collections.Counter(record["reason"].split(":", 1)[0] for _, record in batch.dead)
        metrics.articles.labels("deadletter").inc(len(batch.dead))
        for reason, count in reasons.items():
            metrics.rejected.labels(reason).inc(count)
        raised = sum(1 for index, _ in batch.alerts if recorded.fresh[index])
        metrics.alerts.labels("rule").inc(raised)
        metrics.alerts.labels("spike").inc(len(batch.spike_alerts))
        self.observe_clock(recorded)
        metrics.batch_seconds.observe(time.perf_counter() - started)


async def send_batched(
    producer: AIOKafkaProducer,
    topic: str,
    records: Sequence[tuple[bytes, bytes, int | None]],
    source_topic: str,
) -> None:
    """Publish records as one aiokafka batch per partition, then wait for every ack.

    One `send_batch` per partition instead of one `send` per record: no per-record future, task or
    log record. A record with a source partition goes to it when both topics have as many
    partitions (a tagged record has its article's key, and the same murmur2 partitioner would put it
    there anyway, without hashing the key in Python again); any other to murmur2(key), like a send.
    """
    if not records:
        return
    partitions = sorted(await producer.partitions_for(topic))
    same = len(partitions) == len(await producer.partitions_for(source_topic))
    builders: dict[int, Any] = {}
    pending = []
    for key, value, source in records:
        partition = (
            source if same and source is not None else DefaultPartitioner()(key, partitions, partitions)
        )
        builder = builders.get(partition)
        if builder is None:
            builder = builders[partition] = producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
            pending.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[partition] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a {len(value)}-byte record does not fit in an empty producer batch")
    for partition, builder in builders.items():
        pending.append(await producer.send_batch(builder, topic, partition=partition))
    await asyncio.gather(*pending)
