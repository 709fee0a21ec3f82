import { ScanOnPushError } from "../errors";
import "../zod-setup";
import * as z from "zod/mini";
import type { HssCaller, HssRequest } from "./request";

/**
 * The HSS calls around a scan, typed: what to ask (field names exactly as in HSS's API reference
 * and generated SDK models) and what comes back (parsed with zod; unknown fields are kept, so a
 * field HSS adds later does not break anything). Every call is signed and sent like a scan
 * (client.ts) and counted against its own API's budget by the caller (each HSS API has its own
 * five calls a minute).
 *
 * Loaded only where these calls are made (the flusher's follow-up, the scan-task path, the
 * `scan` command): direct-mode pushes never pay for these schemas at cold start.
 */

/** The calls around a scan, by the name of their call budget: method and path. */
export const AROUND_SCAN_APIS = {
  "list-images": { method: "GET", path: "/v5/{project_id}/image/registries/images" },
  "list-vulnerabilities": {
    method: "GET",
    path: "/v5/{project_id}/image/{image_id}/vulnerabilities",
  },
  "list-registries": { method: "GET", path: "/v5/{project_id}/image/registries" },
  "sync-task": { method: "POST", path: "/v5/{project_id}/image/image-sync/tasks" },
  "sync-images": { method: "POST", path: "/v5/{project_id}/image/synchronize" },
  "list-tasks": { method: "GET", path: "/v5/{project_id}/image/tasks" },
} as const satisfies Record<string, { method: HssRequest["method"]; path: string }>;
export type AroundScanApi = keyof typeof AROUND_SCAN_APIS;

const count = z.catch(z.optional(z.int()), undefined);
const text = z.catch(z.optional(z.nullable(z.string())), undefined);
const anyInt = z.catch(z.optional(z.nullable(z.number())), undefined);

export const SCAN_STATUSES = [
  "unscan",
  "waiting_for_scan",
  "scanning",
  "success",
  "failed",
  "download_failed",
  "image_oversized",
] as const;

/** One image as ListRegistryImages describes it (HSS's own record). */
export const registryImageSchema = z.looseObject({
  id: anyInt,
  image_id: text,
  image_digest: text,
  registry_id: text,
  registry_name: text,
  registry_type: text,
  instance_id: text,
  instance_name: text,
  instance_url: text,
  namespace: z.string(),
  image_name: z.string(),
  image_version: z.string(),
  scan_status: text,
  scan_failed_code: text,
  scan_failed_desc: text,
  vul_num: anyInt,
  unsafe_setting_num: anyInt,
  malicious_file_num: anyInt,
  severity_level: text,
  latest_scan_time: anyInt,
  latest_sync_time: anyInt,
  latest_update_time: anyInt,
});
export type RegistryImage = z.infer<typeof registryImageSchema>;

const listOf = <T extends z.ZodMiniType>(item: T) =>
  z.looseObject({
    total_num: count,
    data_list: z.catch(z.array(item), []),
  });

export const registryImagesSchema = listOf(registryImageSchema);
export type RegistryImages = z.infer<typeof registryImagesSchema>;

/** One vulnerability of an image (ListImageVulnerabilities). */
export const vulnerabilitySchema = z.looseObject({
  vul_id: z.string(),
  repair_necessity: text,
  description: text,
  position: text,
  app_name: text,
  app_path: text,
  version: text,
  solution: text,
  url: text,
});
export type Vulnerability = z.infer<typeof vulnerabilitySchema>;
export const vulnerabilitiesSchema = listOf(vulnerabilitySchema);

/** One registry HSS knows (ListRegistry). */
export const registrySchema = z.looseObject({
  registry_id: z.string(),
  registry_name: text,
  registry_type: text,
  registry_addr: text,
  instance_id: text,
});
export type Registry = z.infer<typeof registrySchema>;
export const registriesSchema = listOf(registrySchema);

/** One task (ListImageScanTask). */
export const imageTaskSchema = z.looseObject({
  task_id: z.optional(z.string()),
  task_status: anyInt,
  success_num: anyInt,
  failed_num: anyInt,
  total_num: anyInt,
  failed_images: z.catch(
    z.optional(
      z.array(
        z.looseObject({
          image_name: text,
          image_version: text,
          namespace: text,
          failed_reason: text,
        }),
      ),
    ),
    undefined,
  ),
});
export const imageTasksSchema = listOf(imageTaskSchema);

export type ListRegistryImagesQuery = {
  image_type?: string;
  namespace?: string;
  image_name?: string;
  image_version?: string;
  instance_id?: string;
  instance_name?: string;
  scan_status?: string;
  latest_version?: boolean;
  has_vul?: boolean;
  severity_level?: string;
  sort_key?: "latest_scan_time";
  sort_dir?: "asc" | "desc";
  offset?: number;
  limit?: number;
};

export interface ListImageVulnerabilitiesQuery {
  image_type: string;
  namespace: string;
  image_name: string;
  tag_name: string;
  instance_id?: string;
  repair_necessity?: string;
  type?: "linux_vul" | "app_vul";
  offset?: number;
  limit?: number;
}

export interface ListRegistryQuery {
  registry_type?: string;
  registry_name?: string;
  registry_addr?: string;
  offset?: number;
  limit?: number;
}

export interface CreateImageSynchronizeTaskBody {
  sync_all_registries: boolean;
  registry_info?: Array<{ registry_id: string; registry_type: string }>;
}

type Query = Record<string, string | number | boolean | undefined>;

function queryOf(query: Query): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) out[name] = String(value);
  }
  return out;
}

/** An answer HSS gave that is not what the reference says it returns. */
export class HssAnswerError extends ScanOnPushError {
  override readonly name = "HssAnswerError";
}

function parsed<T>(schema: z.ZodMiniType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new HssAnswerError(
    `HSS answered ${what} with an unexpected body: ${issue?.path.join(".")} ${issue?.message}`,
  );
}

export interface HssApiClientOptions {
  caller: HssCaller;
  timeoutMs: number;
}

/** The typed calls. Each sends exactly one request; the caller takes the budget slot first. */
export function hssApiClient(options: HssApiClientOptions) {
  const { caller, timeoutMs } = options;
  const send = (
    api: AroundScanApi,
    query: Query,
    body?: unknown,
    pathParams?: Record<string, string>,
  ) =>
    caller.call(
      {
        method: AROUND_SCAN_APIS[api].method,
        pathTemplate: AROUND_SCAN_APIS[api].path,
        pathParams,
        query: queryOf(query),
        body,
      },
      { timeoutMs },
    );
  return {
    async listRegistryImages(query: ListRegistryImagesQuery) {
      const answer = await send("list-images", query);
      return parsed(registryImagesSchema, answer.body, "ListRegistryImages");
    },
    async listImageVulnerabilities(imageId: string, query: ListImageVulnerabilitiesQuery) {
      const answer = await send("list-vulnerabilities", { ...query }, undefined, {
        image_id: imageId,
      });
      return parsed(vulnerabilitiesSchema, answer.body, "ListImageVulnerabilities");
    },
    async listRegistry(query: ListRegistryQuery) {
      const answer = await send("list-registries", { ...query });
      return parsed(registriesSchema, answer.body, "ListRegistry");
    },
    async createImageSynchronizeTask(body: CreateImageSynchronizeTaskBody) {
      return { requestId: (await send("sync-task", {}, body)).requestId };
    },
    async runImageSynchronize(body: { image_type: string }) {
      return { requestId: (await send("sync-images", {}, body)).requestId };
    },
    async listImageScanTask(query: {
      type: "image_scan" | "image_sync";
      task_type?: string;
      task_status?: string;
      offset?: number;
      limit?: number;
    }) {
      const answer = await send("list-tasks", { ...query });
      return parsed(imageTasksSchema, answer.body, "ListImageScanTask");
    },
  };
}
export type HssApiClient = ReturnType<typeof hssApiClient>;
