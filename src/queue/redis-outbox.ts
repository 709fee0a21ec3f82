import { randomUUID } from "node:crypto";
import type { RateRule } from "../notify/channels/channel";
import type { AlertOutbox, OutboxEntry } from "../notify/outbox";

/**
 * The alert outbox in Redis, beside the queue: every instance sees the same waiting alerts, the
 * same keys already sent and the same channel rates, on Redis's clock (TIME). Each change is one
 * Lua script. Keys (under the queue's prefix):
 *   outbox             hash  key → JSON of the alert entry (its tags kept apart, below)
 *   outbox-tags        hash  key → the tags, one per line (merged by later pushes of the digest)
 *   outbox-dead        hash  key → JSON of a dead alert (with `last_error`)
 *   outbox-buried      zset  key → epoch ms it was buried (dropped after DEAD_LETTER_RETENTION_DAYS)
 *   outbox-due:<ch>    zset  key → epoch ms from which it may be claimed (one per channel)
 *   alert-sent:<key>   string, expiring after NOTIFY_DEDUPE_DAYS: this key was delivered
 *   rate:<ch>          zset  send token → epoch ms (the channel's sends in its longest window)
 *   notify-blocked:<ch> string, expiring when the channel may be sent to again
 */

const NOW = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/** KEYS: outbox, tags, dead, due, sent. ARGV: key, JSON, tags, delay. 0 added, 1 merged, 2 sent. */
export const OUTBOX_PUT = `${NOW}
if redis.call('EXISTS', KEYS[5]) == 1 then return 2 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  local have = redis.call('HGET', KEYS[2], ARGV[1]) or ''
  for tag in string.gmatch(ARGV[3], '[^\\n]+') do
    if not string.find('\\n' .. have .. '\\n', '\\n' .. tag .. '\\n', 1, true) then
      if have == '' then have = tag else have = have .. '\\n' .. tag end
    end
  end
  redis.call('HSET', KEYS[2], ARGV[1], have)
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), ARGV[1])
return 0
`;

/** KEYS: outbox, tags, due. ARGV: limit, lease. Returns JSON, tags, JSON, tags, … */
export const OUTBOX_CLAIM = `${NOW}
local keys = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, key in ipairs(keys) do
  local body = redis.call('HGET', KEYS[1], key)
  if body then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), key)
    out[#out + 1] = body
    out[#out + 1] = redis.call('HGET', KEYS[2], key) or ''
  else
    redis.call('ZREM', KEYS[3], key)
  end
end
return out
`;

/** KEYS: outbox, tags, due, then one sent key per alert. ARGV: ttl, then the alerts' keys. */
export const OUTBOX_SENT = `
for i = 2, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('SET', KEYS[i + 2], '1', 'PX', tonumber(ARGV[1]))
end
return 1
`;

/** KEYS: outbox, due. ARGV: delay, then key, JSON pairs. Only alerts still waiting. */
export const OUTBOX_RETRY = `${NOW}
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[i])
  end
end
return 1
`;

/** KEYS: outbox, due, dead, buried. ARGV: key, JSON pairs. */
export const OUTBOX_BURY = `${NOW}
for i = 1, #ARGV, 2 do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[4], now, ARGV[i])
end
return 1
`;

/** KEYS: dead, outbox, due, buried. ARGV: key, JSON. 1 when it was dead and waits again. */
export const OUTBOX_REVIVE = `${NOW}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[1])
return 1
`;

/**
 * KEYS: rate. ARGV: want, token, then limit, window pairs. All `want` when every rule has room
 * for them, else one, else none. Returns granted, and when none the epoch ms a slot frees.
 */
export const RATE_TAKE = `${NOW}
local want = tonumber(ARGV[1])
local longest = 0
local allowed = nil
local nextAt = now
for i = 3, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1])
  if window > longest then longest = window end
  local recent = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf', 'WITHSCORES')
  local count = #recent / 2
  local left = limit - count
  if left < 0 then left = 0 end
  if allowed == nil or left < allowed then allowed = left end
  if left == 0 then
    local freeing = tonumber(recent[(count - limit) * 2 + 2]) + window + 1
    if freeing > nextAt then nextAt = freeing end
  end
end
if allowed == nil then allowed = want end
local granted = 0
if allowed >= want then granted = want elseif allowed >= 1 then granted = 1 end
for j = 1, granted do
  redis.call('ZADD', KEYS[1], now, ARGV[2] .. ':' .. j)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
redis.call('PEXPIRE', KEYS[1], longest + 1000)
if granted > 0 then return {granted, now} end
return {0, nextAt}
`;

/**
 * KEYS: dead, buried, outbox, tags. ARGV: retention ms. Drops the dead alerts buried longer ago
 * (their tags too, unless the key waits again), 1000 a run, found through the burial index as the
 * queue's dead letters are (redis-scripts.ts, PRUNE); a dead alert buried before the index
 * existed is indexed now, once. Returns how many were dropped.
 */
export const OUTBOX_PRUNE = `${NOW}
local retention = tonumber(ARGV[1])
if retention <= 0 then return 0 end
if redis.call('ZCARD', KEYS[2]) < redis.call('HLEN', KEYS[1]) then
  for _, key in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not redis.call('ZSCORE', KEYS[2], key) then redis.call('ZADD', KEYS[2], now, key) end
  end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - retention, 'LIMIT', 0, 1000)
for _, key in ipairs(old) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  if redis.call('HEXISTS', KEYS[3], key) == 0 then redis.call('HDEL', KEYS[4], key) end
end
return #old
`;

export const OUTBOX_SCRIPTS = {
  outboxPut: OUTBOX_PUT,
  outboxClaim: OUTBOX_CLAIM,
  outboxSent: OUTBOX_SENT,
  outboxRetry: OUTBOX_RETRY,
  outboxBury: OUTBOX_BURY,
  outboxRevive: OUTBOX_REVIVE,
  outboxPrune: OUTBOX_PRUNE,
  outboxRateTake: RATE_TAKE,
} as const;
export type OutboxScript = keyof typeof OUTBOX_SCRIPTS;

/** What the outbox needs of the queue's Redis connection. */
export interface OutboxRedis {
  /** Runs a script: the number of keys first, then keys and arguments. */
  run(name: OutboxScript, args: Array<string | number>): Promise<unknown>;
  hlen(key: string): Promise<number>;
  hvals(key: string): Promise<string[]>;
  hmget(key: string, fields: string[]): Promise<Array<string | null>>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  pttl(key: string): Promise<number>;
}

const withoutTags = (entry: OutboxEntry) =>
  JSON.stringify({ ...entry, alert: { ...entry.alert, tags: [] } });

function byChannel(entries: OutboxEntry[]): Map<string, OutboxEntry[]> {
  const groups = new Map<string, OutboxEntry[]>();
  for (const entry of entries) {
    groups.set(entry.channel, [...(groups.get(entry.channel) ?? []), entry]);
  }
  return groups;
}

function fromStore(body: string, tags: string | null | undefined): OutboxEntry {
  const entry = JSON.parse(body) as OutboxEntry;
  if (typeof tags === "string") entry.alert.tags = tags ? tags.split("\n") : [];
  return entry;
}

export function redisOutbox(redis: OutboxRedis, prefix: string): AlertOutbox {
  return new RedisOutbox(redis, prefix);
}

class RedisOutbox implements AlertOutbox {
  private readonly OUTBOX: string;
  private readonly TAGS: string;
  private readonly DEAD: string;
  private readonly BURIED: string;

  constructor(
    private readonly redis: OutboxRedis,
    private readonly prefix: string,
  ) {
    this.OUTBOX = `${prefix}outbox`;
    this.TAGS = `${prefix}outbox-tags`;
    this.DEAD = `${prefix}outbox-dead`;
    this.BURIED = `${prefix}outbox-buried`;
  }

  private due(channel: string) {
    return `${this.prefix}outbox-due:${channel}`;
  }

  private sentKey(key: string) {
    return `${this.prefix}alert-sent:${key}`;
  }

  async put(entries: OutboxEntry[], delayMs: number) {
    const outcome = { added: 0, merged: 0, already_sent: 0 };
    for (const entry of entries) {
      const result = Number(
        await this.redis.run("outboxPut", [
          5,
          this.OUTBOX,
          this.TAGS,
          this.DEAD,
          this.due(entry.channel),
          this.sentKey(entry.key),
          entry.key,
          withoutTags(entry),
          entry.alert.tags.join("\n"),
          Math.max(0, Math.round(delayMs)),
        ]),
      );
      if (result === 0) outcome.added++;
      else if (result === 1) outcome.merged++;
      else outcome.already_sent++;
    }
    return outcome;
  }

  async claim(channel: string, limit: number, leaseMs: number) {
    const flat = (await this.redis.run("outboxClaim", [
      3,
      this.OUTBOX,
      this.TAGS,
      this.due(channel),
      limit,
      Math.round(leaseMs),
    ])) as string[];
    const out: OutboxEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push(fromStore(flat[i] as string, flat[i + 1]));
    return out;
  }

  async sent(entries: OutboxEntry[], sentTtlMs: number) {
    for (const [channel, group] of byChannel(entries)) {
      await this.redis.run("outboxSent", [
        3 + group.length,
        this.OUTBOX,
        this.TAGS,
        this.due(channel),
        ...group.map((entry) => this.sentKey(entry.key)),
        Math.max(1, Math.round(sentTtlMs)),
        ...group.map((entry) => entry.key),
      ]);
    }
  }

  async retry(entries: OutboxEntry[], delayMs: number) {
    for (const [channel, group] of byChannel(entries)) {
      await this.redis.run("outboxRetry", [
        2,
        this.OUTBOX,
        this.due(channel),
        Math.max(0, Math.round(delayMs)),
        ...group.flatMap((entry) => [entry.key, withoutTags(entry)]),
      ]);
    }
  }

  async bury(entries: OutboxEntry[]) {
    for (const [channel, group] of byChannel(entries)) {
      await this.redis.run("outboxBury", [
        4,
        this.OUTBOX,
        this.due(channel),
        this.DEAD,
        this.BURIED,
        ...group.flatMap((entry) => [entry.key, withoutTags(entry)]),
      ]);
    }
  }

  async take(channel: string, rules: readonly RateRule[], want: number) {
    const [granted = 0, nextAt = 0] = (await this.redis.run("outboxRateTake", [
      1,
      `${this.prefix}rate:${channel}`,
      want,
      randomUUID(),
      ...rules.flatMap((rule) => [rule.limit, rule.windowMs]),
    ])) as number[];
    return { granted, nextAt };
  }

  async block(channel: string, delayMs: number) {
    await this.redis.set(
      `${this.prefix}notify-blocked:${channel}`,
      "1",
      Math.max(1, Math.round(delayMs)),
    );
  }

  async blockedFor(channel: string) {
    return Math.max(0, await this.redis.pttl(`${this.prefix}notify-blocked:${channel}`));
  }

  async counts() {
    return {
      alerts_waiting: await this.redis.hlen(this.OUTBOX),
      alerts_dead: await this.redis.hlen(this.DEAD),
    };
  }

  async dead(limit: number) {
    const bodies = (await this.redis.hvals(this.DEAD)).slice(0, limit);
    if (bodies.length === 0) return [];
    const keys = bodies.map((body) => (JSON.parse(body) as OutboxEntry).key);
    const tags = await this.redis.hmget(this.TAGS, keys);
    return bodies.map((body, i) => fromStore(body, tags[i]));
  }

  async retryDead() {
    let count = 0;
    for (const body of await this.redis.hvals(this.DEAD)) {
      const entry = JSON.parse(body) as OutboxEntry;
      const revived = { ...entry, attempts: 0, created_at: Date.now() };
      count += Number(
        await this.redis.run("outboxRevive", [
          4,
          this.DEAD,
          this.OUTBOX,
          this.due(entry.channel),
          this.BURIED,
          entry.key,
          JSON.stringify(revived),
        ]),
      );
    }
    return count;
  }

  async prune(retentionMs: number) {
    return Number(
      await this.redis.run("outboxPrune", [
        4,
        this.DEAD,
        this.BURIED,
        this.OUTBOX,
        this.TAGS,
        Math.max(0, Math.round(retentionMs)),
      ]),
    );
  }
}
