"""The counting script with its story section on the real Redis: one call assigns the batch's stories
(the standalone section's ids), a redelivery reads its story back, and counting is unchanged."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from streams.model.settings import Settings
from streams.store.counts import RollingCounts, StoryRequest, Tally
from streams.stories.index import StoryIndex
from streams.stories.sketch import DEFAULT_PARAMS, sketch
from streams.stories.wire import DEFAULT_HORIZON_SECONDS, StoryItem, story_items, story_spec

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"
MINUTE = 29_500_000


def load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]


def request(rows: list[dict[str, str]], now: float) -> StoryRequest:
    items, blob = story_items([StoryItem(r["id"], sketch(r["body"])) for r in rows])
    return StoryRequest(story_spec(DEFAULT_PARAMS, DEFAULT_HORIZON_SECONDS, now), items, blob)


def tallies(rows: list[dict[str, str]]) -> list[Tally]:
    return [Tally(r["id"], MINUTE, r["source"], {"seed-entity": 1}) for r in rows]


@pytest.fixture
async def client(stack_settings: Settings) -> aioredis.Redis:
    client = aioredis.from_url(stack_settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(client: aioredis.Redis) -> str:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)


async def test_one_counting_call_assigns_the_offline_stories_and_a_redelivery_keeps_them(
    client: aioredis.Redis, prefix: str
) -> None:
    rows = load("e2e-input.jsonl")
    counts = RollingCounts(client, prefix=prefix, windows=(1, 60))
    index = StoryIndex()
    now = time.time()
    got = []
    for start in range(0, len(rows), 10):
        part = rows[start : start + 10]
        recorded = await counts.record(tallies(part), now, stories=request(part, now))
        got += recorded.stories
    assert got == [index.assign(r["id"], r["body"]) for r in rows]
    assert (len(set(got)), got[:21]) == (31, [rows[0]["id"]] * 21)
    again = await counts.record(tallies(rows[3:5]), now, stories=request(rows[3:5], now))
    assert (again.fresh, again.stories) == ([False, False], [rows[0]["id"]] * 2)
    # Mentions still count every copy (51 fresh articles, one mention each).
    assert await client.hget(f"{prefix}m:{MINUTE}", "seed-entity") == b"51"


async def test_spikes_and_stories_ride_on_one_call(client: aioredis.Redis, prefix: str) -> None:
    rows = load("e2e-input.jsonl")[:2]
    counts = RollingCounts(client, prefix=prefix, windows=(1,))
    now = time.time()
    spec = json.dumps({"detectors": [], "evidence": [], "kept": 5, "ttl": 60, "max_steps": 10}).encode()
    recorded = await counts.record(tallies(rows), now, spikes=spec, stories=request(rows, now))
    assert recorded.stories == [rows[0]["id"]] * 2
    assert recorded.spikes is not None


async def test_story_windows_count_a_story_once_per_entity_in_the_minute_of_its_first_copy(
    client: aioredis.Redis, prefix: str
) -> None:
    rows = load("e2e-input.jsonl")  # the seed and 20 copies, then 30 unrelated stories
    counts = RollingCounts(client, prefix=prefix, windows=(1, 60))
    now = time.time()

    def tally(row: dict[str, str], minute: int) -> Tally:
        entity = "seed-entity" if row["id"].startswith("seed.") else "other"
        return Tally(row["id"], minute, row["source"], {entity: 2, "both": 1})

    await counts.record([tally(r, MINUTE) for r in rows], now, stories=request(rows, now))
    window = {k.decode(): int(v) for k, v in (await client.hgetall(f"{prefix}wst:1")).items()}
    mentions = {k.decode(): int(v) for k, v in (await client.hgetall(f"{prefix}w:1")).items()}
    assert window == {"seed-entity": 1, "other": 30, "both": 31}
    assert mentions == {"seed-entity": 42, "other": 60, "both": 51}
    # One more copy two minutes later, and a redelivery: neither is a new story; the story stays in
    # the minute of its first copy, so it leaves the 1-minute window and stays in the hour.
    late = {**rows[5], "id": "seed.late-copy"}
    batch = [late, rows[6]]
    recorded = await counts.record([tally(r, MINUTE + 2) for r in batch], now, stories=request(batch, now))
    assert recorded.stories == [rows[0]["id"]] * 2
    assert await client.hgetall(f"{prefix}wst:1") == {}
    hour = {k.decode(): int(v) for k, v in (await client.hgetall(f"{prefix}wst:60")).items()}
    assert hour == {"seed-entity": 1, "other": 30, "both": 31}
    assert await client.hget(f"{prefix}w:60", "seed-entity") == b"44"  # mentions count the late copy
