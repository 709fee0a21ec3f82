import type { Config } from "../config";
import type { CallBudget } from "../hss/call-budget";
import type { SubmittedImages } from "../submitted-images";
import { MemoryScanQueue } from "./memory-queue";
import { QueueUnavailableError, type ScanQueue } from "./scan-queue";

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
  if (queue.backend === "memory") return new MemoryScanQueue(instance);
  // In the package this is a separate file, redis-queue.js (scripts/build.ts).
  const { RedisScanQueue } = await import("./redis-queue");
  return new RedisScanQueue({
    url: queue.url,
    callsPerMinute: config.hss.callsPerMinute,
    windowMs: config.hss.rateWindowMs,
    timeoutMs: queue.timeoutMs,
    unavailable: (message) => new QueueUnavailableError(message),
  });
}
