-- buckets: the per-minute buckets the spike detectors need, relative to the clock read in the same
-- script, so that a clock advancing between two reads cannot shift them (streams.store.snapshot).
-- KEYS: none (derived from the prefix: <p>clock, <p>m:<minute> or <p>mst:<minute>).
-- ARGV[1] prefix, [2] span in minutes, [3] optional bucket kind: "m" mentions (default), "mst" stories.
-- Returns {clock, HGETALL of each minute from clock-span+1}.
local p, span, kind = ARGV[1], tonumber(ARGV[2]), ARGV[3] or 'm'
if kind ~= 'm' and kind ~= 'mst' then return redis.error_reply('bucket kind must be m or mst') end
local clock = tonumber(redis.call('GET', p .. 'clock') or '-1')
local out = {clock}
if clock < 0 then return out end
for minute = clock - span + 1, clock do out[#out + 1] = redis.call('HGETALL', p .. kind .. ':' .. minute) end
return out
