import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryCallBudget } from "../../../src/hss/call-budget";

const BATCH_SCAN_API = "batch-scan";

import { type ScanTarget, scanKey } from "../../../src/images/scan-target";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { RedisScanQueue } from "../../../src/queue/redis-queue";
import {
  type Claim,
  type NewScan,
  QueueFullError,
  type QueueLimits,
  QueueUnavailableError,
  type ScanQueue,
  type Watch,
  watchOf,
} from "../../../src/queue/scan-queue";
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

/**
 * The same contract for both backends: what intake and the flusher rely on. Each Redis test
 * starts from an empty database.
 */
/** The limits the contract's queues have: a small bound and short retentions, to test them. */
const LIMITS: QueueLimits = { maxQueued: 40, deadLetterRetentionMs: 400, watchRetentionMs: 400 };

describe.each([
  [
    "memory",
    () =>
      new MemoryScanQueue({
        budget: new MemoryCallBudget(3),
        submitted: new SubmittedImages(WINDOW, 1000),
        limits: LIMITS,
      }),
  ],
  [
    "redis",
    () =>
      new RedisScanQueue({
        url: redis.url,
        callsPerMinute: 3,
        windowMs: 61_000,
        timeoutMs: 1000,
        unavailable: (message, outcome) => new QueueUnavailableError(message, outcome),
        full: (queued, adding, max) => new QueueFullError(queued, adding, max),
        limits: LIMITS,
      }),
  ],
] as Array<[string, () => ScanQueue]>)("the %s scan queue", (_, open) => {
  let queue: ScanQueue;
  beforeEach(async () => {
    queue = open();
    if (queue.backend === "redis") {
      const { default: Redis } = await import("ioredis");
      const admin = new Redis(redis.url);
      await admin.flushdb();
      await admin.quit();
    }
    return () => queue.close();
  });

  it("holds one entry for the same image and digest queued twice", async () => {
    const outcomes = await queue.enqueue([scan("1"), scan("1"), scan("2")], WINDOW);
    expect(outcomes.map((o) => o.status)).toEqual(["queued", "already_queued", "queued"]);
    expect(await queue.counts()).toMatchObject({ pending: 2, claimed: 0, dead_lettered: 0 });
  });

  it("claims the oldest images of one image type, and no one else can claim them", async () => {
    const shared = { ...scan("s"), image_type: "shared_image" as const };
    await queue.enqueue([scan("1"), shared, scan("2"), scan("3")], WINDOW);
    const first = await queue.claim(2, 10_000);
    const second = await queue.claim(10, 10_000);
    const third = await queue.claim(10, 10_000);
    expect(tags(first?.scans ?? [])).toEqual(["1", "2"]);
    expect(second?.scans.map((s) => s.image_type)).toEqual(["shared_image"]);
    expect(tags(third?.scans ?? [])).toEqual(["3"]);
    expect(await queue.claim(10, 10_000)).toBeUndefined();
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 4 });
  });

  it("forgets an accepted image but refuses its retried delivery within the dedupe window", async () => {
    await queue.enqueue([scan("latest", "sha256:old")], WINDOW);
    const claim = await queue.claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue.accepted(claim, WINDOW);

    const retried = await queue.enqueue([scan("latest", "sha256:old")], WINDOW);
    const repushed = await queue.enqueue([scan("latest", "sha256:new")], WINDOW);

    expect(retried[0]?.status).toBe("submitted_recently");
    expect(repushed[0]?.status).toBe("queued");
    expect(await queue.counts()).toMatchObject({ pending: 1, claimed: 0 });
  });

  it("queues an accepted image again when the dedupe window is 0", async () => {
    await queue.enqueue([scan("1")], 0);
    const claim = await queue.claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue.accepted(claim, 0);
    expect((await queue.enqueue([scan("1")], 0))[0]?.status).toBe("queued");
  });

  it("gives a claim whose lease expired to the next claimer", async () => {
    await queue.enqueue([scan("1")], WINDOW);
    const abandoned = await queue.claim(10, 300);
    expect(await queue.claim(10, 300)).toBeUndefined();
    await sleep(400);
    const taken = await queue.claim(10, 10_000);
    expect(tags(taken?.scans ?? [])).toEqual(["1"]);

    // The first claimer's late settlement changes nothing.
    if (!abandoned) throw new Error("expected a claim");
    await queue.release(abandoned, { delayMs: 0, countAttempt: true, maxAttempts: 1 });
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 1, dead_lettered: 0 });
  });

  it("keeps a released image back for its delay and counts the attempt", async () => {
    await queue.enqueue([scan("1")], WINDOW);
    const claim = await queue.claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { error_code: "HSS.1000", error_msg: "internal", http_status: 500 };
    await queue.release(claim, { delayMs: 400, countAttempt: true, maxAttempts: 5, error });
    expect(await queue.claim(10, 10_000)).toBeUndefined();
    await sleep(500);
    const again = await queue.claim(10, 10_000);
    expect(again?.scans[0]).toMatchObject({ attempts: 1, last_error: error });
  });

  it("dead-letters an image whose attempts ran out, and retry-dead brings it back", async () => {
    await queue.enqueue([scan("1")], WINDOW);
    const claim = await queue.claim(10, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { error_code: "TIMEOUT", error_msg: "timeout" };
    const dead = await queue.release(claim, {
      delayMs: 0,
      countAttempt: true,
      maxAttempts: 1,
      error,
    });
    expect(tags(dead)).toEqual(["1"]);
    expect(await queue.counts()).toMatchObject({ pending: 0, dead_lettered: 1 });
    expect((await queue.enqueue([scan("1")], WINDOW))[0]?.status).toBe("dead_lettered");
    expect(await queue.deadLetters(10)).toEqual([
      expect.objectContaining({ scan: expect.objectContaining({ id: scan("1").id }), error }),
    ]);

    expect(await queue.retryDead()).toBe(1);
    const again = await queue.claim(10, 10_000);
    expect(again?.scans[0]).toMatchObject({ id: scan("1").id, attempts: 0 });
  });

  it("splits a rejected batch into two groups that are claimed apart from other images", async () => {
    await queue.enqueue(
      ["1", "2", "3", "4", "5"].map((tag) => scan(tag)),
      WINDOW,
    );
    const claim = await queue.claim(4, 10_000);
    if (!claim) throw new Error("expected a claim");
    await queue.release(claim, { delayMs: 0, countAttempt: false, maxAttempts: 1, split: true });
    const claims = [];
    for (let i = 0; i < 4; i++) claims.push(tags((await queue.claim(10, 10_000))?.scans ?? []));
    // The image that waited longest comes first; then each half of the split batch on its own.
    expect(claims).toEqual([["5"], ["1", "2"], ["3", "4"], []]);
  });

  it("moves a rejected image to the dead-letter list with HSS's error", async () => {
    await queue.enqueue([scan("bad")], WINDOW);
    const claim = await queue.claim(1, 10_000);
    if (!claim) throw new Error("expected a claim");
    const error = { http_status: 400, error_code: "HSS.0001", error_msg: "invalid parameter" };
    await queue.deadLetter(claim, error);
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 0, dead_lettered: 1 });
    expect((await queue.deadLetters(5))[0]).toMatchObject({
      error,
      scan: { digest: "sha256:bad" },
    });
  });

  it("reports the age of the oldest image not yet accepted", async () => {
    await queue.enqueue([scan("1")], WINDOW);
    await sleep(200);
    const counts = await queue.counts();
    expect(counts.oldest_age_ms).toBeGreaterThanOrEqual(150);
    expect(counts.oldest_age_ms).toBeLessThan(5000);
  });

  it("gives at most callsPerMinute calls, and none after a 429 spent the window", async () => {
    const grants = [];
    for (let i = 0; i < 4; i++) grants.push(await queue.budget.take(BATCH_SCAN_API));
    expect(grants.map((g) => g.granted)).toEqual([true, true, true, false]);
    expect(grants[3]?.retryAfterMs).toBeGreaterThan(55_000);
    expect(await queue.budget.check(BATCH_SCAN_API)).toMatchObject({ remaining: 0, used: 3 });

    const fresh = open();
    try {
      // A fresh memory queue has its own budget; a Redis one shares the same.
      const shared = (await fresh.budget.check(BATCH_SCAN_API)).remaining === 0;
      expect(shared).toBe(queue.backend === "redis");
      await fresh.budget.spendWindow(BATCH_SCAN_API);
      expect((await fresh.budget.take(BATCH_SCAN_API)).granted).toBe(false);
    } finally {
      await fresh.close();
    }
  });

  it("counts each HSS API's budget apart", async () => {
    for (let i = 0; i < 3; i++) await queue.budget.take(BATCH_SCAN_API);
    expect((await queue.budget.take(BATCH_SCAN_API)).granted).toBe(false);
    expect((await queue.budget.take("list-images")).granted).toBe(true);
    expect(await queue.budget.check("list-images")).toMatchObject({ used: 1, remaining: 2 });
  });

  it("queues an accepted image again when forced (a re-scan), not otherwise", async () => {
    await queue.enqueue([scan("1")], WINDOW);
    const claim = await queue.claim(10, 60_000);
    await queue.accepted(claim as Claim, WINDOW);
    expect((await queue.enqueue([scan("1")], WINDOW))[0]?.status).toBe("submitted_recently");
    expect((await queue.enqueue([scan("1")], WINDOW, { force: true }))[0]?.status).toBe("queued");
    expect(tags((await queue.claim(10, 60_000))?.scans ?? [])).toEqual(["1"]);
  });

  it("buries images straight into the dead letters with the error, and retry-dead queues them", async () => {
    await queue.enqueue([scan("2")], WINDOW);
    await queue.bury([
      { scan: scan("1"), error: { error_code: "NOT_SYNCED", error_msg: "never listed" } },
      { scan: scan("2"), error: { error_code: "NO_SCAN_RESULT", error_msg: "no result" } },
    ]);
    const letters = await queue.deadLetters(10);
    expect(letters.map((letter) => letter.error?.error_code).sort()).toEqual([
      "NOT_SYNCED",
      "NO_SCAN_RESULT",
    ]);
    expect(await queue.counts()).toMatchObject({ pending: 0, dead_lettered: 2 });
    expect(await queue.retryDead()).toBe(2);
    expect((await queue.counts()).pending).toBe(2);
  });

  it("keeps watches: due ones are claimed under a lease, updated, removed, counted", async () => {
    const now = Date.now();
    const watch = (tag: string): Watch => ({
      ...scan(tag),
      state: "scanning",
      requested_at: now,
      since: now,
      watched_at: now,
    });
    await queue.watches.add([watch("1"), watch("2")], 0);
    await queue.watches.add([watch("3")], 60_000);
    expect(await queue.watches.count()).toBe(3);
    expect((await queue.counts()).watched).toBe(3);

    const due = await queue.watches.claimDue(10, 300);
    expect(tags(due).sort()).toEqual(["1", "2"]);
    // Under the lease, no one else checks them.
    expect(await queue.watches.claimDue(10, 300)).toEqual([]);
    await queue.watches.add([{ ...watch("1"), state: "syncing" }], 0);
    await queue.watches.remove([scan("2").id]);
    const again = await queue.watches.claimDue(10, 300);
    expect(again.map((w) => [w.target.image_version, w.state])).toEqual([["1", "syncing"]]);
    // The lease ran out: due again (an instance that died mid-check).
    await sleep(450);
    expect(tags(await queue.watches.claimDue(10, 300))).toEqual(["1"]);
    expect(await queue.watches.count()).toBe(2);
  });

  it("answers `once` true for the first caller of a key within its time", async () => {
    expect(await queue.watches.once("sync:a", 300)).toBe(true);
    expect(await queue.watches.once("sync:a", 300)).toBe(false);
    expect(await queue.watches.once("sync:b", 300)).toBe(true);
    await sleep(400);
    expect(await queue.watches.once("sync:a", 300)).toBe(true);
  });
});

describe.each([
  ["memory", () => undefined],
  ["redis", () => redis.url],
])("the %s scan queue's bound and retention", (backend, url) => {
  const open = (): ScanQueue => {
    const where = url();
    if (!where) {
      return new MemoryScanQueue({
        budget: new MemoryCallBudget(3),
        submitted: new SubmittedImages(WINDOW, 1000),
        limits: LIMITS,
      });
    }
    return new RedisScanQueue({
      url: where,
      callsPerMinute: 3,
      windowMs: 61_000,
      timeoutMs: 1000,
      unavailable: (message, outcome) => new QueueUnavailableError(message, outcome),
      full: (queued, adding, max) => new QueueFullError(queued, adding, max),
      limits: LIMITS,
    });
  };
  let queue: ScanQueue;
  beforeEach(async () => {
    queue = open();
    if (backend === "redis") {
      const { default: Redis } = await import("ioredis");
      const admin = new Redis(redis.url);
      await admin.flushdb();
      await admin.quit();
    }
    return () => queue.close();
  });
  const many = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => scan(`b${from + i}`));

  it("refuses a request that would pass MAX_QUEUED_IMAGES whole, counting only new images", async () => {
    await queue.enqueue(many(0, 30), WINDOW);
    const error = await queue.enqueue(many(25, 20), WINDOW).catch((e: Error) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    // 5 of the 20 are queued already: 30 + 15 new > 40.
    expect(error).toMatchObject({ queued: 30, adding: 15, max: 40 });
    expect((await queue.counts()).pending).toBe(30);
    expect(await queue.enqueue(many(25, 15), WINDOW)).toHaveLength(15);
    expect((await queue.counts()).pending).toBe(40);
  });

  it("never refuses what the follow-up puts back (force)", async () => {
    await queue.enqueue(many(0, 40), WINDOW);
    const outcomes = await queue.enqueue([scan("again")], WINDOW, { force: true });
    expect(outcomes).toEqual([{ status: "queued" }]);
    expect(await queue.counts()).toMatchObject({ pending: 41, max_queued: 40 });
  });

  it("lists the oldest images waiting", async () => {
    await queue.enqueue(many(0, 3), WINDOW);
    expect(tags(await queue.waiting(2))).toEqual(["b0", "b1"]);
  });

  it("drops dead letters and overdue watches past their retention", async () => {
    await queue.bury([{ scan: scan("old"), error: { error_code: "X", error_msg: "x" } }]);
    await queue.watches.add([watchOf(scan("w"), "scanning", Date.now())], 0);
    expect(await queue.prune()).toEqual({ dead_letters: 0, watches: 0 });
    await sleep(600);
    await queue.bury([{ scan: scan("new"), error: { error_code: "X", error_msg: "x" } }]);
    expect(await queue.prune()).toEqual({ dead_letters: 1, watches: 1 });
    expect((await queue.deadLetters(10)).map((letter) => letter.scan.target.image_version)).toEqual(
      ["new"],
    );
    expect(await queue.watches.count()).toBe(0);
  });
});

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
