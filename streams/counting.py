"""Exact rolling entity counts in Redis: one atomic Lua call per batch, idempotent per article.

Layout (prefix ``p``, minutes are UTC minutes since the epoch, event time):
  ``p seen:<article id>``     marker, so a redelivered article is never counted twice
  ``p m:<minute>``            hash entity -> mentions in that minute (expires)
  ``p ms:<minute>``           hash "entity\\tsource" -> mentions (expires; for source diversity)
  ``p w:<W>``                 hash entity -> mentions in the sliding window of W minutes
  ``p wsrc:<W>``              hash "entity\\tsource" -> mentions in window W
  ``p wd:<W>``                hash entity -> distinct sources in window W
  ``p clock``                 the stream clock: newest event minute counted

The window hashes are maintained incrementally: when the stream clock advances, the minutes that
leave a window are subtracted from it, so reading any window is a single HGETALL/HMGET however long
it is. Late articles (older than a window's start) land in their minute bucket only. All keys of one
call are derived inside the script, so this needs a single Redis (or a replica set), not a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

DEFAULT_WINDOWS = (1, 5, 60, 1440)
DAY = 86400

_RECORD_LUA = """
local p = ARGV[1]
local seen_ttl = tonumber(ARGV[2])
local bucket_ttl = tonumber(ARGV[3])
local windows = {}
for w in string.gmatch(ARGV[4], '%d+') do windows[#windows + 1] = tonumber(w) end
local n = tonumber(ARGV[5])
local clock = tonumber(redis.call('GET', p .. 'clock') or '-1')

-- HINCRBY that removes the field when it reaches zero, so window hashes stay small.
local function add(key, field, by)
  local value = redis.call('HINCRBY', key, field, by)
  if value == 0 then redis.call('HDEL', key, field) end
  return value
end

local function leave(w, minute)
  local counts = redis.call('HGETALL', p .. 'm:' .. minute)
  for i = 1, #counts, 2 do add(p .. 'w:' .. w, counts[i], -tonumber(counts[i + 1])) end
  local sources = redis.call('HGETALL', p .. 'ms:' .. minute)
  for i = 1, #sources, 2 do
    if add(p .. 'wsrc:' .. w, sources[i], -tonumber(sources[i + 1])) == 0 then
      add(p .. 'wd:' .. w, string.match(sources[i], '^[^\\t]*'), -1)
    end
  end
end

local function advance(to)
  if clock >= 0 then
    if to <= clock then return end
    for _, w in ipairs(windows) do
      if to - clock >= w then
        redis.call('DEL', p .. 'w:' .. w, p .. 'wsrc:' .. w, p .. 'wd:' .. w)
      else
        for minute = clock - w + 1, to - w do leave(w, minute) end
      end
    end
  end
  clock = to
  redis.call('SET', p .. 'clock', to)
end

local fresh = {}
local i = 6
for a = 1, n do
  local id, minute, source, k = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  if redis.call('SET', p .. 'seen:' .. id, '1', 'NX', 'EX', seen_ttl) then
    fresh[a] = 1
    advance(minute)
    for j = 1, k do
      local entity, count = ARGV[i], tonumber(ARGV[i + 1])
      local pair = entity .. '\\t' .. source
      i = i + 2
      redis.call('HINCRBY', p .. 'm:' .. minute, entity, count)
      redis.call('HINCRBY', p .. 'ms:' .. minute, pair, count)
      for _, w in ipairs(windows) do
        if minute > clock - w then
          redis.call('HINCRBY', p .. 'w:' .. w, entity, count)
          if redis.call('HINCRBY', p .. 'wsrc:' .. w, pair, count) == count then
            redis.call('HINCRBY', p .. 'wd:' .. w, entity, 1)
          end
        end
      end
    end
    if k > 0 then
      redis.call('EXPIRE', p .. 'm:' .. minute, bucket_ttl)
      redis.call('EXPIRE', p .. 'ms:' .. minute, bucket_ttl)
    end
  else
    fresh[a] = 0
    i = i + 2 * k
  end
end
return {clock, fresh}
"""


@dataclass(frozen=True, slots=True)
class Tally:
    """What one article contributes to the counts."""

    article_id: str
    minute: int
    source: str
    mentions: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of one batch: the stream clock after it and which articles were new (not redelivered)."""

    clock_minute: int
    fresh: list[bool]


def minute_of(moment: datetime) -> int:
    """UTC minutes since the epoch: the bucket an event time falls in."""
    return int(moment.timestamp()) // 60


def record_args(
    prefix: str, seen_ttl: int, bucket_ttl: int, windows: Iterable[int], batch: Sequence[Tally]
) -> list[Any]:
    """Flatten a batch into the script's ARGV (pure, so the wire format is tested without Redis)."""
    args: list[Any] = [prefix, seen_ttl, bucket_ttl, ",".join(str(w) for w in windows), len(batch)]
    for tally in batch:
        args += [tally.article_id, tally.minute, tally.source or "-", len(tally.mentions)]
        for entity, count in tally.mentions.items():
            args += [entity, count]
    return args


class Counter:
    """Records batches of tallies and reads windows; every batch is one round trip."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "nm:",
        windows: Iterable[int] = DEFAULT_WINDOWS,
        seen_ttl: int = 7 * DAY,
        bucket_ttl: int = 2 * DAY,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.windows = tuple(sorted(set(windows)))
        if max(self.windows) * 60 >= bucket_ttl:
            raise ValueError(
                f"bucket_ttl {bucket_ttl}s must exceed the longest window ({max(self.windows)} min)"
            )
        self.seen_ttl = seen_ttl
        self.bucket_ttl = bucket_ttl
        self._script = client.register_script(_RECORD_LUA)

    async def record(self, batch: Sequence[Tally]) -> Recorded:
        if not batch:
            return Recorded(clock_minute=await self.clock_minute(), fresh=[])
        args = record_args(self.prefix, self.seen_ttl, self.bucket_ttl, self.windows, batch)
        clock, fresh = await self._script(args=args)
        return Recorded(clock_minute=int(clock), fresh=[bool(flag) for flag in fresh])

    async def clock_minute(self) -> int:
        value = await self.client.get(self.prefix + "clock")
        return int(value) if value is not None else -1

    async def window(self, minutes: int) -> dict[str, int]:
        """Mentions per entity in the sliding window of `minutes` ending at the stream clock."""
        return _ints(await self.client.hgetall(f"{self.prefix}w:{self._known(minutes)}"))

    async def distinct_sources(self, minutes: int) -> dict[str, int]:
        return _ints(await self.client.hgetall(f"{self.prefix}wd:{self._known(minutes)}"))

    async def minute(self, minute: int) -> dict[str, int]:
        return _ints(await self.client.hgetall(f"{self.prefix}m:{minute}"))

    def _known(self, minutes: int) -> int:
        if minutes not in self.windows:
            raise ValueError(f"window {minutes} min is not maintained; windows are {self.windows}")
        return minutes


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
