import type { Credentials } from "./cloud/request";
import { ScanOnPushError } from "./errors";
import { IgnoreFileError, loadIgnoreFile, parseIgnoreFile } from "./images/ignore-file";
import { MAX_IMAGES_PER_BATCH } from "./images/scan-target";
import * as notifyRoutes from "./notify/routes";
import { SCAN_API_NAMES, SCAN_APIS } from "./scan-apis";
import {
  compilePolicy,
  type PolicyDefinition,
  policySchema,
  type ScanPolicy,
  splitPatterns,
} from "./scan-policy";
import {
  anyText,
  bySchema,
  type Field,
  flag,
  integer,
  json,
  objectField,
  oneOf,
  optional,
  type Rule,
  recordField,
  text,
  textField,
  url,
  wholeNumber,
  withDefault,
} from "./variables";

/**
 * The function's configuration, read from environment variables once and validated here.
 * Nothing else in the code reads `process.env`. The variable names are the contract with
 * operators (README, serverless.yml); an error always names the variable, never a secret value.
 */

/** Calls, not images, are scarce (5 a minute): by default one call carries as many as HSS takes. */
export const DEFAULT_BATCH_SIZE = MAX_IMAGES_PER_BATCH;

/**
 * The regions where Huawei's generated SDKs know an HSS endpoint (HssRegion, 2026). A region
 * missing here can still be used by giving HSS_ENDPOINT.
 */
export const HSS_REGIONS = [
  "af-south-1",
  "ae-ad-1",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "ap-southeast-4",
  "cn-east-2",
  "cn-east-3",
  "cn-east-5",
  "cn-north-1",
  "cn-north-2",
  "cn-north-4",
  "cn-north-9",
  "cn-south-1",
  "cn-south-2",
  "cn-south-4",
  "cn-southwest-2",
  "eu-west-101",
  "la-north-2",
  "la-south-2",
  "me-east-1",
  "my-kualalumpur-1",
  "na-mexico-1",
  "ru-moscow-1",
  "sa-brazil-1",
  "tr-west-1",
];

// HSS takes instance ids and URLs of at most 256 characters: a longer configured one fails here.
const instanceText = text({ max: 256 });

const instanceField = textField({ max: 256, trim: true });
const instanceObject = objectField({ id: instanceField, url: instanceField }, ["id"]);

/** One SWR_INSTANCES entry: an instance id, or `{ "id": …, "url": … }`. */
const instanceEntry: Field<{ id: string; url: string | undefined }> = (value, say, at) => {
  if (typeof value === "string") {
    const id = instanceField(value, say, at);
    return id === undefined ? undefined : { id, url: undefined };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return say('must be an instance id, or {"id": "…", "url": "…"}', at);
  }
  const entry = instanceObject(value, say, at);
  return entry && { id: entry.id, url: entry.url };
};

/** A registry host, compared in lower case. */
const hostField: Field<string> = (value, say, at) => {
  const host = String(value).trim().toLowerCase();
  return host === "" ? say("a registry host must not be empty", at) : host;
};

/** SWR_INSTANCES: registry host → instance. */
const instanceMap = recordField(hostField, instanceEntry);
const INSTANCES_EXAMPLE = '{"registry.example.com":"instance-id"}';

/**
 * WEBHOOK_SECRET: one or more comma-separated secrets. Printable ASCII only: an HTTP header value
 * is bytes, which Node and the gateways read as Latin-1 (or drop), so a secret with other
 * characters could never match what a registry sends.
 */
const webhookSecrets: Rule<string[]> = (raw, say) => {
  const secrets = (raw ?? "")
    .split(",")
    .map((secret) => secret.trim())
    .filter((secret) => secret.length > 0);
  if (secrets.some((secret) => secret.length < 16)) {
    say("each secret must be at least 16 characters long");
    return [];
  }
  if (secrets.some((secret) => !/^[\x21-\x7e]+$/.test(secret))) {
    say(
      "must be printable ASCII characters (no spaces, no other letters): an HTTP header carries bytes, and a character outside ASCII reaches the function differently from how it was configured; generate one with `openssl rand -hex 32`",
    );
    return [];
  }
  return secrets;
};

/**
 * SCAN_QUEUE: `none` (direct mode, as when unset), or what a queue backend takes (a word such as
 * `memory`, or a URL such as redis://…): which backend, and whether the value suits it, is the
 * backends' registry's to say (src/queue/backends.ts), when the queue is opened at start. A
 * password in a URL is a secret, whatever the backend.
 */
const scanQueue: Rule<{ url: string; secrets: string[] } | undefined> = (given, say) => {
  const raw = (given ?? "").trim();
  if (raw === "none" || raw === "") return { url: "", secrets: [] };
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url && !/^[a-z][a-z0-9-]*$/.test(raw)) {
    return say(
      "must be none, a queue backend's name, or a queue's URL (docs/configuration.md lists the backends)",
    );
  }
  const password = url?.password ?? "";
  const secrets = url ? [raw, decodeURIComponent(password), password].filter(Boolean) : [];
  return { url: raw, secrets };
};

/**
 * Kept free before the platform's timeout, so that the answer is always written: a setting once; the
 * time to write an answer does not depend on the deployment.
 */
export const DEADLINE_MARGIN_MS = 500;

/**
 * How many accepted pushes an instance remembers at most (direct mode and the in-process queue,
 * oldest forgotten first): about 1–2 MB. A setting once; no deployment needed another value.
 */
const DEDUPE_MAX_IMAGES = 10_000;

const patterns: Rule<string[] | undefined> = (raw, say) => {
  if (raw === undefined) return undefined;
  try {
    return splitPatterns(raw);
  } catch (error) {
    return say((error as Error).message);
  }
};

const POLICY_EXAMPLE = '{"include":{"repositories":["backend/**"]},"exclude":{"tags":["*-dev"]}}';

/** `scan_scope` bits of CreateManualImageScanTask (HSS API reference). */
export const SCAN_SCOPE_BITS = {
  vulnerabilities: 0x000f0000,
  baseline: 0x0000f000,
  malicious: 0x00000f00,
  sensitive: 0x000000f0,
  compliance: 0x0000000f,
  all: 0x7fffffff,
} as const;

/** HSS_SCAN_SCOPE: names joined by commas (`vulnerabilities,malicious`), or the bitmask itself. */
const scanScope: Rule<number | undefined> = (given, say) => {
  const raw = (given ?? "").trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(raw)) {
    const bits = Number(raw);
    if (bits > 0 && bits <= SCAN_SCOPE_BITS.all) return bits;
  } else {
    let bits = 0;
    const names = raw.split(",").map((name) => name.trim().toLowerCase());
    if (names.every((name) => name in SCAN_SCOPE_BITS)) {
      for (const name of names) bits |= SCAN_SCOPE_BITS[name as keyof typeof SCAN_SCOPE_BITS];
      return bits;
    }
  }
  return say(
    `must be names among ${Object.keys(SCAN_SCOPE_BITS).join(", ")} joined by commas, or a bitmask such as 0x000f0000`,
  );
};

/** The SCAN_* variables, one per rule list. */
const POLICY_VARIABLES = {
  SCAN_INCLUDE_NAMESPACES: ["include", "namespaces"],
  SCAN_INCLUDE_REPOSITORIES: ["include", "repositories"],
  SCAN_INCLUDE_TAGS: ["include", "tags"],
  SCAN_EXCLUDE_NAMESPACES: ["exclude", "namespaces"],
  SCAN_EXCLUDE_REPOSITORIES: ["exclude", "repositories"],
  SCAN_EXCLUDE_TAGS: ["exclude", "tags"],
} as const;
type PolicyVariable = keyof typeof POLICY_VARIABLES;

/**
 * Variables whose values are secrets: never echoed back in an error, and deployed as FunctionGraph's
 * encrypted variables (serverless.yml's encryptedEnvironment), never as plain ones.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  "CLOUD_SDK_AK",
  "CLOUD_SDK_SK",
  "CLOUD_SDK_SECURITY_TOKEN",
  "WEBHOOK_SECRET",
  "SCAN_QUEUE",
  "NOTIFY_WEBHOOK_URL",
  "NOTIFY_SMN_TOPIC",
  "NOTIFY_CHANNELS",
]);

/** A secret variable's value as parsed, in the forms it may appear in (each secret of a list). */
function secretValuesOf(value: unknown): string[] {
  if (typeof value === "string") return value ? [value] : [];
  if (Array.isArray(value))
    return value.filter((item): item is string => typeof item === "string" && item !== "");
  const nested = (value as { secrets?: unknown } | undefined)?.secrets;
  if (Array.isArray(nested)) return secretValuesOf(nested);
  // NOTIFY_CHANNELS: each channel's URL, signing secret and topic.
  if (value && typeof value === "object") {
    return Object.values(value as Record<string, unknown>).flatMap((channel) =>
      channel && typeof channel === "object"
        ? (["url", "secret", "topic"] as const).flatMap((field) =>
            secretValuesOf((channel as Record<string, unknown>)[field]),
          )
        : [],
    );
  }
  return [];
}

/** Every variable the function reads, with its rules; serverless.yml and the README list these. */
const environmentShape = {
  HSS_REGION: optional(
    text({ pattern: [/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be a region id such as cn-north-4"] }),
  ),
  HSS_ENDPOINT: optional(
    url(/^https?$/, "must be an http(s) URL such as https://hss.cn-north-4.myhuaweicloud.com"),
  ),
  HSS_PROJECT_ID: optional(
    text({
      pattern: [/^[A-Za-z0-9_-]{1,64}$/, "must be a project id (letters, digits, - and _)"],
    }),
  ),
  HSS_ENTERPRISE_PROJECT_ID: optional(text({ max: 256 })),
  HSS_BATCH_SIZE: integer(1, MAX_IMAGES_PER_BATCH, DEFAULT_BATCH_SIZE),
  HSS_CALLS_PER_MINUTE: integer(1, 10_000, 4),
  HSS_RATE_WINDOW_SECONDS: integer(1, 3600, 61),
  HSS_TIMEOUT_MS: integer(100, 60_000, 2000),
  HSS_CONCURRENCY: integer(1, 16, 2),
  HSS_RETRY_ATTEMPTS: integer(1, 10, 4),
  HSS_RETRY_BASE_MS: integer(1, 10_000, 200),
  HTTP_DEADLINE_MS: integer(500, 900_000, 2500),
  DEDUPE_WINDOW_SECONDS: integer(0, 86_400, 600),
  SCAN_QUEUE: optional(scanQueue),
  QUEUE_LEASE_SECONDS: integer(5, 900, 60),
  QUEUE_MAX_ATTEMPTS: integer(1, 1000, 20),
  QUEUE_RETRY_MAX_SECONDS: integer(1, 3600, 300),
  QUEUE_TIMEOUT_MS: integer(50, 10_000, 1000),
  MAX_QUEUED_IMAGES: wholeNumber(1, 10_000_000),
  DEAD_LETTER_RETENTION_DAYS: integer(1, 3650, 14),
  SCAN_QUEUE_CA: optional(text()),
  MAX_BODY_BYTES: integer(1024, 6 * 1024 * 1024, 1024 * 1024),
  MAX_IMAGES_PER_DELIVERY: integer(1, 100_000, 10_000),
  WEBHOOK_AUTH: withDefault(oneOf(["secret", "none"]), "secret"),
  WEBHOOK_SECRET: webhookSecrets,
  HTTP_MANUAL_REQUESTS: flag(false),
  WEBHOOK_SECRET_HEADER: withDefault(
    text({
      lowerCase: true,
      pattern: [/^[a-z0-9!#$%&'*+.^_`|~-]+$/, "must be an HTTP header name"],
    }),
    "authorization",
  ),
  CLOUD_SDK_AK: optional(text()),
  CLOUD_SDK_SK: optional(text()),
  CLOUD_SDK_SECURITY_TOKEN: optional(text()),
  SWR_INSTANCE_ID: optional(instanceText),
  SWR_INSTANCE_URL: optional(instanceText),
  SWR_INSTANCES: optional(json(INSTANCES_EXAMPLE, instanceMap)),
  SWR_ENDPOINT: optional(
    url(/^https?$/, "must be an http(s) URL such as https://swr-api.cn-north-4.myhuaweicloud.com"),
  ),
  SWR_WIRE_INSTANCES: optional(
    text({
      pattern: [
        /^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$/,
        "must be SWR Enterprise instance ids, comma-separated",
      ],
    }),
  ),
  SWR_WIRE_NAMESPACES: withDefault(text({ max: 512 }), "*"),
  SWR_WIRE_URL: optional(url(/^https?$/, "must be the function's trigger URL (http or https)")),
  SWR_WIRE_INTERVAL_MINUTES: integer(0, 1440, 60),
  SWR_CALLS_PER_MINUTE: integer(1, 1000, 60),
  SCAN_POLICY: optional(json(POLICY_EXAMPLE, bySchema(policySchema))),
  SCAN_INCLUDE_NAMESPACES: patterns,
  SCAN_INCLUDE_REPOSITORIES: patterns,
  SCAN_INCLUDE_TAGS: patterns,
  SCAN_EXCLUDE_NAMESPACES: patterns,
  SCAN_EXCLUDE_REPOSITORIES: patterns,
  SCAN_EXCLUDE_TAGS: patterns,
  SCAN_SKIP_SIGNATURES: flag(true),
  DRY_RUN: flag(false),
  LOG_LEVEL: withDefault(oneOf(["debug", "info", "warn", "error"]), "info"),
  HSS_SCAN_API: withDefault(oneOf(SCAN_API_NAMES), "batch-scan"),
  HSS_SCAN_SCOPE: withDefault(scanScope, SCAN_SCOPE_BITS.vulnerabilities),
  HSS_SCAN_RATE_LIMIT: integer(0, 1000, 0),
  FOLLOW_UP: flag(true),
  FOLLOW_UP_INTERVAL_SECONDS: integer(1, 3600, 20),
  FOLLOW_UP_TIMEOUT_SECONDS: integer(1, 7 * 86_400, 3600),
  FOLLOW_UP_MAX_RESCANS: integer(0, 10, 2),
  HSS_SYNC_TIMEOUT_SECONDS: integer(1, 86_400, 900),
  NOTIFY_MIN_SEVERITY: withDefault(oneOf(["critical", "high", "medium", "low"]), "high"),
  NOTIFY_CHANNELS: optional(
    json(
      '{"team":{"type":"dingtalk","url":"https://oapi.dingtalk.com/robot/send?access_token=…","secret":"SEC…"}}',
      notifyRoutes.readChannels,
    ),
  ),
  NOTIFY_ROUTES: optional(
    json(
      '[{"channels":["team"],"namespaces":["payments-*"],"min_severity":"high"}]',
      notifyRoutes.readRoutes,
    ),
  ),
  NOTIFY_MAX_VULNERABILITIES: integer(0, 50, 10),
  /** The exceptions file's lines (the `.hssignore` grammar), applied to alerts. */
  NOTIFY_IGNORE: optional(anyText),
  /** Or the path of one (absolute, or from the working directory: the deployed code). */
  NOTIFY_IGNORE_FILE: optional(text({ max: 1024 })),
  RESCAN_EVERY_DAYS: integer(0, 90, 0),
  RESCAN_TAGS: patterns,
  RESCAN_NEWEST: integer(0, 1000, 0),
  RESCAN_REPORT_FIXED: flag(false),
  RESCAN_FROM_HSS: flag(false),
  RESCAN_WITHIN_DAYS: integer(1, 365, 30),
  RESCAN_MAX_PER_DAY: integer(1, 100_000, 500),
  NOTIFY_RETRY_SECONDS: integer(60, 7 * 86_400, 86_400),
  NOTIFY_DEDUPE_DAYS: integer(1, 365, 30),
  NOTIFY_TIMEOUT_MS: integer(1000, 30_000, 10_000),
  NOTIFY_CONSOLE_URL: optional(
    url(
      /^https$/,
      "must be an https URL (with {region}, {namespace}, {image}, {tag}, {instance_id} filled in)",
    ),
  ),
  NOTIFY_WEBHOOK_URL: optional(url(/^https?$/, "must be an http(s) URL that accepts a JSON POST")),
  NOTIFY_SMN_TOPIC: optional(
    text({
      pattern: [
        /^urn:smn:[a-z0-9-]+:[A-Za-z0-9]+:[A-Za-z0-9_-]{1,255}$/,
        "must be an SMN topic URN such as urn:smn:cn-north-4:<project id>:<topic name>",
      ],
    }),
  ),
  SMN_ENDPOINT: optional(
    url(/^https?$/, "must be an http(s) URL such as https://smn.cn-north-4.myhuaweicloud.com"),
  ),
};

type Environment = {
  [Name in keyof typeof environmentShape]: ReturnType<(typeof environmentShape)[Name]>;
};

/** Images the queue holds at most by default: what drains in about 15 minutes at the rate. */
export const MAX_QUEUED_DEFAULT_CAP = 20_000;
const DRAIN_TARGET_MINUTES = 15;

/**
 * MAX_QUEUED_IMAGES's default: what the configured rate (HSS_CALLS_PER_MINUTE calls of
 * HSS_BATCH_SIZE images per HSS_RATE_WINDOW_SECONDS) sends in 15 minutes, and never more than
 * 20,000 (about 25 MiB in Redis at 1.3 KB an image: far below the smallest DCS instance); never
 * less than MAX_IMAGES_PER_DELIVERY either, or a delivery the function accepts could never fit.
 */
function defaultMaxQueued(env: Environment): number {
  const perMinute =
    (env.HSS_CALLS_PER_MINUTE * env.HSS_BATCH_SIZE * 60) / env.HSS_RATE_WINDOW_SECONDS;
  return Math.max(
    env.MAX_IMAGES_PER_DELIVERY,
    Math.min(MAX_QUEUED_DEFAULT_CAP, Math.floor(perMinute * DRAIN_TARGET_MINUTES)),
  );
}

/**
 * The checks that involve several variables. They run even when some variable is wrong on its own,
 * so that one run lists every problem; a check that involves such a variable is left out.
 */
function checkCombinations(
  env: Environment,
  failed: ReadonlySet<string>,
  problem: (variable: keyof Environment, message: string) => void,
): void {
  const valid = (...names: Array<keyof Environment>) => names.every((name) => !failed.has(name));
  checkRest(env, valid, problem);
  if (!valid("HSS_REGION", "HSS_ENDPOINT")) return;
  if (!env.HSS_REGION && !env.HSS_ENDPOINT) {
    problem("HSS_REGION", "set HSS_REGION (for example cn-north-4) or HSS_ENDPOINT");
  }
  if (env.HSS_REGION && !env.HSS_ENDPOINT && !HSS_REGIONS.includes(env.HSS_REGION)) {
    const near = HSS_REGIONS.filter(
      (region) => region.split("-")[0] === env.HSS_REGION?.split("-")[0],
    );
    problem(
      "HSS_REGION",
      `is not a region with HSS${near.length > 0 ? ` (did you mean one of ${near.join(", ")}?)` : ""}; for a region not listed here, set HSS_ENDPOINT too`,
    );
  }
}

/** The notification variables together: the follow-up they need, and every channel and route. */
/** Rescans need the queue and the follow-up; the exceptions file must parse, every line. */
function checkRescan(
  env: Environment,
  valid: (...names: Array<keyof Environment>) => boolean,
  problem: (variable: keyof Environment, message: string) => void,
): void {
  if (valid("RESCAN_EVERY_DAYS", "SCAN_QUEUE", "FOLLOW_UP") && env.RESCAN_EVERY_DAYS > 0) {
    if (!env.SCAN_QUEUE?.url) {
      problem(
        "RESCAN_EVERY_DAYS",
        "needs a scan queue (SCAN_QUEUE): rescans go through the queue and its budget, and the set of images to rescan is kept beside it",
      );
    }
    if (!env.FOLLOW_UP) {
      problem(
        "RESCAN_EVERY_DAYS",
        "needs FOLLOW_UP=true: a rescan's new findings come from the follow-up",
      );
    }
  }
  if (valid("NOTIFY_IGNORE", "NOTIFY_IGNORE_FILE")) {
    try {
      ignoreEntriesOf(env);
    } catch (error) {
      if (!(error instanceof IgnoreFileError)) throw error;
      problem(env.NOTIFY_IGNORE_FILE ? "NOTIFY_IGNORE_FILE" : "NOTIFY_IGNORE", error.message);
    }
  }
}

/** The exceptions applied to alerts: NOTIFY_IGNORE's lines, or NOTIFY_IGNORE_FILE's. */
function ignoreEntriesOf(env: Pick<Environment, "NOTIFY_IGNORE" | "NOTIFY_IGNORE_FILE">) {
  if (env.NOTIFY_IGNORE !== undefined) return parseIgnoreFile(env.NOTIFY_IGNORE, "NOTIFY_IGNORE");
  if (env.NOTIFY_IGNORE_FILE) return loadIgnoreFile(env.NOTIFY_IGNORE_FILE);
  return [];
}

function checkNotify(
  env: Environment,
  valid: (...names: Array<keyof Environment>) => boolean,
  problem: (variable: keyof Environment, message: string) => void,
): void {
  const channelsSet = Boolean(
    env.NOTIFY_WEBHOOK_URL || env.NOTIFY_SMN_TOPIC || env.NOTIFY_CHANNELS,
  );
  if (valid("FOLLOW_UP") && channelsSet && !env.FOLLOW_UP) {
    problem(
      "FOLLOW_UP",
      "must be true for NOTIFY_CHANNELS, NOTIFY_WEBHOOK_URL or NOTIFY_SMN_TOPIC: notifications come from the follow-up",
    );
  }
  if (
    valid(
      "NOTIFY_CHANNELS",
      "NOTIFY_ROUTES",
      "NOTIFY_WEBHOOK_URL",
      "NOTIFY_SMN_TOPIC",
      "NOTIFY_MIN_SEVERITY",
    )
  ) {
    if (!env.NOTIFY_CHANNELS && !env.NOTIFY_WEBHOOK_URL && !env.NOTIFY_SMN_TOPIC) {
      if (env.NOTIFY_ROUTES)
        problem("NOTIFY_ROUTES", "there are routes but no channels (NOTIFY_CHANNELS)");
      return;
    }
    const { settings, problems } = notifyRoutes.compileNotify({
      channels: env.NOTIFY_CHANNELS,
      routes: env.NOTIFY_ROUTES,
      webhookUrl: env.NOTIFY_WEBHOOK_URL,
      smnTopic: env.NOTIFY_SMN_TOPIC,
      minSeverity: env.NOTIFY_MIN_SEVERITY,
    });
    for (const found of problems) {
      const [variable, ...rest] = found.split(" ");
      problem(variable?.replace(/:$/, "") as keyof Environment, rest.join(" "));
    }
    if (
      settings.channels.some((channel) => channel.type === "smn") &&
      !env.SMN_ENDPOINT &&
      !env.HSS_REGION
    ) {
      problem("SMN_ENDPOINT", "set it, or HSS_REGION, for an SMN channel");
    }
  }
}

function checkRest(
  env: Environment,
  valid: (...names: Array<keyof Environment>) => boolean,
  problem: (variable: keyof Environment, message: string) => void,
): void {
  const policyVariables = (Object.keys(POLICY_VARIABLES) as PolicyVariable[]).filter(
    (name) => env[name] !== undefined,
  );
  if (valid("SCAN_POLICY") && env.SCAN_POLICY && policyVariables.length > 0) {
    problem(
      "SCAN_POLICY",
      `use either SCAN_POLICY or the SCAN_INCLUDE_*/SCAN_EXCLUDE_* variables, not both (also set: ${policyVariables.join(", ")})`,
    );
  }
  if (
    valid("MAX_QUEUED_IMAGES", "MAX_IMAGES_PER_DELIVERY") &&
    env.MAX_QUEUED_IMAGES !== undefined &&
    env.MAX_QUEUED_IMAGES < env.MAX_IMAGES_PER_DELIVERY
  ) {
    problem(
      "MAX_QUEUED_IMAGES",
      `must be at least MAX_IMAGES_PER_DELIVERY (${env.MAX_IMAGES_PER_DELIVERY}): a delivery the function accepts must fit in the queue, or it is refused forever (set MAX_IMAGES_PER_DELIVERY to ${env.MAX_QUEUED_IMAGES} or less, and the registry's deliveries are answered 413 when larger)`,
    );
  }
  if (
    valid("QUEUE_LEASE_SECONDS", "HSS_TIMEOUT_MS") &&
    env.QUEUE_LEASE_SECONDS * 1000 < env.HSS_TIMEOUT_MS + 5000
  ) {
    problem(
      "QUEUE_LEASE_SECONDS",
      `must be at least 5 s longer than one HSS attempt (HSS_TIMEOUT_MS=${env.HSS_TIMEOUT_MS}), or a claim could expire while its call is still running`,
    );
  }
  if (
    valid("HSS_SCAN_API", "SCAN_QUEUE") &&
    SCAN_APIS[env.HSS_SCAN_API].needsLookup &&
    !env.SCAN_QUEUE?.url
  ) {
    problem(
      "HSS_SCAN_API",
      `${env.HSS_SCAN_API} needs a scan queue (SCAN_QUEUE): each image is looked up in HSS first, and one HSS has not synced yet waits for a sync, which only the queue can wait for`,
    );
  }
  checkNotify(env, valid, problem);
  checkRescan(env, valid, problem);
  if (env.CLOUD_SDK_AK && !env.CLOUD_SDK_SK) {
    problem("CLOUD_SDK_SK", "is required when CLOUD_SDK_AK is set");
  }
  if (env.CLOUD_SDK_SK && !env.CLOUD_SDK_AK) {
    problem("CLOUD_SDK_AK", "is required when CLOUD_SDK_SK is set");
  }
}

/** The configuration the rest of the code reads, from variables each found valid. */
function settingsOf(env: Environment) {
  return {
    hss: {
      endpoint: env.HSS_ENDPOINT ?? endpointForRegion(env.HSS_REGION as string),
      region: env.HSS_REGION,
      projectId: env.HSS_PROJECT_ID,
      enterpriseProjectId: env.HSS_ENTERPRISE_PROJECT_ID,
      batchSize: env.HSS_BATCH_SIZE,
      callsPerMinute: env.HSS_CALLS_PER_MINUTE,
      rateWindowMs: env.HSS_RATE_WINDOW_SECONDS * 1000,
      timeoutMs: env.HSS_TIMEOUT_MS,
      concurrency: env.HSS_CONCURRENCY,
      retry: { attempts: env.HSS_RETRY_ATTEMPTS, baseDelayMs: env.HSS_RETRY_BASE_MS },
    },
    deadline: { httpMs: env.HTTP_DEADLINE_MS, marginMs: DEADLINE_MARGIN_MS },
    dedupe: { windowMs: env.DEDUPE_WINDOW_SECONDS * 1000, maxImages: DEDUPE_MAX_IMAGES },
    queue: {
      ...(env.SCAN_QUEUE ?? { url: "", secrets: [] as string[] }),
      leaseMs: env.QUEUE_LEASE_SECONDS * 1000,
      maxAttempts: env.QUEUE_MAX_ATTEMPTS,
      retryMaxMs: env.QUEUE_RETRY_MAX_SECONDS * 1000,
      timeoutMs: env.QUEUE_TIMEOUT_MS,
      maxQueued: env.MAX_QUEUED_IMAGES ?? defaultMaxQueued(env),
      deadLetterRetentionMs: env.DEAD_LETTER_RETENTION_DAYS * 86_400_000,
      ca: env.SCAN_QUEUE_CA,
    },
    limits: { bodyBytes: env.MAX_BODY_BYTES, imagesPerDelivery: env.MAX_IMAGES_PER_DELIVERY },
    webhook: {
      auth: env.WEBHOOK_AUTH,
      secrets: env.WEBHOOK_SECRET,
      header: env.WEBHOOK_SECRET_HEADER,
      manualRequests: env.HTTP_MANUAL_REQUESTS,
    },
    credentials: (env.CLOUD_SDK_AK
      ? {
          ak: env.CLOUD_SDK_AK,
          sk: env.CLOUD_SDK_SK as string,
          securityToken: env.CLOUD_SDK_SECURITY_TOKEN,
        }
      : undefined) as Credentials | undefined,
    swr: {
      defaultInstance: env.SWR_INSTANCE_ID
        ? { id: env.SWR_INSTANCE_ID, url: env.SWR_INSTANCE_URL }
        : undefined,
      instancesByHost: env.SWR_INSTANCES ?? {},
    },
    /** SWR Enterprise's webhook policies, kept wired to the function (src/wiring/). */
    wiring: wiringOf(env),
    policy: policyOf(env),
    dryRun: env.DRY_RUN,
    logLevel: env.LOG_LEVEL,
    scan: {
      api: env.HSS_SCAN_API,
      scope: env.HSS_SCAN_SCOPE,
      rateLimit: env.HSS_SCAN_RATE_LIMIT,
    },
    rescan: {
      everyMs: env.RESCAN_EVERY_DAYS * 86_400_000,
      tags: env.RESCAN_TAGS,
      newest: env.RESCAN_NEWEST,
      reportFixed: env.RESCAN_REPORT_FIXED,
      fromHss: env.RESCAN_FROM_HSS,
      withinMs: env.RESCAN_WITHIN_DAYS * 86_400_000,
      maxPerDay: env.RESCAN_MAX_PER_DAY,
    },
    followUp: {
      enabled: env.FOLLOW_UP,
      intervalMs: env.FOLLOW_UP_INTERVAL_SECONDS * 1000,
      timeoutMs: env.FOLLOW_UP_TIMEOUT_SECONDS * 1000,
      maxRescans: env.FOLLOW_UP_MAX_RESCANS,
      syncTimeoutMs: env.HSS_SYNC_TIMEOUT_SECONDS * 1000,
    },
    /** Every secret value configured, in every form it may appear in (scrubbed from logs). */
    secrets: [...SECRET_VARIABLES].flatMap((name) =>
      secretValuesOf(env[name as keyof Environment]),
    ),
    notify: notifyOf(env),
  };
}

function wiringOf(env: Environment) {
  return {
    endpoint:
      env.SWR_ENDPOINT ??
      (env.HSS_REGION
        ? endpointForRegion(env.HSS_REGION).replace("//hss.", "//swr-api.")
        : undefined),
    callsPerMinute: env.SWR_CALLS_PER_MINUTE,
    // SWR answers through the same API gateway as HSS: the same rolling minute.
    windowMs: env.HSS_RATE_WINDOW_SECONDS * 1000,
    instances: env.SWR_WIRE_INSTANCES?.split(",") ?? [],
    namespaces: env.SWR_WIRE_NAMESPACES,
    url: env.SWR_WIRE_URL,
    intervalMs: env.SWR_WIRE_INTERVAL_MINUTES * 60_000,
  };
}

function notifyOf(env: Environment) {
  const configured = Boolean(env.NOTIFY_CHANNELS || env.NOTIFY_WEBHOOK_URL || env.NOTIFY_SMN_TOPIC);
  const none: notifyRoutes.NotifySettings = { channels: [], routes: [] };
  return {
    minSeverity: env.NOTIFY_MIN_SEVERITY,
    /** The channels and routes (checked whole by checkCombinations). */
    ...(configured
      ? notifyRoutes.compileNotify({
          channels: env.NOTIFY_CHANNELS,
          routes: env.NOTIFY_ROUTES,
          webhookUrl: env.NOTIFY_WEBHOOK_URL,
          smnTopic: env.NOTIFY_SMN_TOPIC,
          minSeverity: env.NOTIFY_MIN_SEVERITY,
        }).settings
      : none),
    maxVulnerabilities: env.NOTIFY_MAX_VULNERABILITIES,
    ignore: ignoreEntriesOf(env),
    retryMs: env.NOTIFY_RETRY_SECONDS * 1000,
    sentTtlMs: env.NOTIFY_DEDUPE_DAYS * 86_400_000,
    timeoutMs: env.NOTIFY_TIMEOUT_MS,
    /** How long an instance holds the alerts it is posting: one that dies leaves them to another after this. */
    leaseMs: 120_000,
    consoleUrl: env.NOTIFY_CONSOLE_URL,
    smnEndpoint:
      env.SMN_ENDPOINT ??
      (env.HSS_REGION ? endpointForRegion(env.HSS_REGION).replace("//hss.", "//smn.") : undefined),
  };
}

/** The scan policy from SCAN_POLICY, or from the SCAN_* variables, compiled once. */
function policyOf(env: Environment): ScanPolicy {
  if (env.SCAN_POLICY) {
    return compilePolicy(
      { skipSignatures: env.SCAN_SKIP_SIGNATURES, ...env.SCAN_POLICY },
      (kind, dimension) => `SCAN_POLICY ${kind}.${dimension}`,
    );
  }
  const definition: PolicyDefinition = { skipSignatures: env.SCAN_SKIP_SIGNATURES };
  const names = new Map<string, string>();
  for (const [variable, [kind, dimension]] of Object.entries(POLICY_VARIABLES)) {
    const list = env[variable as PolicyVariable];
    names.set(`${kind}.${dimension}`, variable);
    if (list) definition[kind] = { ...definition[kind], [dimension]: list };
  }
  return compilePolicy(definition, (kind, dimension) => names.get(`${kind}.${dimension}`) ?? kind);
}

export type Config = ReturnType<typeof settingsOf>;
export type { Credentials };

/** Every variable the function reads; serverless.yml and the README list exactly these. */
export const CONFIG_VARIABLES = Object.keys(environmentShape);

export class ConfigError extends ScanOnPushError {
  override readonly name = "ConfigError";
  /** Each problem on its own, `VARIABLE: what is wrong` (all of them, from one reading). */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
}

/** HSS's public endpoints; eu-west-101 is the one region served from a `.eu` domain. */
export function endpointForRegion(region: string): string {
  const domain = region === "eu-west-101" ? "myhuaweicloud.eu" : "myhuaweicloud.com";
  return `https://hss.${region}.${domain}`;
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const failed = new Set<string>();
  const problem = (variable: string, message: string, inside: ReadonlyArray<PropertyKey> = []) => {
    failed.add(variable);
    const where = inside.length > 0 ? `${variable} at ${inside.map(String).join(".")}` : variable;
    const value = env[variable];
    const shown =
      value === undefined || SECRET_VARIABLES.has(variable)
        ? ""
        : ` (got ${JSON.stringify(value.slice(0, 80))})`;
    problems.push(`${where}: ${message}${shown}`);
  };
  const read: Record<string, unknown> = {};
  for (const [variable, rule] of Object.entries(environmentShape) as Array<
    [string, Rule<unknown>]
  >) {
    read[variable] = rule(env[variable], (message, inside) => {
      problem(variable, message, inside);
      return undefined;
    });
  }
  const environment = read as Environment;
  // What failed on its own, before the checks across variables add theirs.
  checkCombinations(environment, new Set(failed), (variable, message) =>
    problem(variable, message),
  );
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`, problems);
  }
  return settingsOf(environment);
}
