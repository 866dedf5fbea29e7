"""Reading a Snapshot of the counts from Redis in one round trip (the exporter's and top's read)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis

from streams.model.snapshot import Snapshot
from streams.store import scripts
from streams.store.counts import DEFAULT_WINDOWS
from streams.store.keys import RedisKeys


def read_snapshot(
    client: redis.Redis, prefix: str, span_minutes: int, windows: Sequence[int] = DEFAULT_WINDOWS
) -> Snapshot:
    """Everything one scrape needs in one round trip, inside MULTI/EXEC so the clock cannot move mid-read."""
    keys = RedisKeys(prefix)
    with client.pipeline(transaction=True) as pipe:
        for window in windows:
            pipe.hgetall(keys.window(window))
        for window in windows:
            pipe.hgetall(keys.window_distinct(window))
        for window in windows:
            pipe.hgetall(keys.window_stories(window))
        pipe.smembers(keys.spike_firing)
        pipe.eval(scripts.BUCKETS, 0, prefix, span_minutes)
        pipe.eval(scripts.BUCKETS, 0, prefix, span_minutes, "mst")
        replies = pipe.execute()
    return parse_snapshot(windows, replies)


def parse_snapshot(windows: Sequence[int], replies: Sequence[Any]) -> Snapshot:
    """Turn the pipeline's replies (see read_snapshot for their order) into a Snapshot."""
    n = len(windows)
    buckets, story_buckets = replies[3 * n + 1], replies[3 * n + 2]
    clock = int(buckets[0])
    first = clock - len(buckets) + 2
    return Snapshot(
        clock_minute=clock,
        windows={w: _ints(reply) for w, reply in zip(windows, replies[:n], strict=True)},
        sources={w: _ints(reply) for w, reply in zip(windows, replies[n : 2 * n], strict=True)},
        stories={w: _ints(reply) for w, reply in zip(windows, replies[2 * n : 3 * n], strict=True)},
        minutes={first + i: _pairs(flat) for i, flat in enumerate(buckets[1:])},
        story_minutes={first + i: _pairs(flat) for i, flat in enumerate(story_buckets[1:])},
        firing=frozenset(_firing_pair(_text(m)) for m in replies[3 * n]),
    )


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


def _pairs(flat: Sequence[Any]) -> dict[str, int]:
    """A Lua HGETALL reply (field, value, field, value, ...) as a dict."""
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _firing_pair(member: str) -> tuple[str, str]:
    spike_id, _, entity = member.partition("\t")
    return spike_id, entity


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
