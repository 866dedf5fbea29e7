"""Where newsmon reaches into Faust's internals (each one guarded by a test in tests/unit/worker)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from mode import Seconds
from mode.services import WaitResults

from streams.worker.idempotent import IdempotentProducer


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
    """The `kafka://` transport, with DirectDrainConsumer and the idempotent producer."""

    Consumer = DirectDrainConsumer
    Producer = IdempotentProducer


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
    committed = committed_offsets(app)
    done = []
    for tp in app.consumer.assignment():
        highwater = highwater_of(app, tp) if tp.topic == topic else None
        if highwater is not None and (committed.get(tp) or 0) >= highwater:
            done.append(tp.partition)
    return done


def committed_offsets(app: faust.App) -> Mapping[TP, int | None]:
    """The offsets Faust last committed per partition (next to read; acked, i.e. processed, only).

    Private in faust-streaming 0.15 (`Consumer._committed_offset`), as in caught_up_partitions."""
    return cast(Mapping[TP, int | None], getattr(app.consumer, "_committed_offset", {}))


def highwater_of(app: faust.App, tp: TP) -> int | None:
    """The partition's last fetched high watermark; None before its first fetch or once revoked.

    The consumer runs in its own thread, so a rebalance can revoke a partition between
    `assignment()` and this call; aiokafka then fails an assert, and an error in a Faust timer
    crashes the whole app."""
    try:
        return app.consumer.highwater(tp)
    except (AssertionError, IllegalStateError):
        return None
