-- Story assignment for one batch, written to be included in the worker's per-batch script (one
-- EVALSHA per batch) after the seen markers are set; streams/stories/index.py is the same algorithm
-- in one process. Keys (prefix p):
--   p sb:<bucket>        hash: band key (band byte + 8 hash bytes) -> story handle; one hash per time
--                        bucket (a third of the horizon), expiring when it leaves the horizon
--   p ss:<handle>        list: the story id, then its first `kept` members' raw signatures
--   p story:next         the last story handle given out (INCR)
--   p seen:<article id>  the seen marker holds the article's story id
-- spec: {now = unix seconds, horizon = seconds, kept = members kept, needed = equal slots to join,
-- slots = signature slots, bands = band count}; items: {{article id, has signature (0/1)}, ...};
-- blob: for each item with a signature, slots * 4 signature bytes then bands * 8 band-hash bytes;
-- fresh[a] == 1 for articles seen for the first time (their seen marker was just set).
-- Returns the story id of every item.
local function story_section(p, spec, items, blob, fresh)
  local sig_len, band_len = spec.slots * 4, spec.bands * 8
  -- A band written at time t is found until at least t + horizon: buckets of a third of the horizon,
  -- looked up over the current one and the three before it.
  local width = math.max(1, math.ceil(spec.horizon / 3))
  local current = math.floor(spec.now / width)
  local buckets = {}
  for i = 0, 3 do buckets[i + 1] = p .. 'sb:' .. (current - i) end
  local function agreeing(a, b)
    local same = 0
    for i = 1, sig_len, 4 do
      if string.sub(a, i, i + 3) == string.sub(b, i, i + 3) then same = same + 1 end
    end
    return same
  end
  -- Among the stories a signature's bands found, the one whose closest kept member agrees most
  -- (at least spec.needed slots); ties go to the smallest story id. Returns (handle, story id).
  local function best_story(signature, fields)
    local handles, seen_handle = {}, {}
    for _, key in ipairs(buckets) do
      for _, handle in ipairs(redis.call('HMGET', key, unpack(fields))) do
        if handle and not seen_handle[handle] then seen_handle[handle] = true; handles[#handles + 1] = handle end
      end
    end
    local best, best_id, best_score = nil, nil, -1
    for _, handle in ipairs(handles) do
      local list = redis.call('LRANGE', p .. 'ss:' .. handle, 0, -1)
      local score = -1
      for j = 2, #list do score = math.max(score, agreeing(signature, list[j])) end
      local id = list[1]
      if id and score >= spec.needed and (score > best_score or (score == best_score and id < best_id)) then
        best, best_id, best_score = handle, id, score
      end
    end
    return best, best_id
  end
  local stories, offset = {}, 1
  for a, item in ipairs(items) do
    local id, signed = item[1], item[2] == 1
    local signature, band_hashes
    if signed then
      signature = string.sub(blob, offset, offset + sig_len - 1)
      band_hashes = string.sub(blob, offset + sig_len, offset + sig_len + band_len - 1)
      offset = offset + sig_len + band_len
    end
    local seen_key = p .. 'seen:' .. id
    if fresh[a] ~= 1 then
      stories[a] = redis.call('GET', seen_key) or id  -- redelivered: the story stored with its marker
    elseif not signed then
      stories[a] = id  -- too short to be merged: a story of its own, not indexed
      redis.call('SET', seen_key, id, 'XX', 'KEEPTTL')
    else
      local fields = {}
      for band = 0, spec.bands - 1 do
        fields[band + 1] = string.char(band) .. string.sub(band_hashes, band * 8 + 1, band * 8 + 8)
      end
      local handle, story = best_story(signature, fields)
      if handle == nil then
        handle, story = tostring(redis.call('INCR', p .. 'story:next')), id
        redis.call('RPUSH', p .. 'ss:' .. handle, id)
      end
      local members_key = p .. 'ss:' .. handle
      if redis.call('LLEN', members_key) <= spec.kept then redis.call('RPUSH', members_key, signature) end
      -- Every member's bands point to its story in the current bucket (the latest writer of a band
      -- keeps it), so a story stays findable for a horizon after its latest copy.
      local pairs_args = {}
      for _, field in ipairs(fields) do pairs_args[#pairs_args + 1] = field; pairs_args[#pairs_args + 1] = handle end
      redis.call('HSET', buckets[1], unpack(pairs_args))
      redis.call('EXPIREAT', buckets[1], (current + 4) * width)
      redis.call('EXPIRE', members_key, spec.horizon + width)
      stories[a] = story
      redis.call('SET', seen_key, story, 'XX', 'KEEPTTL')
    end
  end
  return stories
end
