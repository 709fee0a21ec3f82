import { describe, expect, it } from "vitest";
import { type HssEmulator, startHssEmulator } from "../../../src/emulator/hss-emulator";
import { tagsPush } from "../../support/fixtures";
import { flushUntil, functionInstance, inHss } from "../../support/harness";
import { useRedis } from "../../support/use-redis";

/**
 * HSS stops serving batch-scan (404 APIGW.0101) in the middle of a burst: with a queue, every
 * accepted image still reaches HSS exactly once, the rest through scan-task; without one, the
 * images are answered failed, naming what to change.
 */

const INSTANCE = "inst-1";
const HOST = "registry.example.com";

const redis = useRedis();

const FAST = { HSS_RATE_WINDOW_SECONDS: "3", FOLLOW_UP_INTERVAL_SECONDS: "1" };

/** Every tag HSS accepted a scan request for, through either API, in order. */
function tagsReceived(emulator: HssEmulator): string[] {
  const batches = emulator
    .acceptedBatches()
    .flatMap((batch) => ("image_info_list" in batch ? batch.image_info_list : []))
    .map((image) => image.image_version);
  const tasks = emulator
    .acceptedScanTasks()
    .flatMap((task) => (task as { image_info?: Array<{ image_version: string }> }).image_info ?? [])
    .map((image) => image.image_version);
  return [...batches, ...tasks];
}

const push = (tag: string) =>
  tagsPush([tag], { host: HOST, instanceId: INSTANCE, digest: () => `sha256:${tag}` });

describe("batch-scan retired by HSS", () => {
  it("with a queue: switches to scan-task mid-burst, and every accepted image reaches HSS exactly once", async () => {
    const emulator = await startHssEmulator({
      rateLimit: false,
      timings: { syncMs: 300, scanStartMs: 100, scanMs: 400 },
    });
    const env = {
      ...FAST,
      SCAN_QUEUE: redis().url,
      HSS_CALLS_PER_MINUTE: "30",
      HSS_BATCH_SIZE: "2",
    };
    const a = functionInstance(emulator, env);
    const b = functionInstance(emulator, env);
    try {
      const tags = Array.from({ length: 12 }, (_, index) => `t${index}`);
      for (const tag of tags) {
        inHss(emulator, { namespace: "team", name: "app", tag, instance: INSTANCE, host: HOST });
      }

      // Act: the first third goes through batch-scan; then HSS retires it, mid-burst
      const answers = [];
      for (const tag of tags.slice(0, 4)) answers.push(await a.http(push(tag)));
      await flushUntil([a], () => tagsReceived(emulator).length >= 4, 10_000);
      emulator.retire("batch-scan");
      for (const [index, tag] of tags.slice(4).entries()) {
        answers.push(await (index % 2 ? b : a).http(push(tag)));
      }
      await flushUntil([a, b], () => tagsReceived(emulator).length >= tags.length, 20_000);
      // A few more flushes: nothing is sent twice
      await flushUntil([a, b], () => false, 1500);

      // Assess
      expect(answers.map((answer) => answer.statusCode)).toEqual(tags.map(() => 202));
      expect([...tagsReceived(emulator)].sort()).toEqual([...tags].sort());
      const retiredAnswers = emulator.received.filter(
        (request) => request.path.endsWith("/image/batch-scan") && request.status === 404,
      );
      // One 404 taught both instances: the switch is kept in the queue's store.
      expect(retiredAnswers).toHaveLength(1);
      expect(a.logged("scan_api_retired")).toEqual([
        expect.objectContaining({
          level: "error",
          api: "batch-scan",
          now_using: "scan-task",
          http_status: 404,
          error_code: "APIGW.0101",
        }),
      ]);
      expect(b.logged("scan_api_retired")).toEqual([
        expect.objectContaining({ api: "batch-scan", now_using: "scan-task" }),
      ]);
      expect(emulator.acceptedScanTasks().length).toBeGreaterThan(0);
      expect([...a.logged("dead_lettered"), ...b.logged("dead_lettered")]).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await emulator.close();
    }
  });

  it("without a queue: the images are answered failed, naming HSS_SCAN_API=scan-task and SCAN_QUEUE, and the retirement is logged once", async () => {
    const emulator = await startHssEmulator({ rateLimit: false, retiredApis: ["batch-scan"] });
    const a = functionInstance(emulator, FAST);
    try {
      const first = await a.http(push("d1"));
      const second = await a.http(push("d2"));

      for (const answer of [first, second]) {
        expect(answer.statusCode).toBe(502);
        expect(answer.body.failed).toEqual([
          expect.objectContaining({
            error: expect.objectContaining({
              error_code: "APIGW.0101",
              error_msg: expect.stringMatching(/HSS_SCAN_API=scan-task.*SCAN_QUEUE/),
            }),
          }),
        ]);
      }
      expect(a.logged("scan_api_retired")).toHaveLength(1);
      expect(a.logged("scan_api_retired")[0]).toMatchObject({
        level: "error",
        api: "batch-scan",
        message: expect.stringContaining("HSS_SCAN_API=scan-task"),
      });
    } finally {
      await a.close();
      await emulator.close();
    }
  });
});
