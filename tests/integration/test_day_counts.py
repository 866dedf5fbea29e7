"""Day-precision counting on the real Redis: only windows of a day or longer hold date-only articles."""

from __future__ import annotations

import random
import uuid
from collections import Counter as Multiset
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from streams.model.precision import holds_day_counts
from streams.model.settings import Settings
from streams.store.counts import RollingCounts, Tally
from streams.store.keys import RedisKeys
from tests.integration.windows import window_counts, window_sources

pytestmark = pytest.mark.integration
WINDOWS = (1, 5, 60, 1440, 2880)
MIDNIGHT = 29_918_880  # 2026-11-20T00:00Z in minutes


@pytest.fixture
async def counter(stack_settings: Settings) -> AsyncIterator[RollingCounts]:
    client = aioredis.from_url(stack_settings.redis_url)
    counts = RollingCounts(
        client, prefix=f"day{uuid.uuid4().hex[:8]}:", windows=WINDOWS, bucket_ttl=3 * 86400
    )
    yield counts
    keys = [key async for key in client.scan_iter(match=counts.prefix + "*")]
    if keys:  # an empty DEL is an error that would hide the test's own
        await client.delete(*keys)
    await client.aclose()


def expected(history: list[Tally], clock: int, window: int) -> tuple[dict[str, int], dict[str, int]]:
    """The contract's rule, by brute force: a tally is in (clock - W, clock] by its minute, and a
    day-precision one only in windows of a day or longer."""
    counts: Multiset[str] = Multiset()
    sources: dict[str, set[str]] = defaultdict(set)
    for tally in history:
        if clock - window < tally.minute <= clock and (holds_day_counts(window) or not tally.by_day):
            for entity, n in tally.mentions.items():
                counts[entity] += n
                sources[entity].add(tally.source)
    return dict(counts), {entity: len(names) for entity, names in sources.items()}


async def test_a_date_only_article_is_in_the_day_windows_only_and_leaves_a_day_later(
    counter: RollingCounts,
) -> None:
    first = await counter.record([Tally("m1", MIDNIGHT - 10, "s1", {"raqqa": 1})])
    assert first.clock_minute == MIDNIGHT - 10
    # Ahead of the clock: it waits in its day bucket, like a minute article waits in its minute bucket.
    waiting = await counter.record([Tally("d1", MIDNIGHT, "s2", {"raqqa": 2}, by_day=True)])
    assert waiting.clock_minute == MIDNIGHT  # its midnight is a safe lower bound of the stream's time
    assert (await window_counts(counter, 1440), await window_counts(counter, 60)) == (
        {"raqqa": 3},
        {"raqqa": 1},
    )
    assert waiting.changed == frozenset()  # no minute bucket entered a window: the detectors have nothing new
    keys = RedisKeys(counter.prefix)
    assert await counter.client.hgetall(keys.minute(MIDNIGHT)) == {}
    assert await counter.client.hgetall(keys.day_minute(MIDNIGHT)) == {b"raqqa": b"2"}
    # At the clock: added at once to the long windows only; the spike detectors are not told.
    late = await counter.record([Tally("d2", MIDNIGHT, "s3", {"raqqa": 4, "isis": 1}, by_day=True)])
    assert late.changed == frozenset()
    for window in WINDOWS:
        assert await window_counts(counter, window) == (
            {"raqqa": 7, "isis": 1} if window >= 1440 else {"raqqa": 1} if window == 60 else {}
        ), window
    assert await window_sources(counter, 1440) == {"raqqa": 3, "isis": 1}
    # The day's first minute leaves the 24-hour window a day later, as any minute does.
    await counter.record([Tally("m2", MIDNIGHT + 1439, "s1", {"mosul": 1})])
    assert await window_counts(counter, 1440) == {"raqqa": 6, "isis": 1, "mosul": 1}  # m1 left
    moved = await counter.record([Tally("m3", MIDNIGHT + 1440, "s1", {"mosul": 1})])
    assert await window_counts(counter, 1440) == {"mosul": 2}
    assert await window_counts(counter, 2880) == {"raqqa": 7, "isis": 1, "mosul": 2}
    assert await window_sources(counter, 1440) == {"mosul": 1}
    assert moved.changed == frozenset({"mosul"})
    # A redelivered date-only article is not counted twice.
    again = await counter.record([Tally("d2", MIDNIGHT, "s3", {"raqqa": 4, "isis": 1}, by_day=True)])
    assert again.fresh == [False]
    assert await window_counts(counter, 2880) == {"raqqa": 7, "isis": 1, "mosul": 2}


async def test_windows_with_date_only_articles_match_brute_force(counter: RollingCounts) -> None:
    rng = random.Random(14)
    history: list[Tally] = []
    base = MIDNIGHT - 2000
    for _ in range(80):
        base += rng.choice([0, 1, 2, 5, 90, 400])
        batch = []
        for _ in range(rng.randint(1, 30)):
            entities = rng.sample(["isis", "mosul", "raqqa"], rng.randint(1, 2))
            mentions = {e: rng.randint(1, 3) for e in entities}
            source = f"src{rng.randint(1, 4)}"
            if rng.random() < 0.4:  # dated by day: this day's or yesterday's midnight, or tomorrow's
                midnight = (base // 1440 + rng.choice([-1, 0, 0, 1])) * 1440
                batch.append(Tally(f"a{len(history) + len(batch)}", midnight, source, mentions, by_day=True))
            else:
                minute = base + rng.choice([0, 0, 1, -3, -70, 30])
                batch.append(Tally(f"a{len(history) + len(batch)}", minute, source, mentions))
        result = await counter.record(batch)
        history += batch
        assert result.clock_minute == max(t.minute for t in history)
        for window in WINDOWS:
            want_counts, want_sources = expected(history, result.clock_minute, window)
            assert await window_counts(counter, window) == want_counts, window
            assert await window_sources(counter, window) == want_sources, window
    assert sum(t.by_day for t in history) > 300  # the rule was exercised, not just the minute path
