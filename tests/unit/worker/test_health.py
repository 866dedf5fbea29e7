"""The pure health decisions: progress stalls, loop lag, liveness and readiness verdicts."""

from __future__ import annotations

import pytest

from streams.worker.health import (
    AgentWatch,
    Facts,
    Limits,
    LoopLag,
    ProgressWatch,
    Verdict,
    liveness,
    readiness,
    watched,
)

LIMITS = Limits(loop_lag_seconds=10.0, stall_seconds=30.0, probe_seconds=15.0)


def test_a_partition_with_lag_that_does_not_move_stalls_after_the_limit() -> None:
    watch = ProgressWatch(stall_seconds=30.0)
    assert watch.observe(0.0, {"a/0": (5, 9), "a/1": (9, 9)}) == []
    assert watch.observe(29.9, {"a/0": (5, 9), "a/1": (9, 12)}) == []
    assert watch.observe(30.0, {"a/0": (5, 9), "a/1": (9, 12)}) == ["a/0"]
    assert watch.observe(59.8, {"a/0": (5, 9), "a/1": (9, 12)}) == ["a/0"]  # a/1 seen lagging at 29.9
    assert watch.observe(59.9, {"a/0": (5, 9), "a/1": (9, 12)}) == ["a/0", "a/1"]


def test_progress_or_catching_up_resets_the_stall_clock() -> None:
    watch = ProgressWatch(stall_seconds=30.0)
    watch.observe(0.0, {"a/0": (5, 9)})
    assert watch.observe(31.0, {"a/0": (6, 9)}) == []  # moved
    assert watch.observe(60.0, {"a/0": (6, 9)}) == []  # 29 s since it moved
    assert watch.observe(61.0, {"a/0": (9, 9)}) == []  # caught up
    assert watch.observe(62.0, {"a/0": (9, 10)}) == []  # new lag: its clock starts now
    assert watch.observe(92.0, {"a/0": (9, 10)}) == ["a/0"]


def test_a_revoked_partition_is_forgotten() -> None:
    watch = ProgressWatch(stall_seconds=30.0)
    watch.observe(0.0, {"a/0": (5, 9)})
    watch.observe(10.0, {})
    assert watch.observe(40.0, {"a/0": (5, 9)}) == []  # reassigned at 40: a fresh start


def test_loop_lag_holds_a_late_wake_up_then_forgets_it() -> None:
    loop = LoopLag(interval=0.5, hold_seconds=30.0)
    loop.started(100.0)
    assert loop.lag(100.4) == 0.0
    loop.tick(113.0, expected=100.5)  # the loop was blocked 12.5 s
    assert loop.lag(113.1) == 12.5
    loop.tick(142.5, expected=142.5)
    assert loop.lag(143.0) == 12.5  # still held
    loop.tick(143.6, expected=143.5)
    assert loop.lag(143.7) == pytest.approx(0.1)  # the hold is over


def test_a_loop_blocked_right_now_shows_as_the_time_since_its_last_tick() -> None:
    loop = LoopLag(interval=0.5, hold_seconds=30.0)
    loop.started(0.0)
    loop.tick(0.5, expected=0.5)
    assert loop.lag(20.5) == 19.5


def fresh(**fields: object) -> Facts:
    return Facts(at=100.0, assigned=4, **fields)  # type: ignore[arg-type]


def test_live_when_nothing_is_wrong() -> None:
    assert liveness(fresh(), 101.0, 0.2, LIMITS) == Verdict(True)
    assert liveness(fresh(), 101.0, 0.2, LIMITS).body() == "ok\n"


def test_not_live_for_each_reason() -> None:
    verdict = liveness(fresh(dead_agents=("newsmon.tag",)), 101.0, 10.5, LIMITS)
    assert verdict == Verdict(False, ("agent newsmon.tag died", "event loop stalled 10.5s (limit 10s)"))
    assert liveness(fresh(stalled=("news.articles/3",)), 101.0, 0.0, LIMITS).reasons == (
        "no progress for 30s with lag > 0: news.articles/3",
    )
    assert liveness(fresh(), 115.5, 0.0, LIMITS).reasons == ("health probe not run for 15.5s",)
    assert liveness(None, 0.0, 0.0, LIMITS).body() == "health probe not run for ever\n"


def test_a_stall_during_a_rebalance_is_not_a_death_and_redis_down_is_not_either() -> None:
    facts = fresh(stalled=("news.articles/3",), rebalancing=True, redis_error="ConnectionError")
    assert liveness(facts, 101.0, 0.0, LIMITS).ok


def test_readiness() -> None:
    assert readiness(fresh()) == Verdict(True)
    assert readiness(None).reasons == ("not probed yet",)
    assert readiness(Facts(at=0.0)).reasons == ("no partitions assigned",)
    assert readiness(
        fresh(rebalancing=True, redis_error="TimeoutError", kafka_error="KafkaTimeoutError")
    ).reasons == (
        "rebalancing",
        "redis unreachable: TimeoutError",
        "kafka unreachable: KafkaTimeoutError",
    )


def test_an_error_that_ends_an_agent_is_latched_and_raised() -> None:
    agents = AgentWatch()
    with pytest.raises(RuntimeError), watched(agents, "newsmon.tag"):
        raise RuntimeError("boom")
    with watched(agents, "newsmon.deliver"):
        pass
    assert agents.dead == {"newsmon.tag": "RuntimeError: boom"}
