"""Where articles go: Kafka (idempotent, acks=all, bounded buffer) or JSON Lines on stdout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

from kafka import KafkaProducer
from kafka.codec import has_zstd

from producers.metrics import ProducerMetrics
from producers.validate import Rejection, encode_article
from streams.model.article import Article
from streams.model.settings import Settings
from streams.worker.kafka import kafka_python_options

log = logging.getLogger(__name__)

DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_BLOCK_MS = 60_000
# Record batches carry headers around the value; keep room for them above the article limit.
REQUEST_OVERHEAD_BYTES = 64 * 1024

FailureHook = Callable[[str, BaseException], None]


class Sink(Protocol):
    """What every producer command publishes to; ``acked``/``failed`` count delivery outcomes."""

    acked: int
    failed: int

    def send(self, article: Article) -> None:
        """Queue one article; raises ArticleRejected (oversize) or BufferFull (back-pressure timeout)."""

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is delivered (or has failed)."""

    def close(self) -> None:
        """Flush, then release the connection."""


class BufferFull(Exception):
    """The bounded send buffer stayed full for longer than max_block_ms."""


class InFlightBudget:
    """Bytes handed to the client but not yet acknowledged, bounded: ``acquire`` blocks when full.

    kafka-python 3 has no ``buffer_memory`` (its accumulator is unbounded), so the bound lives here.
    """

    def __init__(self, limit_bytes: int, max_block_s: float) -> None:
        self.limit_bytes = limit_bytes
        self.max_block_s = max_block_s
        self.in_flight = 0
        self._cond = threading.Condition()

    def acquire(self, size: int) -> None:
        """Reserve ``size`` bytes, waiting up to max_block_s for acknowledgements to free room."""
        deadline = time.monotonic() + self.max_block_s
        with self._cond:
            # One record larger than the whole budget still goes through once the buffer is empty.
            while self.in_flight and self.in_flight + size > self.limit_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BufferFull(f"{self.in_flight} bytes in flight for more than {self.max_block_s}s")
                self._cond.wait(remaining)
            self.in_flight += size

    def release(self, size: int) -> None:
        """Give back ``size`` bytes (called from the client's I/O thread)."""
        with self._cond:
            self.in_flight -= size
            self._cond.notify_all()


def compression_type() -> str:
    """zstd when its codec is installed, else gzip (in the standard library; lz4 needs a package)."""
    return "zstd" if has_zstd() else "gzip"


class KafkaPublisher:
    """Articles onto the articles topic, keyed by id; counts and latency from delivery callbacks."""

    def __init__(
        self,
        settings: Settings,
        metrics: ProducerMetrics,
        command: str,
        *,
        topic: str | None = None,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        max_block_ms: int = DEFAULT_MAX_BLOCK_MS,
        on_failure: FailureHook | None = None,
    ) -> None:
        self.topic = topic or settings.topic_articles
        self.max_bytes = settings.max_article_bytes
        self.metrics = metrics
        self.command = command
        self.on_failure = on_failure
        self.acked = 0
        self.failed = 0
        self.budget = InFlightBudget(buffer_bytes, max_block_ms / 1000)
        self.producer = KafkaProducer(
            **kafka_python_options(settings),
            enable_idempotence=True,
            acks="all",
            compression_type=compression_type(),
            linger_ms=20,
            batch_size=256 * 1024,
            max_block_ms=max_block_ms,
            max_request_size=max(1024 * 1024, self.max_bytes + REQUEST_OVERHEAD_BYTES),
        )

    def send(self, article: Article) -> None:
        value = encode_article(article, self.max_bytes)
        self.budget.acquire(len(value))
        started = time.perf_counter()
        try:
            future = self.producer.send(self.topic, key=article.id.encode(), value=value)
        except Exception:
            self.budget.release(len(value))
            raise
        future.add_callback(self._delivered, len(value), started)
        future.add_errback(self._not_delivered, len(value), article.id)

    def _delivered(self, size: int, started: float, _metadata: object) -> None:
        self.budget.release(size)
        self.acked += 1
        self.metrics.send_latency.observe(time.perf_counter() - started)
        self.metrics.published.labels(command=self.command).inc()

    def _not_delivered(self, size: int, article_id: str, error: BaseException) -> None:
        self.budget.release(size)
        self.failed += 1
        self.metrics.reject(Rejection.SEND_FAILED)
        log.error("article %s not delivered to %s: %s", article_id, self.topic, error)
        if self.on_failure is not None:
            self.on_failure(article_id, error)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)

    def close(self) -> None:
        # flush first so that nothing in flight is dropped, then close without a second wait.
        self.producer.flush()
        self.producer.close()


class StdoutSink:
    """Article JSON Lines on a binary stream (stdout for ``--stdout``), same interface as Kafka."""

    def __init__(self, stream: IO[bytes], metrics: ProducerMetrics, command: str, max_bytes: int) -> None:
        self.stream = stream
        self.metrics = metrics
        self.command = command
        self.max_bytes = max_bytes
        self.acked = 0
        self.failed = 0

    def send(self, article: Article) -> None:
        self.stream.write(encode_article(article, self.max_bytes) + b"\n")
        self.acked += 1
        self.metrics.published.labels(command=self.command).inc()

    def flush(self, timeout: float | None = None) -> None:
        self.stream.flush()

    def close(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); nothing left to deliver to.
            log.info("stdout closed by the reader")
