"""Spike evaluation against real Redis windows: the planted burst fires once, then resolves."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from streams.model.article import Article
from streams.model.settings import Settings
from streams.store.counts import RollingCounts, Tally
from streams.watchlist.compiled import compile_watchlist
from streams.worker.spike_step import SpikeStep

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPIKE = {
    "id": "raqqa_burst", "entities": ["raqqa"], "window": "10m", "baseline": "1h", "min_count": 30,
    "ratio": 4, "min_sources": 3, "warmup": "1h", "cooldown": "3h", "webhooks": [],
}  # fmt: skip


def minute(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC).timestamp()) // 60


@pytest.mark.parametrize("chunk_minutes", [1, 240])
async def test_planted_burst_fires_at_1202_and_resolves_at_1215(
    stack_settings: Settings, tmp_path: Path, chunk_minutes: int
) -> None:
    """Fed minute by minute or four hours per call (as a fast replay moves the clock), the same alerts,
    with the spike section riding on the counting call as the worker does."""
    watchlist = yaml.safe_load((ROOT / "ops/watchlist.yaml").read_text(encoding="utf-8"))
    watchlist["spikes"] = [SPIKE]
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(watchlist, allow_unicode=True), encoding="utf-8")
    compiled = compile_watchlist(path)
    per_minute = json.loads((ROOT / "ops/sample/expected.json").read_text())["per_minute"]["raqqa"]
    client = aioredis.from_url(stack_settings.redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    counter = RollingCounts(client, prefix=prefix)
    spikes = SpikeStep(client, prefix, evidence_ttl=stack_settings.bucket_ttl_seconds)
    events: list[tuple[str, str, int]] = []
    try:
        ordered = sorted(per_minute.items(), key=lambda item: minute(item[0]))
        chunks: dict[int, list[Tally]] = {}
        for stamp, count in ordered:
            at = minute(stamp)
            # Three sources per minute, as the sample's burst has; mentions split across them.
            tallies = [
                Tally(f"{stamp}-{s}", at, f"src{s}", {"raqqa": n}) for s, n in enumerate(_split(count)) if n
            ]
            chunks.setdefault(at // chunk_minutes, []).extend(tallies)
        for tallies in chunks.values():
            article = Article(id=tallies[0].article_id, title="الرقة", source="src0")
            evidence = (1, article, tallies[0].minute, {"raqqa": ["الرقة"]})  # as tag_batch keeps it
            request = spikes.request(compiled, [evidence])
            recorded = await counter.record(tallies, spikes=request)
            for alert in await spikes.evaluate(compiled, recorded):
                ends = alert.ends_at.strftime("%d %H:%M") if alert.ends_at else None
                events.append((alert.status, alert.starts_at.strftime("%d %H:%M"), ends, alert.count or 0))
        assert events == [("firing", "21 12:02", None, 37), ("resolved", "21 12:02", "21 12:15", 53)]
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:  # an empty DEL is an error that would hide the test's own
            await client.delete(*keys)
        await client.aclose()


def _split(count: int) -> list[int]:
    return [count // 3 + (1 if i < count % 3 else 0) for i in range(3)]
