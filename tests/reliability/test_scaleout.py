"""Scale-out: one worker and two workers in one consumer group (8 partitions) give identical results.

Throughput per worker count (1, 2, 4) is measured by tests/bench/scaleout.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import SECRET, Pipeline
from tests.reliability.conftest import watchlist_for
from tests.reliability.faults import FlakyReceiver, assert_exact, replay_of, report

pytestmark = pytest.mark.reliability
N = 6000


def test_one_and_two_workers_give_identical_exact_results(
    deploy: Callable[..., Pipeline], tmp_path: Path
) -> None:
    replay = replay_of(N, tmp_path)
    windows: dict[int, dict[int, dict[str, int]]] = {}
    for workers in (1, 2):
        began = time.monotonic()
        hook = FlakyReceiver(SECRET)
        hook.start()
        try:
            pipeline = deploy(watchlist_for(hook.url))
            assert pipeline.settings.topic_partitions == 8
            names = [f"w{i}" for i in range(1, workers + 1)]
            for name in names:
                pipeline.start_worker(name)
            pipeline.produce("replay", str(replay.path), "--no-progress", "--metrics-port", "0")
            observed = assert_exact(pipeline, replay, hook)
            windows[workers] = {w: pipeline.window(w) for w in (1, 5, 60, 1440)}
            tagged = {
                n: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}, worker=n) for n in names
            }
            assert sum(tagged.values()) == N  # no fault: each article tagged once, by one worker
            assert all(count > 0 for count in tagged.values()), tagged  # both workers took part
            observed.extra["tagged_per_worker"] = {n: int(c) for n, c in tagged.items()}
            observed.seconds = time.monotonic() - began
            report(f"{workers} worker(s), no fault", observed)
        finally:
            hook.stop()
    assert windows[1] == windows[2] == replay.windows()
