import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import picomatch from "picomatch";
import { type ScanBatch, scanBatchSchema } from "../hss/batch-scan-request";
import { type ImageType, imageTypeSchema, type ScanTarget } from "../images/scan-target";
import {
  DEFAULT_TIMINGS,
  DEFAULT_UNKNOWNS,
  EmulatedRegistry,
  type HssUnknowns,
  type PushedImageInfo,
  publishedVulnerability,
  type RegistryTimings,
  registryIdOf,
} from "./emulated-registry";
import {
  type Listed,
  listImages,
  listRegistries,
  listTasks,
  listVulnerabilities,
} from "./hss-lists";
import { flattenHeaders, parseJson, readBody, SENSITIVE_HEADERS, serveOnLoopback } from "./http";
import { type SigningKey, verifySignature } from "./signature";

/**
 * A local stand-in for HSS over real HTTP on loopback: batch-scan, its successor
 * (CreateManualImageScanTask), the image list, vulnerability, registry and task APIs, and the
 * sync APIs. It checks each request the way the service would (AK/SK signature, project, body
 * shape and limits), answers like HSS (200 with an empty body or a JSON list and an X-Request-Id
 * header, or an error body with a code), keeps HSS's rate limit per API, records what it
 * accepted, and can be told to fail in the ways the real service and network fail. What HSS knows
 * about images (sync, scan lifecycle, findings) is modelled in emulated-registry.ts.
 */

export const EMULATOR_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
export const EMULATOR_KEY: SigningKey = {
  ak: "LOCALEMULATORAK0000000",
  sk: "local-emulator-secret-key-not-a-real-one-00000",
};

/** A failure to play instead of a normal answer. */
export type EmulatorFault =
  /** Answer this request normally (to place a fault after it). */
  | { kind: "pass" }
  | { kind: "http"; status: number; errorCode: string; errorMsg?: string }
  /** Destroy the connection without answering (connection reset). */
  | { kind: "reset" }
  /** Never answer; the client's timeout has to end the request. */
  | { kind: "hang" }
  /** Answer normally, but only after this many milliseconds. */
  | { kind: "delay"; ms: number }
  /** Answer with this status and JSON body (RunImageSynchronize's 200 with an `error_code`). */
  | { kind: "answer"; status: number; body: unknown };

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Headers as received, except Authorization and X-Security-Token. */
  headers: Record<string, string>;
  body: unknown;
  /** Which access key signed the request, or why the signature was refused. */
  signature: { valid: true; ak: string } | { valid: false; reason: string };
  /** What the emulator answered. */
  status: number | "reset" | "hang";
  requestId: string;
}

/** HSS's documented limit: 5 calls of one API per user, and per source IP, in a rolling minute. */
export const HSS_RATE_LIMIT = { calls: 5, windowMs: 60_000 };

export interface HssEmulatorOptions {
  port?: number;
  /**
   * The API gateway's rate limit, on by default as HSS documents it: beyond it a call is answered
   * 429 APIGW.0308 and not counted. `false` turns it off (tests about other things).
   */
  rateLimit?: { calls: number; windowMs: number } | false;
  /**
   * Images HSS refuses: a batch holding one is answered 400 HSS.0001 naming it, as HSS refuses
   * a request with an invalid image as a whole.
   */
  rejectImage?: (image: ScanTarget) => boolean;
  projectId?: string;
  keys?: readonly SigningKey[];
  /** Called after each request with what was received and answered. */
  onRequest?: (request: ReceivedRequest) => void;
  /**
   * How many received requests and accepted batches it keeps (the oldest are dropped), so that a
   * long-running `npm start` does not grow without bound.
   */
  historyLimit?: number;
  /** Sync and scan delays (emulated-registry.ts); the defaults take a few seconds. */
  timings?: Partial<RegistryTimings>;
  /**
   * What HSS's pages leave undefined (emulated-registry.ts, HssUnknowns): whether a sync stamps
   * every image or only new ones, and where never-scanned images sort. Default: every image, last.
   */
  unknowns?: Partial<HssUnknowns>;
  /**
   * Treat every image named in a scan request or an exact image lookup as pushed to its registry
   * at that moment (`npm start`, the `scan` command: the registry is not there to say so). Off by
   * default: tests push images explicitly with `push()`.
   */
  openRegistry?: boolean;
  /**
   * Answer lists as thinly as HSS's models allow (hss-lists.ts): fields without a value left out
   * or null, and one item in every 21 that does not say what it is about. For tests of a client
   * that must read every item on its own.
   */
  sparseAnswers?: boolean;
  /**
   * APIs the caller may not call (its IAM policy lacks them): answered 400 HSS.0013, "insufficient
   * permissions", as HSS does.
   */
  deniedApis?: readonly string[];
  /**
   * How this HSS records an enterprise image's `instance_url` (emulated-registry.ts,
   * DEFAULT_INSTANCE_URL_FORM): a template of `{host}`, `{namespace}`, `{image}`, `{tag}`.
   */
  instanceUrlForm?: string;
  /**
   * What a scan request whose `instance_url` differs from that record gets: `lenient` (default)
   * scans all the same; `ignore` answers 200 and starts nothing for that image; `strict` refuses
   * the request with 400 HSS.0001 naming the image, as a careful HSS might.
   */
  instanceUrlCheck?: InstanceUrlCheck;
  /** APIs HSS no longer serves (`batch-scan`): answered 404 APIGW.0101, as for any unknown API. */
  retiredApis?: readonly string[];
}

export type InstanceUrlCheck = "lenient" | "ignore" | "strict";

export interface HssEmulator {
  /** Base URL to use as HSS_ENDPOINT. */
  url: string;
  projectId: string;
  keys: readonly SigningKey[];
  /** Every request received, in order. */
  received: ReceivedRequest[];
  /** The batches HSS accepted (answered 200), in order. */
  acceptedBatches(): ScanBatch[];
  /** The CreateManualImageScanTask bodies accepted, in order. */
  acceptedScanTasks(): unknown[];
  /** Sync requests accepted (CreateImageSynchronizeTask and RunImageSynchronize bodies). */
  syncRequests(): unknown[];
  /** Scans that started on an image HSS knew, in order (a request for an unknown image starts none). */
  scansStarted(): Array<{ image_type: ImageType; target: ScanTarget; at: number }>;
  /** The image was pushed to its registry (HSS learns of it at the next sync). */
  push(...images: PushedImageInfo[]): void;
  /** Calls answered with 2xx, by API (`batch-scan`, `list-images`, …). */
  callsByApi(): Record<string, number>;
  /** Messages published to SMN topics (the SMN publish API, served here too). */
  notifications(): Array<{ topic: string; subject?: string; message?: string }>;
  /** How many calls the rate limit answered with 429. */
  throttledCount(): number;
  /** The largest number of requests that were being handled at the same time. */
  maxInFlight(): number;
  /** Queue faults to play, one per incoming request, before normal answers resume. */
  failNext(...faults: EmulatorFault[]): void;
  /** HSS stops serving an API from now on (404 APIGW.0101), as when it retires one. */
  retire(api: string): void;
  /**
   * A vulnerability published now in `pkg`, affecting the images whose `namespace/name:tag`
   * matches one of `images` (globs): their next scan finds it. Also `POST /emulator/publish` with
   * `{"vul_id", "package", "images": [globs], "repair_necessity"}` (loopback, unsigned).
   */
  publish(
    vulId: string,
    pkg: string,
    images: readonly string[],
    necessity?: "immediate_repair" | "delay_repair" | "not_needed_repair",
  ): void;
  reset(): void;
  close(): Promise<void>;
}

/** The configuration that points the function at an emulator, signing with its first key. */
export function emulatorEnvironment(emulator: HssEmulator): Record<string, string> {
  const key = emulator.keys[0] ?? EMULATOR_KEY;
  return {
    HSS_ENDPOINT: emulator.url,
    HSS_REGION: "cn-north-4",
    HSS_PROJECT_ID: emulator.projectId,
    CLOUD_SDK_AK: key.ak,
    CLOUD_SDK_SK: key.sk,
    CLOUD_SDK_SECURITY_TOKEN: key.securityToken ?? "",
  };
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startHssEmulator(options: HssEmulatorOptions = {}): Promise<HssEmulator> {
  const projectId = options.projectId ?? EMULATOR_PROJECT_ID;
  const keys = options.keys ?? [EMULATOR_KEY];
  const received: ReceivedRequest[] = [];
  const accepted: ScanBatch[] = [];
  const faults: EmulatorFault[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let throttled = 0;
  const rateLimit = options.rateLimit === undefined ? HSS_RATE_LIMIT : options.rateLimit;
  /** Per caller (`user:<ak>`, `ip:<address>`) and API: when its counted calls arrived. */
  const callLog = new Map<string, number[]>();
  const overLimit = (callers: string[], api: string): boolean => {
    if (!rateLimit) return false;
    const now = Date.now();
    const recent = callers.map((caller) => {
      const key = `${caller} ${api}`;
      const calls = (callLog.get(key) ?? []).filter((at) => at > now - rateLimit.windowMs);
      callLog.set(key, calls);
      return calls;
    });
    if (recent.some((calls) => calls.length >= rateLimit.calls)) return true;
    for (const calls of recent) calls.push(now);
    return false;
  };
  const registry = new EmulatedRegistry(
    { ...DEFAULT_TIMINGS, ...options.timings },
    Date.now,
    { ...DEFAULT_UNKNOWNS, ...options.unknowns },
    options.instanceUrlForm,
  );
  const retired = new Set(options.retiredApis ?? []);
  const publish: HssEmulator["publish"] = (vulId, pkg, images, necessity) => {
    const matchers = images.map((glob) => picomatch(glob, { dot: true }));
    registry.publish(publishedVulnerability(vulId, pkg, necessity), (image) =>
      matchers.some((matches) => matches(image)),
    );
  };
  const acceptedTasks: unknown[] = [];
  const syncs: unknown[] = [];
  const okCalls: Record<string, number> = {};
  const published: Array<{ topic: string; subject?: string; message?: string }> = [];

  const historyLimit = options.historyLimit ?? 10_000;
  const keep = <T>(list: T[], item: T) => {
    list.push(item);
    if (list.length > historyLimit) list.splice(0, list.length - historyLimit);
  };
  const record = (request: Omit<ReceivedRequest, "requestId">, requestId: string) => {
    const entry = { ...request, requestId };
    keep(received, entry);
    options.onRequest?.(entry);
  };

  const server = createServer(async (req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => {
      inFlight -= 1;
    });
    const requestId = randomUUID().replaceAll("-", "");
    let body: Buffer;
    try {
      ({ body } = await readBody(req, MAX_BODY_BYTES));
    } catch {
      // The client went away mid-body; there is no one to answer.
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? "/", "http://emulator");
    if (req.method === "POST" && url.pathname === "/emulator/publish") {
      const fields = (parseJson(body) ?? {}) as Record<string, unknown>;
      const images = Array.isArray(fields.images) ? fields.images.map(String) : [];
      if (
        typeof fields.vul_id !== "string" ||
        typeof fields.package !== "string" ||
        !images.length
      ) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error_msg: "needs vul_id, package and images (globs)" }));
        return;
      }
      publish(fields.vul_id, fields.package, images, fields.repair_necessity as never);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    const headers = flattenHeaders(req);
    const base = {
      method: req.method ?? "",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(
        Object.entries(headers).filter(([name]) => !SENSITIVE_HEADERS.has(name)),
      ) as Record<string, string>,
      body: parseJson(body),
      signature: verifySignature(
        { method: req.method ?? "", url: req.url ?? "/", headers, body },
        keys,
      ),
    };
    const answer = (status: number, errorCode?: string, errorMsg?: string) => {
      record({ ...base, status }, requestId);
      res.setHeader("X-Request-Id", requestId);
      if (!errorCode) {
        res.writeHead(status).end();
        return;
      }
      res
        .writeHead(status, { "content-type": "application/json" })
        .end(JSON.stringify({ error_code: errorCode, error_msg: errorMsg ?? errorCode }));
    };

    const caller = base.signature.valid ? `user:${base.signature.ak}` : "user:anonymous";
    const matched = matchRoute(req.method ?? "", url.pathname);
    // The gateway counts each API (its path template), not each URL.
    const api = matched?.route.api ?? `${req.method} ${url.pathname.replace(/^\/v5\/[^/]+/, "")}`;
    if (overLimit([caller, `ip:${req.socket.remoteAddress ?? "?"}`], api)) {
      throttled += 1;
      return answer(
        429,
        "APIGW.0308",
        `The throttling threshold has been reached: policy user over ratelimit,limit:${rateLimit ? rateLimit.calls : 0},time:1 minute`,
      );
    }

    const fault = faults.shift();
    if (fault?.kind === "reset") {
      record({ ...base, status: "reset" }, requestId);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "hang") {
      record({ ...base, status: "hang" }, requestId);
      return;
    }
    if (fault?.kind === "http") return answer(fault.status, fault.errorCode, fault.errorMsg);
    if (fault?.kind === "answer") {
      record({ ...base, status: fault.status }, requestId);
      res.setHeader("X-Request-Id", requestId);
      res
        .writeHead(fault.status, { "content-type": "application/json" })
        .end(JSON.stringify(fault.body));
      return;
    }
    if (fault?.kind === "delay") await new Promise((resolve) => setTimeout(resolve, fault.ms));

    if (!matched || retired.has(matched.route.api)) {
      return answer(
        404,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment",
      );
    }
    if (!base.signature.valid) {
      return answer(
        401,
        "APIGW.0301",
        `Incorrect IAM authentication information: ${base.signature.reason}`,
      );
    }
    if (matched.projectId !== projectId || headers["x-project-id"] !== projectId) {
      return answer(403, "HSS.0010", "access denied: unknown project id");
    }
    if (options.deniedApis?.includes(matched.route.api)) {
      return answer(400, "HSS.0013", "insufficient permissions for this operation");
    }
    const invalid = (message: string) => answer(400, "HSS.0001", `invalid parameter: ${message}`);
    const ok = (body?: unknown) => {
      okCalls[matched.route.api] = (okCalls[matched.route.api] ?? 0) + 1;
      if (body === undefined) return answer(200);
      record({ ...base, status: 200 }, requestId);
      res.setHeader("X-Request-Id", requestId);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    const handled = handleApi(matched.route.api, base.query, base.body, matched.params, {
      registry,
      openRegistry: options.openRegistry === true,
      sparse: options.sparseAnswers === true,
      rejectImage: options.rejectImage,
      instanceUrlCheck: options.instanceUrlCheck ?? "lenient",
      accept: (batch) => keep(accepted, batch),
      acceptTask: (task) => keep(acceptedTasks, task),
      acceptSync: (sync) => keep(syncs, sync),
      publish: (message) => keep(published, message),
    });
    if ("invalid" in handled) return invalid(handled.invalid);
    return ok(handled.body);
  });

  const served = await serveOnLoopback(server, options.port);

  return {
    url: served.url,
    projectId,
    keys,
    received,
    acceptedBatches: () => [...accepted],
    acceptedScanTasks: () => [...acceptedTasks],
    syncRequests: () => [...syncs],
    scansStarted: () => [...registry.scansStarted],
    push: (...images) => {
      for (const image of images) registry.push(image);
    },
    callsByApi: () => ({ ...okCalls }),
    notifications: () => [...published],
    maxInFlight: () => maxInFlight,
    throttledCount: () => throttled,
    retire: (api) => {
      retired.add(api);
    },
    publish,
    failNext: (...more) => {
      faults.push(...more);
    },
    reset: () => {
      received.length = 0;
      accepted.length = 0;
      acceptedTasks.length = 0;
      syncs.length = 0;
      published.length = 0;
      registry.reset();
      for (const name of Object.keys(okCalls)) delete okCalls[name];
      faults.length = 0;
      maxInFlight = 0;
      throttled = 0;
      callLog.clear();
    },
    close: served.close,
  };
}

const ROUTES = [
  { api: "batch-scan", method: "POST", pattern: /^\/v5\/([^/]+)\/image\/batch-scan$/ },
  { api: "scan-task", method: "POST", pattern: /^\/v5\/([^/]+)\/image\/image-scan\/tasks$/ },
  { api: "list-images", method: "GET", pattern: /^\/v5\/([^/]+)\/image\/registries\/images$/ },
  { api: "list-registries", method: "GET", pattern: /^\/v5\/([^/]+)\/image\/registries$/ },
  {
    api: "list-vulnerabilities",
    method: "GET",
    pattern: /^\/v5\/([^/]+)\/image\/([^/]+)\/vulnerabilities$/,
  },
  { api: "sync-task", method: "POST", pattern: /^\/v5\/([^/]+)\/image\/image-sync\/tasks$/ },
  { api: "sync-images", method: "POST", pattern: /^\/v5\/([^/]+)\/image\/synchronize$/ },
  { api: "list-tasks", method: "GET", pattern: /^\/v5\/([^/]+)\/image\/tasks$/ },
  {
    api: "smn-publish",
    method: "POST",
    pattern: /^\/v2\/([^/]+)\/notifications\/topics\/([^/]+)\/publish$/,
  },
] as const;
type EmulatedApi = (typeof ROUTES)[number]["api"];

function matchRoute(method: string, path: string) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match && route.method === method) {
      return { route, projectId: match[1], params: match.slice(2).map(decodeURIComponent) };
    }
  }
  return undefined;
}

interface ApiContext {
  registry: EmulatedRegistry;
  openRegistry: boolean;
  sparse: boolean;
  rejectImage?: (image: ScanTarget) => boolean;
  instanceUrlCheck: InstanceUrlCheck;
  accept(batch: ScanBatch): void;
  acceptTask(task: unknown): void;
  acceptSync(sync: unknown): void;
  publish(message: { topic: string; subject?: string; message?: string }): void;
}

type Handled = { body?: unknown } | { invalid: string };

function handleApi(
  api: EmulatedApi,
  query: Record<string, string>,
  body: unknown,
  params: string[],
  context: ApiContext,
): Handled {
  const { registry } = context;
  const fields = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  switch (api) {
    case "batch-scan": {
      const batch = scanBatchSchema().safeParse(body);
      if (!batch.success) {
        const issue = batch.error.issues[0];
        return { invalid: `${issue?.path.join(".")} ${issue?.message}` };
      }
      const list = "image_info_list" in batch.data ? batch.data.image_info_list : [];
      const rejected = context.rejectImage
        ? list.findIndex((image) => context.rejectImage?.(image))
        : -1;
      if (rejected >= 0) return { invalid: `image_info_list[${rejected}] cannot be scanned` };
      const imageType = batch.data.image_type;
      if ("operate_all" in batch.data) {
        context.accept(batch.data);
        for (const record of registry.known()) {
          if (record.info.image_type === imageType) registry.scan(record);
        }
        return {};
      }
      const records = list.map((target) => {
        const info = { image_type: imageType, ...target };
        if (context.openRegistry && !registry.has(info)) {
          // The registry it was pushed to: the host of its pull reference.
          const host = target.instance_url?.replace(/^[a-z]+:\/\//i, "").split("/")[0];
          registry.push({ ...info, ...(host && /[.:]/.test(host) ? { host } : {}) });
        }
        // An image HSS has not synced: answered 200 all the same, and nothing happens.
        return registry.find(info);
      });
      const differs = (index: number) => {
        const record = records[index];
        const recorded = record && registry.instanceUrlOf(record);
        return recorded !== undefined && list[index]?.instance_url !== recorded;
      };
      const wrongUrl = list.findIndex((_, index) => differs(index));
      if (wrongUrl >= 0 && context.instanceUrlCheck === "strict") {
        return {
          invalid: `image_info_list[${wrongUrl}].instance_url does not match the image's instance`,
        };
      }
      context.accept(batch.data);
      for (const [index, record] of records.entries()) {
        if (!record || (context.instanceUrlCheck === "ignore" && differs(index))) continue;
        registry.scan(record);
      }
      return {};
    }
    case "scan-task": {
      const task = scanTaskOf(fields, registry, context.instanceUrlCheck);
      if ("invalid" in task) return task;
      context.acceptTask(body);
      for (const record of task.records) registry.scan(record);
      registry.recordTask("image_scan", task.records);
      return {};
    }
    case "list-images": {
      if (context.openRegistry) pushLookedUp(registry, query);
      return answerOf(listImages(registry, query, context.sparse));
    }
    case "list-vulnerabilities":
      return answerOf(listVulnerabilities(registry, params[0], query, context.sparse));
    case "list-registries":
      return answerOf(listRegistries(registry, query, context.sparse));
    case "sync-task": {
      if (typeof fields.sync_all_registries !== "boolean") {
        return { invalid: "sync_all_registries is required" };
      }
      const info = fields.registry_info;
      if (!fields.sync_all_registries && (!Array.isArray(info) || info.length === 0)) {
        return { invalid: "registry_info must list registries when sync_all_registries is false" };
      }
      context.acceptSync(body);
      registry.recordTask("image_sync", []);
      registry.sync(
        fields.sync_all_registries
          ? {}
          : {
              registries: (info as Array<Record<string, unknown>>).map((entry) =>
                String(entry.registry_id),
              ),
            },
      );
      return {};
    }
    case "sync-images": {
      const type = fields.image_type;
      if (type !== "private_image" && type !== "shared_image") {
        return { invalid: "image_type must be private_image or shared_image" };
      }
      context.acceptSync(body);
      registry.recordTask("image_sync", []);
      registry.sync({ imageType: type });
      return {};
    }
    case "smn-publish": {
      if (typeof fields.message !== "string" || fields.message.length === 0) {
        return { invalid: "message is required" };
      }
      // SMN's publish: a subject of at most 512 bytes, a message of at most 256 KB.
      if (typeof fields.subject === "string" && Buffer.byteLength(fields.subject) > 512) {
        return { invalid: "subject is longer than 512 bytes" };
      }
      if (Buffer.byteLength(fields.message) > 256 * 1024) {
        return { invalid: "message is longer than 256 KB" };
      }
      context.publish({
        topic: params[0] ?? "",
        subject: typeof fields.subject === "string" ? fields.subject : undefined,
        message: fields.message,
      });
      return { body: { request_id: "emulated", message_id: "emulated" } };
    }
    case "list-tasks":
      return answerOf(listTasks(registry, query, context.sparse));
  }
}

const answerOf = (listed: Listed): Handled =>
  "invalid" in listed ? listed : { body: listed.body };

/**
 * `npm start` and `scan` have no registry to ask: an exact lookup (type, namespace, name and tag)
 * of an image nobody pushed makes it pushed now.
 */
function pushLookedUp(registry: EmulatedRegistry, query: Record<string, string>): void {
  if (!query.image_type || !query.namespace || !query.image_name || !query.image_version) return;
  const parsed = imageTypeSchema().safeParse(query.image_type);
  if (!parsed.success) return;
  const info = {
    image_type: parsed.data,
    namespace: query.namespace,
    image_name: query.image_name,
    image_version: query.image_version,
    ...(query.instance_id ? { instance_id: query.instance_id } : {}),
  };
  if (!registry.has(info)) registry.push(info);
}

/** 0 ("none") to 0x7fffffff ("all"): the scan risk types' bitmask. */
const MAX_SCAN_SCOPE = 0x7fffffff;
/**
 * What identifies a registry image in a scan task (CreateManualImageScanTaskReqInfo's image_info):
 * "for a registry image: id, image_digest, namespace, image_name, image_version, registry_id,
 * registry_name, registry_type; for an enterprise image, instance_id too".
 */
const TASK_IMAGE_FIELDS = [
  "id",
  "image_digest",
  "namespace",
  "image_name",
  "image_version",
  "registry_id",
  "registry_name",
  "registry_type",
] as const;

type ScanTaskCheck = { records: ReturnType<EmulatedRegistry["known"]> } | { invalid: string };

/** CreateManualImageScanTask's body, checked as HSS's model describes it. */
function scanTaskOf(
  fields: Record<string, unknown>,
  registry: EmulatedRegistry,
  urlCheck: InstanceUrlCheck,
): ScanTaskCheck {
  const scope = fields.scan_scope;
  if (
    scope !== undefined &&
    (!Number.isInteger(scope) || (scope as number) < 0 || (scope as number) > MAX_SCAN_SCOPE)
  ) {
    return { invalid: "scan_scope must be a bitmask 0–0x7fffffff" };
  }
  const limit = fields.rate_limit;
  if (
    limit !== undefined &&
    (!Number.isInteger(limit) || (limit as number) < 0 || (limit as number) > 1000)
  ) {
    return { invalid: "rate_limit must be 0–1000" };
  }
  if (fields.is_all === true) return { records: registry.known() };
  const images = fields.image_info;
  if (!Array.isArray(images) || images.length === 0) {
    return { invalid: "image_info must list images, or is_all be true" };
  }
  const records = [];
  for (const [index, image] of images.entries()) {
    const record = taskImageRecord(image, registry, urlCheck);
    if (typeof record === "string") return { invalid: `image_info[${index}]: ${record}` };
    records.push(record);
  }
  return { records };
}

/** The image a scan task names, or why HSS would refuse it. */
function taskImageRecord(image: unknown, registry: EmulatedRegistry, urlCheck: InstanceUrlCheck) {
  const entry = (typeof image === "object" && image !== null ? image : {}) as Record<
    string,
    unknown
  >;
  const required: string[] = [...TASK_IMAGE_FIELDS];
  if (entry.registry_type === "SwrEnterprise") required.push("instance_id");
  const missing = required.filter(
    (name) => entry[name] === undefined || entry[name] === null || entry[name] === "",
  );
  if (missing.length > 0) return `a registry image needs ${missing.join(", ")}`;
  if (!Number.isInteger(entry.id)) return "id must be an integer";
  // The models do not say how HSS treats fields that disagree with its record of that id; the
  // stricter reading: refused.
  const record = registry.findById(entry.id as number);
  if (!record) return `no such image (id ${String(entry.id)})`;
  const view = registry.view(record);
  const differing = (
    [
      "image_digest",
      "namespace",
      "image_name",
      "image_version",
      "registry_id",
      "registry_type",
    ] as const
  ).filter((name) => entry[name] !== view[name]);
  if (entry.instance_id !== undefined && entry.instance_id !== view.instance_id) {
    differing.push("instance_id" as never);
  }
  if (
    urlCheck === "strict" &&
    entry.instance_url !== undefined &&
    entry.instance_url !== view.instance_url
  ) {
    differing.push("instance_url" as never);
  }
  if (differing.length > 0)
    return `differs from HSS's record of id ${view.id}: ${differing.join(", ")}`;
  return record;
}

export { registryIdOf };
