"""Redis memory and time of the story index per 100,000 articles, every one a new story (the worst case: copies
add no index keys), at the default horizon; then the worker's whole counting call (mentions, story windows,
story index) against the same call without its story section. Run on a stack:
python3 ops/local/stack.py --profile devN run --fresh -- .venv/bin/python tests/bench/stories_memory.py
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import redis.asyncio as aioredis  # noqa: E402

from streams.model.settings import Settings  # noqa: E402
from streams.store.counts import RollingCounts, StoryRequest, Tally  # noqa: E402
from streams.store.stories import StoryScript  # noqa: E402
from streams.stories.sketch import DEFAULT_PARAMS, Sketch  # noqa: E402
from streams.stories.wire import StoryItem, story_items, story_spec  # noqa: E402

ARTICLES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BATCH = 500


async def redis_cpu(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def main() -> None:
    client = aioredis.from_url(Settings().redis_url)
    await client.flushdb()
    await client.config_resetstat()
    before = (await client.info("memory"))["used_memory"]
    cpu_before = await redis_cpu(client)
    stories = StoryScript(client, prefix="mem:")
    rng = random.Random(1)
    start = time.perf_counter()
    for first in range(0, ARTICLES, BATCH):
        batch = []
        for n in range(first, first + BATCH):
            signature = rng.randbytes(DEFAULT_PARAMS.slots * 4)
            bands = b"".join(bytes((b,)) + rng.randbytes(8) for b in range(DEFAULT_PARAMS.bands))
            article_id = hashlib.sha256(str(n).encode()).hexdigest()  # producer ids are sha256 hex
            batch.append(StoryItem(article_id, Sketch(signature, bands, DEFAULT_PARAMS.slots)))
        await stories.assign(story_spec(DEFAULT_PARAMS, 3 * 86400, time.time()), *story_items(batch))
    elapsed = time.perf_counter() - start
    after = (await client.info("memory"))["used_memory"]
    script = (await client.info("commandstats"))["cmdstat_evalsha"]
    cpu = await redis_cpu(client) - cpu_before
    keys = await client.dbsize()
    print(
        f"{ARTICLES} new stories: {(after - before) / 2**20:.1f} MiB ({(after - before) / ARTICLES:.0f} B/article), "
        f"{keys} keys; {elapsed / ARTICLES * 1e6:.1f} µs/article wall (client included), "
        f"{script['usec'] / ARTICLES:.1f} µs/article inside Redis, {cpu / ARTICLES * 1e6:.1f} µs/article of Redis CPU"
    )
    await client.flushdb()  # synchronous: the next measurement starts from freed memory
    for with_stories in (False, True):
        await counting_call(client, with_stories)
    await client.aclose()


def new_story(rng: random.Random, n: int) -> tuple[StoryItem, Tally]:
    """An article that starts a story, mentioning 3 of 20 entities, from one of 50 sources."""
    signature = rng.randbytes(DEFAULT_PARAMS.slots * 4)
    bands = b"".join(bytes((b,)) + rng.randbytes(8) for b in range(DEFAULT_PARAMS.bands))
    article_id = hashlib.sha256(str(n).encode()).hexdigest()
    mentions = {f"entity{e}": 1 + e % 3 for e in rng.sample(range(20), 3)}
    tally = Tally(article_id, 29_500_000 + n // 500, f"source{n % 50}", mentions)
    return StoryItem(article_id, Sketch(signature, bands, DEFAULT_PARAMS.slots)), tally


async def counting_call(client: aioredis.Redis, with_stories: bool) -> None:
    """The worker's counting call per batch of 500 (one EVALSHA), with or without its story section."""
    await client.flushdb()
    await client.config_resetstat()
    before = (await client.info("memory"))["used_memory"]
    counts = RollingCounts(client, prefix="mem:")
    rng = random.Random(1)
    for first in range(0, ARTICLES, BATCH):
        made = [new_story(rng, n) for n in range(first, first + BATCH)]
        now = time.time()
        items, blob = story_items([item for item, _ in made])
        stories = (
            StoryRequest(story_spec(DEFAULT_PARAMS, 3 * 86400, now), items, blob) if with_stories else None
        )
        await counts.record([tally for _, tally in made], now, stories=stories)
    after = (await client.info("memory"))["used_memory"]
    script = (await client.info("commandstats"))["cmdstat_evalsha"]
    label = "counting call with stories" if with_stories else "counting call, no story section"
    print(
        f"{label}: {(after - before) / 2**20:.1f} MiB ({(after - before) / ARTICLES:.0f} B/article), "
        f"{await client.dbsize()} keys, {script['usec'] / ARTICLES:.1f} µs/article inside Redis"
    )
    await client.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
