-- Story assignment for one batch, written to be included in the worker's per-batch script (one
-- EVALSHA per batch) after the seen markers are set; streams/stories/index.py is the same algorithm
-- in one process. Keys (prefix p):
--   p sb:<bucket>        hash: band key (band byte + 8 hash bytes) -> story handle; one hash per time
--                        bucket (a third of the horizon), expiring when it leaves the horizon
--   p ss:<handle>        list: the story id, the bucket its bands were last written in, then its
--                        first `kept` members' raw signatures
--   p story:next         the last story handle given out (INCR)
--   p seen:<article id>  the seen marker holds the article's story id
-- spec: {now = unix seconds, horizon = seconds, kept = members kept, needed = equal slots to join,
-- slots = signature slots, bands = band count}; items: {{article id, has signature (0/1)}, ...};
-- blob: for each item with a signature, slots * 4 signature bytes then bands * 9 band-key bytes;
-- fresh[a] == 1 for articles seen for the first time (their seen marker was just set).
-- Returns the story id of every item.
local function story_section(p, spec, items, blob, fresh)
  local sig_len, band_len = spec.slots * 4, spec.bands * 9
  -- Signatures are compared as numbers: one struct.unpack per signature instead of a Lua string per slot.
  local slots_format = '>' .. string.rep('I4', spec.slots)
  -- A band written at time t is found until at least t + horizon: buckets of a third of the horizon,
  -- looked up over the current one and the three before it.
  local width = math.max(1, math.ceil(spec.horizon / 3))
  local current = math.floor(spec.now / width)
  local buckets = {}
  for i = 0, 3 do buckets[i + 1] = p .. 'sb:' .. (current - i) end
  local function agreeing(a, b)
    local same = 0
    for i = 1, spec.slots do
      if a[i] == b[i] then same = same + 1 end
    end
    return same
  end
  -- Story ids compared by their bytes, as Python compares them (Lua's < follows the server's locale).
  local function id_less(a, b)
    for i = 1, math.min(#a, #b) do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then return x < y end
    end
    return #a < #b
  end
  -- Stories read in this batch: {id, bucket, members (unpacked signatures)}, so the copies of one
  -- burst read and unpack their story once.
  local stories_read = {}
  local function story_of(handle)
    if stories_read[handle] == nil then
      local list = redis.call('LRANGE', p .. 'ss:' .. handle, 0, -1)
      local members = {}
      for j = 3, #list do members[#members + 1] = {struct.unpack(slots_format, list[j])} end
      stories_read[handle] = {id = list[1], bucket = tonumber(list[2]), members = members}
    end
    return stories_read[handle]
  end
  -- Among the stories a signature's bands found, the one whose closest kept member agrees most
  -- (at least spec.needed slots); ties go to the smallest story id. Returns (handle, story, what the
  -- current bucket holds for each band).
  local function best_story(slots, fields)
    local handles, seen_handle, in_current = {}, {}, nil
    for k, key in ipairs(buckets) do
      local found = redis.call('HMGET', key, unpack(fields))
      if k == 1 then in_current = found end
      for _, handle in ipairs(found) do
        if handle and not seen_handle[handle] then seen_handle[handle] = true; handles[#handles + 1] = handle end
      end
    end
    local best, best_story_read, best_score = nil, nil, -1
    for _, handle in ipairs(handles) do
      local story = story_of(handle)
      local score = -1
      for _, member in ipairs(story.members) do score = math.max(score, agreeing(slots, member)) end
      if story.id and score >= spec.needed
        and (score > best_score or (score == best_score and id_less(story.id, best_story_read.id))) then
        best, best_story_read, best_score = handle, story, score
      end
    end
    return best, best_story_read, in_current
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
      for band = 0, spec.bands - 1 do fields[band + 1] = string.sub(band_hashes, band * 9 + 1, band * 9 + 9) end
      local slots = {struct.unpack(slots_format, signature)}
      local handle, story, in_current = best_story(slots, fields)
      if handle == nil then
        handle = tostring(redis.call('INCR', p .. 'story:next'))
        story = {id = id, bucket = -1, members = {}}
        stories_read[handle] = story
        redis.call('RPUSH', p .. 'ss:' .. handle, id, -1)
      end
      local members_key = p .. 'ss:' .. handle
      local kept_member = #story.members < spec.kept
      if kept_member then
        redis.call('RPUSH', members_key, signature)
        story.members[#story.members + 1] = slots
      end
      -- A kept member's bands point to its story; so do those of the first copy in a new bucket, so
      -- that a story stays findable for a horizon after its latest copy. (In one bucket the latest
      -- writer of a band keeps it.)
      if kept_member or story.bucket ~= current then
        local pairs_args = {}
        for b, field in ipairs(fields) do
          -- Bands a copy shares with its story are there already: only the others are written.
          if in_current[b] ~= handle then pairs_args[#pairs_args + 1] = field; pairs_args[#pairs_args + 1] = handle end
        end
        if #pairs_args > 0 then redis.call('HSET', buckets[1], unpack(pairs_args)) end
        redis.call('EXPIREAT', buckets[1], (current + 4) * width)
        redis.call('LSET', members_key, 1, current)
        story.bucket = current
      end
      redis.call('EXPIRE', members_key, spec.horizon + width)
      stories[a] = story.id
      redis.call('SET', seen_key, story.id, 'XX', 'KEEPTTL')
    end
  end
  return stories
end
