import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HssEmulatorOptions } from "../../../src/emulator/hss-emulator";
import type { ScheduledFlushReport } from "../../../src/flush/scheduled";
import { timerEvent } from "../../../src/runners/server";
import { loadEvent, tagsPush } from "../../support/fixtures";
import { acceptedTags, flushUntil, startHarness } from "../../support/harness";
import { type RedisServer, startRedis } from "../../support/redis-server";

/**
 * Queue mode end to end, through the handler, against the emulator over HTTP with HSS's rate
 * limit on. The emulator's window is shortened to 2 s (and the function's budget window to 3 s,
 * HSS_RATE_WINDOW_SECONDS) so that what takes minutes against HSS takes seconds here; the
 * behaviour is the same.
 */

/** A push of one tag of team/app; a digest given makes it that push (retried or re-pushed). */
const push = (tag: string, digest?: string) =>
  tagsPush([tag], digest ? { digest: () => digest } : {});

const SHORT_WINDOW = {
  env: { HSS_RATE_WINDOW_SECONDS: "3" },
  emulator: { rateLimit: { calls: 5, windowMs: 2000 } },
};

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.close());

async function flushRedis() {
  const { default: Redis } = await import("ioredis");
  const admin = new Redis(redis.url);
  await admin.flushdb();
  await admin.quit();
}

describe.each(["memory", "redis"])("queue mode (SCAN_QUEUE=%s)", (backend) => {
  const start = async (
    env: Record<string, string> = {},
    rateLimited = true,
    emulator: HssEmulatorOptions = {},
  ) => {
    if (backend === "redis") await flushRedis();
    return startHarness(
      {
        SCAN_QUEUE: backend === "redis" ? redis.url : "memory",
        ...(rateLimited ? SHORT_WINDOW.env : {}),
        ...env,
      },
      rateLimited
        ? { rateLimited: true, emulator: { ...SHORT_WINDOW.emulator, ...emulator } }
        : { emulator },
    );
  };

  it("queues a lone push, answers 202 and has it submitted before answering", async () => {
    const harness = await start();
    try {
      const answer = await harness.http(push("1.0"));

      expect(answer.statusCode).toBe(202);
      expect(answer.body).toMatchObject({
        status: "submitted",
        message: "1 image submitted to HSS",
        queued: [],
        submitted: [
          {
            namespace: "team",
            image_name: "app",
            image_version: "1.0",
            hss_request_id: harness.emulator.received[0]?.requestId,
          },
        ],
        flush: { hss_calls: 1, images_submitted: 1, stopped: "empty" },
        hss_requests: 1,
      });
      expect(acceptedTags(harness.emulator)).toEqual(["1.0"]);
      const queued = harness.logEvents().find((line) => line.event === "queued");
      expect(queued).toMatchObject({
        backend,
        images: 1,
        names: ["team/app:1.0 (instance inst-1)"],
      });
      expect(harness.logEvents().find((line) => line.event === "flushed")).toMatchObject({
        images: 1,
        names: ["team/app:1.0 (instance inst-1)"],
        hss_calls: 1,
      });
    } finally {
      await harness.close();
    }
  });

  it("turns a burst into few calls within the limit: all answered 202, each image once, none throttled", async () => {
    const harness = await start();
    try {
      // Act: 20 distinct images, 5 of them delivered twice, as fast as they come
      const tags = Array.from({ length: 20 }, (_, i) => `v${i}`);
      const deliveries = [...tags, ...tags.slice(0, 5)];
      const answers = [];
      for (const tag of deliveries) {
        const started = Date.now();
        const answer = await harness.http(push(tag));
        answers.push({ status: answer.statusCode, ms: Date.now() - started });
      }
      await flushUntil([harness], () => acceptedTags(harness.emulator).length >= 20, 15_000);

      // Assess
      expect(answers.filter((answer) => answer.status !== 202)).toEqual([]);
      expect(acceptedTags(harness.emulator).sort()).toEqual([...tags].sort());
      expect(harness.emulator.throttledCount()).toBe(0);
      // 4 calls in the first window carried the first pushes; the rest went out together.
      expect(harness.emulator.acceptedBatches().length).toBeLessThanOrEqual(6);
      // While the budget held images back, one info line per wait said how many and until when.
      const waits = harness.logEvents().filter((line) => line.event === "waiting_for_budget");
      expect(waits.length).toBeGreaterThan(0);
      expect(waits.length).toBeLessThanOrEqual(harness.emulator.acceptedBatches().length);
      expect(waits[0]).toMatchObject({
        level: "info",
        images: expect.any(Number),
        until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        oldest: expect.arrayContaining([expect.stringMatching(/^team\/app:v\d+ /)]),
      });
      // A flush naming more than ten images names ten and counts the rest.
      for (const line of harness.logEvents().filter((entry) => entry.event === "flushed")) {
        const images = line.images as number;
        expect(line.names).toHaveLength(Math.min(images, 10));
        expect(line.more).toBe(images > 10 ? images - 10 : undefined);
      }
    } finally {
      await harness.close();
    }
  });

  it("submits a re-pushed tag with a new digest again, but not a retried delivery", async () => {
    const harness = await start({}, false);
    try {
      const first = await harness.http(push("latest", "sha256:aaa"));
      const retried = await harness.http(push("latest", "sha256:aaa"));
      const repushed = await harness.http(push("latest", "sha256:bbb"));

      expect(first.body.status).toBe("submitted");
      expect(retried.statusCode).toBe(202);
      expect(retried.body).toMatchObject({
        status: "nothing_to_scan",
        skipped: [{ rule: "recently-submitted" }],
      });
      expect(repushed.body.status).toBe("submitted");
      expect(acceptedTags(harness.emulator)).toEqual(["latest", "latest"]);
    } finally {
      await harness.close();
    }
  });

  it("sends concurrent deliveries of one push to HSS once", async () => {
    const harness = await start({}, false);
    try {
      const answers = await Promise.all(Array.from({ length: 6 }, () => harness.http(push("2.0"))));
      await flushUntil([harness], () => false, 300);
      expect(answers.filter((answer) => answer.statusCode !== 202)).toEqual([]);
      expect(acceptedTags(harness.emulator)).toEqual(["2.0"]);
    } finally {
      await harness.close();
    }
  });

  it("isolates a permanently rejected image: the others are accepted, it is dead-lettered", async () => {
    const rejecting = await start({}, false, {
      rejectImage: (image) => image.image_version === "bad",
    });
    try {
      const tags = ["1", "2", "3", "bad", "5", "6", "7"];
      const delivery = tagsPush(tags, { digest: (tag) => `sha256:${tag}` });
      const answer = await rejecting.http(delivery);
      const dead = () => rejecting.logged("dead_lettered");
      await flushUntil(
        [rejecting],
        () => dead().length > 0 && acceptedTags(rejecting.emulator).length >= 6,
        10_000,
      );
      const report = (await rejecting.invoke(timerEvent())) as ScheduledFlushReport;

      expect(answer.statusCode).toBe(202);
      // Rejected in the flush right after intake: the answer says so, not "queued".
      expect(answer.body).toMatchObject({
        status: "submitted",
        queued: [],
        dead_lettered: [
          {
            image_version: "bad",
            error: {
              error_code: "HSS.0001",
              http_status: 400,
              hss_request_id: expect.any(String),
            },
          },
        ],
      });
      expect(answer.body.message).toMatch(
        /6 images submitted to HSS, 1 image dead-lettered, refused by HSS: team\/app:bad \(instance inst-1\) \(HSS.0001: .*request id/,
      );
      expect(acceptedTags(rejecting.emulator).sort()).toEqual(["1", "2", "3", "5", "6", "7"]);
      expect(report.queue).toMatchObject({ pending: 0, claimed: 0, dead_lettered: 1 });
      expect(dead()).toEqual([
        expect.objectContaining({
          level: "error",
          image: "team/app:bad",
          error_code: "HSS.0001",
          http_status: 400,
          digest: "sha256:bad",
        }),
      ]);
    } finally {
      await rejecting.close();
    }
  });

  it("counts a 429 as a spent window: the images wait in the queue and go out after it", async () => {
    const harness = await start();
    harness.emulator.failNext({ kind: "http", status: 429, errorCode: "APIGW.0308" });
    try {
      const answer = await harness.http(push("3.0"));
      const during = (await harness.invoke(timerEvent())) as ScheduledFlushReport;
      await flushUntil([harness], () => acceptedTags(harness.emulator).length > 0, 8000);

      expect(answer.statusCode).toBe(202);
      expect(answer.body.flush).toMatchObject({ stopped: "throttled", images_submitted: 0 });
      expect(during.flush).toMatchObject({ hss_calls: 0, stopped: "budget" });
      expect(acceptedTags(harness.emulator)).toEqual(["3.0"]);
      // One throttled call (the injected one), one accepted: nothing hammered in between.
      expect(
        harness.emulator.received.filter((request) => request.path.endsWith("/batch-scan")),
      ).toHaveLength(2);
    } finally {
      await harness.close();
    }
  });
});

describe("scheduled invocations", () => {
  it.each([
    ["a FunctionGraph TIMER trigger", loadEvent("schedules/functiongraph-timer.json")],
    ["an AWS EventBridge schedule", loadEvent("schedules/eventbridge-schedule.json")],
  ])("flush the queue when %s fires", async (_, event) => {
    const harness = await startHarness({ SCAN_QUEUE: "memory" });
    try {
      const report = (await harness.invoke(event)) as ScheduledFlushReport;
      expect(report).toMatchObject({
        status: "flushed",
        flush: { hss_calls: 0, stopped: "empty" },
        queue: { pending: 0, claimed: 0, dead_lettered: 0 },
      });
    } finally {
      await harness.close();
    }
  });

  it("say there is nothing to flush in direct mode", async () => {
    const harness = await startHarness();
    try {
      expect(await harness.invoke(timerEvent())).toMatchObject({ status: "no_queue" });
    } finally {
      await harness.close();
    }
  });
});

describe("direct mode (no SCAN_QUEUE)", () => {
  it("submits a re-pushed tag with a new digest again, but not a retried delivery", async () => {
    const harness = await startHarness();
    try {
      await harness.http(push("latest", "sha256:aaa"));
      const retried = await harness.http(push("latest", "sha256:aaa"));
      const repushed = await harness.http(push("latest", "sha256:bbb"));
      expect(retried.body.skipped[0]?.rule).toBe("recently-submitted");
      expect(repushed.body.status).toBe("submitted");
      expect(acceptedTags(harness.emulator)).toEqual(["latest", "latest"]);
    } finally {
      await harness.close();
    }
  });

  it("sends concurrent deliveries of one push once", async () => {
    const harness = await startHarness();
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, () => harness.http(push("9"))));
      expect(answers.filter((answer) => answer.statusCode !== 202)).toEqual([]);
      expect(acceptedTags(harness.emulator)).toEqual(["9"]);
      expect(answers.filter((answer) => answer.body.skipped[0]?.rule === "in-flight")).toHaveLength(
        4,
      );
    } finally {
      await harness.close();
    }
  });
});
