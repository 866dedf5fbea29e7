-- record: count one batch and advance the stream clock (streams.store.counts.RollingCounts.record).
-- KEYS: none (all keys are derived from the prefix inside the script; streams/store/keys.py).
-- ARGV[1] prefix, [2] seen TTL s, [3] bucket TTL s, [4] windows "1,5,60,1440", [5] wall-clock now,
-- [6] idle seconds, [7] partitions, [8] n caught-up partitions, [9..8+n] those partitions,
-- [9+n] the batch (JSON: [[id, minute, source, partition, {entity: count}[, 1 = by day]], ...]),
-- [10+n] optional spike section spec (JSON, see spike_section.lua; "" for none),
-- [11+n..14+n] optional story section spec, items, blob (see stories.lua) and per-story rule hits
-- (see story_counts.lua).
-- Returns {clock before, clock after, fresh flags, changed entities, spike section reply or false,
-- story ids or false, the rule hits' story hashes or false}.
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
-- Day-precision articles have no real minute: they go to the day buckets dm:/dms:<minute of their
-- midnight> (and their first story mentions to dmst:), which only windows of DAY minutes or longer
-- hold (streams.model.precision). They never reach the minute buckets m:/ms:/mst: the spike
-- detectors read, nor `touched`.
local DAY = 1440

-- HINCRBY that removes the field when it reaches zero, so window hashes stay small.
local function add(key, field, by)
  local value = redis.call('HINCRBY', key, field, by)
  if value == 0 then redis.call('HDEL', key, field) end
  return value
end

-- Add (sign 1) or subtract (sign -1) a whole minute bucket (m, ms, mst: the bucket family) to/from window w.
local function shift_bucket(w, m, ms, mst, minute, sign)
  local counts = redis.call('HGETALL', p .. m .. minute)
  for i = 1, #counts, 2 do
    add(p .. 'w:' .. w, counts[i], sign * tonumber(counts[i + 1]))
    if m == 'm:' then touched[counts[i]] = true end
  end
  local stories = redis.call('HGETALL', p .. mst .. minute)
  for i = 1, #stories, 2 do add(p .. 'wst:' .. w, stories[i], sign * tonumber(stories[i + 1])) end
  local sources = redis.call('HGETALL', p .. ms .. minute)
  for i = 1, #sources, 2 do
    local count = tonumber(sources[i + 1])
    local value = add(p .. 'wsrc:' .. w, sources[i], sign * count)
    local entity = string.match(sources[i], '^[^\t]*')
    if sign > 0 and value == count then add(p .. 'wd:' .. w, entity, 1) end
    if sign < 0 and value == 0 then add(p .. 'wd:' .. w, entity, -1) end
  end
end

local function shift(w, minute, sign)
  shift_bucket(w, 'm:', 'ms:', 'mst:', minute, sign)
  if w >= DAY then shift_bucket(w, 'dm:', 'dms:', 'dmst:', minute, sign) end
end

-- Move the clock forward: minutes leave each window at its old end and enter at its new end.
local function advance(to)
  if to <= clock then return end
  for _, w in ipairs(windows) do
    if clock < 0 or to - clock >= w then
      redis.call('DEL', p .. 'w:' .. w, p .. 'wsrc:' .. w, p .. 'wd:' .. w, p .. 'wst:' .. w)
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
  local by_day = tally[6] == 1
  local m, ms = 'm:', 'ms:'
  if by_day then m, ms = 'dm:', 'dms:' end
  if newest[part] == nil or minute > newest[part] then newest[part] = minute end
  if redis.call('SET', p .. 'seen:' .. id, '1', 'NX', 'EX', seen_ttl) then
    fresh[a] = 1
    for entity, count in pairs(mentions) do
      local pair = entity .. '\t' .. source
      redis.call('HINCRBY', p .. m .. minute, entity, count)
      redis.call('HINCRBY', p .. ms .. minute, pair, count)
      -- Minutes after the clock wait in their bucket until the clock reaches them.
      if minute <= clock then
        for _, w in ipairs(windows) do
          if minute > clock - w and (w >= DAY or not by_day) then
            redis.call('HINCRBY', p .. 'w:' .. w, entity, count)
            if redis.call('HINCRBY', p .. 'wsrc:' .. w, pair, count) == count then
              redis.call('HINCRBY', p .. 'wd:' .. w, entity, 1)
            end
            if not by_day then touched[entity] = true end
          end
        end
      end
    end
    if next(mentions) ~= nil then
      redis.call('EXPIRE', p .. m .. minute, bucket_ttl)
      redis.call('EXPIRE', p .. ms .. minute, bucket_ttl)
    end
  else
    fresh[a] = 0
  end
end

-- Stories are assigned after the seen markers are set (a redelivery reads its story back), then
-- counted per entity before the clock moves, like the mentions.
local stories, rule_reply = false, false
if ARGV[11 + caught_up] then
  local spec, items = cjson.decode(ARGV[11 + caught_up]), cjson.decode(ARGV[12 + caught_up])
  stories = story_section(p, spec, items, ARGV[13 + caught_up], fresh)
  local function add_to_windows(entity, minute, by_day)
    if minute > clock then return end
    for _, w in ipairs(windows) do
      if minute > clock - w and (w >= DAY or not by_day) then
        redis.call('HINCRBY', p .. 'wst:' .. w, entity, 1)
        if not by_day then touched[entity] = true end
      end
    end
  end
  local story_ttl = spec.horizon + math.max(1, math.ceil(spec.horizon / 3))
  count_stories(p, batch, fresh, stories, items, story_ttl, bucket_ttl, add_to_windows)
  rule_reply = rule_stories(p, cjson.decode(ARGV[14 + caught_up]), fresh, stories, batch, story_ttl)
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
if ARGV[10 + caught_up] and ARGV[10 + caught_up] ~= '' then spikes = spike_section(p, before, clock, touched, fresh, cjson.decode(ARGV[10 + caught_up]), stories) end
return {before, clock, fresh, changed, spikes, stories, rule_reply}
