import { describe, expect, it } from "vitest";
import { startHssEmulator } from "../../src/emulator/hss-emulator";
import { SCAN_API_NAMES } from "../../src/scan-apis";
import { tagsPush } from "../support/fixtures";
import { flushUntil, functionInstance, inHss } from "../support/harness";

/**
 * Every registered scan API takes a push to HSS through the function, against the emulator, which
 * answers each as HSS's model says: a new API without its route in the emulator fails here.
 */

const INSTANCE = "inst-1";
const HOST = "registry.example.com";

describe.each(SCAN_API_NAMES)("HSS_SCAN_API=%s", (api) => {
  it("gets a pushed image scanned, followed to its result", async () => {
    const emulator = await startHssEmulator({
      rateLimit: false,
      timings: { syncMs: 100, scanStartMs: 50, scanMs: 200 },
    });
    const instance = functionInstance(emulator, {
      HSS_SCAN_API: api,
      SCAN_QUEUE: "memory",
      HSS_RATE_WINDOW_SECONDS: "3",
      FOLLOW_UP_INTERVAL_SECONDS: "1",
    });
    try {
      inHss(emulator, {
        namespace: "team",
        name: "app",
        tag: "1.0",
        instance: INSTANCE,
        host: HOST,
      });
      const push = tagsPush(["1.0"], {
        host: HOST,
        instanceId: INSTANCE,
        digest: () => "sha256:1",
      });

      const answer = await instance.http(push);
      await flushUntil([instance], () => instance.logged("scan_finished").length > 0, 15_000);

      expect(answer.statusCode).toBe(202);
      expect(emulator.callsByApi()[api], `${api} calls HSS answered 2xx`).toBe(1);
      expect(instance.logged("scan_finished")).toEqual([
        expect.objectContaining({ image: expect.stringContaining("team/app:1.0") }),
      ]);
    } finally {
      await instance.close();
      await emulator.close();
    }
  });
});
