import * as z from "zod/mini";
import type { SignedCaller, SignedRequest } from "../cloud/request";
import { SignedCallError } from "../cloud/signed-client";
import { ScanOnPushError } from "../errors";
import type { Logger } from "../log";
import { configureZod } from "../zod-setup";

// This module builds its schemas as it loads (it loads only where its calls are made).
configureZod();

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
} as const satisfies Record<string, { method: SignedRequest["method"]; path: string }>;
export type AroundScanApi = keyof typeof AROUND_SCAN_APIS;

const count = z.catch(z.optional(z.int()), undefined);
const text = z.catch(z.optional(z.nullable(z.string())), undefined);
const anyInt = z.catch(z.optional(z.nullable(z.number())), undefined);
const flag = z.catch(z.optional(z.nullable(z.boolean())), undefined);

export const SCAN_STATUSES = [
  "unscan",
  "waiting_for_scan",
  "scanning",
  "success",
  "failed",
  "download_failed",
  "image_oversized",
] as const;

/*
 * In HSS's models every field of every answer is optional, and HSS may send `null` for one: each
 * field below is read on its own (a field missing, null or of another type is `undefined` or
 * `null`, never an error), and each item of a list is judged on its own. An item is used when it
 * says what it is about (`identity`); one that does not is skipped and counted, and the rest of
 * its page is used all the same. Unknown fields are kept.
 */

/** One image as ListRegistryImages describes it (HSS's own record, RegistryImagesInfo). */
export const registryImageSchema = z.looseObject({
  id: anyInt,
  image_id: text,
  image_digest: text,
  image_type: text,
  registry_id: text,
  registry_name: text,
  registry_type: text,
  instance_id: text,
  instance_name: text,
  instance_url: text,
  namespace: text,
  image_name: text,
  image_version: text,
  latest_version: flag,
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
/** An image HSS lists, as far as its record says what image it is. */
export type RegistryImage = z.infer<typeof registryImageSchema> & {
  namespace: string;
  image_name: string;
  image_version: string;
};

/** One vulnerability of an image (ListImageVulnerabilities, ImageVulInfo). */
export const vulnerabilitySchema = z.looseObject({
  vul_id: text,
  repair_necessity: text,
  description: text,
  position: text,
  app_name: text,
  app_path: text,
  version: text,
  solution: text,
  url: text,
});
export type Vulnerability = z.infer<typeof vulnerabilitySchema> & { vul_id: string };

/** One registry HSS knows (ListRegistry, RegistryInfo): its id is `id`. */
export const registrySchema = z.looseObject({
  id: z.catch(
    z.optional(z.nullable(z.union([z.string(), z.pipe(z.number(), z.transform(String))]))),
    undefined,
  ),
  registry_name: text,
  registry_type: text,
  registry_addr: text,
  status: text,
  latest_sync_time: anyInt,
});
export type Registry = z.infer<typeof registrySchema> & { id: string };

/** One task (ListImageScanTask, ImageScanTaskInfo). */
export const imageTaskSchema = z.looseObject({
  task_id: text,
  task_type: text,
  task_status: anyInt,
  success_num: anyInt,
  failed_num: anyInt,
  total_num: anyInt,
  failed_images: z.catch(
    z.optional(
      z.nullable(
        z.array(
          z.looseObject({
            image_name: text,
            image_version: text,
            namespace: text,
            failed_reason: text,
          }),
        ),
      ),
    ),
    undefined,
  ),
});
export type ImageTask = z.infer<typeof imageTaskSchema> & { task_id: string };

/** The fields that say what an item is about: without them it is of no use here. */
const IDENTITY = {
  ListRegistryImages: ["namespace", "image_name", "image_version"],
  ListImageVulnerabilities: ["vul_id"],
  ListRegistry: ["id"],
  ListImageScanTask: ["task_id"],
} as const;
type ListApiName = keyof typeof IDENTITY;

/** An item of a page that was not used, and which of its identifying fields it lacked. */
export interface SkippedItem {
  index: number;
  missing: string[];
}

/** One page of a list answer. */
export interface ListPage<T> {
  total_num?: number;
  /** The items that say what they are about, in HSS's order. */
  data_list: T[];
  /** How many items HSS sent on this page, used or not: what the next page's offset counts. */
  received: number;
  /** Items skipped: they do not say what they are about (every answer field is optional). */
  skipped: SkippedItem[];
}

const pageSchema = z.looseObject({
  total_num: count,
  data_list: z.optional(z.nullable(z.array(z.unknown()))),
});

/** A page read item by item: one odd item never costs the others. */
function readPage<T, Identified extends T>(
  api: ListApiName,
  schema: z.ZodMiniType<T>,
  body: unknown,
): ListPage<Identified> {
  const page = parsed(pageSchema, body, api);
  const items = page.data_list ?? [];
  const out: ListPage<Identified> = {
    ...(page.total_num !== undefined ? { total_num: page.total_num } : {}),
    data_list: [],
    received: items.length,
    skipped: [],
  };
  for (const [index, raw] of items.entries()) {
    const item = schema.safeParse(raw);
    if (!item.success) {
      out.skipped.push({ index, missing: ["(not an object)"] });
      continue;
    }
    const fields = item.data as Record<string, unknown>;
    const missing = IDENTITY[api].filter(
      (name) => typeof fields[name] !== "string" || fields[name] === "",
    );
    if (missing.length > 0) out.skipped.push({ index, missing });
    else out.data_list.push(item.data as Identified);
  }
  return out;
}

export const readRegistryImages = (body: unknown) =>
  readPage<z.infer<typeof registryImageSchema>, RegistryImage>(
    "ListRegistryImages",
    registryImageSchema,
    body,
  );
export const readVulnerabilities = (body: unknown) =>
  readPage<z.infer<typeof vulnerabilitySchema>, Vulnerability>(
    "ListImageVulnerabilities",
    vulnerabilitySchema,
    body,
  );
export const readRegistries = (body: unknown) =>
  readPage<z.infer<typeof registrySchema>, Registry>("ListRegistry", registrySchema, body);
export const readImageTasks = (body: unknown) =>
  readPage<z.infer<typeof imageTaskSchema>, ImageTask>("ListImageScanTask", imageTaskSchema, body);

/**
 * RunImageSynchronize's answer (RunImageSynchronizeResponse): HTTP 200 may still carry a failure,
 * `error_code` 0 meaning success and anything else failure, with `error_description`.
 */
const synchronizeAnswerSchema = z.looseObject({
  error_code: anyInt,
  error_description: text,
});

export type ListRegistryImagesQuery = {
  image_type?: string;
  namespace?: string;
  image_name?: string;
  image_version?: string;
  instance_id?: string;
  instance_name?: string;
  registry_name?: string;
  scan_status?: string;
  latest_version?: boolean;
  has_vul?: boolean;
  severity_level?: string;
  sort_key?: "latest_scan_time";
  sort_dir?: "asc" | "desc";
  /** Epoch ms: images whose latest scan ended at or after this (till now). */
  start_latest_scan_time?: number;
  /** Epoch ms: images whose latest sync ended at or after this (till now). */
  start_latest_sync_time?: number;
  /** Epoch ms: images whose tag was last updated at or after this (till now). */
  start_latest_update_time?: number;
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
  caller: SignedCaller;
  timeoutMs: number;
  /** Where skipped list items are counted (debug). */
  log?: Pick<Logger, "debug">;
}

/** The typed calls. Each sends exactly one request; the caller takes the budget slot first. */
export function hssApiClient(options: HssApiClientOptions) {
  const { caller, timeoutMs, log } = options;
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
  /** Skipped items are worth a line when debugging, never an error. */
  const counted = <T>(api: string, page: ListPage<T>): ListPage<T> => {
    if (page.skipped.length > 0) {
      const missing: Record<string, number> = {};
      for (const item of page.skipped) {
        for (const name of item.missing) missing[name] = (missing[name] ?? 0) + 1;
      }
      log?.debug("hss_items_skipped", {
        api,
        received: page.received,
        skipped: page.skipped.length,
        missing,
      });
    }
    return page;
  };
  return {
    async listRegistryImages(query: ListRegistryImagesQuery) {
      const answer = await send("list-images", query);
      return counted("ListRegistryImages", readRegistryImages(answer.body));
    },
    async listImageVulnerabilities(imageId: string, query: ListImageVulnerabilitiesQuery) {
      const answer = await send("list-vulnerabilities", { ...query }, undefined, {
        image_id: imageId,
      });
      return counted("ListImageVulnerabilities", readVulnerabilities(answer.body));
    },
    async listRegistry(query: ListRegistryQuery) {
      const answer = await send("list-registries", { ...query });
      return counted("ListRegistry", readRegistries(answer.body));
    },
    async createImageSynchronizeTask(body: CreateImageSynchronizeTaskBody) {
      return { requestId: (await send("sync-task", {}, body)).requestId };
    },
    /** Throws SignedCallError when HSS answers 200 with a non-zero `error_code`. */
    async runImageSynchronize(body: { image_type: string }) {
      const answer = await send("sync-images", {}, body);
      const result = synchronizeAnswerSchema.safeParse(answer.body ?? {});
      const code = result.success ? result.data.error_code : undefined;
      if (typeof code === "number" && code !== 0) {
        const description = (result.success && result.data.error_description) || "no description";
        throw new SignedCallError(
          `HSS answered RunImageSynchronize with error_code ${code}: ${description}`,
          200,
          `SYNC_ERROR_${code}`,
          answer.requestId,
        );
      }
      return { requestId: answer.requestId };
    },
    async listImageScanTask(query: {
      type: "image_scan" | "image_sync";
      task_type?: string;
      task_status?: string;
      offset?: number;
      limit?: number;
    }) {
      const answer = await send("list-tasks", { ...query });
      return counted("ListImageScanTask", readImageTasks(answer.body));
    },
  };
}
export type HssApiClient = ReturnType<typeof hssApiClient>;
