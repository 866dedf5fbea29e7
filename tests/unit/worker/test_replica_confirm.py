"""TagStep's WAIT before a batch is acknowledged: measured, timeouts counted, off by default."""

from __future__ import annotations

import pytest

from streams.store.keys import RedisKeys
from streams.store.replicas import ReplicaWait
from streams.watchlist.compiled import CompiledWatchlist
from streams.worker.tag_step import TagStep
from tests.unit.worker.test_batch import Msg, article
from tests.unit.worker.test_tag_step import FakeCounts, FakeKafka, compiled, make_step, sample

__all__ = ["compiled"]  # the fixture, imported for its name


class FakeWait:
    """ReplicaWait's interface: answers the next acknowledged count, records when it was asked."""

    def __init__(self, answers: list[int], counts: FakeCounts, replicas: int = 1) -> None:
        self.answers = answers
        self.counts = counts
        self.replicas = replicas
        self.timeout_ms = 100
        self.asked_after_batches: list[int] = []

    async def __call__(self) -> int:
        self.asked_after_batches.append(len(self.counts.calls))
        return self.answers.pop(0)


def with_wait(step: TagStep, wait: FakeWait) -> TagStep:
    step.replica_wait = wait  # type: ignore[assignment]
    return step


async def test_each_batch_waits_after_its_counts_and_a_short_answer_is_a_timeout(
    compiled: CompiledWatchlist,
) -> None:
    counts, kafka = FakeCounts(clock_minute=100), FakeKafka()
    step, metrics = make_step(compiled, counts, kafka)
    wait = FakeWait([1, 0, 1], counts)
    with_wait(step, wait)
    for name in ("a", "b", "c"):
        await step.run([Msg(article(id=name, title="الموصل"))])
    assert wait.asked_after_batches == [1, 2, 3]  # after the batch's counting call, never before
    assert (
        sample(metrics, "newsmon_redis_wait_seconds_count"),
        sample(metrics, "newsmon_redis_wait_timeouts_total"),
    ) == (3.0, 1.0)


async def test_without_replicas_to_wait_for_nothing_is_measured(compiled: CompiledWatchlist) -> None:
    counts, kafka = FakeCounts(clock_minute=100), FakeKafka()
    step, metrics = make_step(compiled, counts, kafka)
    await step.run([Msg(article(id="a", title="الموصل"))])
    assert (
        sample(metrics, "newsmon_redis_wait_seconds_count"),
        sample(metrics, "newsmon_redis_wait_timeouts_total"),
    ) == (0.0, 0.0)


def test_replica_wait_needs_a_replica() -> None:
    with pytest.raises(ValueError, match="at least one replica"):
        ReplicaWait(None, RedisKeys(), 0, 100)  # type: ignore[arg-type]


def test_the_marker_key_is_under_the_prefix() -> None:
    assert RedisKeys("x:").replicated == "x:replicated"
