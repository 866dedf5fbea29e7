"""Test reads of the window hashes (production reads them through the exporter's snapshot)."""

from __future__ import annotations

from streams.store.counts import RollingCounts
from streams.store.keys import RedisKeys


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {key.decode(): int(value) for key, value in raw.items()}


async def window_counts(counts: RollingCounts, minutes: int) -> dict[str, int]:
    """Mentions per entity in the sliding window of `minutes` ending at the stream clock."""
    return _ints(await counts.client.hgetall(RedisKeys(counts.prefix).window(minutes)))


async def window_sources(counts: RollingCounts, minutes: int) -> dict[str, int]:
    """Distinct sources per entity in the same window."""
    return _ints(await counts.client.hgetall(RedisKeys(counts.prefix).window_distinct(minutes)))
