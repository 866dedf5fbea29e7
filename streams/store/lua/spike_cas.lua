-- spike_cas: write a detector's state only if nobody else changed it since we read it (two workers,
-- one entity), and keep the firing set in step with it (streams.store.spike_state).
-- KEYS[1] <p>spike:<detector>:<entity>, KEYS[2] <p>spike:firing.
-- ARGV[1] version read, [2] "detector\tentity", [3] '1' firing / '0', [4..] field, value, ... pairs.
-- Returns 1 when written, 0 when the version moved on.
local current = redis.call('HGET', KEYS[1], 'version') or ''
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[2]) else redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
