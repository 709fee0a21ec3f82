import { describe, expect, it } from "vitest";
import { type FollowUpSettings, followUp } from "../../../src/follow-up/follow-up";
import type { HssApiClient } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { createLogger } from "../../../src/log";
import { MemoryScanQueue } from "../../../src/queue/memory-queue";
import { watchOf } from "../../../src/queue/scan-queue";
import { SubmittedImages } from "../../../src/submitted-images";

/** With the list API's budget spent, the follow-up calls nothing and looks again at its next slot. */

const settings: FollowUpSettings = {
  intervalMs: 20_000,
  timeoutMs: 3_600_000,
  maxRescans: 2,
  syncTimeoutMs: 900_000,
  leaseMs: 60_000,
  dedupeWindowMs: 600_000,
  swr: { defaultInstance: undefined, instancesByHost: {} },
};

describe("the follow-up and the list API's budget", () => {
  it("with the budget spent, calls nothing, and the images are due when a slot frees", async () => {
    // Prepare: a clock, a budget of 4 a minute all spent 10 s ago, three watched images
    let now = 1_000_000;
    const clock = () => now;
    const budget = new MemoryCallBudget(4, 61_000, clock);
    for (let i = 0; i < 4; i++) await budget.take("list-images");
    now += 10_000;
    const queue = new MemoryScanQueue(
      { budget, submitted: new SubmittedImages(600_000, 100) },
      clock,
    );
    const watches = [1, 2, 3].map((i) =>
      watchOf(
        {
          id: `w${i}`,
          image_type: "instance_image",
          target: {
            namespace: "team",
            image_name: "api",
            image_version: `v${i}`,
            instance_id: "i",
          },
        },
        "scanning",
        now,
      ),
    );
    await queue.watches.add(watches, 0);
    const hss = new Proxy({} as HssApiClient, {
      get: () => () => {
        throw new Error("no HSS call may be made without a slot");
      },
    });

    // Act
    const result = await followUp({
      queue,
      hss,
      settings,
      deadline: Date.now() + 60_000,
      log: createLogger({ level: "error", write: () => {} }),
      now: clock,
    });

    // Assess: nothing looked at, and not due before the budget's next slot (51 s from now)
    expect(result).toMatchObject({ checked: 0, list_calls: 0, stopped: "budget" });
    now += 50_000;
    expect(await queue.watches.claimDue(10, 1000)).toEqual([]);
    now += 1_000;
    expect(await queue.watches.claimDue(10, 1000)).toHaveLength(3);
  });
});
