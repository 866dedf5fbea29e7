-- The story section (stories.lua) on its own, for tests and benchmarks: sets the seen markers the way
-- record.lua does, then assigns. ARGV: prefix, seen TTL, spec JSON, items JSON, blob.
local p, seen_ttl = ARGV[1], tonumber(ARGV[2])
local spec, items = cjson.decode(ARGV[3]), cjson.decode(ARGV[4])
local fresh = {}
for a, item in ipairs(items) do
  fresh[a] = redis.call('SET', p .. 'seen:' .. item[1], '1', 'NX', 'EX', seen_ttl) and 1 or 0
end
return story_section(p, spec, items, ARGV[5], fresh)
