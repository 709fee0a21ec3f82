import { describe, expect, it } from "vitest";
import type { SignedCaller, SignedRequest } from "../../src/cloud/request";
import { SignedCallError } from "../../src/cloud/signed-client";
import type { ScanBatch } from "../../src/hss/batch-scan-request";
import { MemoryCallBudget } from "../../src/hss/call-budget";
import { createLogger } from "../../src/log";
import { SCAN_APIS } from "../../src/scan-apis";
import { type SubmitBatchesOptions, submitBatches } from "../../src/submit";

/** Direct mode's sending: retries within the invocation, what is given up on and why. */

const batch = (tag: string): ScanBatch => ({
  image_type: "private_image",
  image_info_list: [{ namespace: "team", image_name: "api", image_version: tag }],
});
const failure = (status: number | undefined, code: string) =>
  new SignedCallError(`HSS said ${code}`, status, code, undefined);

const START = 1_800_000_000_000;

function setup(
  answers: Array<"ok" | SignedCallError>,
  overrides: Partial<SubmitBatchesOptions> = {},
) {
  const calls: SignedRequest[] = [];
  const lines: Array<Record<string, unknown>> = [];
  // An injected clock: a wait between attempts moves it, nothing waits for real.
  const clock = { now: START, waits: [] as number[] };
  const caller: SignedCaller = {
    async call(request) {
      calls.push(request);
      const answer = answers.shift() ?? "ok";
      if (answer instanceof SignedCallError) throw answer;
      return { requestId: `r-${calls.length}`, body: undefined };
    },
  };
  const options: SubmitBatchesOptions = {
    sender: () => ({
      mode: "send",
      api: SCAN_APIS["batch-scan"],
      settings: { scope: 0x000f0000, rateLimit: 0 },
      caller,
      budget: new MemoryCallBudget(100),
    }),
    concurrency: 2,
    timeoutMs: 1000,
    retry: { attempts: 3, baseDelayMs: 200 },
    deadline: START + 10_000,
    now: () => clock.now,
    sleep: async (ms) => {
      clock.waits.push(ms);
      clock.now += ms;
    },
    log: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }),
    random: () => 0,
    ...overrides,
  };
  return { calls, lines, options, clock, events: () => lines.map((line) => line.event) };
}

describe("submitBatches", () => {
  it("sends each batch once when HSS takes it", async () => {
    const { calls, options, events } = setup([]);
    const outcomes = await submitBatches([batch("1"), batch("2")], options);
    expect(outcomes.map((o) => [o.kind, "attempts" in o ? o.attempts : 0])).toEqual([
      ["sent", 1],
      ["sent", 1],
    ]);
    expect(calls).toHaveLength(2);
    expect(events()).toEqual(["submitted", "submitted"]);
  });

  it("retries what may pass later (a 5xx, no answer), then sends it", async () => {
    const { calls, options, clock, events } = setup([
      failure(503, "HSS.9999"),
      failure(undefined, "TIMEOUT"),
    ]);
    const [outcome] = await submitBatches([batch("1")], options);
    expect(outcome).toMatchObject({ kind: "sent", attempts: 3, calls: 3 });
    expect(calls).toHaveLength(3);
    expect(events()).toEqual(["retried", "retried", "submitted"]);
    // The policy's waits, drawn at the bottom of each window (random 0): half of 200, half of 400.
    expect(clock.waits).toEqual([100, 200]);
  });

  it("gives up after the attempts, with HSS's last error, as failed", async () => {
    const { options } = setup([failure(503, "A"), failure(503, "B"), failure(503, "C")]);
    const [outcome] = await submitBatches([batch("1")], options);
    expect(outcome).toMatchObject({ kind: "failed", attempts: 3, calls: 3 });
    expect(outcome?.kind === "failed" && outcome.error.errorCode).toBe("C");
  });

  it("does not retry what fails the same way again (a refused caller, an invalid image)", async () => {
    for (const error of [failure(401, "APIGW.0301"), failure(400, "HSS.0001")]) {
      const { calls, options } = setup([error]);
      const [outcome] = await submitBatches([batch("1")], options);
      expect(outcome, error.errorCode).toMatchObject({ kind: "failed", attempts: 1 });
      expect(calls, error.errorCode).toHaveLength(1);
    }
  });

  it("sends a refused batch again once when HSS's records name its images otherwise", async () => {
    let relearned = 0;
    const { calls, options } = setup([failure(400, "HSS.0001")], {
      relearn: async () => {
        relearned += 1;
        return true;
      },
    });
    const [outcome] = await submitBatches([batch("1")], options);
    expect(outcome).toMatchObject({ kind: "sent" });
    expect(relearned).toBe(1);
    expect(calls).toHaveLength(2);
  });

  it("stops at a 429 and says when the window frees, without retrying", async () => {
    const { calls, options } = setup([failure(429, "APIGW.0308")]);
    const [outcome] = await submitBatches([batch("1")], options);
    expect(outcome).toMatchObject({ kind: "failed", retryAfterMs: 61_000 });
    expect(calls).toHaveLength(1);
  });

  it("asks nothing once the deadline is too near, and says so", async () => {
    const { calls, options } = setup([], { deadline: START + 50 });
    const [outcome] = await submitBatches([batch("1")], options);
    expect(outcome).toMatchObject({ kind: "failed", calls: 0 });
    expect(outcome?.kind === "failed" && outcome.error.errorCode).toBe("DEADLINE_EXCEEDED");
    expect(calls).toEqual([]);
  });

  it("builds no sender for nothing to send (an ignored event needs no credentials)", async () => {
    const outcomes = await submitBatches([], {
      ...setup([]).options,
      sender: () => {
        throw new Error("built");
      },
    });
    expect(outcomes).toEqual([]);
  });
});
