"""The tag agent's batch step: validate, tag, count in Redis, publish tagged articles and rule alerts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
import redis.exceptions

from streams.alerts import Alert
from streams.article import Article
from streams.counting import Counter, Recorded, Tally, minute_of
from streams.engine import Engine
from streams.metrics import WorkerMetrics
from streams.pipeline import Rejected, deadletter_record, decode_article, event_time, tagged_record
from streams.spiking import SpikeStep, Tagged

log = logging.getLogger(__name__)

# ("tagged" | "alerts" | "deadletter", key, value) -> completes when the broker has the message.
Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]
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
    spike_alerts: list[Alert] = field(default_factory=list)  # already published by the spike step


def tag_batch(engine: Engine, messages: Sequence[Message], max_bytes: int, now: datetime) -> Batch:
    """The pure part of a batch: decode, tag and evaluate rules for every message."""
    batch = Batch()
    for message in messages:
        result = decode_article(message.value, max_bytes)
        if isinstance(result, Rejected):
            record = deadletter_record(
                result, topic=message.topic, partition=message.partition, offset=message.offset,
                received_at=now, payload=message.value,
            )  # fmt: skip
            batch.dead.append((message.key, record))
            continue
        tag_article(engine, result, event_time(result, now), message, batch)
    return batch


def tag_article(engine: Engine, article: Article, at: datetime, message: Message, batch: Batch) -> None:
    rules = engine.rules
    if rules.needs_positions:
        matches = engine.matcher.find(article.title, article.body)
        mentions: dict[str, int] = {}
        for match in matches:
            mentions[match.entity] = mentions.get(match.entity, 0) + 1
        hits = rules.hits_for_matches(matches)
    else:
        mentions = engine.matcher.mentions(article.title, article.body)
        hits = rules.hits_mentioned(mentions.keys())
        matches = engine.matcher.find(article.title, article.body) if hits else []
    for rule in hits:
        names = sorted({m.name for m in matches if m.entity in rule.entities})
        batch.alerts.append((len(batch.tallies), rule.alert(article, names, at)))
    batch.tallies.append(Tally(article.id, minute_of(at), article.source, mentions, message.partition))
    batch.tagged.append(
        (article.id, tagged_record(article, at, mentions, [r.id for r in hits]), message.timestamp)
    )
    batch.articles.append(article)


class TagStep:
    """Runs batches against Redis and Kafka; Redis outages pause the step instead of losing counts."""

    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        counter: Counter,
        send: Send,
        metrics: WorkerMetrics,
        max_bytes: int,
        spikes: SpikeStep | None = None,
    ) -> None:
        self.engine = engine
        self.counter = counter
        self.send = send
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.spikes = spikes
        # Counting and spike evaluation happen in clock order: a batch and the idle-clock timer must
        # not interleave, or a detector could step over minutes evaluated by the other.
        self._clock_lock = asyncio.Lock()

    async def run(self, messages: Sequence[Message]) -> Batch:
        started = time.perf_counter()
        engine = self.engine()
        batch = tag_batch(engine, messages, self.max_bytes, datetime.now(UTC))
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.counter.record(batch.tallies))
            fresh = zip(batch.articles, batch.tallies, recorded.fresh, strict=True)
            tagged = [(a, t.minute, t.mentions) for a, t, new in fresh if new and t.mentions]
            batch.spike_alerts = await self.spike_alerts(engine, recorded, tagged)
        await self.publish(batch)
        self.observe(batch, recorded, started)
        return batch

    async def spike_alerts(self, engine: Engine, recorded: Recorded, tagged: list[Tagged]) -> list[Alert]:
        spikes = self.spikes
        if spikes is None:
            return []
        return await self.retrying(lambda: spikes.evaluate(engine, recorded, tagged))

    async def tick(self, caught_up: Sequence[int] = ()) -> None:
        """Let the clock pass idle partitions, and raise or resolve the spikes that follow."""
        engine = self.engine()
        async with self._clock_lock:
            recorded = await self.retrying(lambda: self.counter.tick(caught_up=caught_up))
            alerts = await self.spike_alerts(engine, recorded, [])
        self.observe_clock(recorded)
        self.metrics.alerts.labels("spike").inc(len(alerts))

    async def publish_alerts(self, alerts: list[Alert]) -> None:
        """Send alerts and wait for the broker (spike alerts go out before their state is written)."""
        await asyncio.gather(
            *(self.send("alerts", a.id.encode(), a.model_dump_json().encode()) for a in alerts)
        )

    def observe_clock(self, recorded: Recorded) -> None:
        if recorded.clock_minute >= 0:
            self.metrics.stream_clock.set(recorded.clock_minute * 60)

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
        pending = [self.send("tagged", key.encode(), orjson.dumps(value)) for key, value, _ in batch.tagged]
        pending += [self.send("alerts", a.id.encode(), a.model_dump_json().encode()) for _, a in batch.alerts]
        pending += [self.send("deadletter", key, orjson.dumps(value)) for key, value in batch.dead]
        await asyncio.gather(*pending)

    def observe(self, batch: Batch, recorded: Recorded, started: float) -> None:
        metrics = self.metrics
        now = time.time()
        for (_, _, timestamp), tally, fresh in zip(batch.tagged, batch.tallies, recorded.fresh, strict=True):
            metrics.latency.observe(max(0.0, now - timestamp))
            if not fresh:
                metrics.articles.labels("duplicate").inc()
                continue
            metrics.articles.labels("tagged").inc()
            for entity, count in tally.mentions.items():
                metrics.mentions.labels(entity).inc(count)
        for _, record in batch.dead:
            metrics.articles.labels("deadletter").inc()
            metrics.rejected.labels(record["reason"].split(":", 1)[0]).inc()
        raised = sum(1 for index, _ in batch.alerts if recorded.fresh[index])
        metrics.alerts.labels("rule").inc(raised)
        metrics.alerts.labels("spike").inc(len(batch.spike_alerts))
        self.observe_clock(recorded)
        metrics.batch_seconds.observe(time.perf_counter() - started)
