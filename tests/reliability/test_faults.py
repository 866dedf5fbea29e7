"""Fault matrix: a replay of the sample's first N articles survives each fault with exact results.

Every test asserts the same end state (tests/reliability/faults.py `assert_exact`): all N articles
counted once in Redis, the 1/5/60/1440-minute windows equal to the known counts at the final
stream clock, exactly N distinct ids on the tagged topic with the known mentions, and every alert
(the rule hits among the N articles and the planted spike's firing and resolved alerts) delivered
exactly once per webhook-id with a valid signature.

Set NEWSMON_RELIABILITY_ARTICLES / NEWSMON_RELIABILITY_OUTAGE to lengthen the runs
(`make reliability-long`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import Pipeline
from tests.reliability.conftest import watchlist_for
from tests.reliability.faults import (
    FlakyReceiver,
    assert_exact,
    finish_replay,
    read_all,
    redis_persisting,
    replay_of,
    report,
    seen_count,
    start_replay,
    stopped,
    wait_counted,
)

pytestmark = pytest.mark.reliability

N = int(os.environ.get("NEWSMON_RELIABILITY_ARTICLES", "6000"))
OUTAGE = float(os.environ.get("NEWSMON_RELIABILITY_OUTAGE", "15"))
RECEIVER_OUTAGE = float(os.environ.get("NEWSMON_RELIABILITY_RECEIVER_OUTAGE", "60"))
RATE = 600.0  # articles/s from the replay: N = 6000 streams for ~10 s, so faults land mid-stream
# A SIGKILLed consumer holds its partitions until its session expires (Faust's default is 60 s); the
# tests shorten it through Faust's own environment variables so a recovery takes seconds.
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
# Faults land just before the planted burst (lines 4986-5060 of the sample, 12:00-12:10), so the
# spike detector evaluates the burst minutes while the fault lasts or right after it.
BEFORE_BURST = 4000

Deploy = Callable[..., Pipeline]


def test_worker_sigkill_mid_stream_then_restart(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline = deploy(env=FAST_GROUP)
    pipeline.start_worker("w1")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, BEFORE_BURST)
    pipeline.stop_worker("w1", kill=True)
    at_kill = seen_count(pipeline)
    assert at_kill < N, "the fault must land mid-stream"
    pipeline.start_worker("w1")
    finish_replay(pipeline, producer)
    observed = assert_exact(pipeline, replay, receiver)
    observed.extra["counted_at_kill"] = at_kill
    observed.extra["duplicates_seen_by_restarted_worker"] = pipeline.metric(
        "newsmon_articles_total", {"outcome": "duplicate"}
    )
    observed.seconds = time.monotonic() - began
    report("worker SIGKILL", observed)


def test_kafka_broker_stopped_and_restarted(deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path) -> None:
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline = deploy(env=FAST_GROUP)
    pipeline.start_worker("w1")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, BEFORE_BURST)
    with stopped("kafka"):
        at_stop = seen_count(pipeline)
        time.sleep(OUTAGE)
    finish_replay(pipeline, producer)
    observed = assert_exact(pipeline, replay, receiver)
    worker, _, log = pipeline.workers["w1"]
    assert worker.poll() is None, "the worker must ride out a broker restart:\n" + log.read_text()[-3000:]
    # The producer rode out the same outage: the articles topic holds each article exactly once.
    articles = read_all(pipeline.settings.kafka_bootstrap, pipeline.settings.topic_articles)
    assert len(articles) == N and {m.key.decode() for m in articles} == replay.ids
    observed.extra["counted_when_broker_stopped"] = at_stop
    observed.extra["articles_on_topic"] = len(articles)
    observed.seconds = time.monotonic() - began
    report(f"kafka down {OUTAGE:.0f}s", observed)


def test_redis_stopped_and_restarted_worker_pauses(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    """Redis restarts with its data (an RDB snapshot written at shutdown, see `redis_persisting`):
    the worker pauses on the outage and resumes; nothing is lost or counted twice."""
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline = deploy(env=FAST_GROUP)
    pipeline.start_worker("w1")
    with redis_persisting(pipeline):
        producer = start_replay(pipeline, replay, RATE)
        wait_counted(pipeline, BEFORE_BURST)
        with stopped("redis"):
            time.sleep(OUTAGE)
        at_restart = seen_count(pipeline)
        finish_replay(pipeline, producer)
        observed = assert_exact(pipeline, replay, receiver)
    retries = pipeline.metric("newsmon_redis_retries_total")
    assert retries > 0, "the worker must have seen the outage"
    assert pipeline.workers["w1"][0].poll() is None
    observed.extra.update(counted_when_redis_came_back=at_restart, redis_retries=int(retries))
    observed.seconds = time.monotonic() - began
    report(f"redis down {OUTAGE:.0f}s", observed)


def test_webhook_receiver_failing_then_timing_out(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    """Half the outage answers 500, half holds requests past the 2 s timeout; retries cover it all."""
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    # base_watchlist's 12 attempts with backoff_max 4s give up after ~24 s; 50 cover ~100 s.
    backoff_max = max(4, int(RECEIVER_OUTAGE // 15))  # full jitter: ~backoff_max/2 per attempt
    spec = {"max_attempts": 50, "backoff_initial": "200ms", "backoff_max": f"{backoff_max}s", "timeout": "2s"}
    pipeline = deploy(watchlist_for(receiver.url, **spec))
    receiver.failing = True
    pipeline.start_worker("w1")
    producer = start_replay(pipeline, replay)
    pipeline.wait(lambda: receiver.refused > 0, 60, "a delivery to be refused")
    outage_start = time.monotonic()
    time.sleep(RECEIVER_OUTAGE / 2)
    receiver.failing, receiver.hanging = False, True
    time.sleep(RECEIVER_OUTAGE / 2)
    receiver.hanging = False
    outage = time.monotonic() - outage_start
    assert receiver.deliveries == {}, "nothing can have been delivered during the outage"
    finish_replay(pipeline, producer)
    observed = assert_exact(pipeline, replay, receiver, timeout=120)
    assert receiver.refused > 0 and receiver.hung > 0
    assert pipeline.metric("newsmon_webhook_deliveries_total", {"receiver": "e2e", "outcome": "failed"}) == 0
    deadletter = pipeline.read_topic(pipeline.settings.topic_deadletter, idle_ms=1500)
    assert deadletter == []
    observed.extra.update(hung=receiver.hung, outage_s=round(outage, 1),
                          retried=int(pipeline.metric("newsmon_webhook_deliveries_total",
                                                      {"receiver": "e2e", "outcome": "retried"})))  # fmt: skip
    observed.seconds = time.monotonic() - began
    report(f"receiver failing {RECEIVER_OUTAGE:.0f}s", observed)


# Known bug, found 2026-12-08 and not yet fixed (docs/reliability.md "Known issues" 7): after the
# merges of that day one rule alert (sample article 4321, carter AND raqqa) is missing in 4 of 5 runs
# when w2 is SIGKILLed; counts, windows and tagged records stay exact. Not strict: a pass is reported
# as XPASS. Remove the mark with the fix.
@pytest.mark.xfail(reason="known bug: one rule alert lost when one of two workers is SIGKILLed", strict=False)
def test_two_workers_one_killed_rebalance(deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path) -> None:
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline = deploy(env=FAST_GROUP)
    pipeline.start_worker("w1")
    pipeline.start_worker("w2")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, BEFORE_BURST)
    pipeline.wait(lambda: pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}, worker="w2") > 0,
                  30, "w2 to have tagged articles before it is killed")  # fmt: skip
    w2_tagged = pipeline.metric("newsmon_articles_total", {"outcome": "tagged"}, worker="w2")
    pipeline.stop_worker("w2", kill=True)
    at_kill = seen_count(pipeline)
    finish_replay(pipeline, producer)
    observed = assert_exact(pipeline, replay, receiver)
    assert pipeline.workers["w1"][0].poll() is None
    observed.extra.update(counted_at_kill=at_kill, w2_tagged_before_kill=int(w2_tagged),
                          w1_tagged=int(pipeline.metric("newsmon_articles_total", {"outcome": "tagged"})),
                          w1_duplicates=int(pipeline.metric("newsmon_articles_total",
                                                            {"outcome": "duplicate"})))  # fmt: skip
    observed.seconds = time.monotonic() - began
    report("2 workers, 1 SIGKILLed", observed)


def test_invalid_watchlist_mid_stream_keeps_the_old_one(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    pipeline = deploy()
    pipeline.start_worker("w1")
    producer = start_replay(pipeline, replay, RATE)
    wait_counted(pipeline, BEFORE_BURST)
    # Valid YAML, one entity left and a rule naming an unknown one: if it were taken, counts of every
    # other entity would stop and the test would see it.
    broken = yaml.safe_load(pipeline.watchlist_path.read_text(encoding="utf-8"))
    broken["entities"] = broken["entities"][:1]
    broken["rules"] = [{"id": "broken", "expr": "isis AND no_such_entity"}]
    staged = pipeline.watchlist_path.with_suffix(".new")
    staged.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    os.replace(staged, pipeline.watchlist_path)  # one atomic change: exactly one reload attempt
    reloads = {"outcome": "error"}
    pipeline.wait(lambda: pipeline.metric("newsmon_watchlist_reloads_total", reloads) >= 1, 20, "the reload")
    finish_replay(pipeline, producer)
    observed = assert_exact(pipeline, replay, receiver)
    assert pipeline.metric("newsmon_watchlist_reloads_total", {"outcome": "error"}) == 1
    assert pipeline.metric("newsmon_watchlist_reloads_total", {"outcome": "ok"}) == 0
    log = pipeline.workers["w1"][2].read_text(errors="replace")
    assert "watchlist reload rejected, keeping the previous one" in log and "no_such_entity" in log
    observed.seconds = time.monotonic() - began
    report("invalid watchlist", observed)


@pytest.mark.long
def test_worker_restart_with_a_backlog_keeps_the_backtest_exact(
    deploy: Deploy, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    """A plain restart (SIGTERM, e.g. a deploy) while articles keep arriving: the restarted worker
    finds a backlog on every partition. Counts are exact either way; the spike alerts must be the
    ones an uninterrupted replay raises (fires 12:02 with 37 mentions, resolves 12:15)."""
    began = time.monotonic()
    replay = replay_of(N, tmp_path)
    head = tmp_path / "head.jsonl"
    tail = tmp_path / "tail.jsonl"
    lines = replay.path.read_bytes().splitlines(keepends=True)
    head.write_bytes(b"".join(lines[:BEFORE_BURST]))
    tail.write_bytes(b"".join(lines[BEFORE_BURST:]))
    pipeline = deploy(env=FAST_GROUP)
    pipeline.start_worker("w1")
    pipeline.produce("replay", str(head), "--no-progress", "--metrics-port", "0")
    wait_counted(pipeline, BEFORE_BURST)
    pipeline.stop_worker("w1")  # SIGTERM: a clean shutdown
    pipeline.produce("replay", str(tail), "--no-progress", "--metrics-port", "0")
    pipeline.start_worker("w1")
    observed = assert_exact(pipeline, replay, receiver)
    observed.seconds = time.monotonic() - began
    report("worker restart with backlog", observed)
