"""Redis counting on the real server: windows equal a brute-force recount; redelivery counts once."""

from __future__ import annotations

import random
import uuid
from collections import Counter as Multiset
from collections import defaultdict

import pytest
import redis.asyncio as aioredis

from streams.model.settings import Settings
from streams.store.counts import RollingCounts, Tally
from tests.integration.windows import window_counts, window_sources

pytestmark = pytest.mark.integration
WINDOWS = (1, 5, 60, 1440)


def brute_force(history: list[Tally], clock: int, window: int) -> tuple[dict[str, int], dict[str, int]]:
    counts: Multiset[str] = Multiset()
    sources: dict[str, set[str]] = defaultdict(set)
    for tally in history:
        if clock - window < tally.minute <= clock:
            for entity, n in tally.mentions.items():
                counts[entity] += n
                sources[entity].add(tally.source)
    return dict(counts), {entity: len(names) for entity, names in sources.items()}


def random_batch(rng: random.Random, start: int, base_minute: int, size: int) -> list[Tally]:
    batch = []
    for i in range(size):
        # Mostly moving forward, sometimes late by up to 2 hours, sometimes jumping ahead.
        minute = base_minute + rng.choice([0, 0, 1, 2, -3, -70, 30, 200])
        mentions = {
            e: rng.randint(1, 3) for e in rng.sample(["isis", "mosul", "raqqa", "iraq"], rng.randint(0, 3))
        }
        batch.append(Tally(f"a{start + i}", minute, f"src{rng.randint(1, 4)}", mentions))
    return batch


async def test_windows_match_brute_force_and_redelivery_is_counted_once(stack_settings: Settings) -> None:
    client = aioredis.from_url(stack_settings.redis_url)
    counter = RollingCounts(client, prefix=f"t{uuid.uuid4().hex[:8]}:", windows=WINDOWS)
    rng = random.Random(7)
    history: list[Tally] = []
    base = 28_000_000  # a minute in 2023
    try:
        for step in range(60):
            base += rng.choice([0, 1, 1, 2, 5, 90])
            batch = random_batch(rng, len(history), base, rng.randint(1, 40))
            result = await counter.record(batch)
            assert result.fresh == [True] * len(batch)
            history += batch
            if step % 10 == 9:  # the same batch again: a redelivery after a crash before commit
                again = await counter.record(batch)
                assert again.fresh == [False] * len(batch)
            clock = max(t.minute for t in history)
            assert result.clock_minute == clock
            for window in WINDOWS:
                expected_counts, expected_sources = brute_force(history, clock, window)
                assert await window_counts(counter, window) == expected_counts, (step, window)
                assert await window_sources(counter, window) == expected_sources, (step, window)
    finally:
        keys = [key async for key in client.scan_iter(match=counter.prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_one_round_trip_per_batch(stack_settings: Settings) -> None:
    client = aioredis.from_url(stack_settings.redis_url)
    counter = RollingCounts(client, prefix=f"t{uuid.uuid4().hex[:8]}:")
    batch = [Tally(f"b{i}", 29_000_000, "s", {"isis": 1, "mosul": 2}) for i in range(500)]
    before = await client.info("commandstats")
    await counter.record(batch)
    after = await client.info("commandstats")
    calls = {
        k: after[k]["calls"] - before.get(k, {"calls": 0})["calls"]
        for k in after
        if k.startswith("cmdstat_eval")
    }
    assert sum(calls.values()) == 1  # EVALSHA (or EVAL on first use): the whole batch in one call
    assert await window_counts(counter, 5) == {"isis": 500, "mosul": 1000}
    keys = [key async for key in client.scan_iter(match=counter.prefix + "*")]
    await client.delete(*keys)
    await client.aclose()


async def test_clock_is_a_watermark_over_active_partitions(stack_settings: Settings) -> None:
    client = aioredis.from_url(stack_settings.redis_url)
    counter = RollingCounts(
        client, prefix=f"t{uuid.uuid4().hex[:8]}:", windows=(5,), idle_seconds=10, partitions=2
    )
    base = 30_000_000
    try:
        # Partition 0 has reached base+100; partition 1 is not heard from yet, so the clock waits.
        ahead = await counter.record([Tally("a", base + 100, "s", {"isis": 1}, partition=0)], now=1000)
        assert ahead.clock_minute == -1
        # Partition 1 reaches base+50: the clock is the newest minute both have reached.
        behind = await counter.record([Tally("b", base + 50, "s", {"mosul": 1}, partition=1)], now=1001)
        assert behind.clock_minute == base + 50
        assert await window_counts(counter, 5) == {"mosul": 1}  # isis waits in its bucket, ahead of the clock
        assert behind.changed == {"mosul"}
        # Partition 1 catches up to base+98: the window (base+93, base+98] holds neither article.
        caught = await counter.record([Tally("c", base + 98, "s", {"raqqa": 2}, partition=1)], now=1002)
        assert caught.clock_minute == base + 98
        assert await window_counts(counter, 5) == {"raqqa": 2}
        # Partition 1 goes quiet. Silence alone is not enough (its worker may have died with records
        # unread): the clock moves on only once the owner reports both partitions read to the end.
        assert (await counter.tick(now=1005)).clock_minute == base + 98
        assert (await counter.tick(now=1013)).clock_minute == base + 98
        moved = await counter.tick(now=1014, caught_up=[0, 1])
        assert moved.clock_minute == base + 100
        assert moved.changed == {"isis"}
        assert await window_counts(counter, 5) == {"isis": 1, "raqqa": 2}
    finally:
        keys = [key async for key in client.scan_iter(match=counter.prefix + "*")]
        await client.delete(*keys)
        await client.aclose()
