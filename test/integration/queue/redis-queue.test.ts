import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What only the Redis backend has to show: persistence, a Redis that answers late or not at all,
 * a restart. The contract every backend keeps is test/integration/queue/contracts.test.ts.
 */
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { type ScanTarget, scanKey } from "../../../src/images/scan-target";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { RedisScanQueue } from "../../../src/queue/redis-queue";
import { type NewScan, QueueUnavailableError } from "../../../src/queue/scan-queue";
import { SubmittedImages } from "../../../src/submitted-images";
import { type RedisServer, startRedis } from "../../support/redis-server";

const target = (tag: string, name = "api"): ScanTarget => ({
  namespace: "team",
  image_name: name,
  image_version: tag,
  instance_id: "inst-1",
});
const scan = (tag: string, digest = `sha256:${tag}`, imageType = "instance_image" as const) => {
  const t = target(tag);
  return { id: scanKey(imageType, t, digest), image_type: imageType, target: t, digest };
};
const tags = (scans: Array<{ target: ScanTarget }>) => scans.map((s) => s.target.image_version);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WINDOW = 60_000;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.close());

describe("the Redis scan queue's durability", () => {
  it("says whether Redis persists what is queued", async () => {
    const queue = new RedisScanQueue({
      url: redis.url,
      callsPerMinute: 3,
      windowMs: 61_000,
      timeoutMs: 1000,
      unavailable: (message, outcome) => new QueueUnavailableError(message, outcome),
    });
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
    const queue = new RedisScanQueue({
      url: redis.url,
      callsPerMinute: 3,
      windowMs: 61_000,
      timeoutMs: 200,
      unavailable: (message, outcome) => new QueueUnavailableError(message, outcome),
    });
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
    const queue = new RedisScanQueue({
      url: "redis://user:hunter2-secret@127.0.0.1:1",
      callsPerMinute: 4,
      windowMs: 61_000,
      timeoutMs: 300,
      unavailable: (message, outcome) => new QueueUnavailableError(message, outcome),
    });
    const started = Date.now();
    const error = await queue.enqueue([scan("1") as NewScan], WINDOW).catch((e: Error) => e);
    await queue.close();
    expect(error).toBeInstanceOf(QueueUnavailableError);
    // Never connected: the command never left, so nothing can come of it later.
    expect(error).toMatchObject({ outcome: "not_applied" });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(String((error as Error).message)).not.toContain("hunter2");
  });

  it("keeps what was queued across a restart of Redis (append-only file)", async () => {
    const queue = new RedisScanQueue({
      url: redis.url,
      callsPerMinute: 4,
      windowMs: 61_000,
      timeoutMs: 2000,
      unavailable: (message) => new QueueUnavailableError(message),
    });
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
