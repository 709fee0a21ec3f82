import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SignedCaller, SignedRequest } from "../../../src/cloud/request";
import { createSignedClient, type SignedCallError } from "../../../src/cloud/signed-client";
import {
  EMULATOR_KEY,
  type HssEmulator,
  startHssEmulator,
} from "../../../src/emulator/hss-emulator";

/**
 * The emulator answers in the shapes of HSS's SDK models and refuses what their request models
 * say is out of range, so that the project's tests hold it to both.
 */

let emulator: HssEmulator;
let caller: SignedCaller;
beforeAll(async () => {
  emulator = await startHssEmulator({ rateLimit: false });
  caller = createSignedClient({
    endpoint: emulator.url,
    projectId: emulator.projectId,
    credentials: { ...EMULATOR_KEY, securityToken: undefined },
  });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

const PATHS = {
  images: "/v5/{project_id}/image/registries/images",
  registries: "/v5/{project_id}/image/registries",
  vulnerabilities: "/v5/{project_id}/image/{image_id}/vulnerabilities",
  tasks: "/v5/{project_id}/image/tasks",
  scanTask: "/v5/{project_id}/image/image-scan/tasks",
} as const;

/** The answer's body, or the error code and message HSS refused it with. */
async function ask(
  path: keyof typeof PATHS,
  query: Record<string, string>,
  body?: unknown,
  pathParams?: Record<string, string>,
) {
  const request: SignedRequest = {
    method: body === undefined ? "GET" : "POST",
    pathTemplate: PATHS[path],
    pathParams,
    query,
    body,
  };
  return caller.call(request, { timeoutMs: 2000 }).then(
    (answer) => ({ ok: true as const, body: answer.body as Record<string, unknown> }),
    (error: SignedCallError) => ({
      ok: false as const,
      code: error.errorCode,
      message: error.message,
    }),
  );
}

const enterprise = (tag: string, namespace = "team") => ({
  image_type: "instance_image" as const,
  namespace,
  image_name: "api",
  image_version: tag,
  instance_id: "inst-1",
  host: "swr-ee.example.com",
  synced: true,
});

describe("the emulator's answers, as HSS's models shape them", () => {
  it("lists a registry by `id` (RegistryInfo), with no registry_id or instance_id", async () => {
    emulator.push(enterprise("1"));
    const answer = await ask("registries", { registry_type: "SwrEnterprise" });
    expect(answer.ok && answer.body.data_list).toEqual([
      {
        id: "ee-inst-1",
        registry_name: "swr-ee-inst-1",
        registry_type: "SwrEnterprise",
        registry_addr: "swr-ee.example.com",
        status: "success",
        images_num: 1,
      },
    ]);
  });

  it("lists tasks without fields the model does not have (no create_time)", async () => {
    emulator.push(enterprise("1"));
    const images = await ask("images", {});
    const item = (images.ok ? (images.body.data_list as Array<Record<string, unknown>>) : [])[0];
    expect(item).toBeDefined();
    await ask("scanTask", {}, { scan_scope: 0, image_info: [taskImageOf(item ?? {})] });
    const tasks = await ask("tasks", { type: "image_scan" });
    const [task] = tasks.ok ? (tasks.body.data_list as Array<Record<string, unknown>>) : [];
    expect(task).toMatchObject({ task_id: expect.any(String), begin_time: expect.any(Number) });
    expect(task).not.toHaveProperty("create_time");
  });

  it("gives each list's default page of 10 when no limit is sent", async () => {
    emulator.push(...Array.from({ length: 12 }, (_, i) => enterprise(String(i))));
    const images = await ask("images", {});
    expect(images.ok && (images.body.data_list as unknown[]).length).toBe(10);
    expect(images.ok && images.body.total_num).toBe(12);
  });
});

describe("the emulator refuses what HSS refuses", () => {
  it.each([
    ["images", { limit: "0" }, /limit must be 1–200/],
    ["images", { limit: "201" }, /limit must be 1–200/],
    ["images", { offset: "2000001" }, /offset must be 0–2000000/],
    ["images", { scan_status: "download_failed" }, /scan_status must be one of/],
    ["images", { sort_key: "latest_sync_time" }, /sort_key/],
    ["images", { start_latest_scan_time: "20", end_latest_scan_time: "10" }, /must be ≤/],
    ["registries", { limit: "5" }, /limit must be 10–200/],
    ["registries", { registry_type: "SwrEnterprise,Docker" }, /registry_type/],
    ["tasks", { type: "image_scan", limit: "5" }, /limit must be 10–200/],
    ["tasks", { limit: "10" }, /type must be/],
  ] as const)("%s %j", async (path, query, message) => {
    const answer = await ask(path, { ...query });
    expect(answer).toMatchObject({
      ok: false,
      code: "HSS.0001",
      message: expect.stringMatching(message),
    });
  });

  it("refuses vulnerabilities below their limit of 10, and without the four names", async () => {
    const names = { image_type: "instance_image", namespace: "team", image_name: "api" };
    const pathParams = { image_id: "img-000001" };
    expect(
      await ask("vulnerabilities", { ...names, tag_name: "1", limit: "5" }, undefined, pathParams),
    ).toMatchObject({ ok: false, message: expect.stringMatching(/limit must be 10–200/) });
    expect(await ask("vulnerabilities", names, undefined, pathParams)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/tag_name is required/),
    });
  });

  it("accepts several registry types, comma-separated, as ListRegistry does", async () => {
    emulator.push(enterprise("1"));
    const answer = await ask("registries", { registry_type: "SwrPrivate,SwrEnterprise" });
    expect(answer.ok && answer.body.total_num).toBe(1);
  });
});

/** A scan task's image as the model says a registry image is named, from HSS's own record. */
function taskImageOf(item: Record<string, unknown>) {
  const fields = [
    "id",
    "image_digest",
    "namespace",
    "image_name",
    "image_version",
    "registry_id",
    "registry_name",
    "registry_type",
    "instance_id",
  ];
  return Object.fromEntries(fields.map((name) => [name, item[name]]));
}

describe("scan tasks, checked as the model describes image_info", () => {
  async function listed() {
    emulator.push(enterprise("1"));
    const answer = await ask("images", {});
    const [item] = answer.ok ? (answer.body.data_list as Array<Record<string, unknown>>) : [];
    if (!item) throw new Error("the image is listed");
    return item;
  }

  it("accepts an image named by every field the model asks for, and scan_scope 0 (none)", async () => {
    const item = await listed();
    const answer = await ask("scanTask", {}, { scan_scope: 0, image_info: [taskImageOf(item)] });
    expect(answer.ok).toBe(true);
    expect(emulator.scansStarted()).toHaveLength(1);
  });

  it("refuses an image named by image_id alone", async () => {
    const item = await listed();
    const answer = await ask("scanTask", {}, { image_info: [{ image_id: item.image_id }] });
    expect(answer).toMatchObject({
      ok: false,
      message: expect.stringMatching(/needs id, image_digest, namespace/),
    });
    expect(emulator.scansStarted()).toHaveLength(0);
  });

  it("refuses an enterprise image without its instance_id, or one that differs from HSS's record", async () => {
    const item = await listed();
    const { instance_id: _, ...withoutInstance } = taskImageOf(item);
    expect(await ask("scanTask", {}, { image_info: [withoutInstance] })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/needs instance_id/),
    });
    expect(
      await ask(
        "scanTask",
        {},
        { image_info: [{ ...taskImageOf(item), image_digest: "sha256:0" }] },
      ),
    ).toMatchObject({ ok: false, message: expect.stringMatching(/differs .*image_digest/) });
  });

  it("refuses a scan_scope outside the bitmask's range", async () => {
    const item = await listed();
    for (const scope of [-1, 0x80000000, 1.5]) {
      expect(
        await ask("scanTask", {}, { scan_scope: scope, image_info: [taskImageOf(item)] }),
      ).toMatchObject({ ok: false, message: expect.stringMatching(/scan_scope/) });
    }
  });
});

describe("sparse answers (sparseAnswers)", () => {
  it("leave fields without a value out or null, and put in items that say nothing of what they are", async () => {
    const sparse = await startHssEmulator({ rateLimit: false, sparseAnswers: true });
    try {
      const client = createSignedClient({
        endpoint: sparse.url,
        projectId: sparse.projectId,
        credentials: { ...EMULATOR_KEY, securityToken: undefined },
      });
      sparse.push(...Array.from({ length: 25 }, (_, i) => enterprise(String(i))));
      sparse.push({ ...enterprise("basic"), image_type: "private_image", instance_id: undefined });
      const answer = await client.call(
        { method: "GET", pathTemplate: PATHS.images, query: { limit: "200" } },
        { timeoutMs: 2000 },
      );
      const body = answer.body as { total_num: number; data_list: Array<Record<string, unknown>> };
      const odd = body.data_list.filter(
        (item) =>
          typeof item.namespace !== "string" ||
          typeof item.image_name !== "string" ||
          typeof item.image_version !== "string" ||
          item.image_version === "",
      );
      // 26 images: an odd item before the 1st and the 21st.
      expect(odd).toHaveLength(2);
      expect(body.total_num).toBe(28);
      const basic = body.data_list.find((item) => item.image_type === "private_image");
      // An SWR basic image has no instance: its instance fields are left out or null.
      for (const field of ["instance_id", "instance_name", "instance_url"]) {
        expect(basic?.[field] ?? null).toBeNull();
      }
      expect(
        body.data_list.some((item) => "severity_level" in item && item.severity_level === null),
      ).toBe(true);
    } finally {
      await sparse.close();
    }
  });
});
