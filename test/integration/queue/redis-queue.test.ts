import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What only the Redis backend has to show: persistence, a Redis that answers late or not at all,
 * a restart. The contract every backend keeps is test/integration/queue/contracts.test.ts.
 */
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { PREFIX, RedisScanQueue } from "../../../src/queue/redis-queue";
import { type NewScan, QueueUnavailableError } from "../../../src/queue/scan-queue";
import { SubmittedImages } from "../../../src/submitted-images";
import { scan, sleep, tags, WINDOW } from "../../support/queue-contracts";
import { type RedisServer, startRedis } from "../../support/redis-server";

/** The Redis backend as the registry opens it, with its own bound on each command. */
const redisQueue = (url: string, timeoutMs: number) =>
  new RedisScanQueue({
    url,
    callsPerMinute: 4,
    windowMs: 61_000,
    timeoutMs,
    unavailable: (message, outcome, cause) =>
      new QueueUnavailableError(message, outcome, { cause }),
  });

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.close());

describe("the Redis scan queue's durability", () => {
  it("says whether Redis persists what is queued", async () => {
    const queue = redisQueue(redis.url, 1000);
    try {
      expect(await queue.durability()).toMatchObject({ persistent: true, aof: true });
    } finally {
      await queue.close();
    }
    const memory = new MemoryScanQueue({
      budget: new MemoryCallBudget(3),
      submitted: new SubmittedImages(WINDOW, 1000),
    });
    expect(await memory.durability()).toMatchObject({ persistent: false });
  });
});

describe("an enqueue Redis does not answer in time (SIGSTOP)", () => {
  it.each([
    ["runs late within its deadline: queued", 500, 1],
    ["runs past its deadline (QUEUE_TIMEOUT_MS + 2 s): nothing queued", 2800, 0],
  ])("%s", async (_, pausedMs, expected) => {
    const queue = redisQueue(redis.url, 200);
    try {
      const { default: Redis } = await import("ioredis");
      const admin = new Redis(redis.url);
      await admin.flushdb();
      await queue.counts();
      redis.pause();
      const error = await queue.enqueue([scan("late")], WINDOW).catch((e: Error) => e);
      await sleep(pausedMs);
      redis.resume();
      expect(error).toBeInstanceOf(QueueUnavailableError);
      expect(error).toMatchObject({ outcome: "unknown" });
      await sleep(200);
      expect(await admin.zcard("{swr-scan-on-push}:queued")).toBe(expected);
      await admin.quit();
    } finally {
      redis.resume();
      await queue.close();
    }
  });
});

describe("the Redis scan queue when Redis is away", () => {
  it("fails within its timeout with QueueUnavailableError, naming no password", async () => {
    const queue = redisQueue("redis://user:hunter2-secret@127.0.0.1:1", 300);
    const started = Date.now();
    const error = await queue.enqueue([scan("1") as NewScan], WINDOW).catch((e: Error) => e);
    await queue.close();
    expect(error).toBeInstanceOf(QueueUnavailableError);
    // Never connected: the command never left, so nothing can come of it later.
    expect(error).toMatchObject({ outcome: "not_applied" });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(String((error as Error).message)).not.toContain("hunter2");
    // What failed underneath is kept for a debugger, not flattened into the message.
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it("keeps what was queued across a restart of Redis (append-only file)", async () => {
    const queue = redisQueue(redis.url, 2000);
    try {
      await queue.enqueue([scan("durable")], WINDOW);
      await redis.restart();
      const claim = await queue.claim(10, 10_000);
      expect(tags(claim?.scans ?? [])).toContain("durable");
    } finally {
      await queue.close();
    }
  });
});

describe("dead alerts kept by an earlier version", () => {
  it("are dropped a retention after the first prune that sees them, not at once", async () => {
    // Prepare: a dead alert as a version without burial times left it
    const { default: Redis } = await import("ioredis");
    const admin = new Redis(redis.url);
    const queue = new RedisScanQueue({
      url: redis.url,
      callsPerMinute: 4,
      windowMs: 61_000,
      timeoutMs: 1000,
      limits: { deadLetterRetentionMs: 400 },
      unavailable: (message, outcome, cause) =>
        new QueueUnavailableError(message, outcome, { cause }),
    });
    try {
      await admin.flushdb();
      await admin.hset(`${PREFIX}outbox-dead`, "old-key", JSON.stringify({ key: "old-key" }));

      // Act, Assess: stamped at the first prune, dropped once the retention has passed
      expect(await queue.prune()).toMatchObject({ dead_alerts: 0 });
      expect(await admin.zscore(`${PREFIX}outbox-buried`, "old-key")).not.toBeNull();
      await sleep(600);
      expect(await queue.prune()).toMatchObject({ dead_alerts: 1 });
      expect(await admin.hlen(`${PREFIX}outbox-dead`)).toBe(0);
      expect(await admin.zcard(`${PREFIX}outbox-buried`)).toBe(0);
    } finally {
      await queue.close();
      await admin.quit();
    }
  });
});
