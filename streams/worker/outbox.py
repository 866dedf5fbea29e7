"""Where the worker's output goes: tagged records, alerts and dead letters, sent and acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.model.alert import Alert

# A record of a whole-batch send: key, value, and the source partition (or None: partition by key).
Record = tuple[bytes, bytes, int | None]
# ("tagged" | "alerts" | "deadletter", key, value) -> completes when the broker has the message.
Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]
# ("tagged" | "alerts", records) -> completes when the broker has every one of them.
SendBatch = Callable[[str, Sequence[Record]], Awaitable[None]]


class Outbox:
    """The sends the steps share: built first, so no step needs another step to publish."""

    def __init__(self, send: Send, send_batch: SendBatch | None = None) -> None:
        self.send = send
        self.send_batch = send_batch or self._send_one_by_one

    async def publish_alerts(self, alerts: Sequence[Alert]) -> None:
        """Send alerts and wait for the broker (spike alerts go out before their state is written)."""
        await self.send_batch("alerts", alert_records(alerts))

    async def _send_one_by_one(self, kind: str, records: Sequence[Record]) -> None:
        await asyncio.gather(*(self.send(kind, key, value) for key, value, _ in records))


def alert_records(alerts: Sequence[Alert]) -> list[Record]:
    return [(a.id.encode(), a.model_dump_json().encode(), None) for a in alerts]


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
