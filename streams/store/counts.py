"""Exact rolling entity counts in Redis: one atomic Lua call per batch, idempotent per article.

The keys it reads and writes are listed in streams/store/keys.py; the script is store/lua/record.lua.

The stream clock is the newest event minute that every partition has reached; a partition stops
holding it back only when it has been silent for ``idle_seconds`` and its owner reports it has read
everything (so a dead worker's partitions wait for their new owner); when all are idle it is the
newest minute seen.
Partitions are consumed in uneven chunks, so "the newest event time seen" on one partition can run
hours ahead of another during a replay; the watermark keeps a replay an exact backtest.

The window hashes hold exactly the minute buckets in (clock - W, clock]: an article is added to a
window at once when its minute is inside it, waits in its bucket when it is ahead of the clock, and
whole buckets enter and leave as the clock advances. So reading any window is a single HGETALL or
HMGET however long it is. Day-precision articles (Tally.by_day) go to day buckets keyed by the minute
of their midnight, which only windows of a day or longer hold (streams.model.precision): the spike
detectors' minute series never see them. All keys of one call are derived inside the script, so this
needs a single Redis (or a replica set), not a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from streams.model.minutes import to_seconds
from streams.store import scripts
from streams.store.keys import DEFAULT_PREFIX

DEFAULT_WINDOWS = (1, 5, 60, 1440)
DAY = 86400


@dataclass(frozen=True, slots=True)
class Tally:
    """What one article contributes to the counts."""

    article_id: str
    minute: int
    source: str
    mentions: Mapping[str, int]
    partition: int = 0
    # A day-precision article (streams.model.precision): counted in the day buckets, which only
    # windows of a day or longer hold, never in the minute buckets the spike detectors read.
    by_day: bool = False


@dataclass(frozen=True, slots=True)
class StoryRequest:
    """The story section's arguments (streams.stories.wire builds them; store/lua/stories.lua)."""

    spec: bytes
    items: bytes
    blob: bytes
    # Per-story rule hits (JSON [[article index from 1, rule id, its alert JSON], ...]), see
    # store/lua/story_counts.lua rule_stories.
    rule_hits: bytes = b"[]"


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of one call: the stream clock after it, which articles were new (not redelivered), and
    the entities whose window counts changed (the ones a spike detector must look at again)."""

    clock_minute: int
    fresh: list[bool]
    changed: frozenset[str] = frozenset()
    previous_clock_minute: int = -1
    spikes: bytes | None = None  # the spike section's JSON reply, when the call carried one
    stories: list[str] = field(default_factory=list)  # each article's story, when the call carried them
    # For each per-story rule hit of the call: {"\tfirst": first copy's alert JSON, source: copies}.
    rule_stories: list[dict[str, bytes]] = field(default_factory=list)


def record_args(
    prefix: str,
    seen_ttl: int,
    bucket_ttl: int,
    windows: Iterable[int],
    clock: tuple[float, float, int],
    batch: Sequence[Tally],
    caught_up: Sequence[int] = (),
    spikes: bytes | None = None,
    stories: StoryRequest | None = None,
) -> list[Any]:
    """Flatten a call into the script's ARGV (pure, so the wire format is tested without Redis).

    `clock` is (wall-clock now, idle seconds, partitions of the topic); `caught_up` the partitions
    this worker has read to their end: those may stop holding the clock back once idle; `spikes` the
    spike section's JSON spec (streams.spikes.plan.section_spec) or "" for none, then `stories`.
    """
    now, idle, partitions = clock
    window_list = ",".join(str(w) for w in windows)
    args: list[Any] = [prefix, seen_ttl, bucket_ttl, window_list, now, idle, partitions, len(caught_up)]
    # One JSON argument for the whole batch: redis-py packs a few arguments instead of thousands.
    tallies = [
        (t.article_id, t.minute, t.source or "-", t.partition, t.mentions, *((1,) if t.by_day else ()))
        for t in batch
    ]
    args += [*caught_up, orjson.dumps(tallies, default=dict)]  # default: mentions of any Mapping type
    if spikes is not None or stories is not None:
        args.append(b"" if spikes is None else spikes)
    if stories is not None:
        args += [stories.spec, stories.items, stories.blob, stories.rule_hits]
    return args


class RollingCounts:
    """Records batches of tallies and reads windows; every batch is one round trip."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        windows: Iterable[int] = DEFAULT_WINDOWS,
        seen_ttl: int = 7 * DAY,
        bucket_ttl: int = 2 * DAY,
        idle_seconds: float = 10.0,
        partitions: int = 1,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.windows = tuple(sorted(set(windows)))
        if to_seconds(max(self.windows)) >= bucket_ttl:
            raise ValueError(
                f"bucket_ttl {bucket_ttl}s must exceed the longest window ({max(self.windows)} min)"
            )
        self.seen_ttl = seen_ttl
        self.bucket_ttl = bucket_ttl
        self.idle_seconds = idle_seconds
        self.partitions = partitions
        self._script = client.register_script(scripts.RECORD)

    async def record(
        self,
        batch: Sequence[Tally],
        now: float | None = None,
        caught_up: Sequence[int] = (),
        spikes: bytes | None = None,
        stories: StoryRequest | None = None,
    ) -> Recorded:
        """Count a batch (an empty one just lets the clock pass partitions that went idle); with a
        spike section spec, the spike detectors' reads and writes ride on the same call, and so does
        the batch's story assignment with a story request."""
        wall = time.time() if now is None else now
        clock = (wall, self.idle_seconds, self.partitions)
        args = record_args(
            self.prefix, self.seen_ttl, self.bucket_ttl, self.windows, clock, batch, caught_up, spikes,
            stories,
        )  # fmt: skip
        before, clock, fresh, changed, spike_reply, stories_reply, rule_reply = await self._script(args=args)
        return Recorded(
            clock_minute=int(clock),
            previous_clock_minute=int(before),
            fresh=[bool(flag) for flag in fresh],
            changed=frozenset(e.decode() if isinstance(e, bytes) else e for e in changed),
            spikes=spike_reply,
            stories=[s.decode() for s in stories_reply] if stories_reply else [],
            rule_stories=[_hash(flat) for flat in rule_reply] if rule_reply else [],
        )

    async def tick(
        self, now: float | None = None, caught_up: Sequence[int] = (), spikes: bytes | None = None
    ) -> Recorded:
        """Report caught-up partitions and advance the clock past idle ones when no articles arrive."""
        return await self.record([], now, caught_up, spikes)


def _hash(flat: Sequence[bytes]) -> dict[str, bytes]:
    """A Lua HGETALL reply (field, value, ...) as a dict with text fields."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
