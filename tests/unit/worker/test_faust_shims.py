"""The Faust app's wiring: whole-batch publishing of tagged records, Faust internals it relies on, settings."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from faust.exceptions import NotReady
from faust.transport.consumer import Consumer
from prometheus_client import CollectorRegistry

from streams.model.settings import Settings
from streams.worker.build import create_app
from streams.worker.faust_shims import DirectDrainConsumer, started_producer
from streams.worker.outbox import send_batched

ROOT = Path(__file__).resolve().parents[3]


class Builder:
    """An aiokafka BatchBuilder that holds `room` records."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: float | None) -> object | None:
        if len(self.records) == self.room:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Records what `send_batched` submits; acks complete at once."""

    def __init__(self, partitions: dict[str, int], room: int = 100) -> None:
        self.partitions = partitions
        self.room = room
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))

    def create_batch(self) -> Builder:
        return Builder(self.room)

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, batch.records))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


RECORDS: list[tuple[bytes, bytes, int | None]] = [
    (b"a", b"1", 3),
    (b"b", b"2", 0),
    (b"c", b"3", 3),
    (b"d", b"4", 3),
]


async def test_records_go_to_their_source_partition_one_batch_each() -> None:
    producer = FakeProducer({"tagged": 8, "articles": 8})
    await send_batched(producer, "tagged", RECORDS, "articles")  # type: ignore[arg-type]
    assert producer.sent == [
        ("tagged", 3, [(b"a", b"1"), (b"c", b"3"), (b"d", b"4")]),
        ("tagged", 0, [(b"b", b"2")]),
    ]


async def test_a_full_batch_is_sent_and_another_started() -> None:
    producer = FakeProducer({"tagged": 8, "articles": 8}, room=2)
    await send_batched(producer, "tagged", RECORDS, "articles")  # type: ignore[arg-type]
    assert producer.sent == [
        ("tagged", 3, [(b"a", b"1"), (b"c", b"3")]),
        ("tagged", 3, [(b"d", b"4")]),
        ("tagged", 0, [(b"b", b"2")]),
    ]


async def test_other_partition_counts_hash_the_key_like_a_plain_send() -> None:
    producer = FakeProducer({"tagged": 3, "articles": 8})
    await send_batched(producer, "tagged", RECORDS, "articles")  # type: ignore[arg-type]
    placed = {key: partition for _, partition, records in producer.sent for key, _ in records}
    assert placed == {key: DefaultPartitioner()(key, [0, 1, 2], [0, 1, 2]) for key, _, _ in RECORDS}
    assert placed == {b"a": 1, b"b": 2, b"c": 1, b"d": 2}


async def test_records_without_a_source_partition_hash_the_key() -> None:
    producer = FakeProducer({"alerts": 8, "articles": 8})
    await send_batched(producer, "alerts", [(b"a", b"1", None), (b"b", b"2", 0)], "articles")  # type: ignore[arg-type]
    assert producer.sent == [
        ("alerts", DefaultPartitioner()(b"a", list(range(8)), []), [(b"a", b"1")]),
        ("alerts", 0, [(b"b", b"2")]),
    ]
    assert producer.sent[0][1] == 4


async def test_nothing_to_send_needs_no_metadata() -> None:
    producer = FakeProducer({})
    await send_batched(producer, "tagged", [], "articles")  # type: ignore[arg-type]
    assert producer.sent == []


async def test_a_record_too_large_for_an_empty_batch_is_an_error() -> None:
    producer = FakeProducer({"tagged": 8, "articles": 8}, room=0)
    with pytest.raises(ValueError, match="1-byte record does not fit"):
        await send_batched(producer, "tagged", RECORDS, "articles")  # type: ignore[arg-type]


@pytest.fixture
def app() -> faust.App:
    settings = Settings(_env_file=None, watchlist=ROOT / "ops" / "watchlist.yaml")  # type: ignore[call-arg]
    return create_app(settings, CollectorRegistry())


async def test_faust_private_producer_accessor_still_exists(app: faust.App) -> None:
    """started_producer relies on Faust's private Producer._ensure_producer and ._producer: if this
    fails after a Faust upgrade, find the new way to reach the started AIOKafkaProducer."""
    with pytest.raises(NotReady):
        started_producer(app)
    aiokafka_producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    producer: Any = app.producer
    producer._producer = aiokafka_producer
    assert started_producer(app) is aiokafka_producer
    producer._producer = object()
    with pytest.raises(TypeError, match="Faust's producer is a object, not an AIOKafkaProducer"):
        started_producer(app)


def test_the_worker_section_of_settings_reaches_faust() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, watchlist=ROOT / "ops" / "watchlist.yaml", worker_producer_batch_bytes=65_536,
        worker_batch_size=100, worker_session_timeout_seconds=20.0, worker_heartbeat_seconds=4.0,
    )  # fmt: skip
    conf = create_app(settings, CollectorRegistry()).conf
    assert (
        conf.producer_max_batch_size, conf.broker_commit_every, conf.broker_session_timeout,
        conf.broker_heartbeat_interval, conf.producer_acks, conf.consumer_auto_offset_reset,
    ) == (65_536, 100, 20.0, 4.0, -1, "earliest")  # fmt: skip


def test_a_whole_default_batch_of_tagged_records_fits_one_producer_batch() -> None:
    """500 tagged records of ~1 KiB (an article with a few mentions) fit in one batch per partition."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.worker_batch_size, settings.worker_producer_batch_bytes) == (500, 524_288)
    assert settings.worker_batch_size * 1024 <= settings.worker_producer_batch_bytes


def test_faust_fetcher_loop_still_waits_on_each_callback_and_the_suspend_flow() -> None:
    """DirectDrainConsumer short-cuts exactly this call: if it fails after a Faust upgrade, the
    short-cut no longer applies (slower, still correct); see whether it is still needed."""
    source = inspect.getsource(Consumer._drain_messages)
    assert re.search(
        r"await self\.wait_first\(\s*callback\(message\), self\.suspend_flow\.wait\(\)\s*\)", source
    )


async def test_a_message_callback_runs_in_the_fetcher_task_while_the_flow_is_not_suspended(
    app: faust.App,
) -> None:
    consumer = app.consumer
    assert isinstance(consumer, DirectDrainConsumer)
    ran_in: list[asyncio.Task[Any] | None] = []

    async def callback() -> int:
        ran_in.append(asyncio.current_task())
        return 42

    results = await consumer.wait_first(callback(), consumer.suspend_flow.wait())
    assert (results.results, results.stopped, ran_in) == ([42], False, [asyncio.current_task()])


async def test_a_suspended_flow_takes_fausts_own_path(app: faust.App) -> None:
    consumer = app.consumer
    consumer.suspend_flow.set()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    suspended = consumer.suspend_flow.wait()
    results = await asyncio.wait_for(consumer.wait_first(never, suspended), 5)
    assert (results.done, results.results, results.stopped) == ([suspended], [True], False)
    assert never.cancelled()
