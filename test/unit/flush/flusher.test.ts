import { describe, expect, it } from "vitest";
import type { SignedCaller, SignedRequest } from "../../../src/cloud/request";
import { SignedCallError } from "../../../src/cloud/signed-client";
import type { FlushSettings } from "../../../src/flush/claims";
import { flushQueue } from "../../../src/flush/flusher";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { type ScanTarget, scanKey } from "../../../src/images/scan-target";
import { createLogger } from "../../../src/log";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { SCAN_APIS } from "../../../src/scan-apis";
import { SubmittedImages } from "../../../src/submitted-images";

/** The flusher on the in-process queue, an injected clock and a scripted HSS. */

const SETTINGS: FlushSettings = {
  batchSize: 2,
  leaseMs: 60_000,
  timeoutMs: 1000,
  maxAttempts: 3,
  retryMaxMs: 60_000,
  dedupeWindowMs: 60_000,
  followUp: false,
  followUpIntervalMs: 20_000,
  swr: { defaultInstance: undefined, instancesByHost: {} },
};

const scan = (tag: string) => {
  const target: ScanTarget = { namespace: "team", image_name: "api", image_version: tag };
  const digest = `sha256:${tag}`;
  return {
    id: scanKey("private_image", target, digest),
    image_type: "private_image" as const,
    target,
    digest,
  };
};

function setup(answer: (request: SignedRequest, call: number) => SignedCallError | undefined) {
  let now = 1_000_000;
  const clock = () => now;
  const budget = new MemoryCallBudget(4, 60_000, clock);
  const queue = new MemoryScanQueue(
    { budget, submitted: new SubmittedImages(60_000, 100, clock) },
    clock,
  );
  const sent: string[][] = [];
  const caller: SignedCaller = {
    async call(request) {
      const body = request.body as { image_info_list: Array<{ image_version: string }> };
      sent.push(body.image_info_list.map((image) => image.image_version));
      const error = answer(request, sent.length);
      if (error) throw error;
      return { requestId: `r-${sent.length}`, body: undefined };
    },
  };
  const flush = () =>
    flushQueue({
      queue,
      sender: () => ({
        mode: "send",
        api: SCAN_APIS["batch-scan"],
        settings: { scope: 0x000f0000, rateLimit: 0 },
        caller,
        budget,
      }),
      hss: async () => {
        throw new Error("batch-scan looks nothing up");
      },
      settings: SETTINGS,
      deadline: Date.now() + 10_000,
      log: createLogger({ level: "error", write: () => undefined }),
      random: () => 0,
    });
  return { queue, sent, flush, advance: (ms: number) => (now += ms) };
}

describe("flushQueue", () => {
  it("sends what is queued in batches, oldest first, until the queue is empty", async () => {
    const { queue, sent, flush } = setup(() => undefined);
    await queue.enqueue(["1", "2", "3"].map(scan), 60_000);
    const result = await flush();
    expect(sent).toEqual([["1", "2"], ["3"]]);
    expect(result).toMatchObject({ hss_calls: 2, images_submitted: 3, stopped: "empty" });
    expect([...result.accepted.values()]).toEqual(["r-1", "r-1", "r-2"]);
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 0 });
  });

  it("stops when the budget is spent and says when the next call may go", async () => {
    const { queue, sent, flush } = setup(() => undefined);
    await queue.enqueue(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"].map(scan), 60_000);
    const result = await flush();
    expect(sent).toHaveLength(4);
    expect(result).toMatchObject({ stopped: "budget", images_submitted: 8 });
    expect(result.retry_after_ms).toBe(60_000);
    expect((await queue.counts()).pending).toBe(2);
  });

  it("puts a batch HSS did not answer back, for a later flush, counting the attempt", async () => {
    const { queue, flush, advance } = setup((_, call) =>
      call === 1 ? new SignedCallError("timeout", undefined, "TIMEOUT", undefined) : undefined,
    );
    await queue.enqueue([scan("1")], 60_000);
    const first = await flush();
    expect(first).toMatchObject({ images_submitted: 0, returned: 1 });
    expect(await queue.waiting(5)).toEqual([expect.objectContaining({ attempts: 1 })]);
    advance(120_000);
    const second = await flush();
    expect(second).toMatchObject({ images_submitted: 1, stopped: "empty" });
  });

  it("splits a batch HSS rejects until the invalid image is alone, and dead-letters it", async () => {
    const bad = new SignedCallError("invalid image", 400, "HSS.0001", undefined);
    const { queue, sent, flush, advance } = setup((request) => {
      const body = request.body as { image_info_list: Array<{ image_version: string }> };
      return body.image_info_list.some((image) => image.image_version === "bad") ? bad : undefined;
    });
    await queue.enqueue([scan("ok"), scan("bad")], 60_000);
    for (let i = 0; i < 3; i++) {
      await flush();
      advance(120_000);
    }
    expect(sent).toEqual([["ok", "bad"], ["ok"], ["bad"]]);
    expect((await queue.deadLetters(5)).map((letter) => letter.scan.target.image_version)).toEqual([
      "bad",
    ]);
    expect(await queue.counts()).toMatchObject({ pending: 0, dead_lettered: 1 });
  });

  it("stops at once when HSS refuses the caller, leaving every image queued", async () => {
    const { queue, sent, flush } = setup(
      () => new SignedCallError("bad signature", 401, "APIGW.0301", undefined),
    );
    await queue.enqueue(["1", "2", "3"].map(scan), 60_000);
    const result = await flush();
    expect(result).toMatchObject({ stopped: "refused", images_submitted: 0, dead_lettered: 0 });
    expect(sent).toHaveLength(1);
    expect((await queue.counts()).pending).toBe(3);
  });
});
