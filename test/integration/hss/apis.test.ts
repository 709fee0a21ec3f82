import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { SignedCaller } from "../../../src/cloud/request";
import { SignedCallError } from "../../../src/cloud/signed-client";
import {
  EMULATOR_KEY,
  type HssEmulator,
  type HssEmulatorOptions,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";
import { lookUp } from "../../../src/follow-up/lookup";
import { hssApiClient } from "../../../src/hss/apis";
import { MemoryCallBudget } from "../../../src/hss/call-budget";
import { type ListedImageIds, SCAN_APIS } from "../../../src/scan-apis";
import { standInCaller } from "../../support/callers";

let emulator: HssEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function clientFor(options: HssEmulatorOptions = { rateLimit: false }) {
  emulator = await startHssEmulator(options);
  const caller = standInCaller(emulator, {
    region: "cn-north-4",
    enterpriseProjectId: "all_granted_eps",
  });
  return { emulator, caller, hss: hssApiClient({ caller, timeoutMs: 2000 }) };
}

/** A scan task for one image of team/api, named by HSS's record as the lookup gives it. */
function createScanTask(
  caller: SignedCaller,
  tag: string,
  ids: ListedImageIds,
  settings = { scope: 0x000f0000, rateLimit: 0 },
) {
  const request = SCAN_APIS["scan-task"].request(
    {
      image_type: "instance_image",
      image_info_list: [{ namespace: "team", image_name: "api", image_version: tag }],
    },
    settings,
    () => ids,
  );
  return caller.call(request, { timeoutMs: 2000 });
}

const image = (tag: string, name = "api") => ({
  image_type: "instance_image" as const,
  namespace: "team",
  image_name: name,
  image_version: tag,
  instance_id: "inst-1",
  host: "swr-ee.example.com",
  synced: true,
});

describe("the HSS calls around the scan", () => {
  it("sends signed GETs with their filters and reads HSS's list, every field as named", async () => {
    const { emulator, hss } = await clientFor();
    emulator.push(image("1.0"), image("2.0"));

    const listed = await hss.listRegistryImages({
      image_type: "instance_image",
      namespace: "team",
      image_name: "api",
      image_version: "2.0",
      limit: 10,
    });

    expect(listed.total_num).toBe(1);
    expect(listed.data_list[0]).toMatchObject({
      image_id: expect.stringMatching(/^img-/),
      registry_type: "SwrEnterprise",
      instance_id: "inst-1",
      instance_url: "swr-ee.example.com/team/api:2.0",
      namespace: "team",
      image_name: "api",
      image_version: "2.0",
      scan_status: "unscan",
    });
    const [request] = emulator.received;
    expect(request?.signature).toEqual({ valid: true, ak: EMULATOR_KEY.ak });
    expect(request?.query).toMatchObject({
      enterprise_project_id: "all_granted_eps",
      image_version: "2.0",
    });
    // As HSS's own SDK sends it: the region header on POST calls only.
    expect(request?.headers.region).toBeUndefined();
  });

  it("keeps fields HSS adds later, and refuses a list that is not one", async () => {
    const server = createServer((_, response) => {
      response.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          total_num: 1,
          data_list: [
            {
              namespace: "team",
              image_name: "api",
              image_version: "1",
              scan_status: "success",
              severity_level: "High",
              new_field_from_2027: { nested: true },
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const caller = standInCaller({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        projectId: "p",
      });
      const hss = hssApiClient({ caller, timeoutMs: 1000 });
      const listed = await hss.listRegistryImages({ namespace: "team" });
      expect(listed.data_list[0]).toMatchObject({
        severity_level: "High",
        new_field_from_2027: { nested: true },
      });
    } finally {
      server.close();
    }
  });

  it("turns HSS's parameter errors into SignedCallError with its code", async () => {
    const { hss } = await clientFor();
    const error = await hss
      .listImageVulnerabilities("img-000001", {
        image_type: "instance_image",
        namespace: "team",
        image_name: "api",
        tag_name: "1",
        limit: 5,
      })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(SignedCallError);
    expect(error).toMatchObject({ httpStatus: 400, errorCode: "HSS.0001" });
  });

  it("creates sync and scan tasks with the bodies the reference names", async () => {
    const { emulator, hss, caller } = await clientFor();
    emulator.push(image("1.0"));
    const [listed] = (await hss.listRegistryImages({ namespace: "team", limit: 10 })).data_list;
    await hss.createImageSynchronizeTask({
      sync_all_registries: false,
      registry_info: [{ registry_id: "ee-inst-1", registry_type: "SwrEnterprise" }],
    });
    await hss.runImageSynchronize({ image_type: "private_image" });
    await createScanTask(caller, "1.0", listed ?? {});
    const registries = await hss.listRegistry({ registry_type: "SwrEnterprise" });
    const tasks = await hss.listImageScanTask({ type: "image_scan", limit: 10 });

    expect(emulator.syncRequests()).toHaveLength(2);
    expect(emulator.scansStarted().map((scan) => scan.target.image_version)).toEqual(["1.0"]);
    expect(registries.data_list).toEqual([
      expect.objectContaining({ id: "ee-inst-1", registry_addr: "swr-ee.example.com" }),
    ]);
    expect(tasks.data_list).toEqual([
      expect.objectContaining({ task_id: "task-3", total_num: 1, task_status: expect.any(Number) }),
    ]);
    expect((await hss.listImageScanTask({ type: "image_sync", limit: 10 })).total_num).toBe(2);
    const scanTask = emulator.received.find((request) =>
      request.path.endsWith("/image-scan/tasks"),
    );
    expect(scanTask?.query.global_image_type).toBe("registry");
    expect(scanTask?.headers.region).toBe("cn-north-4");
  });

  it("refuses a scan task for an image HSS does not know", async () => {
    const { caller } = await clientFor();
    const error = await createScanTask(caller, "1", {
      id: 999_999,
      image_digest: "sha256:0",
      registry_id: "ee-inst-1",
      registry_name: "swr-ee-inst-1",
      registry_type: "SwrEnterprise",
      instance_id: "inst-1",
    }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ httpStatus: 400, errorCode: "HSS.0001" });
    expect((error as Error).message).toMatch(/no such image/);
  });
});

describe("looking images up", () => {
  it("covers 250 images of one namespace with two list calls, and says which HSS does not list", async () => {
    const { emulator, hss } = await clientFor();
    const tags = Array.from({ length: 250 }, (_, i) => `t${i}`);
    emulator.push(...tags.map((tag) => image(tag)));
    const refs = [...tags, "missing"].map((tag) => ({
      image_type: "instance_image" as const,
      target: { namespace: "team", image_name: "api", image_version: tag, instance_id: "inst-1" },
    }));

    const result = await lookUp(refs, {
      hss,
      budget: new MemoryCallBudget(4),
      deadline: Date.now() + 10_000,
    });

    expect(result.calls).toBe(2);
    expect([...result.found.values()].filter((item) => item !== null)).toHaveLength(250);
    expect([...result.found.values()].filter((item) => item === null)).toHaveLength(1);
    expect(emulator.received.map((request) => request.query.offset)).toEqual(["0", "200"]);
  });

  it("stops at the budget: what was not looked at is reported as not checked", async () => {
    const { emulator, hss } = await clientFor();
    emulator.push(image("1", "a"));
    const refs = ["inst-1", "inst-2", "inst-3"].map((instance_id) => ({
      image_type: "instance_image" as const,
      target: { namespace: "team", image_name: "a", image_version: "1", instance_id },
    }));
    const result = await lookUp(refs, {
      hss,
      budget: new MemoryCallBudget(2),
      deadline: Date.now() + 10_000,
    });
    expect(result.calls).toBe(2);
    expect(result.stopped).toBe("budget");
    expect(result.found.size).toBe(2);
  });

  it("is counted per API by the emulator's gateway, whatever the URL's image id", async () => {
    const { hss, emulator } = await clientFor({ rateLimit: { calls: 5, windowMs: 60_000 } });
    const ask = (id: string) =>
      hss
        .listImageVulnerabilities(id, {
          image_type: "instance_image",
          namespace: "team",
          image_name: "api",
          tag_name: "1",
          limit: 10,
        })
        .then(
          () => "ok",
          (error: SignedCallError) => error.errorCode,
        );
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await ask(`img-00000${i}`));
    expect(answers).toEqual(["ok", "ok", "ok", "ok", "ok", "APIGW.0308"]);
    // Another API still has its own five.
    expect((await hss.listRegistryImages({ limit: 10 })).total_num).toBe(0);
    expect(emulator.throttledCount()).toBe(1);
  });
});
