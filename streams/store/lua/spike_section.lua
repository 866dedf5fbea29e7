-- spike_section(p, before, clock, touched, fresh, spec, stories): the spike detectors' reads and writes of one
-- counting call, prepended to record.lua (not a script of its own). Keys derived from the prefix p
-- (streams/store/keys.py): <p>ev:<entity>, <p>spike:<detector>:started, <p>spike:firing,
-- <p>m:<minute>, <p>ms:<minute>, <p>mst:<minute>, <p>mss:<minute>, <p>spike:<detector>:<entity>.
-- spec (JSON, streams.spikes.plan.section_spec): detectors, evidence, kept, ttl, max_steps.
-- before/clock: the stream clock before and after the call; touched: the entities whose window counts
-- changed (a set); fresh: which articles were not redeliveries (nil: all); stories: each article's
-- story id (false without a story section), added to its evidence entry as "story".
-- Keeps fresh articles' evidence, starts the detectors, and returns as JSON the firing pairs, detector
-- starts, and the per-minute counts, sources and states of every detector/entity pair to evaluate
-- (story counts and story sources too when a story-measured detector is among them).
local function spike_section(p, before, clock, touched, fresh, spec, stories)
  local out = {started = {}, states = {}, counts = {}, sources = {}}
  for _, ev in ipairs(spec.evidence) do
    if fresh == nil or fresh[ev[1]] == 1 then
      for j = 2, #ev, 2 do
        local key = p .. 'ev:' .. ev[j]
        local entry = ev[j + 1]
        if stories then entry = '{"story":' .. cjson.encode(stories[ev[1]]) .. ',' .. string.sub(entry, 2) end
        redis.call('LPUSH', key, entry)
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
  -- The pairs streams.spikes.plan.candidates picks: changed entities, and every firing pair.
  local todo, seen, entities, wanted, span, widest, by_story = {}, {}, {}, {}, 0, 0, false
  local function consider(d, entity)
    local member = d.id .. '\t' .. entity
    if seen[member] then return end
    seen[member] = true
    todo[#todo + 1] = {d.id, entity}
    if not wanted[entity] then wanted[entity] = true; entities[#entities + 1] = entity end
    span = math.max(span, d.span)
    widest = math.max(widest, d.window)
    by_story = by_story or d.stories
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
  local function read(counts_key, sources_key)
    local counts, sources = {}, {}
    for minute = out.first, clock do
      counts[#counts + 1] = redis.call('HMGET', p .. counts_key .. minute, unpack(entities))
    end
    for minute = out.source_from, clock do
      local flat, keep = redis.call('HGETALL', p .. sources_key .. minute), {}
      for j = 1, #flat, 2 do
        if wanted[string.match(flat[j], '^[^\t]*')] then keep[#keep + 1] = flat[j] end
      end
      sources[#sources + 1] = keep
    end
    return counts, sources
  end
  out.counts, out.sources = read('m:', 'ms:')
  if by_story then out.story_counts, out.story_sources = read('mst:', 'mss:') end
  for _, pair in ipairs(todo) do
    out.states[#out.states + 1] = {pair[1], pair[2], redis.call('HGETALL', p .. 'spike:' .. pair[1] .. ':' .. pair[2])}
  end
  out.entities = entities
  return cjson.encode(out)
end
