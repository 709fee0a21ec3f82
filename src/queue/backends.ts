import { readFileSync } from "node:fs";
import type { Config } from "../config";
import { ConfigError } from "../config";
import type { CallBudget } from "../hss/call-budget";
import type { SubmittedImages } from "../submitted-images";
import {
  QueueFullError,
  type QueueLimits,
  QueueUnavailableError,
  type ScanQueue,
} from "./scan-queue";

/**
 * The queue backends, by name: what SCAN_QUEUE may name. Each says which values it takes, what is
 * wrong with one, whether other processes reach what it holds, and opens itself, its module
 * loaded only then (the Redis backend and ioredis are a file of their own in the package,
 * scripts/build.ts, so that direct mode's cold start does not pay for them). Adding a backend is
 * one module implementing `ScanQueue` (src/queue/scan-queue.ts), one entry here, and one fixture
 * in test/support/queue-backends.ts that runs every queue contract on it.
 */
export interface QueueBackend {
  readonly name: string;
  /** The SCAN_QUEUE values it takes, for the error that lists them. */
  readonly form: string;
  takes(value: string): boolean;
  /** What is wrong with a value it takes; undefined when nothing is. */
  problem(value: string): string | undefined;
  /**
   * Other processes (the `queue` and `rescan` commands, other instances) reach what the function
   * holds in it; false for a queue in one process's memory.
   */
  readonly shared: boolean;
  /** The package's separate file for its module (beside index.js), when it is built apart. */
  readonly apart?: { file: string; source: string };
  open(settings: QueueSettings): Promise<ScanQueue>;
}

/** What a backend is opened with: the configuration's slice and this instance's own parts. */
export interface QueueSettings {
  value: string;
  limits: QueueLimits;
  callsPerMinute: number;
  windowMs: number;
  timeoutMs: number;
  /** SCAN_QUEUE_CA: PEM text, or the path of a PEM file. */
  ca?: string;
  /** This instance's own budget and memory of submitted images (an in-process queue's). */
  own: { budget: CallBudget; submitted: SubmittedImages };
}

const memory: QueueBackend = {
  name: "memory",
  form: "memory",
  takes: (value) => value === "memory",
  problem: () => undefined,
  shared: false,
  async open(settings) {
    const { MemoryScanQueue } = await import("./memory-queue");
    return new MemoryScanQueue({ ...settings.own, limits: settings.limits });
  },
};

const redis: QueueBackend = {
  name: "redis",
  form: "redis://[user:password@]host:port[/db] (rediss:// for TLS)",
  takes: (value) => /^rediss?:/i.test(value),
  problem(value) {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      return `not a URL: use ${this.form}`;
    }
    const db = url.pathname.replace(/^\//, "");
    if (!url.hostname || !/^\d*$/.test(db)) return `use ${this.form}`;
    return undefined;
  },
  shared: true,
  apart: { file: "redis-queue.js", source: "src/queue/redis-queue.ts" },
  async open(settings) {
    const { RedisScanQueue } = await import("./redis-queue");
    return new RedisScanQueue({
      url: settings.value,
      callsPerMinute: settings.callsPerMinute,
      windowMs: settings.windowMs,
      timeoutMs: settings.timeoutMs,
      unavailable: (message, outcome, cause) =>
        new QueueUnavailableError(message, outcome, { cause }),
      full: (queued, adding, max) => new QueueFullError(queued, adding, max),
      limits: settings.limits,
      ca: settings.ca ? caOf(settings.ca) : undefined,
    });
  },
};

/** Every backend SCAN_QUEUE may name. */
export const QUEUE_BACKENDS: readonly QueueBackend[] = [memory, redis];

/** The name of the backend SCAN_QUEUE names: `none` in direct mode, `unknown` for none that takes it. */
export function queueBackendNameOf(value: string): string {
  if (!value) return "none";
  return QUEUE_BACKENDS.find((backend) => backend.takes(value))?.name ?? "unknown";
}

/** The backend that takes this SCAN_QUEUE value; a ConfigError naming the forms otherwise. */
export function queueBackendOf(value: string): QueueBackend {
  const backend = QUEUE_BACKENDS.find((candidate) => candidate.takes(value));
  const problem = backend
    ? backend.problem(value)
    : `must be none, ${QUEUE_BACKENDS.map(({ form }) => form).join(", or ")}`;
  if (!backend || problem) {
    throw new ConfigError(`invalid configuration: SCAN_QUEUE: ${problem}`, [
      `SCAN_QUEUE: ${problem}`,
    ]);
  }
  return backend;
}

/** The queue SCAN_QUEUE names, or undefined in direct mode. */
export async function openQueue(
  config: Config,
  own: QueueSettings["own"],
): Promise<ScanQueue | undefined> {
  const { queue } = config;
  if (!queue.url) return undefined;
  return queueBackendOf(queue.url).open({
    value: queue.url,
    limits: {
      maxQueued: queue.maxQueued,
      deadLetterRetentionMs: queue.deadLetterRetentionMs,
      // A watch nobody checked for as long as a scan may take to give a result: the follow-up is
      // off or not running; it is dropped rather than kept for ever.
      watchRetentionMs: config.followUp.timeoutMs,
    },
    callsPerMinute: config.hss.callsPerMinute,
    windowMs: config.hss.rateWindowMs,
    timeoutMs: queue.timeoutMs,
    ca: queue.ca,
    own,
  });
}

/** SCAN_QUEUE_CA: PEM text, or the path of a PEM file (in the package, or anywhere readable). */
function caOf(value: string): string {
  if (value.includes("-----BEGIN")) return value.replaceAll("\\n", "\n");
  try {
    return readFileSync(value, "utf8");
  } catch (error) {
    throw new ConfigError(
      `SCAN_QUEUE_CA: cannot read ${value} (${(error as NodeJS.ErrnoException).code ?? "error"}); give the path of a PEM file, or the PEM text`,
    );
  }
}
