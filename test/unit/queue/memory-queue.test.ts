import { describe, expect, it } from "vitest";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { type ScanTarget, scanKey } from "../../../src/images/scan-target";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { watchOf } from "../../../src/queue/scan-queue";
import { SubmittedImages } from "../../../src/submitted-images";

/**
 * The in-process queue on an injected clock: leases, delays and retention pass without waiting.
 * Its contract with every other backend is test/integration/queue/contracts.test.ts.
 */

const scan = (tag: string) => {
  const target: ScanTarget = { namespace: "team", image_name: "api", image_version: tag };
  return {
    id: scanKey("private_image", target, `sha256:${tag}`),
    image_type: "private_image" as const,
    target,
    digest: `sha256:${tag}`,
  };
};

function queueOnClock() {
  let now = 5_000_000;
  const clock = () => now;
  const queue = new MemoryScanQueue(
    {
      budget: new MemoryCallBudget(3, 60_000, clock),
      submitted: new SubmittedImages(60_000, 100, clock),
      limits: { maxQueued: 10, deadLetterRetentionMs: 86_400_000, watchRetentionMs: 3_600_000 },
    },
    clock,
  );
  return { queue, advance: (ms: number) => (now += ms) };
}

describe("the in-process scan queue", () => {
  it("hands an expired lease to the next claimer, and ignores the first claimer's settlement", async () => {
    const { queue, advance } = queueOnClock();
    await queue.enqueue([scan("1")], 60_000);
    const first = await queue.claim(5, 30_000);
    expect(await queue.claim(5, 30_000)).toBeUndefined();
    advance(30_001);
    const second = await queue.claim(5, 30_000);
    expect(second?.scans.map((s) => s.target.image_version)).toEqual(["1"]);
    if (!first || !second) throw new Error("expected both claims");
    await queue.accepted(first, 60_000);
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 1 });
    await queue.accepted(second, 60_000);
    expect(await queue.counts()).toMatchObject({ pending: 0, claimed: 0 });
  });

  it("remembers an accepted push for the dedupe window only", async () => {
    const { queue, advance } = queueOnClock();
    await queue.enqueue([scan("1")], 60_000);
    const claim = await queue.claim(5, 30_000);
    if (!claim) throw new Error("expected a claim");
    await queue.accepted(claim, 60_000);
    expect((await queue.enqueue([scan("1")], 60_000))[0]?.status).toBe("submitted_recently");
    advance(60_001);
    expect((await queue.enqueue([scan("1")], 60_000))[0]?.status).toBe("queued");
  });

  it("holds a released image for its delay, then gives it out with its attempt counted", async () => {
    const { queue, advance } = queueOnClock();
    await queue.enqueue([scan("1")], 60_000);
    const claim = await queue.claim(5, 30_000);
    if (!claim) throw new Error("expected a claim");
    await queue.release(claim, { delayMs: 10_000, countAttempt: true, maxAttempts: 3 });
    expect(await queue.claim(5, 30_000)).toBeUndefined();
    advance(10_000);
    expect((await queue.claim(5, 30_000))?.scans[0]?.attempts).toBe(1);
  });

  it("drops dead letters and overdue watches past their retention, and nothing sooner", async () => {
    const { queue, advance } = queueOnClock();
    await queue.bury([{ scan: scan("old"), error: { error_code: "X", error_msg: "x" } }]);
    await queue.watches.add([watchOf(scan("w"), "scanning", 0)], 0);
    advance(3_600_000);
    expect(await queue.prune()).toEqual({ dead_letters: 0, dead_alerts: 0, watches: 0 });
    advance(1);
    expect(await queue.prune()).toEqual({ dead_letters: 0, dead_alerts: 0, watches: 1 });
    advance(86_400_000);
    expect(await queue.prune()).toEqual({ dead_letters: 1, dead_alerts: 0, watches: 0 });
  });
});
