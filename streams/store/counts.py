"""Exact rolling entity counts in Redis: one atomic Lua call per batch, idempotent per article.

Layout (prefix ``p``, minutes are UTC minutes since the epoch, event time):
  ``p seen:<article id>``     marker, so a redelivered article is never counted twice
  ``p m:<minute>``            hash entity -> mentions in that minute (expires)
  ``p ms:<minute>``           hash "entity\\tsource" -> mentions (expires; for source diversity)
  ``p w:<W>``                 hash entity -> mentions in the sliding window of W minutes
  ``p wsrc:<W>``              hash "entity\\tsource" -> mentions in window W
  ``p wd:<W>``                hash entity -> distinct sources in window W
  ``p parts`` / ``p active``   newest event minute and last wall-clock activity per Kafka partition
  ``p caughtup``              when each partition's owner last reported it read to the end
  ``p clock``                 the stream clock (a watermark, below)

The stream clock is the newest event minute that every partition has reached; a partition stops
holding it back only when it has been silent for ``idle_seconds`` and its owner reports it has read
everything (so a dead worker's partitions wait for their new owner); when all are idle it is the
newest minute seen.
Partitions are consumed in uneven chunks, so "the newest event time seen" on one partition can run
hours ahead of another during a replay; the watermark keeps a replay an exact backtest.

The window hashes hold exactly the minute buckets in (clock - W, clock]: an article is added to a
window at once when its minute is inside it, waits in its bucket when it is ahead of the clock, and
whole buckets enter and leave as the clock advances. So reading any window is a single HGETALL or
HMGET however long it is. All keys of one call are derived inside the script, so this needs a single
Redis (or a replica set), not a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

DEFAULT_WINDOWS = (1, 5, 60, 1440)
DAY = 86400

# The spike detectors' reads and writes of one call (see streams.worker.spike_step), given `spec` (JSON from
# spiking.SpikeStep.request), the clock before and after the call, the entities whose window counts
# changed (a set) and which articles were fresh (nil: all). Keeps fresh articles' evidence, starts the
# detectors, and returns as JSON the firing pairs, detector starts, and the per-minute counts, sources
# and states of every detector/entity pair to evaluate: what evaluation reads, without another trip.
SPIKE_SECTION_LUA = """
local function spike_section(p, before, clock, touched, fresh, spec)
  local out = {started = {}, states = {}, counts = {}, sources = {}}
  for _, ev in ipairs(spec.evidence) do
    if fresh == nil or fresh[ev[1]] == 1 then
      for j = 2, #ev, 2 do
        local key = p .. 'ev:' .. ev[j]
        redis.call('LPUSH', key, ev[j + 1])
        redis.call('LTRIM', key, 0, spec.kept - 1)
        redis.call('EXPIRE', key, spec.ttl)
      end
    end
  end
  for k, d in ipairs(spec.detectors) do
    local key = p .. 'spike:' .. d.id .. ':started'
    if clock >= 0 then redis.call('SET', key, clock * 60, 'NX') end
    out.started[k] = redis.call('GET', key)
  end
  out.firing = redis.call('SMEMBERS', p .. 'spike:firing')
  if clock < 0 then return cjson.encode(out) end
  -- The pairs streams.worker.spike_step.candidates picks: changed entities, and every firing pair.
  local todo, seen, entities, wanted, span, widest = {}, {}, {}, {}, 0, 0
  local function consider(d, entity)
    local member = d.id .. '\t' .. entity
    if seen[member] then return end
    seen[member] = true
    todo[#todo + 1] = {d.id, entity}
    if not wanted[entity] then wanted[entity] = true; entities[#entities + 1] = entity end
    span = math.max(span, d.span)
    widest = math.max(widest, d.window)
  end
  local by_id = {}
  for _, d in ipairs(spec.detectors) do
    by_id[d.id] = d
    local applies = {}
    if d.entities ~= '*' then for _, e in ipairs(d.entities) do applies[e] = true end end
    for entity, _ in pairs(touched) do
      if d.entities == '*' or applies[entity] then consider(d, entity) end
    end
  end
  for _, member in ipairs(out.firing) do
    local id, entity = string.match(member, '^([^\t]*)\t(.*)$')
    if id and by_id[id] then consider(by_id[id], entity) end
  end
  if #todo == 0 then return cjson.encode(out) end
  local from = clock
  if before >= 0 and clock > before then from = math.max(before + 1, clock - spec.max_steps + 1) end
  out.first, out.source_from = from - span + 1, from - widest + 1
  for minute = out.first, clock do
    out.counts[#out.counts + 1] = redis.call('HMGET', p .. 'm:' .. minute, unpack(entities))
  end
  for minute = out.source_from, clock do
    local flat, keep = redis.call('HGETALL', p .. 'ms:' .. minute), {}
    for j = 1, #flat, 2 do
      if wanted[string.match(flat[j], '^[^\t]*')] then keep[#keep + 1] = flat[j] end
    end
    out.sources[#out.sources + 1] = keep
  end
  for _, pair in ipairs(todo) do
    out.states[#out.states + 1] = {pair[1], pair[2], redis.call('HGETALL', p .. 'spike:' .. pair[1] .. ':' .. pair[2])}
  end
  out.entities = entities
  return cjson.encode(out)
end
"""

_RECORD_LUA = (
    SPIKE_SECTION_LUA
    + """
local p = ARGV[1]
local seen_ttl = tonumber(ARGV[2])
local bucket_ttl = tonumber(ARGV[3])
local windows = {}
for w in string.gmatch(ARGV[4], '%d+') do windows[#windows + 1] = tonumber(w) end
local now = tonumber(ARGV[5])
local idle = tonumber(ARGV[6])
local partitions = tonumber(ARGV[7])
local caught_up = tonumber(ARGV[8])
-- The batch, one JSON argument: [[id, minute, source, partition, {entity: count, ...}], ...]
local batch = cjson.decode(ARGV[9 + caught_up])
local clock = tonumber(redis.call('GET', p .. 'clock') or '-1')
local before = clock
local touched = {}

-- HINCRBY that removes the field when it reaches zero, so window hashes stay small.
local function add(key, field, by)
  local value = redis.call('HINCRBY', key, field, by)
  if value == 0 then redis.call('HDEL', key, field) end
  return value
end

-- Add (sign 1) or subtract (sign -1) a whole minute bucket to/from window w.
local function shift(w, minute, sign)
  local counts = redis.call('HGETALL', p .. 'm:' .. minute)
  for i = 1, #counts, 2 do
    add(p .. 'w:' .. w, counts[i], sign * tonumber(counts[i + 1]))
    touched[counts[i]] = true
  end
  local sources = redis.call('HGETALL', p .. 'ms:' .. minute)
  for i = 1, #sources, 2 do
    local count = tonumber(sources[i + 1])
    local value = add(p .. 'wsrc:' .. w, sources[i], sign * count)
    local entity = string.match(sources[i], '^[^\t]*')
    if sign > 0 and value == count then add(p .. 'wd:' .. w, entity, 1) end
    if sign < 0 and value == 0 then add(p .. 'wd:' .. w, entity, -1) end
  end
end

-- Move the clock forward: minutes leave each window at its old end and enter at its new end.
local function advance(to)
  if to <= clock then return end
  for _, w in ipairs(windows) do
    if clock < 0 or to - clock >= w then
      redis.call('DEL', p .. 'w:' .. w, p .. 'wsrc:' .. w, p .. 'wd:' .. w)
      for minute = to - w + 1, to do shift(w, minute, 1) end
    else
      for minute = clock - w + 1, to - w do shift(w, minute, -1) end
      for minute = clock + 1, to do shift(w, minute, 1) end
    end
  end
  clock = to
  redis.call('SET', p .. 'clock', to)
end

local newest, seen_part = {}, {}
local fresh = {}
for a, tally in ipairs(batch) do
  local id, minute, source, part, mentions = tally[1], tally[2], tally[3], tostring(tally[4]), tally[5]
  if newest[part] == nil or minute > newest[part] then newest[part] = minute end
  if redis.call('SET', p .. 'seen:' .. id, '1', 'NX', 'EX', seen_ttl) then
    fresh[a] = 1
    for entity, count in pairs(mentions) do
      local pair = entity .. '\t' .. source
      redis.call('HINCRBY', p .. 'm:' .. minute, entity, count)
      redis.call('HINCRBY', p .. 'ms:' .. minute, pair, count)
      -- Minutes after the clock wait in their bucket until the clock reaches them.
      if minute <= clock then
        for _, w in ipairs(windows) do
          if minute > clock - w then
            redis.call('HINCRBY', p .. 'w:' .. w, entity, count)
            if redis.call('HINCRBY', p .. 'wsrc:' .. w, pair, count) == count then
              redis.call('HINCRBY', p .. 'wd:' .. w, entity, 1)
            end
            touched[entity] = true
          end
        end
      end
    end
    if next(mentions) ~= nil then
      redis.call('EXPIRE', p .. 'm:' .. minute, bucket_ttl)
      redis.call('EXPIRE', p .. 'ms:' .. minute, bucket_ttl)
    end
  else
    fresh[a] = 0
  end
end

-- Partitions whose owner reports it has read everything there is (position = high watermark).
for j = 1, caught_up do redis.call('HSET', p .. 'caughtup', ARGV[8 + j], now) end
-- Partitions not heard from yet hold the clock back until their owner reports them caught up.
for part = 0, partitions - 1 do
  if redis.call('HSETNX', p .. 'active', part, now) == 1 then redis.call('HSETNX', p .. 'parts', part, -1) end
end
for part, minute in pairs(newest) do
  local known = tonumber(redis.call('HGET', p .. 'parts', part) or '-1')
  if minute > known then redis.call('HSET', p .. 'parts', part, minute) end
  redis.call('HSET', p .. 'active', part, now)
end

-- The watermark: the newest minute every partition has reached. A partition stops holding it back
-- only when it is idle: no records for `idle` seconds AND its owner recently reported it caught up,
-- so a partition whose worker died (unread records, nobody reporting) holds the clock until it is
-- consumed again. When all are idle the clock is the newest minute seen anywhere.
local function as_map(flat)
  local map = {}
  for j = 1, #flat, 2 do map[flat[j]] = tonumber(flat[j + 1]) end
  return map
end
local parts = redis.call('HGETALL', p .. 'parts')
local last_active = as_map(redis.call('HGETALL', p .. 'active'))
local last_caught_up = as_map(redis.call('HGETALL', p .. 'caughtup'))
local mark, newest_all = nil, -1
for j = 1, #parts, 2 do
  local part, minute = parts[j], tonumber(parts[j + 1])
  if minute > newest_all then newest_all = minute end
  local quiet = now - (last_active[part] or 0) > idle
  local drained = now - (last_caught_up[part] or -idle - 1) <= idle
  if not (quiet and drained) and (mark == nil or minute < mark) then mark = minute end
end
mark = mark or newest_all
if mark >= 0 then advance(mark) end

local changed = {}
for entity, _ in pairs(touched) do changed[#changed + 1] = entity end
local spikes = false
if ARGV[10 + caught_up] then spikes = spike_section(p, before, clock, touched, fresh, cjson.decode(ARGV[10 + caught_up])) end
return {before, clock, fresh, changed, spikes}
"""
)


@dataclass(frozen=True, slots=True)
class Tally:
    """What one article contributes to the counts."""

    article_id: str
    minute: int
    source: str
    mentions: Mapping[str, int]
    partition: int = 0


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of one call: the stream clock after it, which articles were new (not redelivered), and
    the entities whose window counts changed (the ones a spike detector must look at again)."""

    clock_minute: int
    fresh: list[bool]
    changed: frozenset[str] = frozenset()
    previous_clock_minute: int = -1
    spikes: bytes | None = None  # the spike section's JSON reply, when the call carried one


def minute_of(moment: datetime) -> int:
    """UTC minutes since the epoch: the bucket an event time falls in."""
    return int(moment.timestamp()) // 60


def record_args(
    prefix: str,
    seen_ttl: int,
    bucket_ttl: int,
    windows: Iterable[int],
    clock: tuple[float, float, int],
    batch: Sequence[Tally],
    caught_up: Sequence[int] = (),
    spikes: bytes | None = None,
) -> list[Any]:
    """Flatten a call into the script's ARGV (pure, so the wire format is tested without Redis).

    `clock` is (wall-clock now, idle seconds, partitions of the topic); `caught_up` the partitions
    this worker has read to their end: those may stop holding the clock back once idle; `spikes` the
    spike section's JSON spec (streams.worker.spike_step), last.
    """
    now, idle, partitions = clock
    window_list = ",".join(str(w) for w in windows)
    args: list[Any] = [prefix, seen_ttl, bucket_ttl, window_list, now, idle, partitions, len(caught_up)]
    # One JSON argument for the whole batch: redis-py packs a few arguments instead of thousands.
    tallies = [(t.article_id, t.minute, t.source or "-", t.partition, t.mentions) for t in batch]
    args += [*caught_up, orjson.dumps(tallies, default=dict)]  # default: mentions of any Mapping type
    if spikes is not None:
        args.append(spikes)
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
        idle_seconds: float = 10.0,
        partitions: int = 1,
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
        self.idle_seconds = idle_seconds
        self.partitions = partitions
        self._script = client.register_script(_RECORD_LUA)

    async def record(
        self,
        batch: Sequence[Tally],
        now: float | None = None,
        caught_up: Sequence[int] = (),
        spikes: bytes | None = None,
    ) -> Recorded:
        """Count a batch (an empty one just lets the clock pass partitions that went idle); with a
        spike section spec, the spike detectors' reads and writes ride on the same call."""
        wall = time.time() if now is None else now
        clock = (wall, self.idle_seconds, self.partitions)
        args = record_args(
            self.prefix, self.seen_ttl, self.bucket_ttl, self.windows, clock, batch, caught_up, spikes
        )
        before, clock, fresh, changed, spike_reply = await self._script(args=args)
        return Recorded(
            clock_minute=int(clock),
            previous_clock_minute=int(before),
            fresh=[bool(flag) for flag in fresh],
            changed=frozenset(e.decode() if isinstance(e, bytes) else e for e in changed),
            spikes=spike_reply,
        )

    async def tick(
        self, now: float | None = None, caught_up: Sequence[int] = (), spikes: bytes | None = None
    ) -> Recorded:
        """Report caught-up partitions and advance the clock past idle ones when no articles arrive."""
        return await self.record([], now, caught_up, spikes)

    async def window(self, minutes: int) -> dict[str, int]:
        """Mentions per entity in the sliding window of `minutes` ending at the stream clock."""
        return _ints(await self.client.hgetall(f"{self.prefix}w:{self._known(minutes)}"))

    async def distinct_sources(self, minutes: int) -> dict[str, int]:
        return _ints(await self.client.hgetall(f"{self.prefix}wd:{self._known(minutes)}"))

    def _known(self, minutes: int) -> int:
        if minutes not in self.windows:
            raise ValueError(f"window {minutes} min is not maintained; windows are {self.windows}")
        return minutes


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
