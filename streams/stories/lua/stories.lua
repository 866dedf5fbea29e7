-- Story assignment for one batch, written to be included in the worker's per-batch script (one
-- EVALSHA per batch) after the seen markers are set; streams/stories/assign.py is the same choice
-- in Python. Keys (prefix p; all expire after the story horizon, refreshed while a story grows):
--   p sb:<band byte><8 hash bytes>   band key -> story id (the first story to claim it keeps it)
--   p ss:<story>                     list of the story's first `kept` members' signatures (raw)
--   p seen:<article id>              the seen marker holds the article's story id
-- spec: {horizon = seconds, kept = members kept, needed = equal slots to join, slots = signature
-- slots, bands = band count}; items: {{article id, has signature (0/1)}, ...}; blob: for each item
-- with a signature, slots * 4 signature bytes then bands * 8 band-hash bytes; fresh[a] == 1 for
-- articles seen for the first time (their seen marker was just set). Returns the story per item.
local function story_section(p, spec, items, blob, fresh)
  local sig_len, band_len = spec.slots * 4, spec.bands * 8
  local function agreeing(a, b)
    local same = 0
    for i = 1, sig_len, 4 do
      if string.sub(a, i, i + 3) == string.sub(b, i, i + 3) then same = same + 1 end
    end
    return same
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
      -- A redelivered article keeps the story stored with its marker.
      stories[a] = redis.call('GET', seen_key) or id
    elseif not signed then
      stories[a] = id  -- too short to be merged: a story of its own, not indexed
      redis.call('SET', seen_key, id, 'XX', 'KEEPTTL')
    else
      local keys, found, order = {}, {}, {}
      for band = 0, spec.bands - 1 do
        keys[band + 1] = p .. 'sb:' .. string.char(band) .. string.sub(band_hashes, band * 8 + 1, band * 8 + 8)
      end
      for _, story in ipairs(redis.call('MGET', unpack(keys))) do
        if story and not found[story] then found[story] = true; order[#order + 1] = story end
      end
      local best, best_score = nil, -1
      for _, story in ipairs(order) do
        local score = -1
        for _, member in ipairs(redis.call('LRANGE', p .. 'ss:' .. story, 0, -1)) do
          score = math.max(score, agreeing(signature, member))
        end
        if score >= spec.needed and (score > best_score or (score == best_score and story < best)) then
          best, best_score = story, score
        end
      end
      local story = best or id
      local members_key = p .. 'ss:' .. story
      if redis.call('LLEN', members_key) < spec.kept then
        redis.call('RPUSH', members_key, signature)
        for _, key in ipairs(keys) do redis.call('SET', key, story, 'NX', 'EX', spec.horizon) end
      end
      -- The story stays findable for a horizon after its latest member.
      redis.call('EXPIRE', members_key, spec.horizon)
      stories[a] = story
      redis.call('SET', seen_key, story, 'XX', 'KEEPTTL')
    end
  end
  return stories
end
