import { failureFieldsOf, type SignedCallError } from "../cloud/signed-client";
import type { Config } from "../config";
import type { HssApiClient } from "../hss/apis";
import type { InstanceUrls } from "../instance-urls";
import type { Logger } from "../log";
import type {
  Claim,
  FailureRecord,
  QueueAdmin,
  QueuedScan,
  QueueStores,
  ScanClaims,
} from "../queue/scan-queue";
import type { ListedImageIds } from "../scan-apis";
import { retryDelayMs, type ScanSender } from "../send-scan";

/**
 * What the flusher's steps share (flusher.ts, lookup-first.ts): its settings and options, what a
 * run found, and how a claim goes back to the queue when it is not sent.
 */

export type SendingScanSender = Extract<ScanSender, { mode: "send" }>;

/** The flusher's settings, from the configuration (composition-root.ts). */
export interface FlushSettings {
  batchSize: number;
  leaseMs: number;
  timeoutMs: number;
  maxAttempts: number;
  retryMaxMs: number;
  dedupeWindowMs: number;
  /** Watch accepted images for their scan results (FOLLOW_UP). */
  followUp: boolean;
  /** FOLLOW_UP_INTERVAL_SECONDS, in ms. */
  followUpIntervalMs: number;
  /** SWR instances by registry host: which registry to sync for an image HSS does not list. */
  swr: Config["swr"];
  /** RESCAN_*: accepted pushes join the rescan set (off when `everyMs` is 0). */
  rescan?: Config["rescan"];
}

export interface FlushOptions {
  /** Claims and their settling, the stores beside them, and what an operator reads. */
  queue: ScanClaims &
    Pick<QueueAdmin, "counts" | "waiting" | "prune"> &
    Pick<QueueStores, "budget" | "watches" | "rescans">;
  /** Built before anything is claimed: a missing credential fails the flush at once. */
  sender: () => SendingScanSender;
  /** The calls around a scan (lookups, syncs), loaded when a scan API needs them. */
  hss: () => Promise<HssApiClient>;
  settings: FlushSettings;
  /** Names enterprise images as HSS records them, and learns how (src/instance-urls.ts). */
  urls?: InstanceUrls;
  /** Epoch milliseconds by which the last call must have ended. */
  deadline: number;
  log: Logger;
  /** What this instance last said, and until when (the composition root's, per instance). */
  said?: Map<string, number>;
  random?: () => number;
}

export type FlushStop =
  | "empty"
  | "budget"
  | "throttled"
  | "refused"
  | "deadline"
  | "queue_unavailable";

export interface FlushResult {
  /** Calls of the scan API made. */
  hss_calls: number;
  images_submitted: number;
  dead_lettered: number;
  /** Images put back for a later flush after a failed call. */
  returned: number;
  stopped: FlushStop;
  /** When stopped for the budget or a 429: how long until a call may be made. */
  retry_after_ms?: number;
  /** The images HSS accepted in this flush, by id, with the request id of their call. */
  accepted: Map<string, string | undefined>;
  /** The instance_url an accepted image was sent with, by id, where it was not the planned one. */
  sent_urls?: Map<string, string>;
  /** The images dead-lettered in this flush, by id, with why. */
  buried: Map<string, { scan: QueuedScan; error: FailureRecord }>;
  /** With a lookup first: ListRegistryImages calls made to look images up. */
  list_calls?: number;
  /** With a lookup first: images HSS does not list yet, handed to the follow-up to be synced. */
  not_synced?: number;
}

/** A claim ready to send, and HSS's records of its images when they were looked up. */
export interface ReadyClaim {
  claim: Claim;
  listed?: Map<string, ListedImageIds>;
}

/** What to do after a step: go on flushing, or stop (and when a call may be made again). */
export type FlushStep = "continue" | { stop: FlushStop; retryAfterMs?: number };

/** For releases that do not count an attempt. */
export const NO_ATTEMPT_LIMIT = 1_000_000_000;
/** The first delay of a claim whose call failed; the retry policy doubles it each attempt. */
const FIRST_RETRY_DELAY_MS = 5000;

/** A claim back to the queue as it was: nothing was held against its images. */
export async function releaseUntouched(
  claim: Claim,
  options: Pick<FlushOptions, "queue">,
  result: FlushResult,
): Promise<void> {
  await options.queue.release(claim, {
    delayMs: 0,
    countAttempt: false,
    maxAttempts: NO_ATTEMPT_LIMIT,
  });
  result.returned += claim.scans.length;
}

/**
 * A claim back to the queue after a call failed for reasons the images are not to blame for: after
 * the retry policy's delay, with an attempt counted, and dead-lettered when its attempts ran out.
 * Returns the attempt number and the delay.
 */
export async function releaseAfterFailure(
  claim: Claim,
  error: SignedCallError,
  options: Pick<FlushOptions, "queue" | "settings" | "log" | "random">,
  result: FlushResult,
): Promise<{ attempts: number; delayMs: number }> {
  const { settings } = options;
  const attempts = Math.max(...claim.scans.map((scan) => scan.attempts)) + 1;
  const delayMs = retryDelayMs(
    attempts,
    { firstMs: FIRST_RETRY_DELAY_MS, maxMs: settings.retryMaxMs },
    options.random ?? Math.random,
  );
  const exhausted = await options.queue.release(claim, {
    delayMs,
    countAttempt: true,
    maxAttempts: settings.maxAttempts,
    error: failureFieldsOf(error),
  });
  result.returned += claim.scans.length - exhausted.length;
  for (const scan of exhausted) recordDeadLetter(result, options.log, scan, error, attempts);
  return { attempts, delayMs };
}

/** An image of this flush dead-lettered: counted, kept for the answer, and logged. */
export function recordDeadLetter(
  result: FlushResult,
  log: Logger,
  scan: QueuedScan,
  error: SignedCallError,
  attempts: number,
) {
  result.dead_lettered += 1;
  result.buried.set(scan.id, { scan, error: failureFieldsOf(error) });
  logDeadLetter(log, scan, error, attempts);
}

/** What a flush dead-lettered, named, for answers and logs (at most `limit`). */
export function deadLettersOf(result: Pick<FlushResult, "buried">, limit = 20) {
  return [...result.buried.values()].slice(0, limit).map(({ scan, error }) => ({
    image: `${scan.target.namespace}/${scan.target.image_name}:${scan.target.image_version}`,
    ...(scan.target.instance_id ? { instance_id: scan.target.instance_id } : {}),
    error_code: error.error_code,
    error_msg: error.error_msg,
    ...(error.hss_request_id ? { hss_request_id: error.hss_request_id } : {}),
  }));
}

export function logDeadLetter(
  log: Logger,
  scan: QueuedScan,
  error: SignedCallError,
  attempts: number,
) {
  log.error("dead_lettered", {
    image_type: scan.image_type,
    image: `${scan.target.namespace}/${scan.target.image_name}:${scan.target.image_version}`,
    instance_id: scan.target.instance_id,
    digest: scan.digest,
    attempts,
    ...failureFieldsOf(error),
  });
}
