"""SIGTERM mid-replay: the worker drains (finishes its batch, commits, leaves the group) within
NEWSMON_WORKER_DRAIN_SECONDS; the second worker takes its partitions over; at most one batch is redelivered."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import Pipeline
from tests.reliability.faults import (
    FlakyReceiver,
    assert_exact,
    finish_replay,
    replay_of,
    report,
    seen_count,
    start_replay,
    wait_counted,
)

pytestmark = pytest.mark.reliability

N = 6000
RATE = 600.0  # articles/s: the replay lasts ~10 s, so SIGTERM lands mid-replay
AT = 3000
DRAIN = 20.0


def test_sigterm_mid_replay_the_other_worker_takes_over(
    deploy: Callable[..., Pipeline], receiver: FlakyReceiver, tmp_path: Path
) -> None:
    began = time.monotonic()
    pipeline = deploy(env={"NEWSMON_WORKER_DRAIN_SECONDS": str(DRAIN)})
    replay = replay_of(N, tmp_path)
    pipeline.start_worker("w1")
    pipeline.start_worker("w2")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, AT)
    proc, _, log = pipeline.workers["w1"]
    at_term = seen_count(pipeline)
    signalled = time.monotonic()
    pipeline.stop_worker("w1")  # SIGTERM, then wait for the exit
    drained_s = time.monotonic() - signalled
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]  # drained in time: not cut short by the deadline (75)
    assert drained_s < DRAIN and "LeaveGroup request succeeded" in text
    finish_replay(pipeline, producer, timeout=240)
    observed = assert_exact(pipeline, replay, receiver, timeout=180)
    redelivered = observed.tagged_messages - N  # a redelivered article is tagged (and sent) again
    duplicates = int(pipeline.metric("newsmon_articles_total", {"outcome": "duplicate"}, worker="w2"))
    batch = pipeline.settings.worker_batch_size
    assert 0 <= duplicates <= redelivered <= batch, (duplicates, redelivered)
    observed.extra.update(counted_at_sigterm=at_term, drained_s=round(drained_s, 1), redelivered=redelivered,
                          w2_duplicates=duplicates, batch_size=batch)  # fmt: skip
    observed.seconds = time.monotonic() - began
    report("SIGTERM one of two workers mid-replay", observed)
