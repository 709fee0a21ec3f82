import { readFileSync } from "node:fs";
import type { Config } from "../config";
import { ConfigError } from "../config";
import type { CallBudget } from "../hss/call-budget";
import type { SubmittedImages } from "../submitted-images";
import { MemoryScanQueue } from "./memory-queue";
import {
  QueueFullError,
  type QueueLimits,
  QueueUnavailableError,
  type ScanQueue,
} from "./scan-queue";

/**
 * The queue SCAN_QUEUE names, or undefined in direct mode. The Redis backend (and ioredis) is
 * required only here and only for a redis:// URL, so the direct mode's cold start does not pay
 * for it.
 */
export async function openQueue(
  config: Config,
  instance: { budget: CallBudget; submitted: SubmittedImages },
): Promise<ScanQueue | undefined> {
  const { queue } = config;
  if (queue.backend === "none") return undefined;
  const limits: QueueLimits = {
    maxQueued: queue.maxQueued,
    deadLetterRetentionMs: queue.deadLetterRetentionMs,
    // A watch nobody checked for as long as a scan may take to give a result: the follow-up is
    // off or not running; it is dropped rather than kept for ever.
    watchRetentionMs: config.followUp.timeoutMs,
  };
  if (queue.backend === "memory") return new MemoryScanQueue({ ...instance, limits });
  // In the package this is a separate file, redis-queue.js (scripts/build.ts).
  const { RedisScanQueue } = await import("./redis-queue");
  return new RedisScanQueue({
    url: queue.url,
    callsPerMinute: config.hss.callsPerMinute,
    windowMs: config.hss.rateWindowMs,
    timeoutMs: queue.timeoutMs,
    unavailable: (message, outcome, cause) =>
      new QueueUnavailableError(message, outcome, { cause }),
    full: (queued, adding, max) => new QueueFullError(queued, adding, max),
    limits,
    ca: queue.ca ? caOf(queue.ca) : undefined,
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
