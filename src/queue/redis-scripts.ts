/**
 * The Redis queue's state changes, each one Lua script so that each is atomic: no instance can
 * observe or change the queue between a check and the change it decides. Every script reads the
 * time from Redis itself (TIME), so that every instance counts leases, retry delays, the dedupe
 * window and the call budget on one clock.
 *
 * Queue keys, in this order in every queue script:
 *   1 scans      hash  id → JSON of the queued image
 *   2 queued     zset  id → queued_at (every image not yet accepted: pending or claimed)
 *   3 pending    zset  id → epoch µs from which it may be claimed
 *   4 claimed    zset  id → lease expiry
 *   5 claims     hash  id → claim token
 *   6 submitted  zset  id → when HSS accepted it (the dedupe window)
 *   7 dead       hash  id → JSON {scan, error, dead_at}
 *   8 dead-at    zset  id → dead_at (for the retention of dead letters)
 * Budget keys: 1 calls zset (call token → epoch ms), 2 blocked-until string.
 * Watch keys: 1 watch hash (id → JSON of the watch), 2 watch-due zset (id → epoch ms due).
 */

// \`now\` in ms; \`nowUs\` in µs orders the pending set: images queued in one call get consecutive
// scores, so that they are claimed in the order they came (equal scores would sort by id).
const NOW = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowUs = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
`;

// Claims whose lease ran out are pending again, for whichever instance claims next.
const RECLAIM = `
local function reclaim()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
  for _, id in ipairs(expired) do
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', KEYS[5], id)
    if redis.call('HEXISTS', KEYS[1], id) == 1 then redis.call('ZADD', KEYS[3], nowUs, id) end
  end
end
`;

const REMOVE = `
local function remove(id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
end
local function isSet(value) return value ~= nil and value ~= cjson.null end
`;

/**
 * ARGV: dedupe window ms, force (1/0: queue even if accepted within the window, and past the
 * bound), not-after (epoch ms by Redis's clock past which the request does nothing; 0: none), max
 * queued (0: none), then id and JSON pairs. Returns one status per image; or {'expired'} when run
 * after its not-after (a client that gave up waiting may have sent the images another way), or
 * {'full:<queued>:<new>'} when the new images would take the queue past its bound (nothing is
 * queued then).
 */
export const ENQUEUE = `${NOW}
local window, force = tonumber(ARGV[1]), ARGV[2] == '1'
local notAfter, max = tonumber(ARGV[3]), tonumber(ARGV[4])
if notAfter > 0 and now > notAfter then return { 'expired' } end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - window)
local out, fresh, seen = {}, 0, {}
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if seen[id] or redis.call('ZSCORE', KEYS[2], id) then
    out[#out + 1] = 'already_queued'
  elseif redis.call('HEXISTS', KEYS[7], id) == 1 then
    out[#out + 1] = 'dead_lettered'
  else
    local at = (not force) and redis.call('ZSCORE', KEYS[6], id)
    if at then
      out[#out + 1] = 'submitted_recently:' .. at
    else
      out[#out + 1] = 'queued'
      seen[id] = true
      fresh = fresh + 1
    end
  end
end
if max > 0 and not force and fresh > 0 then
  local queued = redis.call('ZCARD', KEYS[2])
  if queued + fresh > max then return { 'full:' .. queued .. ':' .. fresh } end
end
for i = 5, #ARGV, 2 do
  if out[(i - 3) / 2] == 'queued' then
    local id = ARGV[i]
    local scan = cjson.decode(ARGV[i + 1])
    scan.queued_at = now
    scan.attempts = 0
    redis.call('HSET', KEYS[1], id, cjson.encode(scan))
    redis.call('ZADD', KEYS[2], now, id)
    redis.call('ZADD', KEYS[3], nowUs + i, id)
  end
end
return out
`;

/**
 * ARGV: max images, lease ms, claim token, how many pending entries to look at. Takes the oldest
 * claimable image and, with it, the next ones of the same image type and group.
 */
export const CLAIM = `${NOW}${RECLAIM}${REMOVE}
local max, lease, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
reclaim()
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', nowUs, 'LIMIT', 0, tonumber(ARGV[4]))
local chosen, bodies = {}, {}
local group, imageType = nil, nil
for _, id in ipairs(ids) do
  if #chosen >= max then break end
  local body = redis.call('HGET', KEYS[1], id)
  if not body then
    redis.call('ZREM', KEYS[3], id)
  else
    local scan = cjson.decode(body)
    local g = isSet(scan.group) and scan.group or ''
    if #chosen == 0 then group, imageType = g, scan.image_type end
    if g == group and scan.image_type == imageType then
      chosen[#chosen + 1] = id
      bodies[#bodies + 1] = body
    end
  end
end
for _, id in ipairs(chosen) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], now + lease, id)
  redis.call('HSET', KEYS[5], id, token)
end
return bodies
`;

/** ARGV: claim token, dedupe window ms, ids. */
export const ACCEPTED = `${NOW}${REMOVE}
local token, window = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV do
  local id = ARGV[i]
  local holder = redis.call('HGET', KEYS[5], id)
  if holder == token or (not holder and redis.call('ZSCORE', KEYS[3], id)) then remove(id) end
  if window > 0 then redis.call('ZADD', KEYS[6], now, id) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - window)
return 1
`;

/**
 * ARGV: claim token, delay ms, count attempt (1/0), max attempts, error JSON or '', split (1/0),
 * ids. Returns the ids dead-lettered because their attempts ran out.
 */
export const RELEASE = `${NOW}${REMOVE}
local token, delay, count, max = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local err, split = ARGV[5], ARGV[6] == '1'
local held = {}
for i = 7, #ARGV do
  if redis.call('HGET', KEYS[5], ARGV[i]) == token then held[#held + 1] = ARGV[i] end
end
local half = math.ceil(#held / 2)
local dead = {}
for index, id in ipairs(held) do
  local scan = cjson.decode(redis.call('HGET', KEYS[1], id))
  if count then scan.attempts = (tonumber(scan.attempts) or 0) + 1 end
  if err ~= '' then scan.last_error = cjson.decode(err) end
  if split then scan.group = token .. (index <= half and ':a' or ':b') end
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  if count and scan.attempts >= max then
    local letter = { scan = scan, dead_at = now }
    if isSet(scan.last_error) then letter.error = scan.last_error end
    remove(id)
    redis.call('HSET', KEYS[7], id, cjson.encode(letter))
    redis.call('ZADD', KEYS[8], now, id)
    dead[#dead + 1] = id
  else
    redis.call('HSET', KEYS[1], id, cjson.encode(scan))
    redis.call('ZADD', KEYS[3], nowUs + delay * 1000 + index, id)
  end
end
return dead
`;

/** ARGV: claim token, error JSON, ids. */
export const DEAD_LETTER = `${NOW}${REMOVE}
local token, err = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[5], id) == token then
    local scan = cjson.decode(redis.call('HGET', KEYS[1], id))
    scan.last_error = cjson.decode(err)
    remove(id)
    redis.call('HSET', KEYS[7], id, cjson.encode({ scan = scan, error = scan.last_error, dead_at = now }))
    redis.call('ZADD', KEYS[8], now, id)
  end
end
return 1
`;

/** Moves every dead-lettered image back to pending, attempts and group reset. */
export const RETRY_DEAD = `${NOW}
local letters = redis.call('HGETALL', KEYS[7])
for i = 1, #letters, 2 do
  local id = letters[i]
  local scan = cjson.decode(letters[i + 1]).scan
  scan.attempts = 0
  scan.group = nil
  redis.call('HSET', KEYS[1], id, cjson.encode(scan))
  redis.call('ZADD', KEYS[2], tonumber(scan.queued_at) or now, id)
  redis.call('ZADD', KEYS[3], nowUs + i, id)
end
redis.call('DEL', KEYS[7], KEYS[8])
return #letters / 2
`;

/** Returns pending, claimed, dead-lettered, the oldest queued_at (or -1) and now. */
export const COUNTS = `${NOW}${RECLAIM}
reclaim()
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return { redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), redis.call('HLEN', KEYS[7]),
  oldest[2] and tonumber(oldest[2]) or -1, now }
`;

/**
 * ARGV: calls per window, window ms, call token, 'take' or 'check'.
 * Returns {granted or remaining, used, retry after ms}.
 */
export const BUDGET = `${NOW}
local limit, window, token, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return { 0, used, blocked - now } end
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return { 0, used, math.max(1, tonumber(oldest[2]) + window - now) }
end
if mode == 'take' then
  redis.call('ZADD', KEYS[1], now, token)
  redis.call('PEXPIRE', KEYS[1], window)
  return { 1, used + 1, 0 }
end
return { limit - used, used, 0 }
`;

/** ARGV: window ms. A 429: nothing goes to this API until a whole window has passed. */
export const SPEND_WINDOW = `${NOW}
redis.call('SET', KEYS[2], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]))
return 1
`;

/** ARGV: id, scan JSON and error JSON triples. Straight to the dead letters. */
export const BURY = `${NOW}${REMOVE}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  local scan = cjson.decode(ARGV[i + 1])
  local err = cjson.decode(ARGV[i + 2])
  scan.queued_at = now
  scan.attempts = 0
  scan.last_error = err
  remove(id)
  redis.call('HSET', KEYS[7], id, cjson.encode({ scan = scan, error = err, dead_at = now }))
  redis.call('ZADD', KEYS[8], now, id)
end
return 1
`;

/** Watch keys. ARGV: ms until due, then id and JSON pairs (added, or replaced after a check). */
export const WATCH_PUT = `${NOW}
local delay = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], now + delay, ARGV[i])
end
return 1
`;

/**
 * Watch keys. ARGV: limit, lease ms, and optionally a horizon ms (entries due before now + it
 * count as due: a pass run now). Returns the due watches, each now due after the lease.
 */
export const WATCH_CLAIM = `${NOW}
local horizon = tonumber(ARGV[3] or '0')
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now + horizon, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[1], id)
  if body then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
`;

/** Watch keys. ARGV: ids. */
export const WATCH_REMOVE = `
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return 1
`;

/**
 * Queue keys, then the watch keys (9, 10). ARGV: dead-letter retention ms, watch retention ms
 * (0: keep). Drops dead letters older than their retention (indexing any written before the
 * index existed first) and watches overdue longer than theirs. Returns {dead letters, watches}.
 */
export const PRUNE = `${NOW}
local deadRetention, watchRetention = tonumber(ARGV[1]), tonumber(ARGV[2])
local dropped, watches = 0, 0
-- Drops the entries of a hash whose score in its index is older than the retention (1000 a run).
local function dropOlder(hash, index, retention)
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', now - retention, 'LIMIT', 0, 1000)
  for _, id in ipairs(old) do
    redis.call('HDEL', hash, id)
    redis.call('ZREM', index, id)
  end
  return #old
end
if deadRetention > 0 then
  if redis.call('ZCARD', KEYS[8]) < redis.call('HLEN', KEYS[7]) then
    local letters = redis.call('HGETALL', KEYS[7])
    for i = 1, #letters, 2 do
      if not redis.call('ZSCORE', KEYS[8], letters[i]) then
        local at = tonumber(cjson.decode(letters[i + 1]).dead_at) or now
        redis.call('ZADD', KEYS[8], at, letters[i])
      end
    end
  end
  dropped = dropOlder(KEYS[7], KEYS[8], deadRetention)
end
if watchRetention > 0 then
  watches = dropOlder(KEYS[9], KEYS[10], watchRetention)
end
return { dropped, watches }
`;
