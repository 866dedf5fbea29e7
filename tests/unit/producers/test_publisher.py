"""Sinks: stdout JSON Lines, the Kafka publisher's callbacks and its bounded in-flight buffer."""

from __future__ import annotations

import io
import threading
import time
from typing import Any, ClassVar

import orjson
import pytest
from kafka.future import Future
from prometheus_client import CollectorRegistry

from producers import publisher
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.publisher import BufferFull, InFlightBudget, KafkaPublisher, StdoutSink, compression_type
from producers.validate import ArticleRejected, Rejection
from streams.model.article import Article
from streams.model.settings import Settings


def article(n: int = 1, body: str = "body") -> Article:
    return Article(id=f"id-{n}", title=f"title {n}", body=body, published_at="2016-10-22T00:00:00+00:00")


class FakeKafkaProducer:
    """Records sends and hands out futures the test completes."""

    instances: ClassVar[list[FakeKafkaProducer]] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes, bytes, Future]] = []
        self.flushed = 0
        self.closed = False
        FakeKafkaProducer.instances.append(self)

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        future = Future()
        self.sent.append((topic, key, value, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def metrics() -> ProducerMetrics:
    return ProducerMetrics(CollectorRegistry())


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakeKafkaProducer]:
    FakeKafkaProducer.instances = []
    monkeypatch.setattr(publisher, "KafkaProducer", FakeKafkaProducer)
    return FakeKafkaProducer


def sample_value(metrics: ProducerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_compression_works_without_extra_packages() -> None:
    assert compression_type() in {"gzip", "zstd"}


def test_stdout_sink_writes_compact_json_lines(metrics: ProducerMetrics) -> None:
    stream = io.BytesIO()
    sink = StdoutSink(stream, metrics, "files", max_bytes=10_000)
    sink.send(article(1))
    sink.send(article(2, body="داعش"))
    sink.close()
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["id-1", "id-2"]
    assert "داعش".encode() in lines[1]
    assert sample_value(metrics, "newsmon_producer_articles_published_total", command="files") == 2


def test_stdout_sink_refuses_oversize(metrics: ProducerMetrics) -> None:
    sink = StdoutSink(io.BytesIO(), metrics, "files", max_bytes=100)
    with pytest.raises(ArticleRejected) as caught:
        sink.send(article(1, body="x" * 200))
    assert caught.value.reason is Rejection.OVERSIZE


def test_kafka_publisher_config_keys_and_callbacks(
    fake_kafka: type[FakeKafkaProducer], metrics: ProducerMetrics
) -> None:
    failures: list[str] = []
    pub = KafkaPublisher(
        Settings(_env_file=None),  # type: ignore[call-arg]
        metrics,
        "replay",
        topic="t",
        on_failure=lambda article_id, _exc: failures.append(article_id),
    )
    producer = fake_kafka.instances[0]
    assert producer.config["enable_idempotence"] is True
    assert producer.config["acks"] == "all"
    assert producer.config["compression_type"] in {"gzip", "zstd"}
    pub.send(article(1))
    pub.send(article(2))
    (topic, key, value, first), (_, _, _, second) = producer.sent
    assert (topic, key) == ("t", b"id-1")
    assert orjson.loads(value)["title"] == "title 1"
    assert pub.budget.in_flight == len(value) + len(producer.sent[1][2])
    first.success("metadata")
    second.failure(RuntimeError("broker gone"))
    assert (pub.acked, pub.failed, pub.budget.in_flight) == (1, 1, 0)
    assert failures == ["id-2"]
    assert sample_value(metrics, "newsmon_producer_articles_published_total", command="replay") == 1
    assert sample_value(metrics, "newsmon_producer_articles_rejected_total", reason="send_failed") == 1
    assert sample_value(metrics, "newsmon_producer_send_latency_seconds_count") == 1
    pub.close()
    assert producer.flushed >= 1 and producer.closed


def test_kafka_publisher_enforces_size_before_sending(
    fake_kafka: type[FakeKafkaProducer], metrics: ProducerMetrics
) -> None:
    settings = Settings(_env_file=None, max_article_bytes=300)  # type: ignore[call-arg]
    pub = KafkaPublisher(settings, metrics, "http")
    with pytest.raises(ArticleRejected):
        pub.send(article(1, body="x" * 400))
    assert fake_kafka.instances[0].sent == []


def test_budget_blocks_until_acknowledged_then_times_out() -> None:
    budget = InFlightBudget(limit_bytes=100, max_block_s=2.0)
    budget.acquire(80)
    threading.Timer(0.2, budget.release, args=(80,)).start()
    started = time.monotonic()
    budget.acquire(50)  # waits for the release above
    assert 0.1 < time.monotonic() - started < 1.5
    short = InFlightBudget(limit_bytes=100, max_block_s=0.1)
    short.acquire(90)
    with pytest.raises(BufferFull):
        short.acquire(20)


def test_budget_lets_one_huge_record_through_when_empty() -> None:
    budget = InFlightBudget(limit_bytes=10, max_block_s=0.1)
    budget.acquire(1000)
    assert budget.in_flight == 1000


class FlakySink:
    """Raises BufferFull a few times, then accepts."""

    def __init__(self, full_times: int) -> None:
        self.full_times = full_times
        self.sent: list[Article] = []

    def send(self, item: Article) -> None:
        if self.full_times:
            self.full_times -= 1
            raise BufferFull("full")
        self.sent.append(item)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def test_intake_waits_out_a_full_buffer(metrics: ProducerMetrics) -> None:
    sink = FlakySink(full_times=2)
    intake = Intake(sink, metrics)
    assert intake.send(article(1), "x")
    assert [a.id for a in sink.sent] == ["id-1"]


def test_intake_gives_up_on_a_full_buffer_when_stopping_or_told_not_to_wait(metrics: ProducerMetrics) -> None:
    stopping = Intake(FlakySink(full_times=1), metrics, should_stop=lambda: True)
    assert not stopping.send(article(1), "x")
    impatient = Intake(FlakySink(full_times=1), metrics)
    assert not impatient.send(article(2), "y", wait_when_full=False)
    assert impatient.tally.rejected == {Rejection.SEND_FAILED: 1}
