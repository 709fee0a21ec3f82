import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignedClient } from "../../../src/cloud/signed-client";
import { type HssEmulator, startHssEmulator } from "../../../src/emulator/hss-emulator";
import { SCAN_APIS } from "../../../src/scan-apis";

const settings = { scope: 0, rateLimit: 0 };

/** The project's own HSS client, signing with the emulator's key. */
function clientOf(emulator: HssEmulator) {
  const [key] = emulator.keys;
  if (!key) throw new Error("the emulator has a key");
  return createSignedClient({
    endpoint: emulator.url,
    projectId: emulator.projectId,
    credentials: { ak: key.ak, sk: key.sk, securityToken: undefined },
  });
}

describe("the HSS emulator", () => {
  let emulator: HssEmulator;
  beforeAll(async () => {
    emulator = await startHssEmulator();
  });
  afterAll(() => emulator.close());

  it("enforces HSS's limit by default: the sixth call in a minute gets APIG's 429", async () => {
    const client = clientOf(emulator);
    const batch = {
      image_type: "private_image" as const,
      image_info_list: [{ namespace: "team", image_name: "app", image_version: "1" }],
    };
    const results = [];
    for (let i = 0; i < 6; i++) {
      results.push(
        await client
          .call(SCAN_APIS["batch-scan"].request(batch, settings), { timeoutMs: 2000 })
          .then(
            () => "accepted",
            (error: { httpStatus?: number; errorCode?: string; message: string }) => error,
          ),
      );
    }
    expect(results.slice(0, 5)).toEqual(Array(5).fill("accepted"));
    expect(results[5]).toMatchObject({
      httpStatus: 429,
      errorCode: "APIGW.0308",
      message: expect.stringMatching(/policy user over ratelimit,limit:5,time:1 minute/),
    });
    expect(emulator.throttledCount()).toBe(1);
    expect(emulator.acceptedBatches()).toHaveLength(5);
  });
});

describe("the HSS emulator's history", () => {
  it("keeps only the newest historyLimit requests and batches", async () => {
    const emulator = await startHssEmulator({ rateLimit: false, historyLimit: 3 });
    try {
      const client = clientOf(emulator);
      for (const tag of ["1", "2", "3", "4", "5"]) {
        await client.call(
          SCAN_APIS["batch-scan"].request(
            {
              image_type: "private_image",
              image_info_list: [{ namespace: "n", image_name: "i", image_version: tag }],
            },
            settings,
          ),
          { timeoutMs: 2000 },
        );
      }
      expect(emulator.received).toHaveLength(3);
      expect(
        emulator
          .acceptedBatches()
          .map((batch) =>
            "image_info_list" in batch ? batch.image_info_list[0]?.image_version : "",
          ),
      ).toEqual(["3", "4", "5"]);
    } finally {
      await emulator.close();
    }
  });
});
