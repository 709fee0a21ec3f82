import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  emulatorEnvironment,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import type { ScheduledFlushReport } from "../../../src/flush/scheduled";
import { timerEvent } from "../../../src/runners/server";
import { SAMPLE_WEBHOOK_SECRET, tagsPush } from "../../support/fixtures";
import { acceptedTags, flushUntil, functionInstance } from "../../support/harness";
import { ROOT } from "../../support/local-tool";
import { type RedisServer, startRedis } from "../../support/redis-server";

/**
 * The Redis queue as several function instances share it, against a real redis-server and the
 * emulator with HSS's limit on (its window shortened to 2 s, the function's to 3 s).
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const push = (tag: string) => tagsPush([tag]);

let redis: RedisServer;
let emulator: HssEmulator;
beforeAll(async () => {
  redis = await startRedis();
  emulator = await startHssEmulator({ rateLimit: { calls: 5, windowMs: 2000 } });
});
afterAll(async () => {
  await emulator.close();
  await redis.close();
});
beforeEach(async () => {
  emulator.reset();
  const { default: Redis } = await import("ioredis");
  const admin = new Redis(redis.url);
  await admin.flushdb();
  await admin.quit();
});

const accepted = () => acceptedTags(emulator);

/** A function instance on the shared Redis queue (the function's window 3 s). */
const instance = (env: Record<string, string> = {}) =>
  functionInstance(emulator, { SCAN_QUEUE: redis.url, HSS_RATE_WINDOW_SECONDS: "3", ...env });

describe("the Redis queue shared by several instances", () => {
  it("keeps two instances within one budget together: none throttled, each image once", async () => {
    const a = instance();
    const b = instance();
    try {
      const tags = Array.from({ length: 20 }, (_, i) => `r${i}`);
      const answers = [];
      for (const [i, tag] of tags.entries()) answers.push(await (i % 2 ? a : b).http(push(tag)));
      await flushUntil([a, b], () => accepted().length >= 20, 15_000);

      expect(answers.filter((answer) => answer.statusCode !== 202)).toEqual([]);
      expect(accepted().sort()).toEqual([...tags].sort());
      // Separate budgets would have made up to 8 calls in the first window; the emulator allows 5.
      expect(emulator.throttledCount()).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("races two flushers for one queue without sending any image twice", async () => {
    const a = instance({ HSS_BATCH_SIZE: "3", HSS_CALLS_PER_MINUTE: "5" });
    const b = instance({ HSS_BATCH_SIZE: "3", HSS_CALLS_PER_MINUTE: "5" });
    try {
      // Prepare: 12 images queued while the budget is spent
      const tags = Array.from({ length: 12 }, (_, i) => `q${i}`);
      const delivery = tagsPush(tags, { digest: (tag) => `sha256:${tag}` });
      await a.http(delivery);

      // Act: both flush at once, repeatedly
      const until = Date.now() + 15_000;
      while (accepted().length < 12 && Date.now() < until) {
        await Promise.all([a.invoke(timerEvent()), b.invoke(timerEvent())]);
        await sleep(200);
      }

      // Assess
      expect(accepted().sort()).toEqual([...tags].sort());
      expect(emulator.throttledCount()).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("hands the images of an instance killed mid-call to another once the lease expires", async () => {
    // Prepare: the first HSS call hangs
    emulator.failNext({ kind: "hang" });
    const env = {
      ...process.env,
      ...emulatorEnvironment(emulator),
      WEBHOOK_SECRET: SAMPLE_WEBHOOK_SECRET,
      SCAN_QUEUE: redis.url,
      HSS_RATE_WINDOW_SECONDS: "3",
      HSS_TIMEOUT_MS: "2000",
      HTTP_DEADLINE_MS: "3000",
      QUEUE_LEASE_SECONDS: "7",
      LOG_LEVEL: "error",
    };
    const child: ChildProcess = spawn(
      join(ROOT, "node_modules", ".bin", "tsx"),
      ["test/support/intake-process.ts", JSON.stringify(push("k1"))],
      { cwd: ROOT, env, stdio: "ignore" },
    );
    const survivor = instance({ QUEUE_LEASE_SECONDS: "7", HSS_TIMEOUT_MS: "2000" });
    try {
      // Act: kill the instance while its call hangs
      const until = Date.now() + 15_000;
      while (emulator.received.length === 0 && Date.now() < until) await sleep(50);
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      const whileLeased = (await survivor.invoke(timerEvent())) as ScheduledFlushReport;
      await flushUntil([survivor], () => accepted().length > 0, 12_000);

      // Assess
      expect(emulator.received[0]?.status).toBe("hang");
      expect(whileLeased.queue).toMatchObject({ pending: 0, claimed: 1 });
      expect(whileLeased.flush?.hss_calls).toBe(0);
      expect(accepted()).toEqual(["k1"]);
    } finally {
      child.kill("SIGKILL");
      await survivor.close();
    }
  });

  it("keeps queued images across a Redis restart between intake and flush", async () => {
    const one = instance({ HSS_CALLS_PER_MINUTE: "1" });
    try {
      const first = await one.http(push("d1"));
      const second = await one.http(push("d2"));
      await redis.restart();
      await flushUntil([one], () => accepted().length >= 2, 10_000);

      expect(first.body.flush).toMatchObject({ images_submitted: 1 });
      expect(second.body).toMatchObject({ status: "queued", flush: { stopped: "budget" } });
      expect(accepted()).toEqual(["d1", "d2"]);
    } finally {
      await one.close();
    }
  });
});

describe("Redis down at intake", () => {
  const down = { SCAN_QUEUE: "redis://:pa55-word-secret@127.0.0.1:1", QUEUE_TIMEOUT_MS: "300" };

  it("submits directly when this instance's budget allows, and says so", async () => {
    const one = instance({ ...down });
    try {
      const answer = await one.http(push("u1"));
      expect(answer.statusCode).toBe(202);
      expect(answer.body.status).toBe("submitted");
      expect(accepted()).toEqual(["u1"]);
      const warning = one.logs
        .map((line) => JSON.parse(line))
        .find((l) => l.event === "queue_unavailable");
      expect(warning).toMatchObject({ level: "warn", during: "intake", fallback: "direct" });
      expect(one.logs.join("\n")).not.toContain("pa55-word-secret");
    } finally {
      await one.close();
    }
  });

  it("answers 503 with Retry-After when the budget is spent too, never 202", async () => {
    const one = instance({ ...down, HSS_CALLS_PER_MINUTE: "1" });
    try {
      await one.http(push("u2"));
      const answer = await one.http(push("u3"));
      expect(answer.statusCode).toBe(503);
      expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0);
      expect(answer.body.failed[0]).toMatchObject({
        image_version: "u3",
        error: { error_code: "RATE_LIMITED" },
      });
      expect(accepted()).toEqual(["u2"]);
    } finally {
      await one.close();
    }
  });
});
