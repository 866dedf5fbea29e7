"""Build the worker: the Faust app, then its parts (each made once, from Settings), then the agents."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import faust
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from streams.model.settings import Settings
from streams.store.client import RedisRetry, connect
from streams.store.counts import RollingCounts
from streams.store.keys import RedisKeys
from streams.store.replicas import ReplicaWait
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.watchlist.entity_files import DEFAULT_MAX_BYTES
from streams.watchlist.reload import WatchlistReloader
from streams.watchlist.retire import retire
from streams.webhooks.alertmanager_receiver import delivery_names
from streams.worker.agents import install_agents
from streams.worker.delivery_step import DeliveryStep
from streams.worker.digest_step import DigestStep
from streams.worker.faust_shims import DirectDrainTransport, started_producer
from streams.worker.health_probe import HealthProbe
from streams.worker.kafka import faust_credentials
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox, Record, send_batched
from streams.worker.parts import WorkerParts
from streams.worker.spike_step import SpikeStep
from streams.worker.tag_step import TagStep

log = logging.getLogger(__name__)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the app and wire its agents; `registry` lets tests keep metrics apart."""
    app = faust_app(settings)
    install_agents(app, build_parts(app, settings, registry or CollectorRegistry()), settings)
    return app


def faust_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        store="memory://",
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_bind,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        producer_acks=-1,
        producer_max_batch_size=settings.worker_producer_batch_bytes,
        broker_commit_every=settings.worker_batch_size,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        broker_session_timeout=settings.worker_session_timeout_seconds,
        broker_heartbeat_interval=settings.worker_heartbeat_seconds,
    )
    app.transport = DirectDrainTransport(app.conf.broker_consumer, app)  # before any topic needs it
    return app


def build_parts(app: faust.App, settings: Settings, registry: CollectorRegistry) -> WorkerParts:
    metrics = WorkerMetrics(registry)
    watchlist = watchlist_reloader(settings.watchlist, metrics, settings.entity_file_max_bytes)
    store = connect(settings)
    retrying = RedisRetry(on_retry=metrics.redis_retries.inc)
    counts = RollingCounts(
        store,
        prefix=settings.redis_prefix,
        seen_ttl=settings.seen_ttl_seconds,
        bucket_ttl=settings.bucket_ttl_seconds,
        idle_seconds=settings.partition_idle_seconds,
        partitions=settings.topic_partitions,
    )
    outbox = kafka_outbox(app, settings)
    spikes = SpikeStep(
        store, settings.redis_prefix, evidence_ttl=settings.bucket_ttl_seconds, publish=outbox.publish_alerts
    )
    tag = TagStep(
        compiled=lambda: watchlist.current, counter=counts, outbox=outbox, metrics=metrics,
        max_bytes=settings.max_article_bytes, retrying=retrying, spikes=spikes,
        replica_wait=replica_wait(store, settings),
        digests=DigestStep(store, settings.redis_prefix, publish=outbox.publish_alerts),
        story_horizon_seconds=int(settings.story_horizon.total_seconds()),
    )  # fmt: skip
    delivery = DeliveryStep(
        compiled=lambda: watchlist.current, client=store, prefix=settings.redis_prefix, metrics=metrics,
        send_dead=lambda key, value: outbox.send("deadletter", key, value), retrying=retrying,
        deadletter_source=settings.topic_alerts, delivered_ttl=settings.delivered_ttl_seconds,
    )  # fmt: skip
    return WorkerParts(metrics, watchlist, counts, outbox, tag, delivery, HealthProbe(app, store, settings))


def replica_wait(store: aioredis.Redis, settings: Settings) -> ReplicaWait | None:
    if settings.redis_wait_replicas == 0:
        return None
    keys = RedisKeys(settings.redis_prefix)
    return ReplicaWait(store, keys, settings.redis_wait_replicas, settings.redis_wait_timeout_ms)


def kafka_outbox(app: faust.App, settings: Settings) -> Outbox:
    """Single sends through Faust's topics; whole batches straight on Faust's aiokafka producer."""
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

    async def send_batch(kind: str, records: Sequence[Record]) -> None:
        await send_batched(started_producer(app), topics[kind], records, settings.topic_articles)

    return Outbox(send, send_batch)


def watchlist_reloader(
    path: Path, metrics: WorkerMetrics, max_entity_file_bytes: int = DEFAULT_MAX_BYTES
) -> WatchlistReloader[CompiledWatchlist]:
    """The compiled watchlist, reloaded on change or SIGHUP, announced in the metrics and the log."""

    def announce(compiled: CompiledWatchlist) -> None:
        metrics.watch_entities(compiled.entity_ids)
        metrics.watch_receivers(delivery_names(compiled.receivers))
        log.info("watchlist %s: %d entities, %d rules, %d spike detectors, %d receivers", path,
                 len(compiled.entity_ids), len(compiled.rules.rules), len(compiled.spikes),
                 len(compiled.receivers))  # fmt: skip

    return WatchlistReloader(
        path,
        partial(compile_watchlist, max_entity_file_bytes=max_entity_file_bytes),
        on_loaded=announce,
        on_outcome=lambda o: metrics.reloads.labels(o).inc(),
        files=lambda compiled: compiled.watchlist.entity_files,
        on_duration=metrics.reload_seconds.observe,
        retire=retire,
        on_stall=metrics.reload_loop_stall_seconds.set,
    )
