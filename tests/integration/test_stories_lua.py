"""The story section's Lua on the real Redis: the offline index's partition, one story for two copies
in one batch, redelivery keeps the story, band keys expire with the horizon, and memory per article."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from streams.model.settings import Settings
from streams.store.stories import StoryScript
from streams.stories.index import StoryIndex
from streams.stories.sketch import DEFAULT_PARAMS, sketch
from streams.stories.wire import DEFAULT_HORIZON_SECONDS, StoryItem, story_items, story_spec

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"


def load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]


def items(rows: list[dict[str, str]]) -> list[StoryItem]:
    return [StoryItem(r["id"], sketch(r["body"])) for r in rows]


def offline(rows: list[dict[str, str]]) -> list[str]:
    index = StoryIndex()
    return [index.assign(r["id"], r["body"]) for r in rows]


def partition(ids: list[str], stories: list[str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for article_id, story in zip(ids, stories, strict=True):
        groups[story].add(article_id)
    return {frozenset(g) for g in groups.values()}


class RedisStories:
    """The worker's future call, composed: pure arguments (streams.stories.wire), one EVALSHA."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str, horizon_seconds: int = DEFAULT_HORIZON_SECONDS
    ):
        self.script = StoryScript(client, prefix=prefix)
        self.horizon_seconds = horizon_seconds

    async def assign(self, batch: list[StoryItem], now: float | None = None) -> list[str]:
        spec = story_spec(DEFAULT_PARAMS, self.horizon_seconds, time.time() if now is None else now)
        return await self.script.assign(spec, *story_items(batch))


@pytest.fixture
async def client(stack_settings: Settings) -> aioredis.Redis:
    client = aioredis.from_url(stack_settings.redis_url)
    yield client
    await client.aclose()


async def drop(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)


async def test_batches_give_the_offline_stories(client: aioredis.Redis) -> None:
    rows = load("corpus.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix)
    try:
        got: list[str] = []
        for start in range(0, len(rows), 16):
            got += await stories.assign(items(rows[start : start + 16]))
        # Same ids, not just the same partition: story ids are first-article ids in both.
        assert got == offline(rows)
        assert len(set(got)) == 27
    finally:
        await drop(client, prefix)


async def test_e2e_input_in_one_batch_is_31_stories_and_redelivery_keeps_them(client: aioredis.Redis) -> None:
    rows = load("e2e-input.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix)
    try:
        got = await stories.assign(items(rows))
        assert got[:21] == [rows[0]["id"]] * 21  # the seed and its 20 copies, all in this one batch
        assert len(set(got)) == 31
        # Redelivered (even with another body): the story stored with the seen marker.
        again = await stories.assign([StoryItem(r["id"], sketch("")) for r in rows[::-1]])
        assert again == got[::-1]
        assert await client.get(f"{prefix}seen:{rows[5]['id']}") == rows[0]["id"].encode()
    finally:
        await drop(client, prefix)


async def test_two_workers_at_once_end_in_one_story(client: aioredis.Redis) -> None:
    rows = load("e2e-input.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    one, two = RedisStories(client, prefix=prefix), RedisStories(client, prefix=prefix)
    try:
        copies = items(rows[1:21])
        first, second = await asyncio.gather(one.assign(copies[::2]), two.assign(copies[1::2]))
        assert len(set(first + second)) == 1
    finally:
        await drop(client, prefix)


async def test_index_keys_expire_with_the_horizon(client: aioredis.Redis) -> None:
    rows = load("e2e-input.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix, horizon_seconds=3000)  # buckets of 1000 s
    now = time.time()
    try:
        await stories.assign(items(rows[:1]), now=now)
        bucket = f"{prefix}sb:{int(now) // 1000}"
        assert [k.decode() async for k in client.scan_iter(match=f"{prefix}s[bs]:*")] != []
        assert await client.hlen(bucket) == 32  # one field per band
        assert 3000 < await client.ttl(bucket) <= 4000  # until it leaves the last lookup
        assert 3990 <= await client.ttl(f"{prefix}ss:1") <= 4000  # horizon + one bucket
        assert await client.lrange(f"{prefix}ss:1", 0, 0) == [rows[0]["id"].encode()]
    finally:
        await drop(client, prefix)


async def test_a_story_is_joined_within_the_horizon_and_not_after(client: aioredis.Redis) -> None:
    rows = load("e2e-input.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix, horizon_seconds=3000)
    now = time.time()
    try:
        assert await stories.assign(items(rows[:1]), now=now) == [rows[0]["id"]]
        # A copy just inside the horizon joins; its own bands carry the story a horizon further.
        assert await stories.assign(items(rows[1:2]), now=now + 2990) == [rows[0]["id"]]
        assert await stories.assign(items(rows[2:3]), now=now + 5900) == [rows[0]["id"]]
        # A copy more than a horizon (plus a bucket) after the latest one starts a new story.
        assert await stories.assign(items(rows[3:4]), now=now + 10000) == [rows[3]["id"]]
    finally:
        await drop(client, prefix)


async def test_short_and_bad_input_is_never_merged(client: aioredis.Redis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix)
    bodies = [
        "",
        "!!! ؟؟؟ ...",
        "news " * 300_000,
        "خبر عاجل: داعش يتبنى هجوما",
        "خبر عاجل: داعش يتبنى هجوما",
    ]
    try:
        got = await stories.assign([StoryItem(f"bad{n}", sketch(b)) for n, b in enumerate(bodies)])
        assert got == [f"bad{n}" for n in range(len(bodies))]
    finally:
        await drop(client, prefix)


async def test_a_tie_goes_to_the_smaller_story_id_by_bytes(client: aioredis.Redis) -> None:
    rows = load("e2e-input.jsonl")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    stories = RedisStories(client, prefix=prefix, horizon_seconds=3000)
    now = time.time()
    seed = sketch(rows[0]["body"])
    assert seed.signature is not None
    try:
        # Two stories with the very same kept member (written directly: assignment would merge them);
        # "Z" < "a" by bytes, not in most locales' collation.
        bucket = f"{prefix}sb:{int(now) // 1000}"
        for handle, story_id in (("1", "a-story"), ("2", "Z-story")):
            await client.rpush(f"{prefix}ss:{handle}", story_id, int(now) // 1000, seed.signature)
        keys = seed.band_keys()
        await client.hset(bucket, mapping={k: ("1" if n % 2 else "2") for n, k in enumerate(keys)})
        assert await stories.assign([StoryItem("copy", seed)], now=now) == ["Z-story"]
        index = StoryIndex()
        index._bands = {k: ("a-story" if n % 2 else "Z-story") for n, k in enumerate(keys)}
        index._members = {"a-story": [seed.signature], "Z-story": [seed.signature]}
        assert index.assign("copy", rows[0]["body"]) == "Z-story"
    finally:
        await drop(client, prefix)
