import { describe, expect, it } from "vitest";
import {
  type HssEmulator,
  type HssEmulatorOptions,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import type { ScanTarget } from "../../../src/images/scan-target";
import { tagsPush } from "../../support/fixtures";
import { flushUntil, functionInstance, inHss } from "../../support/harness";
import { useRedis } from "../../support/use-redis";

/**
 * An HSS that records SWR Enterprise images under another instance_url than the pull reference
 * the function guesses, against function instances sharing a real Redis queue: the first push of
 * the instance teaches the form, every later one (of any instance) is sent with it.
 */

const INSTANCE = "inst-url";
const HOST = "swr-ee-url.cn-north-4.myhuaweicloud.com";
const FAST = {
  HSS_CALLS_PER_MINUTE: "20",
  HSS_RATE_WINDOW_SECONDS: "3",
  FOLLOW_UP_INTERVAL_SECONDS: "1",
};
const TIMINGS = { syncMs: 300, scanStartMs: 100, scanMs: 500 };

const redis = useRedis();

const push = (tag: string) =>
  tagsPush([tag], { host: HOST, instanceId: INSTANCE, digest: () => `sha256:${tag}` });

/** One function instance on the shared queue, fast timings. */
const onQueue = (emulator: HssEmulator, env: Record<string, string> = {}) =>
  functionInstance(emulator, { SCAN_QUEUE: redis().url, ...FAST, ...env });

/** HSS synced the tag already (it was pushed a while ago). */
const synced = (emulator: HssEmulator, tag: string) =>
  inHss(emulator, { namespace: "team", name: "app", tag, instance: INSTANCE, host: HOST });

/** Every batch-scan request for `tag`: the instance_url it named and what HSS answered. */
function scanRequestsOf(emulator: HssEmulator, tag: string) {
  return emulator.received
    .filter((request) => request.path.endsWith("/image/batch-scan"))
    .flatMap((request) =>
      ((request.body as { image_info_list?: ScanTarget[] }).image_info_list ?? [])
        .filter((image) => image.image_version === tag)
        .map((image) => ({ instance_url: image.instance_url, status: request.status })),
    );
}

async function withEmulator(
  options: HssEmulatorOptions,
  test: (emulator: HssEmulator) => Promise<void>,
) {
  const emulator = await startHssEmulator({ rateLimit: false, timings: TIMINGS, ...options });
  try {
    await test(emulator);
  } finally {
    await emulator.close();
  }
}

describe("instance_url learned from HSS's own records", () => {
  it("strict HSS: the first push is refused, the form learned, the image sent again and followed to scan_finished; later pushes and a second instance use it from the start", async () => {
    await withEmulator(
      { instanceUrlForm: "https://{host}", instanceUrlCheck: "strict" },
      async (emulator) => {
        const a = onQueue(emulator);
        const b = onQueue(emulator);
        try {
          for (const tag of ["v1", "v2", "v3"]) synced(emulator, tag);

          // Act 1: the instance's first push
          expect((await a.http(push("v1"))).statusCode).toBe(202);
          await flushUntil([a], () => a.logged("scan_finished").length >= 1, 15_000);

          // Assess 1: refused with the guess, sent again with HSS's value, and its scan finished
          expect(scanRequestsOf(emulator, "v1")).toEqual([
            { instance_url: `${HOST}/team/app:v1`, status: 400 },
            { instance_url: `https://${HOST}`, status: 200 },
          ]);
          expect(a.logged("instance_url_learned")).toEqual([
            expect.objectContaining({
              instance_id: INSTANCE,
              hss_value: `https://${HOST}`,
              form: `https://${HOST}`,
            }),
          ]);
          expect(a.logged("scan_finished")[0]).toMatchObject({
            image: `team/app:v1 (instance ${INSTANCE})`,
            scan_status: "success",
          });
          expect(a.logged("dead_lettered")).toEqual([]);

          // Act 2: a later push to the same instance, and one through a second function instance
          const second = await a.http(push("v2"));
          expect(second.statusCode).toBe(202);
          // The answer says what was sent
          expect(second.body.submitted).toEqual([
            expect.objectContaining({ image_version: "v2", instance_url: `https://${HOST}` }),
          ]);
          expect((await b.http(push("v3"))).statusCode).toBe(202);
          await flushUntil(
            [a, b],
            () => a.logged("scan_finished").length + b.logged("scan_finished").length >= 3,
            15_000,
          );

          // Assess 2: both sent with HSS's form from the start; nothing learned again
          expect(scanRequestsOf(emulator, "v2")).toEqual([
            { instance_url: `https://${HOST}`, status: 200 },
          ]);
          expect(scanRequestsOf(emulator, "v3")).toEqual([
            { instance_url: `https://${HOST}`, status: 200 },
          ]);
          expect(b.logged("instance_url_learned")).toEqual([]);
          expect(a.logged("instance_url_learned")).toHaveLength(1);
          expect(
            emulator
              .scansStarted()
              .map((scan) => scan.target.image_version)
              .sort(),
          ).toEqual(["v1", "v2", "v3"]);
        } finally {
          await a.close();
          await b.close();
        }
      },
    );
  });

  it("HSS that ignores a request with another instance_url: the follow-up sees the image unscanned under HSS's own value and sends it again with it, once", async () => {
    await withEmulator(
      { instanceUrlForm: "{host}/{namespace}/{image}", instanceUrlCheck: "ignore" },
      async (emulator) => {
        const a = onQueue(emulator);
        try {
          // Prepare: v1 known to HSS already
          synced(emulator, "v1");

          // Act: answered 200 and ignored by HSS, seen unscanned by the follow-up
          expect((await a.http(push("v1"))).statusCode).toBe(202);
          await flushUntil([a], () => a.logged("scan_finished").length >= 1, 15_000);

          // Assess: sent once with the guess (answered 200, ignored), once with HSS's value
          expect(scanRequestsOf(emulator, "v1")).toEqual([
            { instance_url: `${HOST}/team/app:v1`, status: 200 },
            { instance_url: `${HOST}/team/app`, status: 200 },
          ]);
          expect(a.logged("instance_url_learned")).toEqual([
            expect.objectContaining({
              form: `${HOST}/{namespace}/{image}`,
              sent: `${HOST}/team/app:v1`,
              hss_value: `${HOST}/team/app`,
            }),
          ]);
          expect(a.logged("requeued")).toEqual([
            expect.objectContaining({ instance_url: `${HOST}/team/app` }),
          ]);
          expect(emulator.scansStarted()).toHaveLength(1);

          // Act 2: a tag HSS has not synced yet, pushed after the form was learned
          emulator.push({
            image_type: "instance_image",
            namespace: "team",
            image_name: "app",
            image_version: "v2",
            instance_id: INSTANCE,
            host: HOST,
          });
          expect((await a.http(push("v2"))).statusCode).toBe(202);
          await flushUntil([a], () => a.logged("scan_finished").length >= 2, 15_000);

          // Assess 2: HSS's form from the start (the first request found no synced image; the
          // second, after the sync, scanned it)
          expect(scanRequestsOf(emulator, "v2")).toEqual([
            { instance_url: `${HOST}/team/app`, status: 200 },
            { instance_url: `${HOST}/team/app`, status: 200 },
          ]);
          expect(a.logged("instance_url_learned")).toHaveLength(1);
          expect(emulator.scansStarted()).toHaveLength(2);
        } finally {
          await a.close();
        }
      },
    );
  });

  it("a configured URL wins over HSS's record, which is warned about once", async () => {
    await withEmulator({ instanceUrlForm: "https://{host}" }, async (emulator) => {
      const a = onQueue(emulator, {
        SWR_INSTANCES: JSON.stringify({ [HOST]: { id: INSTANCE, url: `${HOST}/configured` } }),
      });
      try {
        for (const tag of ["w1", "w2"]) synced(emulator, tag);
        for (const tag of ["w1", "w2"]) expect((await a.http(push(tag))).statusCode).toBe(202);
        await flushUntil([a], () => a.logged("scan_finished").length >= 2, 15_000);

        for (const tag of ["w1", "w2"]) {
          expect(scanRequestsOf(emulator, tag)).toEqual([
            { instance_url: `${HOST}/configured`, status: 200 },
          ]);
        }
        expect(a.logged("instance_url_learned")).toEqual([]);
        expect(a.logged("instance_url_mismatch")).toEqual([
          expect.objectContaining({
            instance_id: INSTANCE,
            configured: `${HOST}/configured`,
            hss_value: `https://${HOST}`,
          }),
        ]);
      } finally {
        await a.close();
      }
    });
  });
});
