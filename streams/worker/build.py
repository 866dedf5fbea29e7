"""The Faust app "newsmon": `faust -A streams.app worker` runs the tag, alert and delivery agents."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import faust
import redis.asyncio as aioredis
from aiohttp.web import Response
from aiokafka import AIOKafkaProducer
from faust.streams import Stream
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.web import Request, View
from faust.web import Response as WebResponse
from mode import Seconds
from mode.services import WaitResults
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.model.settings import Settings
from streams.store.counts import RollingCounts
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.watchlist.reload import WatchlistReloader
from streams.worker.delivery_step import DeliveryStep
from streams.worker.kafka import faust_credentials
from streams.worker.metrics import WorkerMetrics
from streams.worker.spike_step import SpikeStep
from streams.worker.tag_step import TagStep, send_batched

log = logging.getLogger(__name__)
BATCH_SIZE = 500
BATCH_WITHIN = 0.05  # seconds a partly filled batch waits: at 200 articles/s a batch never fills
# Bytes per producer batch (one per partition): a whole batch's tagged records fit in one.
PRODUCER_BATCH_BYTES = 512 * 1024


class DirectDrainConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer without four tasks per message.

    Faust's fetcher loop (`Consumer._drain_messages`, private) hands every message to the conductor
    as `await self.wait_first(callback(message), self.suspend_flow.wait())`: a task each for the
    callback, the suspend-flow, stopped and crashed events, an `asyncio.wait`, three cancellations;
    ~100 µs of CPU per article in docs/benchmarks.md, the largest cost in the worker. The callback
    (decode, put on the stream's queue) practically never suspends, so while no rebalance has
    suspended the flow it is awaited directly. A rebalance that starts meanwhile still stops the
    fetcher, which cancels it, and from then on the suspended flow takes Faust's own path.
    tests/unit/test_app.py fails if Faust's fetcher loop stops calling `wait_first` this way.
    """

    async def wait_first(self, *coros: Any, timeout: Seconds | None = None) -> WaitResults:
        if timeout is None and len(coros) == 2 and self._is_suspend_wait(coros[1]):
            coros[1].close()
            return WaitResults([coros[0]], [await coros[0]], False)
        return await super().wait_first(*coros, timeout=timeout)  # type: ignore[arg-type]  # None: mode's default

    def _is_suspend_wait(self, awaitable: Any) -> bool:
        """`awaitable` is an unstarted `self.suspend_flow.wait()`, and the flow is not suspended."""
        code, frame = getattr(awaitable, "cr_code", None), getattr(awaitable, "cr_frame", None)
        flow = self.suspend_flow
        return (
            code is type(flow).wait.__code__
            and frame is not None
            and frame.f_locals.get("self") is flow
            and not flow.is_set()
        )


class DirectDrainTransport(aiokafka_driver.Transport):
    """The `kafka://` transport, with DirectDrainConsumer."""

    Consumer = DirectDrainConsumer


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the app and wire its agents; `registry` lets tests keep metrics apart."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        store="memory://",
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_bind,
        topic_partitions=settings.topic_partitions,
        producer_acks=-1,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        broker_commit_every=BATCH_SIZE,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        # A dead worker's partitions move to the others after 15 s rather than Faust's default 60 s.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
    )
    app.transport = DirectDrainTransport(app.conf.broker_consumer, app)  # before any topic needs it
    metrics = WorkerMetrics(registry or CollectorRegistry())
    holder = watchlist_reloader(settings.watchlist, metrics)
    store = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    counter = RollingCounts(
        store,
        prefix=settings.redis_prefix,
        seen_ttl=settings.seen_ttl_seconds,
        idle_seconds=settings.partition_idle_seconds,
        partitions=settings.topic_partitions,
    )
    topics = {
        "tagged": settings.topic_tagged,
        "alerts": settings.topic_alerts,
        "deadletter": settings.topic_deadletter,
    }
    outgoing = {
        name: app.topic(topic, value_serializer="raw", key_serializer="raw") for name, topic in topics.items()
    }

    async def send(kind: str, key: bytes | None, value: bytes) -> Any:
        # The first await hands the message to the producer; the second waits for the broker's ack.
        return await (await outgoing[kind].send(key=key, value=value))

    async def send_batch(kind: str, records: Sequence[tuple[bytes, bytes, int | None]]) -> None:
        await send_batched(started_producer(app), topics[kind], records, settings.topic_articles)

    spikes = SpikeStep(store, settings.redis_prefix)
    step = TagStep(
        compiled=lambda: holder.current, counter=counter, send=send, metrics=metrics,
        max_bytes=settings.max_article_bytes, spikes=spikes, send_batch=send_batch,
    )  # fmt: skip
    spikes.publish = step.publish_alerts
    articles = app.topic(settings.topic_articles, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(articles, name="newsmon.tag")
    async def tag(stream: faust.StreamT[bytes]) -> None:
        async for events in cast(Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_WITHIN):
            # Faust acks (and later commits) a batch even when this body raises, so never let it raise.
            await until_done(partial(step.run, [event.message for event in events]), metrics)

    delivery = DeliveryStep(
        compiled=lambda: holder.current, client=store, prefix=settings.redis_prefix, metrics=metrics,
        send_dead=lambda key, value: send("deadletter", key, value), retrying=step.retrying,
        deadletter_source=settings.topic_alerts,
    )  # fmt: skip
    alerts = app.topic(settings.topic_alerts, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(alerts, name="newsmon.deliver")
    async def deliver(stream: faust.StreamT[bytes]) -> None:
        # One alert at a time per worker: a failing receiver delays later alerts instead of reordering them.
        async for event in stream.events():
            message = event.message
            run = partial(delivery.run, message.key, message.value, message.partition, message.offset)
            await until_done(run, metrics)

    @app.page("/metrics")
    async def metrics_page(view: View, request: Request) -> WebResponse:
        body = generate_latest(metrics.registry)
        return cast(WebResponse, Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST}))

    @app.timer(interval=1.0)
    async def advance_clock() -> None:
        await step.tick(caught_up_partitions(app, settings.topic_articles))

    @app.timer(interval=2.0)
    async def watch_watchlist() -> None:
        holder.reload_if_changed()

    reported: set[tuple[str, str]] = set()

    @app.timer(interval=5.0)
    async def report_lag() -> None:
        current: set[tuple[str, str]] = set()
        for tp in app.consumer.assignment():
            position = await app.consumer.position(tp)
            highwater = app.consumer.highwater(tp)  # None until the partition's first fetch
            if position is not None and highwater is not None:
                labels = (tp.topic, str(tp.partition))
                metrics.lag.labels(*labels).set(max(0, highwater - position))
                current.add(labels)
        # Partitions revoked in a rebalance now belong to another worker, which reports them.
        for labels in reported - current:
            metrics.lag.remove(*labels)
        reported.clear()
        reported.update(current)

    @app.task
    async def on_start() -> None:
        app.loop.add_signal_handler(signal.SIGHUP, holder.reload)
        log.info(
            "newsmon worker: %d entities, windows %s min", len(holder.current.entity_ids), counter.windows
        )

    return app


def watchlist_reloader(path: Path, metrics: WorkerMetrics) -> WatchlistReloader[CompiledWatchlist]:
    """The compiled watchlist, reloaded on change or SIGHUP, announced in the metrics and the log."""

    def announce(compiled: CompiledWatchlist) -> None:
        metrics.watch_entities(compiled.entity_ids)
        metrics.watch_receivers(compiled.receivers)
        log.info("watchlist %s: %d entities, %d rules, %d spike detectors, %d receivers", path,
                 len(compiled.entity_ids), len(compiled.rules.rules), len(compiled.spikes),
                 len(compiled.receivers))  # fmt: skip

    return WatchlistReloader(
        path, compile_watchlist, on_loaded=announce, on_outcome=lambda o: metrics.reloads.labels(o).inc()
    )


def started_producer(app: faust.App) -> AIOKafkaProducer:
    """Faust's started aiokafka producer, for whole-batch sends on its connection and settings.

    Faust has no public accessor: `Producer._ensure_producer()` is private (faust-streaming 0.15).
    tests/unit/test_app.py fails if it disappears or stops returning an AIOKafkaProducer.
    """
    producer = cast(Any, app.producer)._ensure_producer()
    if not isinstance(producer, AIOKafkaProducer):
        raise TypeError(f"Faust's producer is a {type(producer).__name__}, not an AIOKafkaProducer")
    return producer


def caught_up_partitions(app: faust.App, topic: str) -> list[int]:
    """Partitions of `topic` this worker has processed and committed up to their high watermark.

    Faust keeps committed offsets (next-offset semantics, advanced only for acked, i.e. counted and
    published, messages) in a private map; the fetch position would run ahead of processing.
    """
    committed: Mapping[TP, int | None] = getattr(app.consumer, "_committed_offset", {})
    done = []
    for tp in app.consumer.assignment():
        highwater = app.consumer.highwater(tp) if tp.topic == topic else None
        if highwater is not None and (committed.get(tp) or 0) >= highwater:
            done.append(tp.partition)
    return done


async def until_done(step: Callable[[], Awaitable[Any]], metrics: WorkerMetrics) -> None:
    """Run a batch step until it succeeds: an unexpected error stalls the partition (visible in the
    lag and in newsmon_batch_failures_total) instead of silently losing the batch."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.batch_failures.inc()
            log.exception("batch failed; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
