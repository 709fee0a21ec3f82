import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_ENV } from "../../support/event-expectations";
import { eventFiles, loadEvent, tagsPush } from "../../support/fixtures";
import { flushUntil, type Harness, startHarness } from "../../support/harness";

interface Preview {
  url: string;
  body: {
    image_type?: string;
    image_info_list?: Array<Record<string, string>>;
    operate_all?: boolean;
    image_info?: Array<Record<string, string>>;
    is_all?: boolean;
    scan_scope?: number;
  };
}

const previewsOf = (result: unknown): Preview[] => {
  const answer = result as { statusCode?: number; body?: string };
  const report = (
    typeof answer.statusCode === "number" ? JSON.parse(answer.body ?? "{}") : result
  ) as { would_send?: Preview[] };
  return report.would_send ?? [];
};

const REGISTRY_TYPES: Record<string, string> = {
  private_image: "SwrPrivate",
  shared_image: "SwrShared",
  instance_image: "SwrEnterprise",
};

/** The images a request scans, as comparable keys: registry type and the image's name. */
const scannedBy = (preview: Preview): string[] => {
  const { body } = preview;
  if (body.operate_all || body.is_all) return ["everything"];
  const key = (type: string | undefined, image: Record<string, string>) =>
    JSON.stringify([
      type,
      image.instance_id ?? "",
      image.namespace,
      image.image_name,
      image.image_version,
    ]);
  if (body.image_info_list) {
    return body.image_info_list.map((image) => key(REGISTRY_TYPES[body.image_type ?? ""], image));
  }
  return (body.image_info ?? []).map((image) => key(image.registry_type, image));
};

/**
 * HSS_SCAN_API=scan-task asks HSS, through its successor API, to scan exactly the images
 * batch-scan asks for: every sample in events/, compared through the dry run.
 */
describe("the successor API (HSS_SCAN_API=scan-task)", () => {
  let batch: Harness;
  let task: Harness;
  beforeAll(async () => {
    const env = {
      ...EVENT_ENV,
      DRY_RUN: "true",
      SCAN_QUEUE: "memory",
      HSS_ENTERPRISE_PROJECT_ID: "all_granted_eps",
    };
    batch = await startHarness(env);
    task = await startHarness({
      ...env,
      HSS_SCAN_API: "scan-task",
      HSS_SCAN_SCOPE: "vulnerabilities,malicious",
      HSS_SCAN_RATE_LIMIT: "120",
    });
  });
  afterAll(async () => {
    await batch.close();
    await task.close();
  });

  it.each(eventFiles())("scans the same images as batch-scan for %s", async (file) => {
    const withBatch = previewsOf(await batch.invoke(loadEvent(file)).catch((error) => error));
    const withTask = previewsOf(await task.invoke(loadEvent(file)).catch((error) => error));

    expect(withTask.flatMap(scannedBy).sort()).toEqual(withBatch.flatMap(scannedBy).sort());
    for (const preview of withTask) {
      expect(preview.url).toMatch(
        /\/v5\/[^/]+\/image\/image-scan\/tasks\?global_image_type=registry&enterprise_project_id=all_granted_eps$/,
      );
      expect(preview.body.scan_scope).toBe(0x000f0f00);
    }
    expect(batch.emulator.received).toHaveLength(0);
    expect(task.emulator.received).toHaveLength(0);
  });
});

describe("scan-task against the emulator", () => {
  const INSTANCE = "inst-task";
  const HOST = "swr-ee-prod.cn-north-4.myhuaweicloud.com";
  const push = (tag: string) =>
    tagsPush([tag], { repository: "team/api", host: HOST, instanceId: INSTANCE });

  it("looks images up first, names them as HSS does, and syncs the one it does not list", async () => {
    const harness = await startHarness(
      {
        SCAN_QUEUE: "memory",
        HSS_SCAN_API: "scan-task",
        HSS_CALLS_PER_MINUTE: "4",
        HSS_RATE_WINDOW_SECONDS: "3",
        FOLLOW_UP_INTERVAL_SECONDS: "1",
      },
      {
        rateLimited: true,
        emulator: {
          rateLimit: { calls: 5, windowMs: 3000 },
          timings: { syncMs: 300, scanStartMs: 100, scanMs: 500 },
        },
      },
    );
    try {
      const image = (tag: string, synced: boolean) => ({
        image_type: "instance_image" as const,
        namespace: "team",
        image_name: "api",
        image_version: tag,
        instance_id: INSTANCE,
        host: HOST,
        synced,
      });
      harness.emulator.push(image("known", true), image("fresh", false));

      await harness.http(push("known"));
      await harness.http(push("fresh"));
      const finished = () => harness.logged("scan_finished").length;
      await flushUntil([harness], () => finished() >= 2, 15_000);

      const tasks = harness.emulator.acceptedScanTasks() as Array<{
        scan_scope: number;
        image_info: Array<Record<string, unknown>>;
      }>;
      // The known image went out in the first task, named by HSS's own id and instance URL.
      expect(tasks[0]?.scan_scope).toBe(0x000f0000);
      expect(tasks[0]?.image_info).toEqual([
        expect.objectContaining({
          image_id: expect.stringMatching(/^img-/),
          id: expect.any(Number),
          registry_type: "SwrEnterprise",
          registry_id: `ee-${INSTANCE}`,
          namespace: "team",
          image_name: "api",
          image_version: "known",
          instance_id: INSTANCE,
          instance_url: `${HOST}/team/api:known`,
        }),
      ]);
      // The fresh one waited for a sync, then went out in a task of its own.
      expect(tasks.flatMap((t) => t.image_info.map((i) => i.image_version))).toEqual([
        "known",
        "fresh",
      ]);
      expect(harness.emulator.syncRequests()).toHaveLength(1);
      expect(harness.emulator.acceptedBatches()).toHaveLength(0);
      expect(finished()).toBe(2);
      expect(harness.emulator.throttledCount()).toBe(0);
    } finally {
      await harness.close();
    }
  });

  it("dead-letters an image HSS lists without what a task needs to name it, and sends nothing for it", async () => {
    const harness = await startHarness(
      { SCAN_QUEUE: "memory", HSS_SCAN_API: "scan-task", FOLLOW_UP: "false" },
      { emulator: { rateLimit: false } },
    );
    try {
      // HSS's answer to the lookup: the image, with no id, digest or registry (all optional).
      harness.emulator.failNext({
        kind: "answer",
        status: 200,
        body: {
          total_num: 1,
          data_list: [
            { namespace: "team", image_name: "api", image_version: "thin", instance_id: INSTANCE },
          ],
        },
      });

      const answer = await harness.http(push("thin"));

      expect(answer.statusCode).toBe(202);
      expect(harness.logged("dead_lettered")).toEqual([
        expect.objectContaining({
          image: "team/api:thin",
          error_code: "HSS_RECORD_INCOMPLETE",
          error_msg: expect.stringMatching(/without id, image_digest, registry_id, registry_name/),
        }),
      ]);
      expect(harness.emulator.acceptedScanTasks()).toHaveLength(0);
    } finally {
      await harness.close();
    }
  });

  it("is refused in direct mode, where nothing could wait for a sync", async () => {
    const harness = await startHarness({ HSS_SCAN_API: "scan-task" });
    try {
      const answer = await harness.http(push("v1"));
      expect(answer.statusCode).toBe(500);
      expect(harness.logs.join("\n")).toContain("HSS_SCAN_API: scan-task needs a scan queue");
    } finally {
      await harness.close();
    }
  });
});
