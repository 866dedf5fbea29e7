"""TagStep with fakes for Redis counts and Kafka sends: what is published, counted and measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.store.client import RedisRetry
from streams.store.counts import Recorded, StoryRequest, Tally
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Outbox, Record
from streams.worker.tag_step import TagStep
from tests.unit.worker.test_batch import WATCHLIST, Msg, article


class FakeCounts:
    """RollingCounts without Redis: every article is fresh unless its id was recorded before."""

    def __init__(self, clock_minute: int) -> None:
        self.clock_minute = clock_minute
        self.seen: set[str] = set()
        self.calls: list[list[Tally]] = []
        self.story_requests: list[StoryRequest | None] = []

    async def record(
        self,
        batch: Sequence[Tally],
        now: float | None = None,
        spikes: bytes | None = None,
        stories: StoryRequest | None = None,
    ) -> Recorded:
        self.calls.append(list(batch))
        self.story_requests.append(stories)
        fresh = [tally.article_id not in self.seen for tally in batch]
        self.seen.update(tally.article_id for tally in batch)
        # Every article a story of its own, named after the article.
        story_ids = [f"story-of-{tally.article_id}" for tally in batch]
        return Recorded(clock_minute=self.clock_minute, fresh=fresh, stories=story_ids)

    async def tick(self, caught_up: Sequence[int] = (), spikes: bytes | None = None) -> Recorded:
        return Recorded(clock_minute=self.clock_minute, fresh=[])


class FakeKafka:
    def __init__(self) -> None:
        self.single: list[tuple[str, bytes | None, bytes]] = []
        self.batches: dict[str, list[Record]] = {}

    async def send(self, kind: str, key: bytes | None, value: bytes) -> None:
        self.single.append((kind, key, value))

    async def send_batch(self, kind: str, records: Sequence[Record]) -> None:
        self.batches.setdefault(kind, []).extend(records)


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(WATCHLIST, allow_unicode=True), encoding="utf-8")
    return compile_watchlist(path, env={})


def make_step(
    compiled: CompiledWatchlist, counts: FakeCounts, kafka: FakeKafka
) -> tuple[TagStep, WorkerMetrics]:
    metrics = WorkerMetrics(CollectorRegistry())
    step = TagStep(
        compiled=lambda: compiled, counter=counts, outbox=Outbox(kafka.send, kafka.send_batch),  # type: ignore[arg-type]
        metrics=metrics, max_bytes=10_000, retrying=RedisRetry(),
    )  # fmt: skip
    return step, metrics


def sample(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_batch_is_counted_once_and_published_tagged_alerts_and_dead_letters(
    compiled: CompiledWatchlist,
) -> None:
    counts, kafka = FakeCounts(clock_minute=29_923_920), FakeKafka()
    step, metrics = make_step(compiled, counts, kafka)
    messages = [Msg(b"{"), Msg(article(id="near", title="بالموصل: هجوم لداعش"), partition=4)]
    await step.run(messages)
    await step.run(messages[1:])  # redelivered: published again, counted as a duplicate
    assert [[t.article_id for t in call] for call in counts.calls] == [["near"], ["near"]]
    assert [(key, partition) for key, _, partition in kafka.batches["tagged"]] == [(b"near", 4)] * 2
    tagged = orjson.loads(kafka.batches["tagged"][0][1])
    assert (tagged["mentions"], tagged["story"]) == ({"mosul": 1, "isis": 1}, "story-of-near")
    request = counts.story_requests[0]
    assert request is not None
    # A title-only article has no signature: its item says so and the blob is empty.
    assert (orjson.loads(request.items), request.blob) == ([["near", 0]], b"")
    assert orjson.loads(request.spec)["horizon"] == 3 * 86400
    assert [orjson.loads(value)["rule_id"] for _, value, _ in kafka.batches["alerts"]] == [
        "isis_near_mosul"
    ] * 2
    assert [(kind, key, orjson.loads(value)["reason"][:9]) for kind, key, value in kafka.single] == [
        ("deadletter", b"k", "not_json:")
    ]
    assert (
        sample(metrics, "newsmon_articles_total", outcome="tagged"),
        sample(metrics, "newsmon_articles_total", outcome="duplicate"),
        sample(metrics, "newsmon_articles_total", outcome="deadletter"),
        sample(metrics, "newsmon_articles_rejected_total", reason="not_json"),
        sample(metrics, "newsmon_entity_mentions_total", entity="isis"),
        sample(metrics, "newsmon_alerts_raised_total", kind="rule"),
        sample(metrics, "newsmon_stream_clock_seconds"),
    ) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 29_923_920 * 60.0)


async def test_tick_moves_the_clock_metric_without_publishing(compiled: CompiledWatchlist) -> None:
    counts, kafka = FakeCounts(clock_minute=100), FakeKafka()
    step, metrics = make_step(compiled, counts, kafka)
    await step.tick(caught_up=[0, 1])
    assert (kafka.single, kafka.batches, sample(metrics, "newsmon_stream_clock_seconds")) == ([], {}, 6000.0)
