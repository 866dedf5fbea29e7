-- count_stories(p, batch, fresh, stories, items, story_ttl, bucket_ttl, add_to_windows): the
-- distinct-story counts of one counting call, prepended to record.lua (not a script of its own).
-- A story counts once for an entity, in the minute its first copy mentioning the entity arrived.
-- Keys (prefix p, streams/store/keys.py):
--   p mst:<minute>     hash entity -> stories first mentioning it in that minute (expires with buckets);
--   p dmst:<minute>    the same for day-precision articles, at their midnight (windows >= 1 day only)
--   p mss:<minute>     hash "entity\tsource" -> those stories by the source of their first copy
--                      (minute-precision articles only: spike detectors read minutes)
--   p wst:<W>          hash entity -> distinct stories in window W (record.lua's shift moves buckets)
--   p sen:<story id>   set of the entities the story was counted for (TTL: the story's lifetime)
-- batch: record.lua's decoded batch; fresh: 1 for articles counted for the first time; stories: each
-- article's story id; items: the story section's items (an unsigned article is a story of its own,
-- so it needs no set); add_to_windows(entity, minute, by_day): record.lua's "count now if inside a window".
-- rule_stories(p, hits, fresh, stories, batch, story_ttl): one alert per rule and story. hits:
-- {{article index, rule id, that article's alert JSON}, ...} for rules with `per: story`; key
-- p rs:<rule>:<story id>, a hash: "\tfirst" -> the alert of the story's first copy matching the rule,
-- and source -> copies matching it (a redelivery adds nothing). Returns each hit's hash (HGETALL).
local function rule_stories(p, hits, fresh, stories, batch, story_ttl)
  local out = {}
  for k, hit in ipairs(hits) do
    local a = hit[1]
    local key = p .. 'rs:' .. hit[2] .. ':' .. stories[a]
    if fresh[a] == 1 then
      redis.call('HSETNX', key, '\tfirst', hit[3])
      redis.call('HINCRBY', key, batch[a][3], 1)
      redis.call('EXPIRE', key, story_ttl)
    end
    out[k] = redis.call('HGETALL', key)
  end
  return out
end

local function count_stories(p, batch, fresh, stories, items, story_ttl, bucket_ttl, add_to_windows)
  for a, tally in ipairs(batch) do
    local minute, source, mentions, by_day = tally[2], tally[3], tally[5], tally[6] == 1
    local bucket = p .. (by_day and 'dmst:' or 'mst:') .. minute
    if fresh[a] == 1 and next(mentions) ~= nil then
      local story, signed = stories[a], items[a][2] == 1
      local seen_key = p .. 'sen:' .. story
      local counted = false
      for entity, _ in pairs(mentions) do
        if not signed or redis.call('SADD', seen_key, entity) == 1 then
          redis.call('HINCRBY', bucket, entity, 1)
          if not by_day then redis.call('HINCRBY', p .. 'mss:' .. minute, entity .. '\t' .. source, 1) end
          add_to_windows(entity, minute, by_day)
          counted = true
        end
      end
      if signed then redis.call('EXPIRE', seen_key, story_ttl) end
      if counted then
        redis.call('EXPIRE', bucket, bucket_ttl)
        if not by_day then redis.call('EXPIRE', p .. 'mss:' .. minute, bucket_ttl) end
      end
    end
  end
end
