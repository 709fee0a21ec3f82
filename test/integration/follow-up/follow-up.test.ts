import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_UNKNOWNS,
  EVERY_UNKNOWNS,
  type HssUnknowns,
} from "../../../src/emulator/emulated-registry";
import { timerEvent } from "../../../src/runners/server";
import { tagsPush } from "../../support/fixtures";
import { flushUntil, type Harness, startHarness } from "../../support/harness";
import type { RedisServer } from "../../support/redis-server";
import { startRedis } from "../../support/redis-server";

const INSTANCE = "inst-follow";
const HOST = "swr-ee-prod.cn-north-4.myhuaweicloud.com";

/** A push of `team/<name>:<tag>` on the SWR EE registry, as the registry delivers it. */
const push = (name: string, tag: string) =>
  tagsPush([tag], {
    repository: `team/${name}`,
    host: HOST,
    instanceId: INSTANCE,
    digest: () => `sha256:${name}${tag}`,
  });

/** The registry has the image; HSS learns of it at the next sync, or `synced` already did. */
const pushedToRegistry = (harness: Harness, name: string, tag: string, synced = false) =>
  harness.emulator.push({
    image_type: "instance_image",
    namespace: "team",
    image_name: name,
    image_version: tag,
    instance_id: INSTANCE,
    host: HOST,
    synced,
  });

/** Fast emulator, HSS's limit on (5 a window) with a 3 s window, and a follow-up every 0.5 s. */
const FAST = {
  SCAN_QUEUE: "memory",
  HSS_CALLS_PER_MINUTE: "4",
  HSS_RATE_WINDOW_SECONDS: "3",
  FOLLOW_UP_INTERVAL_SECONDS: "1",
};
const fastEmulator = {
  rateLimit: { calls: 5, windowMs: 3000 },
  timings: { syncMs: 400, scanStartMs: 200, scanMs: 800 },
};

/** The follow-up's path through HSS, with this queue and what HSS leaves undefined. */
function followingEachScan(
  startQueue: () => Promise<RedisServer | undefined>,
  unknowns: HssUnknowns,
) {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startQueue();
  });
  afterAll(() => redis?.close());
  const queueEnv = () => (redis ? { SCAN_QUEUE: redis.url } : {});

  it("syncs a tag HSS has not seen, scans it once listed, and logs scan_finished", async () => {
    const harness = await startHarness(
      // No re-scans allowed: the scan after the sync is the first real one, not a re-scan.
      { ...FAST, FOLLOW_UP_MAX_RESCANS: "0", ...queueEnv() },
      { rateLimited: true, emulator: { ...fastEmulator, unknowns } },
    );
    try {
      // Prepare: pushed to the registry seconds ago, not yet synced by HSS
      pushedToRegistry(harness, "payments", "v1");

      // Act: the push, then the scheduled flushes
      const answer = await harness.http(push("payments", "v1"));
      await flushUntil([harness], () => harness.logged("scan_finished").length > 0, 15_000);

      // Assess
      expect(answer.statusCode).toBe(202);
      const [finished] = harness.logged("scan_finished");
      expect(finished).toMatchObject({
        image: `team/payments:v1 (instance ${INSTANCE})`,
        scan_status: "success",
        severity_level: "Security",
        vul_num: 0,
        malicious_file_num: 0,
        unsafe_setting_num: 0,
      });
      expect(harness.logged("not_synced")).toHaveLength(1);
      expect(harness.logged("sync_requested")[0]).toMatchObject({
        api: "CreateImageSynchronizeTask",
        registry_id: `ee-${INSTANCE}`,
      });
      // Found by its address: only this instance's registry was synced.
      expect(harness.emulator.syncRequests()).toEqual([
        {
          sync_all_registries: false,
          registry_info: [{ registry_id: `ee-${INSTANCE}`, registry_type: "SwrEnterprise" }],
        },
      ]);
      // The first request reached an image HSS did not know; the second one scanned it.
      expect(harness.emulator.acceptedBatches()).toHaveLength(2);
      expect(harness.emulator.scansStarted()).toHaveLength(1);
      expect(harness.emulator.throttledCount()).toBe(0);
    } finally {
      await harness.close();
    }
  });

  it("follows every image to its result when HSS's lists carry items that name no image", async () => {
    const harness = await startHarness(
      { ...FAST, ...queueEnv() },
      // Every list page starts with an item whose namespace, name or tag is missing or null,
      // and fields without a value are left out or null, as HSS's models allow.
      { rateLimited: true, emulator: { ...fastEmulator, unknowns, sparseAnswers: true } },
    );
    try {
      const tags = ["v1", "v2", "v3", "v4"];
      // Two HSS has synced already, two it learns of at the next sync.
      tags.forEach((tag, index) => {
        pushedToRegistry(harness, "ledger", tag, index < 2);
      });

      for (const tag of tags)
        expect((await harness.http(push("ledger", tag))).statusCode).toBe(202);
      await flushUntil([harness], () => harness.logged("scan_finished").length >= 4, 15_000);

      const finished = harness.logged("scan_finished").map((line) => line.image);
      expect(new Set(finished)).toEqual(
        new Set(tags.map((tag) => `team/ledger:${tag} (instance ${INSTANCE})`)),
      );
      // Only the two HSS had not synced were judged not listed.
      expect(harness.logged("not_synced")).toHaveLength(2);
      expect(harness.logged("dead_lettered")).toHaveLength(0);
      expect(harness.emulator.throttledCount()).toBe(0);
    } finally {
      await harness.close();
    }
  });
}

// Every combination of what HSS leaves undefined, each with its own in-process queue, at once;
// then the default with Redis.
describe.concurrent.each(EVERY_UNKNOWNS)(
  "following each scan to its result (memory queue; a sync stamps $syncStamps images, never-scanned sorted $neverScanned)",
  (unknowns) => followingEachScan(() => Promise.resolve(undefined), unknowns),
);
describe("following each scan to its result (Redis queue)", () =>
  followingEachScan(() => startRedis(), DEFAULT_UNKNOWNS));

describe.concurrent.each(EVERY_UNKNOWNS)(
  "scan results (a sync stamps $syncStamps images, never-scanned sorted $neverScanned)",
  (unknowns) => {
    let hook: { url: string; received: Array<{ body: Record<string, unknown> }>; close(): void };
    beforeAll(async () => {
      const received: Array<{ body: Record<string, unknown> }> = [];
      const server = createServer(async (request: IncomingMessage, response) => {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        received.push({ body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        response.writeHead(204).end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      hook = {
        url: `http://127.0.0.1:${port}/hooks/T0KEN-in-the-path-is-a-secret`,
        received,
        close: () => server.close(),
      };
    });
    afterAll(() => hook.close());

    it("logs findings and notifies those at or above NOTIFY_MIN_SEVERITY, never printing where", async () => {
      const topic = "urn:smn:cn-north-4:0a1b2c3d4e5f60718293a4b5c6d7e8f9:security-alerts";
      const harness = await startHarness(
        {
          ...FAST,
          HSS_CALLS_PER_MINUTE: "10000",
          NOTIFY_WEBHOOK_URL: hook.url,
          NOTIFY_SMN_TOPIC: topic,
          NOTIFY_MIN_SEVERITY: "high",
        },
        { emulator: { timings: fastEmulator.timings, unknowns } },
      );
      try {
        harness.env.SMN_ENDPOINT = harness.emulator.url;
        for (const tag of ["high-1", "medium-1", "clean-1"])
          pushedToRegistry(harness, "api", tag, true);

        for (const tag of ["high-1", "medium-1", "clean-1"]) await harness.http(push("api", tag));
        await flushUntil([harness], () => harness.logged("scan_finished").length >= 3, 15_000);
        // Alerts are posted by the flush after the follow-up that found them.
        await flushUntil([harness], () => harness.logged("notified").length >= 2, 15_000);

        const byTag = Object.fromEntries(
          harness
            .logged("scan_finished")
            .map((line) => [String(line.image).split(":")[1]?.split(" ")[0], line]),
        );
        expect(byTag["high-1"]).toMatchObject({
          severity_level: "High",
          vul_num: 3,
          unsafe_setting_num: 1,
        });
        expect(byTag["medium-1"]).toMatchObject({ severity_level: "Medium", vul_num: 2 });
        expect(byTag["clean-1"]).toMatchObject({ severity_level: "Security", vul_num: 0 });
        // Only the High one reached the webhook and the topic.
        expect(hook.received.map(({ body }) => body.image)).toEqual([
          `team/api:high-1 (instance ${INSTANCE})`,
        ]);
        expect(hook.received[0]?.body).toMatchObject({
          version: 1,
          event: "scan_finished",
          severity_level: "High",
          vul_num: 3,
        });
        expect(String(hook.received[0]?.body.message)).toContain("3 vulnerabilities");
        const published = harness.emulator.notifications();
        expect(published).toHaveLength(1);
        expect(published[0]?.topic).toBe(topic);
        expect(published[0]?.subject).toBe("High: 3 vulnerabilities in team/api:high-1");
        expect(
          harness
            .logged("notified")
            .map((line) => line.channel)
            .sort(),
        ).toEqual(["smn", "webhook"]);
        const logs = harness.logs.join("\n");
        expect(logs).not.toContain("T0KEN-in-the-path-is-a-secret");
        expect(logs).not.toContain("security-alerts");
      } finally {
        await harness.close();
      }
    });

    it("logs scan_failed with HSS's code, and scans again what a re-scan can fix", async () => {
      const harness = await startHarness(
        { ...FAST, HSS_CALLS_PER_MINUTE: "10000" },
        { emulator: { timings: fastEmulator.timings, unknowns } },
      );
      try {
        for (const tag of ["broken-1", "flaky-1"]) pushedToRegistry(harness, "api", tag, true);
        for (const tag of ["broken-1", "flaky-1"]) await harness.http(push("api", tag));
        await flushUntil([harness], () => harness.logged("scan_finished").length >= 1, 15_000);

        const failed = harness.logged("scan_failed");
        expect(failed).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              image: `team/api:broken-1 (instance ${INSTANCE})`,
              scan_status: "failed",
              scan_failed_code: "schema_v1_not_support",
              rescan: "no",
            }),
            expect.objectContaining({
              image: `team/api:flaky-1 (instance ${INSTANCE})`,
              scan_failed_code: "response_timed_out",
              rescan: "queued again",
            }),
          ]),
        );
        expect(harness.logged("scan_finished").map((line) => line.image)).toEqual([
          `team/api:flaky-1 (instance ${INSTANCE})`,
        ]);
        expect(harness.logged("requeued")[0]).toMatchObject({ rescan: 1 });
      } finally {
        await harness.close();
      }
    });

    it("gives up on an image HSS never lists, with a dead letter that says why", async () => {
      const harness = await startHarness(
        { ...FAST, HSS_CALLS_PER_MINUTE: "10000", HSS_SYNC_TIMEOUT_SECONDS: "2" },
        { emulator: { timings: fastEmulator.timings, unknowns } },
      );
      try {
        // Not in the registry at all: no sync will ever list it.
        await harness.http(push("ghost", "v1"));
        await flushUntil([harness], () => harness.logged("dead_lettered").length > 0, 15_000);

        expect(harness.logged("dead_lettered")[0]).toMatchObject({
          image: `team/ghost:v1 (instance ${INSTANCE})`,
          error_code: "NOT_SYNCED",
        });
        expect(String(harness.logged("dead_lettered")[0]?.error_msg)).toContain(
          "HSS_SYNC_TIMEOUT_SECONDS=2",
        );
        const flushed = (await harness.invoke(timerEvent())) as { queue: Record<string, number> };
        expect(flushed.queue).toMatchObject({ pending: 0, watched: 0, dead_lettered: 1 });
      } finally {
        await harness.close();
      }
    });
  },
);
