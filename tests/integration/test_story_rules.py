"""Rule alerts per story on the real Redis: the seed's copies in two batches give one alert id, whose
evidence is the first copy with the copies and sources so far; a redelivery adds no copy; a rule
with `per: article` keeps one alert per article."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
import yaml

from streams.model.settings import Settings
from streams.store.counts import RollingCounts
from streams.watchlist.compiled import CompiledWatchlist, compile_watchlist
from streams.worker.batch import Batch, tag_batch

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    json.loads(line) for line in (ROOT / "tests/fixtures/stories/e2e-input.jsonl").read_text().splitlines()
]
NOW = datetime(2016, 10, 22, 9, 5, tzinfo=UTC)


@dataclass
class Msg:
    value: bytes
    key: bytes = b"k"
    topic: str = "news.articles"
    partition: int = 0
    offset: int = 0
    timestamp: float = 0.0


@pytest.fixture
def compiled(tmp_path: Path) -> CompiledWatchlist:
    watchlist = yaml.safe_load((ROOT / "ops/watchlist.yaml").read_text(encoding="utf-8"))
    watchlist["rules"] = [
        {"id": "by_story", "expr": "carter AND raqqa", "webhooks": []},
        {"id": "by_article", "expr": "carter AND raqqa", "per": "article", "webhooks": []},
    ]
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    return compile_watchlist(path)


@pytest.fixture
async def counts(stack_settings: Settings) -> AsyncIterator[RollingCounts]:
    client = aioredis.from_url(stack_settings.redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    yield RollingCounts(client, prefix=prefix)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def run(counts: RollingCounts, compiled: CompiledWatchlist, rows: list[dict[str, str]]) -> Batch:
    batch = tag_batch(compiled, [Msg(orjson.dumps(r)) for r in rows], 1 << 20, NOW)
    now = time.time()
    recorded = await counts.record(batch.tallies, now, stories=batch.story_request(3 * 86400, now))
    batch.assign_stories(recorded.stories, recorded.rule_stories)
    return batch


async def test_copies_join_their_story_alert_and_a_redelivery_adds_none(
    counts: RollingCounts, compiled: CompiledWatchlist
) -> None:
    first, second = await run(counts, compiled, ROWS[0:3]), await run(counts, compiled, ROWS[3:5])
    again = await run(counts, compiled, ROWS[3:5])  # redelivered
    story_alerts = [alert for batch in (first, second, again) for alert, _ in batch.story_alerts]
    assert len({alert.id for alert in story_alerts}) == 1
    assert [(e.article_id, e.story, e.copies) for a in story_alerts for e in a.evidence] == [
        (ROWS[0]["id"], ROWS[0]["id"], n) for n in (1, 2, 3, 4, 5, 5, 5)
    ]
    assert story_alerts[-1].evidence[0].copy_sources == sorted(r["source"] for r in ROWS[:5])
    assert [raised for batch in (first, second, again) for _, raised in batch.story_alerts] == [
        True, False, False, False, False, False, False
    ]  # fmt: skip
    per_article = [alert.id for batch in (first, second) for a in batch.articles for alert in a.rule_alerts]
    assert len(set(per_article)) == 5
