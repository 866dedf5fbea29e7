"""Faults on the cluster part (three KRaft brokers, min ISR 2; Redis primary + replica + three sentinels).

Each test replays the sample's first N articles through a worker on the cluster and asserts the
fault matrix's exact end state (tests/reliability/faults.py `assert_exact`): every article counted
once, exact 1/5/60/1440-minute windows, N distinct tagged ids with the known mentions, every alert
delivered once. The articles topic must hold each article once (idempotent producers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Pipeline
from tests.reliability.cluster import (
    busiest_broker,
    cluster_pipeline,
    cluster_up,
    primary_port,
    redis_service,
)
from tests.reliability.conftest import watchlist_for
from tests.reliability.faults import (
    FlakyReceiver,
    Observed,
    assert_exact,
    finish_replay,
    read_all,
    replay_of,
    report,
    seen_count,
    stack,
    start_replay,
    wait_counted,
)

pytestmark = pytest.mark.reliability

N = int(os.environ.get("NEWSMON_RELIABILITY_ARTICLES", "6000"))
OUTAGE = float(os.environ.get("NEWSMON_RELIABILITY_OUTAGE", "15"))
RATE = 600.0  # articles/s: 6,000 stream for ~10 s, so the faults land mid-replay
AT = 3000  # the fault lands when this many articles are counted
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
# A partition whose leader is gone looks caught up (its last high watermark) and, once quiet for
# partition_idle_seconds, stops holding the stream clock back (streams/counting.py): the clock then
# runs ahead on the live partitions and a spike is evaluated before the stuck partitions' articles
# arrive. Counts stay exact, but with the harness's 3 s the planted spike fired at 12:05 (33) instead
# of 12:02 (37) after two brokers were down 15 s. The idle time must outlast a partition outage.
IDLE = {"NEWSMON_PARTITION_IDLE_SECONDS": str(int(OUTAGE * 2))}

Deploy = Callable[[], Pipeline]


@pytest.fixture(scope="module")
def cluster_env() -> Iterator[dict[str, str]]:
    """The cluster part for this module only (three JVMs): stopped afterwards to free the machine."""
    env = cluster_up()
    yield env
    stack("down", "cluster", "sentinel")


@pytest.fixture
def deploy(
    cluster_env: dict[str, str], stack_dir: Path, tmp_path: Path, receiver: FlakyReceiver
) -> Iterator[Deploy]:
    made: list[Pipeline] = []

    def make() -> Pipeline:
        workdir = tmp_path / f"p{len(made)}"
        workdir.mkdir()
        pipeline = cluster_pipeline(cluster_env, workdir, stack_dir, watchlist_for(receiver.url))
        pipeline.env.update(FAST_GROUP | IDLE)
        made.append(pipeline)
        return pipeline

    yield make
    cluster_up()  # whatever a test killed is back before the next one (and before cleaning up)
    for pipeline in made:
        for name, (proc, _, _) in list(pipeline.workers.items()):
            if proc.poll() is None:
                pipeline.stop_worker(name, kill=True)
            else:
                pipeline.workers.pop(name)
        pipeline.close()


def assert_articles_once(pipeline: Pipeline, n: int) -> int:
    articles = read_all(pipeline.settings.kafka_bootstrap, pipeline.settings.topic_articles)
    assert len(articles) == n and len({m.key for m in articles}) == n
    return len(articles)


def replay_through(
    pipeline: Pipeline, tmp_path: Path, fault: Callable[[], dict[str, object]], receiver: FlakyReceiver
) -> Observed:
    """Worker up, replay at RATE, `fault()` once AT articles are counted, then the exact end state."""
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline.start_worker("w1")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, AT)
    extra = fault()
    finish_replay(pipeline, producer, timeout=240)
    observed = assert_exact(pipeline, replay, receiver, timeout=180)
    worker, _, log = pipeline.workers["w1"]
    assert worker.poll() is None, "the worker must ride out the fault:\n" + log.read_text()[-3000:]
    observed.extra.update(extra, articles_on_topic=assert_articles_once(pipeline, N))
    observed.extra["worker_duplicates"] = int(
        pipeline.metric("newsmon_articles_total", {"outcome": "duplicate"})
    )
    observed.seconds = time.monotonic() - began
    return observed


def test_busiest_broker_sigkilled_then_restarted(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    pipeline = deploy()

    def fault() -> dict[str, object]:
        broker, led = busiest_broker(pipeline)
        at_kill = seen_count(pipeline)
        stack("kill", broker)
        time.sleep(OUTAGE)
        stack("up", broker)
        return {"killed": broker, "partitions_led": led, "counted_at_kill": at_kill}

    observed = replay_through(pipeline, tmp_path, fault, receiver)
    report(f"cluster: busiest broker SIGKILLed {OUTAGE:.0f}s", observed)


def test_two_of_three_brokers_down(deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path) -> None:
    """No quorum and no ISR of 2: producers and the worker wait; nothing is lost or doubled."""
    pipeline = deploy()

    def fault() -> dict[str, object]:
        broker, _ = busiest_broker(pipeline)
        others = [name for name in ("kafka-1", "kafka-2", "kafka-3") if name != broker]
        at_kill = seen_count(pipeline)
        for name in others:
            stack("kill", name)
        time.sleep(OUTAGE)
        counted_during = seen_count(pipeline) - at_kill
        stack("up", *others)
        return {"killed": "+".join(others), "counted_at_kill": at_kill, "counted_while_down": counted_during}

    observed = replay_through(pipeline, tmp_path, fault, receiver)
    report(f"cluster: two brokers SIGKILLed {OUTAGE:.0f}s", observed)


def test_redis_primary_sigkilled_sentinel_fails_over(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    """Replication is asynchronous: a batch the old primary acknowledged but never replicated would be
    lost with its seen markers. With NEWSMON_REDIS_WAIT_REPLICAS=1 the worker acknowledges a batch (and
    so commits its offsets) only once the replica has it, so whatever the failover loses is redelivered.
    The old primary comes back as the new primary's replica, so WAITs are confirmed again afterwards."""
    pipeline = deploy()
    pipeline.env.update(NEWSMON_REDIS_WAIT_REPLICAS="1", NEWSMON_REDIS_WAIT_TIMEOUT_MS="500")

    def fault() -> dict[str, object]:
        old = primary_port(pipeline)
        assert old is not None
        killed = redis_service(pipeline.env, old)
        at_kill = seen_count(pipeline)
        began = time.monotonic()
        stack("kill", killed)
        pipeline.wait(
            lambda: primary_port(pipeline) not in (None, old), 30, "Sentinel to promote the replica"
        )
        failover_s = round(time.monotonic() - began, 1)
        stack("up", killed)  # rejoins as the replica
        return {"killed": killed, "counted_at_kill": at_kill, "failover_s": failover_s}

    observed = replay_through(pipeline, tmp_path, fault, receiver)
    observed.extra["redis_retries"] = int(pipeline.metric("newsmon_redis_retries_total"))
    assert observed.extra["redis_retries"] > 0, "the worker must have seen the primary go"  # type: ignore[operator]
    waits = int(pipeline.metric("newsmon_redis_wait_seconds_count"))
    wait_sum = pipeline.metric("newsmon_redis_wait_seconds_sum")
    observed.extra.update(
        waits=waits,
        wait_mean_ms=round(1000 * wait_sum / max(waits, 1), 2),
        wait_timeouts=int(pipeline.metric("newsmon_redis_wait_timeouts_total")),
    )
    assert waits > 0, "every batch is confirmed by a replica"
    report("cluster: redis primary SIGKILLed, sentinel failover", observed)
