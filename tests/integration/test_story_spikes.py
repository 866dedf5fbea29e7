"""Spike detectors measuring stories on the real Redis: 20 copies of one story on 20 sites fire a
mentions-measured detector but never a story-measured one; 6 independent stories on 6 sites fire both."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from streams.model.settings import Settings
from streams.store.counts import RollingCounts, StoryRequest, Tally
from streams.stories.sketch import DEFAULT_PARAMS, sketch
from streams.stories.wire import DEFAULT_HORIZON_SECONDS, StoryItem, story_items, story_spec
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.spike_step import SpikeStep

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    json.loads(line) for line in (ROOT / "tests/fixtures/stories/e2e-input.jsonl").read_text().splitlines()
]
MINUTE = 29_500_000
DETECTOR = {"entities": ["carter"], "window": "10m", "baseline": "1h", "min_count": 5, "ratio": 3,
            "min_sources": 3, "warmup": "0s", "webhooks": []}  # fmt: skip


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    watchlist = yaml.safe_load((ROOT / "ops/watchlist.yaml").read_text(encoding="utf-8"))
    watchlist["spikes"] = [
        {"id": "by_mentions", **DETECTOR},
        {"id": "by_stories", "measure": "stories", **DETECTOR},
    ]
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    return compile_watchlist(path)


@pytest.fixture
async def client(stack_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(stack_settings.redis_url)
    yield client
    await client.aclose()


async def fired(client: aioredis.Redis, compiled: CompiledWatchlist, rows: list[dict[str, str]]) -> list[str]:
    """The detectors that fire on one batch of `rows`, each on its own site, all naming Carter."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    counter = RollingCounts(client, prefix=prefix)
    spikes = SpikeStep(client, prefix, evidence_ttl=3600)
    now = time.time()
    items, blob = story_items([StoryItem(r["id"], sketch(r["body"])) for r in rows])
    stories = StoryRequest(story_spec(DEFAULT_PARAMS, DEFAULT_HORIZON_SECONDS, now), items, blob)
    tallies = [Tally(r["id"], MINUTE, f"site-{n}", {"carter": 2}) for n, r in enumerate(rows)]
    try:
        recorded = await counter.record(tallies, now, spikes=spikes.request(compiled, []), stories=stories)
        return sorted(a.rule_id for a in await spikes.evaluate(compiled, recorded) if a.status == "firing")
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)


async def test_copies_of_one_story_on_many_sites_never_fire_a_story_detector(
    client: aioredis.Redis, compiled: CompiledWatchlist
) -> None:
    copies = ROWS[:21]  # the seed and its 20 copies: 42 mentions from 21 sites, one story from one source
    assert await fired(client, compiled, copies) == ["by_mentions"]


async def test_independent_stories_on_many_sites_fire_both(
    client: aioredis.Redis, compiled: CompiledWatchlist
) -> None:
    stories = ROWS[21:27]  # six different originals: six stories from six sources
    assert await fired(client, compiled, stories) == ["by_mentions", "by_stories"]
