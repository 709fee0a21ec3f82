import type { Config } from "./config";
import type { FollowUpResult } from "./follow-up/follow-up";
import type { ScanBatch } from "./hss/batch-scan-request";
import { BATCH_SCAN_API, type HssApi } from "./hss/call-budget";
import {
  type BatchScanSubmitter,
  classifyFailure,
  type HssCallError,
  isHssCaller,
  toHssCallError,
} from "./hss/client";
import { scanTaskBody, taskImageOf } from "./hss/scan-task-request";
import type { Logger } from "./log";
import {
  type Claim,
  type FailureRecord,
  nextCheckInMs,
  type QueueCounts,
  type QueuedScan,
  QueueUnavailableError,
  type ScanQueue,
  watchOf,
} from "./queue/scan-queue";
import { MIN_ATTEMPT_MS } from "./submit";

/**
 * The flusher: takes queued images off the queue in batches of up to HSS_BATCH_SIZE and submits
 * each batch with one batch-scan call, as long as the call budget has a slot, the queue has
 * images and the deadline is not near. It runs right after intake and on a schedule; any
 * instance may run it at any time, since claims, leases and the budget live in the queue.
 *
 * What HSS answered decides what becomes of a claim:
 * - accepted → removed, and remembered for the dedupe window;
 * - 429 → back to the queue untouched, the window counted as spent, flushing stops;
 * - no answer or 5xx → back to the queue after a backoff, an attempt counted;
 * - the caller refused (signature, permissions) → likewise, and flushing stops: every batch
 *   would be refused alike;
 * - the images rejected (400) → a batch of several is split in two halves that are retried
 *   separately, so the good images go through and the rejected one ends alone and is
 *   dead-lettered with HSS's code and message.
 *
 * With HSS_SCAN_API=scan-task a claim is first looked up in HSS's image list and sent as one
 * CreateManualImageScanTask (follow-up/scan-task.ts); images HSS does not list yet go to the
 * follow-up, which has their registry synced. Accepted images are watched by the follow-up
 * (follow-up/follow-up.ts), which scheduled flushes run after the queue's own work.
 */

export interface FlushOptions {
  queue: ScanQueue;
  submitter: () => BatchScanSubmitter;
  batchSize: number;
  leaseMs: number;
  timeoutMs: number;
  maxAttempts: number;
  retryMaxMs: number;
  dedupeWindowMs: number;
  /** Epoch milliseconds by which the last call must have ended. */
  deadline: number;
  log: Logger;
  random?: () => number;
  /** Which scan API, and its settings (HSS_SCAN_API, HSS_SCAN_SCOPE, HSS_SCAN_RATE_LIMIT). */
  scan?: Config["scan"];
  /** Watch accepted images for their scan results (FOLLOW_UP). */
  followUp?: boolean;
  /** FOLLOW_UP_INTERVAL_SECONDS, in ms. */
  followUpIntervalMs?: number;
  /** What the calls around the scan need: region and enterprise project. */
  hss?: Pick<Config["hss"], "region" | "enterpriseProjectId" | "timeoutMs">;
  /** SWR instances by registry host: which registry to sync for an image HSS does not list. */
  swr?: Config["swr"];
}

/** The flusher's settings, as the configuration gives them. */
export function flushSettingsOf(config: Config) {
  return {
    batchSize: config.hss.batchSize,
    leaseMs: config.queue.leaseMs,
    timeoutMs: config.hss.timeoutMs,
    maxAttempts: config.queue.maxAttempts,
    retryMaxMs: config.queue.retryMaxMs,
    dedupeWindowMs: config.dedupe.windowMs,
    scan: config.scan,
    followUp: config.followUp.enabled,
    followUpIntervalMs: config.followUp.intervalMs,
    hss: config.hss,
    swr: config.swr,
  } satisfies Partial<FlushOptions>;
}

/** Sends the images of a claim with one call of the scan API. */
type SendClaim = (scans: QueuedScan[], timeoutMs: number) => Promise<{ requestId?: string }>;

export type FlushStop =
  | "empty"
  | "budget"
  | "throttled"
  | "refused"
  | "deadline"
  | "queue_unavailable";

export interface FlushResult {
  /** Batch-scan calls made. */
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
  /** scan-task: ListRegistryImages calls made to look images up. */
  list_calls?: number;
  /** scan-task: images HSS does not list yet, handed to the follow-up to be synced. */
  not_synced?: number;
}

const FIRST_RETRY_DELAY_MS = 5000;
/** For releases that do not count an attempt. */
const NO_ATTEMPT_LIMIT = 1_000_000_000;

export async function flushQueue(options: FlushOptions): Promise<FlushResult> {
  const { queue, log } = options;
  const result: FlushResult = {
    hss_calls: 0,
    images_submitted: 0,
    dead_lettered: 0,
    returned: 0,
    stopped: "empty",
    accepted: new Map(),
  };
  // Built first: a missing credential fails the flush before any image is claimed.
  const submitter = options.submitter();
  const scanApi: HssApi = options.scan?.api === "scan-task" ? "scan-task" : BATCH_SCAN_API;
  const batchScan: SendClaim = (scans, timeoutMs) => {
    const [first] = scans;
    const batch: ScanBatch = {
      image_type: first?.image_type ?? "private_image",
      image_info_list: scans.map((scan) => scan.target),
    };
    return submitter.submitBatchScan(batch, { timeoutMs });
  };
  try {
    for (;;) {
      const left = options.deadline - Date.now();
      if (left < MIN_ATTEMPT_MS) return stop(result, "deadline");
      const budget = await queue.budget.check(scanApi);
      if (budget.remaining <= 0) return stop(result, "budget", budget.retryAfterMs);
      const claimed = await queue.claim(options.batchSize, options.leaseMs);
      if (!claimed) return stop(result, "empty");
      let claim = claimed;
      let send = batchScan;
      if (scanApi === "scan-task") {
        const prepared = await prepareScanTask(claimed, submitter, options, result);
        if ("stop" in prepared) {
          if (prepared.stop === "continue") continue;
          return stop(result, prepared.stop, prepared.retryAfterMs);
        }
        claim = prepared.claim;
        send = prepared.send;
      }
      const slot = await queue.budget.take(scanApi);
      if (!slot.granted) {
        // Another flusher took the last slot between the look and the claim.
        await queue.release(claim, {
          delayMs: 0,
          countAttempt: false,
          maxAttempts: NO_ATTEMPT_LIMIT,
        });
        return stop(result, "budget", slot.retryAfterMs);
      }
      const next = await sendClaim(claim, send, scanApi, options, result);
      if (next !== "continue")
        return next === "throttled"
          ? stop(result, next, queue.budget.windowMs)
          : stop(result, next);
    }
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    log.warn("queue_unavailable", { during: "flush", reason: error.message });
    return stop(result, "queue_unavailable");
  }
}

/**
 * scan-task: looks the claim up in HSS's image list. What HSS lists is sent as one task; what it
 * does not list goes to the follow-up (synced, then queued again); what could not be looked up
 * goes back to the queue (after a backoff when the lookup failed).
 */
async function prepareScanTask(
  claim: Claim,
  submitter: BatchScanSubmitter,
  options: FlushOptions,
  result: FlushResult,
): Promise<
  { claim: Claim; send: SendClaim } | { stop: "continue" | FlushStop; retryAfterMs?: number }
> {
  const { queue, log } = options;
  if (!isHssCaller(submitter)) {
    throw new Error(
      "HSS_SCAN_API=scan-task needs the HSS client (a batch-scan-only submitter was given)",
    );
  }
  const [{ hssApiClient }, { lookUpClaim }] = await Promise.all([
    import("./hss/apis"),
    import("./follow-up/scan-task"),
  ]);
  const hss = hssApiClient({
    caller: submitter,
    region: options.hss?.region,
    enterpriseProjectId: options.hss?.enterpriseProjectId,
    timeoutMs: options.timeoutMs,
  });
  const looked = await lookUpClaim(claim.scans, {
    hss,
    budget: queue.budget,
    deadline: options.deadline,
  });
  result.list_calls = (result.list_calls ?? 0) + looked.lookup.calls;
  const lookupError = looked.lookup.error;
  if (looked.unchecked.length > 0) {
    const part = { token: claim.token, scans: looked.unchecked };
    if (lookupError) {
      await releaseAfterFailure(part, lookupError, options, result);
      log.warn("lookup_failed", {
        images: part.scans.length,
        http_status: lookupError.httpStatus,
        error_code: lookupError.errorCode,
        error_msg: lookupError.message,
        hss_request_id: lookupError.requestId,
      });
    } else {
      // Not looked at (the list API's budget, the deadline): back as they were.
      await queue.release(part, { delayMs: 0, countAttempt: false, maxAttempts: NO_ATTEMPT_LIMIT });
      result.returned += part.scans.length;
    }
  }
  if (looked.unlisted.length > 0) {
    const now = Date.now();
    await queue.accepted({ token: claim.token, scans: looked.unlisted }, options.dedupeWindowMs);
    // Their sync is asked for below: the first look is worth making once it can have run.
    await queue.watches.add(
      looked.unlisted.map((scan) => watchOf(scan, "syncing", now)),
      nextCheckInMs(options.followUpIntervalMs ?? 0),
    );
    result.not_synced = (result.not_synced ?? 0) + looked.unlisted.length;
    for (const scan of looked.unlisted) {
      log.info("not_synced", {
        image: `${scan.target.namespace}/${scan.target.image_name}:${scan.target.image_version}`,
        image_type: scan.image_type,
        instance_id: scan.target.instance_id,
        action: "HSS does not list it yet: its registry is synced and it is scanned once listed",
      });
    }
    // The sync is asked for now (at most once per window per registry), not at the next
    // follow-up: HSS starts syncing while the image waits.
    if (options.swr) {
      const { requestSync } = await import("./follow-up/sync");
      await requestSync(looked.unlisted, {
        hss,
        budget: queue.budget,
        marks: queue.watches,
        swr: options.swr,
        log,
      });
    }
  }
  if (looked.found.length === 0) {
    if (lookupError) {
      const kind = classifyFailure(lookupError);
      if (kind === "throttled") return { stop: "throttled", retryAfterMs: queue.budget.windowMs };
      if (kind === "refused") return { stop: "refused" };
    }
    if (looked.lookup.stopped === "budget") {
      return { stop: "budget", retryAfterMs: looked.lookup.retryAfterMs };
    }
    if (looked.lookup.stopped === "deadline") return { stop: "deadline" };
    return { stop: "continue" };
  }
  const items = new Map(looked.found.map(({ scan, item }) => [scan.id, item]));
  const scanSettings = options.scan as Config["scan"]; // set: it chose scan-task
  return {
    claim: { token: claim.token, scans: looked.found.map(({ scan }) => scan) },
    send: (scans, timeoutMs) =>
      hss.createManualImageScanTask(
        scanTaskBody(
          scans.map((scan) => taskImageOf(scan.image_type, scan.target, items.get(scan.id))),
          scanSettings,
        ),
        { timeoutMs },
      ),
  };
}

function failureRecordOf(error: HssCallError): FailureRecord {
  return {
    http_status: error.httpStatus,
    error_code: error.errorCode,
    error_msg: error.message,
    hss_request_id: error.requestId,
  };
}

function stop(result: FlushResult, stopped: FlushStop, retryAfterMs?: number): FlushResult {
  result.stopped = stopped;
  if (retryAfterMs !== undefined) result.retry_after_ms = Math.max(0, Math.round(retryAfterMs));
  return result;
}

async function sendClaim(
  claim: Claim,
  send: SendClaim,
  api: HssApi,
  options: FlushOptions,
  result: FlushResult,
): Promise<"continue" | "throttled" | "refused"> {
  const { queue, log } = options;
  const [first] = claim.scans;
  if (!first) return "continue";
  const batch = { image_type: first.image_type };
  const images = claim.scans.length;
  const waitMs = Date.now() - Math.min(...claim.scans.map((scan) => scan.queued_at));
  result.hss_calls += 1;
  try {
    const answer = await send(
      claim.scans,
      Math.min(options.timeoutMs, Math.max(MIN_ATTEMPT_MS, options.deadline - Date.now())),
    );
    await queue.accepted(claim, options.dedupeWindowMs);
    if (options.followUp) {
      const now = Date.now();
      await queue.watches.add(
        claim.scans.map((scan) => watchOf(scan, "scanning", now)),
        // batch-scan: looked at at once (HSS answers 200 for an image it does not know, and only
        // its list tells); scan-task: HSS listed them a moment ago, so after the interval.
        api === "scan-task" ? nextCheckInMs(options.followUpIntervalMs ?? 0) : 0,
      );
    }
    result.images_submitted += images;
    for (const scan of claim.scans) result.accepted.set(scan.id, answer.requestId);
    log.info("flushed", {
      image_type: batch.image_type,
      api,
      images,
      hss_calls: 1,
      wait_ms: waitMs,
      hss_request_id: answer.requestId,
    });
    return "continue";
  } catch (thrown) {
    if (thrown instanceof QueueUnavailableError) throw thrown;
    const error = toHssCallError(thrown);
    const failure = failureRecordOf(error);
    const fields = {
      image_type: batch.image_type,
      images,
      http_status: error.httpStatus,
      error_code: error.errorCode,
      error_msg: error.message,
      hss_request_id: error.requestId,
    };
    const kind = classifyFailure(error);
    if (kind === "throttled") {
      await queue.budget.spendWindow(api);
      await releaseAfterFailure(claim, error, options, result);
      log.warn("throttled", {
        ...fields,
        retry_after_s: Math.ceil(queue.budget.windowMs / 1000),
      });
      return "throttled";
    }
    if (kind === "rejected") {
      if (images > 1) {
        await queue.release(claim, {
          delayMs: 0,
          countAttempt: false,
          maxAttempts: NO_ATTEMPT_LIMIT,
          error: failure,
          split: true,
        });
        result.returned += images;
        log.warn("split", { ...fields, into: [Math.ceil(images / 2), Math.floor(images / 2)] });
        return "continue";
      }
      await queue.deadLetter(claim, failure);
      result.dead_lettered += 1;
      logDeadLetter(log, first, failure, 1);
      return "continue";
    }
    const { attempts, delayMs } = await releaseAfterFailure(claim, error, options, result);
    const event = kind === "refused" ? "refused" : "retry_later";
    const level = kind === "refused" ? "error" : "warn";
    log[level](event, { ...fields, attempt: attempts, retry_in_s: Math.ceil(delayMs / 1000) });
    return kind === "refused" ? "refused" : "continue";
  }
}

/**
 * A claim back to the queue after a call failed for reasons the images are not to blame for: as
 * it was after a 429 (no attempt counted), otherwise after a backoff with an attempt counted, and
 * dead-lettered when its attempts ran out. Returns the attempt number and the backoff.
 */
async function releaseAfterFailure(
  claim: Claim,
  error: HssCallError,
  options: FlushOptions,
  result: FlushResult,
): Promise<{ attempts: number; delayMs: number }> {
  const images = claim.scans.length;
  if (classifyFailure(error) === "throttled") {
    await options.queue.release(claim, {
      delayMs: 0,
      countAttempt: false,
      maxAttempts: NO_ATTEMPT_LIMIT,
    });
    result.returned += images;
    return { attempts: 0, delayMs: 0 };
  }
  const failure = failureRecordOf(error);
  const attempts = Math.max(...claim.scans.map((scan) => scan.attempts)) + 1;
  const delayMs = retryDelay(attempts, options.retryMaxMs, options.random ?? Math.random);
  const exhausted = await options.queue.release(claim, {
    delayMs,
    countAttempt: true,
    maxAttempts: options.maxAttempts,
    error: failure,
  });
  result.returned += images - exhausted.length;
  result.dead_lettered += exhausted.length;
  for (const scan of exhausted) logDeadLetter(options.log, scan, failure, attempts);
  return { attempts, delayMs };
}

/** Exponential from 5 s, capped at QUEUE_RETRY_MAX_SECONDS, with jitter in its upper half. */
function retryDelay(attempt: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function logDeadLetter(log: Logger, scan: QueuedScan, failure: FailureRecord, attempts: number) {
  log.error("dead_lettered", {
    image_type: scan.image_type,
    image: `${scan.target.namespace}/${scan.target.image_name}:${scan.target.image_version}`,
    instance_id: scan.target.instance_id,
    digest: scan.digest,
    attempts,
    http_status: failure.http_status,
    error_code: failure.error_code,
    error_msg: failure.error_msg,
    hss_request_id: failure.hss_request_id,
  });
}

/** What a scheduled flush answers (FunctionGraph TIMER, EventBridge, `npm start`'s interval). */
export interface ScheduledFlushReport {
  status: "flushed" | "no_queue" | "dry_run";
  message: string;
  request_id?: string;
  trigger?: string;
  flush?: Omit<FlushResult, "accepted">;
  follow_up?: FollowUpResult;
  queue?: QueueCounts;
}

/** What the follow-up needs besides the flusher's options. */
export interface FollowUpContext {
  config: Config;
  notifier?: () => Promise<import("./follow-up/notify").Notifier | undefined>;
}

export async function scheduledFlush(
  queue: ScanQueue | undefined,
  options: Omit<FlushOptions, "queue"> & {
    dryRun: boolean;
    requestId?: string;
    trigger?: string;
    followUpContext?: FollowUpContext;
  },
): Promise<ScheduledFlushReport> {
  const { log, requestId, trigger } = options;
  if (!queue) {
    return {
      status: "no_queue",
      message:
        "no SCAN_QUEUE is configured (direct mode): every delivery is submitted as it arrives, nothing to flush",
      request_id: requestId,
      trigger,
    };
  }
  if (options.dryRun) {
    return {
      status: "dry_run",
      message: "DRY_RUN is on: the queue is not flushed",
      request_id: requestId,
      trigger,
    };
  }
  const { accepted: _accepted, ...result } = await flushQueue({ ...options, queue });
  const followed = await runFollowUp(queue, options);
  if (followed && followed.requeued > 0) {
    // Images the follow-up put back (HSS lists them now, or a re-scan can fix them) go out in
    // this same run when the budget allows, not one flush period later.
    const again = await flushQueue({ ...options, queue });
    result.hss_calls += again.hss_calls;
    result.images_submitted += again.images_submitted;
    result.dead_lettered += again.dead_lettered;
    result.returned += again.returned;
    result.stopped = again.stopped;
    result.retry_after_ms = again.retry_after_ms;
  }
  const counts = await queue.counts().catch((error: Error) => {
    log.warn("queue_unavailable", { during: "counts", reason: error.message });
    return undefined;
  });
  // A flush that made no call changed nothing: routine, logged at debug level only.
  const idle =
    result.hss_calls === 0 &&
    result.dead_lettered === 0 &&
    (followed === undefined || (followed.checked === 0 && followed.list_calls === 0));
  log[idle ? "debug" : "info"]("flush_done", {
    trigger,
    ...result,
    ...(followed ? { follow_up: followed } : {}),
    ...(counts ? { queue: counts } : {}),
  });
  const waiting =
    result.retry_after_ms !== undefined
      ? `; next call possible in ${Math.ceil(result.retry_after_ms / 1000)} s`
      : "";
  return {
    status: "flushed",
    message: `${result.images_submitted} image${result.images_submitted === 1 ? "" : "s"} submitted in ${result.hss_calls} HSS call${result.hss_calls === 1 ? "" : "s"}; stopped: ${result.stopped}${waiting}${followed ? `; follow-up: ${followed.finished} finished, ${followed.failed} failed, ${followed.requeued} queued again, ${followed.syncing} waiting for a sync` : ""}${counts ? `; ${counts.pending} pending, ${counts.claimed} claimed, ${counts.watched ?? 0} watched, ${counts.dead_lettered} dead-lettered` : ""}`,
    request_id: requestId,
    trigger,
    flush: result,
    ...(followed ? { follow_up: followed } : {}),
    ...(counts ? { queue: counts } : {}),
  };
}

/** The follow-up, after the queue's own work, when FOLLOW_UP is on and an HSS client is at hand. */
async function runFollowUp(
  queue: ScanQueue,
  options: Omit<FlushOptions, "queue"> & { followUpContext?: FollowUpContext },
): Promise<FollowUpResult | undefined> {
  const context = options.followUpContext;
  if (!options.followUp || !context) return undefined;
  if (options.deadline - Date.now() < MIN_ATTEMPT_MS) return undefined;
  const submitter = options.submitter();
  if (!isHssCaller(submitter)) return undefined;
  const { followUp } = await import("./follow-up/follow-up");
  try {
    return await followUp({
      queue,
      caller: submitter,
      config: context.config,
      deadline: options.deadline,
      log: options.log,
      notifier: await context.notifier?.(),
    });
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    options.log.warn("queue_unavailable", { during: "follow_up", reason: error.message });
    return undefined;
  }
}
