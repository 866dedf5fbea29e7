-- buckets: the per-minute buckets the spike detectors need, relative to the clock read in the same
-- script, so that a clock advancing between two reads cannot shift them (streams.store.snapshot).
-- KEYS: none (derived from the prefix: <p>clock, <p>m:<minute>).
-- ARGV[1] prefix, [2] span in minutes. Returns {clock, HGETALL of each minute from clock-span+1}.
local p, span = ARGV[1], tonumber(ARGV[2])
local clock = tonumber(redis.call('GET', p .. 'clock') or '-1')
local out = {clock}
if clock < 0 then return out end
for minute = clock - span + 1, clock do out[#out + 1] = redis.call('HGETALL', p .. 'm:' .. minute) end
return out
