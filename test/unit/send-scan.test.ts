import { describe, expect, it } from "vitest";
import type { CallOptions, SignedCaller, SignedRequest } from "../../src/cloud/request";
import { SignedCallError } from "../../src/cloud/signed-client";
import type { ScanBatch } from "../../src/hss/batch-scan-request";
import { MemoryCallBudget } from "../../src/hss/call-budget";
import { InstanceUrls } from "../../src/instance-urls";
import { createLogger } from "../../src/log";
import { MemoryWatchStore } from "../../src/queue/memory-queue";
import { SCAN_APIS } from "../../src/scan-apis";
import { retryDelayMs, type ScanSender, sendScan } from "../../src/send-scan";

/** One way to send a scan request and say what happened: the budget, the call, the failure's kind. */

const BATCH: ScanBatch = {
  image_type: "private_image",
  image_info_list: [{ namespace: "team", image_name: "api", image_version: "1.0" }],
};
const SETTINGS = { scope: 0x000f0000, rateLimit: 0 };

/** A caller that answers each call with the next of `answers` (an error is thrown). */
function scripted(...answers: Array<{ requestId: string } | SignedCallError>) {
  const calls: SignedRequest[] = [];
  const caller: SignedCaller = {
    async call(request: SignedRequest, _options: CallOptions) {
      calls.push(request);
      const answer = answers.shift();
      if (!answer) throw new Error("no answer scripted");
      if (answer instanceof SignedCallError) throw answer;
      return { requestId: answer.requestId, body: undefined };
    },
  };
  return { caller, calls };
}

function sender(caller: SignedCaller, budget = new MemoryCallBudget(4, 60_000, () => 0)) {
  return {
    mode: "send",
    api: SCAN_APIS["batch-scan"],
    settings: SETTINGS,
    caller,
    budget,
    firstTime: () => true,
  } satisfies ScanSender;
}

const failure = (status: number | undefined, code: string) =>
  new SignedCallError(`HSS said ${code}`, status, code, "req-1");

describe("sendScan", () => {
  it("takes a slot of the API's budget and sends the API's request", async () => {
    const { caller, calls } = scripted({ requestId: "r-1" });
    const budget = new MemoryCallBudget(4, 60_000, () => 0);
    const outcome = await sendScan(sender(caller, budget), BATCH, { timeoutMs: 1000 });
    expect(outcome).toEqual({ kind: "sent", requestId: "r-1", sent: BATCH });
    expect(calls.map((call) => [call.method, call.pathTemplate])).toEqual([
      ["POST", "/v5/{project_id}/image/batch-scan"],
    ]);
    expect(await budget.check("batch-scan")).toMatchObject({ used: 1, remaining: 3 });
  });

  it("sends nothing when the budget has no slot, and says when one frees", async () => {
    const { caller, calls } = scripted();
    let now = 0;
    const budget = new MemoryCallBudget(1, 60_000, () => now);
    await budget.take("batch-scan");
    now = 20_000;
    const outcome = await sendScan(sender(caller, budget), BATCH, { timeoutMs: 1000 });
    expect(outcome).toEqual({ kind: "no_slot", retryAfterMs: 40_000 });
    expect(calls).toEqual([]);
  });

  it("spends the whole window on a 429, so that nothing more goes to that API in it", async () => {
    const { caller } = scripted(failure(429, "APIGW.0308"));
    const budget = new MemoryCallBudget(4, 60_000, () => 0);
    const outcome = await sendScan(sender(caller, budget), BATCH, { timeoutMs: 1000 });
    expect(outcome).toMatchObject({ kind: "failed", failure: "throttled", retryAfterMs: 60_000 });
    expect((await budget.take("batch-scan")).granted).toBe(false);
  });

  it.each([
    ["a 5xx", failure(503, "HSS.9999"), "transient"],
    ["no answer", failure(undefined, "TIMEOUT"), "transient"],
    ["a refused signature", failure(401, "APIGW.0301"), "refused"],
    ["a missing permission", failure(403, "HSS.0013"), "refused"],
    ["an invalid image", failure(400, "HSS.0001"), "rejected"],
    ["a retired API", failure(404, "APIGW.0101"), "retired"],
    ["a gone API", failure(410, "HTTP_410"), "retired"],
  ])("classifies %s as %s", async (_, error, kind) => {
    const { caller } = scripted(error);
    const outcome = await sendScan(sender(caller), BATCH, { timeoutMs: 1000 });
    expect(outcome).toMatchObject({ kind: "failed", failure: kind });
  });

  it("names each enterprise image once, through InstanceUrls: a configured URL wins over HSS's listing", async () => {
    const image = (tag: string, instance: string, url: string) => ({
      namespace: "team",
      image_name: "api",
      image_version: tag,
      instance_id: instance,
      instance_url: url,
    });
    const batch: ScanBatch = {
      image_type: "instance_image",
      image_info_list: [
        image("1", "configured", "swr.example.com"),
        image("2", "learned", "swr-b.example.com/team/api:2"),
      ],
    };
    const swr = {
      defaultInstance: undefined,
      instancesByHost: {
        "swr.example.com": { id: "configured", url: "swr.example.com" },
        "swr-b.example.com": { id: "learned", url: undefined },
      },
    };
    const urls = new InstanceUrls(
      new MemoryWatchStore(() => 0),
      swr,
      createLogger({ level: "error", write: () => undefined }),
      () => false,
    );
    const { caller, calls } = scripted({ requestId: "r-1" });

    await sendScan(sender(caller), batch, {
      timeoutMs: 1000,
      urls,
      listed: (target) => ({ instance_url: `https://hss-sees/${target.image_version}` }),
    });

    const sent = calls[0]?.body as { image_info_list: Array<{ instance_url: string }> };
    expect(sent.image_info_list.map((target) => target.instance_url)).toEqual([
      "swr.example.com",
      "https://hss-sees/2",
    ]);
  });

  it("only shows the request in a dry run: no budget, no call", async () => {
    const outcome = await sendScan(
      {
        mode: "preview",
        api: SCAN_APIS["batch-scan"],
        settings: SETTINGS,
        target: { endpoint: "https://hss.example.com", projectId: "p-1", region: "r-1" },
      },
      BATCH,
      { timeoutMs: 1000 },
    );
    expect(outcome).toMatchObject({
      kind: "previewed",
      preview: { method: "POST", url: "https://hss.example.com/v5/p-1/image/batch-scan" },
    });
  });
});

describe("retryDelayMs", () => {
  it("doubles from the first delay up to the cap, jittered within the upper half", () => {
    const policy = { firstMs: 100, maxMs: 1000 };
    const low = [1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, policy, () => 0));
    const high = [1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, policy, () => 1));
    expect(low).toEqual([50, 100, 200, 400, 500, 500]);
    expect(high).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});
