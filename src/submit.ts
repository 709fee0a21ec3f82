import type { HssRequestPreview } from "./cloud/request";
import { failureFieldsOf, SignedCallError } from "./cloud/signed-client";
import { mapWithConcurrency } from "./concurrency";
import type { ScanBatch } from "./hss/batch-scan-request";
import type { InstanceUrls } from "./instance-urls";
import type { Logger } from "./log";
import { announceRetired, retryDelayMs, type ScanSender, sendScan } from "./send-scan";

/**
 * Sends batches to HSS within the invocation, for direct mode (no queue), manual HSS requests and
 * the fallback when the queue cannot be reached (send-scan.ts does each call). A batch the budget
 * has no slot for is not sent and fails with `RATE_LIMITED`, and a 429 is not retried in its
 * window. Other retryable failures (5xx, timeouts, connection errors) are retried after the one
 * retry policy's delay, never past the invocation's deadline.
 */

/** What became of one batch: the tagged outcome the report is built from. */
export type SubmitOutcome =
  | {
      kind: "sent";
      batch: ScanBatch;
      /** The batch as it went: each enterprise image with the instance_url it was sent with. */
      sent?: ScanBatch;
      requestId?: string;
      attempts: number;
      calls: number;
    }
  | { kind: "previewed"; batch: ScanBatch; sent?: ScanBatch; preview: HssRequestPreview }
  | {
      kind: "failed";
      batch: ScanBatch;
      error: SignedCallError;
      attempts: number;
      /** Requests that reached the network (0: the batch was never sent). */
      calls: number;
      /** Set when the budget or the gateway's rate limit stopped it: when to come back. */
      retryAfterMs?: number;
    };

export interface RetryPolicy {
  /** Attempts per batch, the first one included. */
  attempts: number;
  baseDelayMs: number;
}

export interface SubmitBatchesOptions {
  /** Built only when there is something to send: ignored events need no credentials. */
  sender: () => ScanSender;
  concurrency: number;
  /** Timeout of one attempt; shortened to what is left before the deadline. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** Epoch milliseconds by which every attempt must have ended. */
  deadline: number;
  log: Logger;
  random?: () => number;
  /** The clock and the wait between attempts: real ones by default, tests give their own. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Names enterprise images as HSS records them (src/instance-urls.ts). */
  urls?: InstanceUrls;
  /**
   * After HSS refused a batch: learns how HSS records its enterprise images (one list call per
   * instance); true when a form changed, and the batch is sent again at once, named that way.
   */
  relearn?: (batch: ScanBatch) => Promise<boolean>;
}

/** Below this, an attempt cannot do anything useful: HSS alone takes longer to answer. */
export const MIN_ATTEMPT_MS = 100;
/** The longest wait between two attempts of one invocation. */
const MAX_DELAY_MS = 5000;

export async function submitBatches(
  batches: readonly ScanBatch[],
  options: SubmitBatchesOptions,
): Promise<SubmitOutcome[]> {
  if (batches.length === 0) return [];
  const sender = options.sender();
  return mapWithConcurrency(batches, options.concurrency, (batch) =>
    submitWithRetries(batch, sender, options),
  );
}

async function submitWithRetries(
  batch: ScanBatch,
  sender: ScanSender,
  options: SubmitBatchesOptions,
): Promise<SubmitOutcome> {
  const { log, retry, deadline } = options;
  const images = imagesOf(batch);
  let attempts = 0;
  let calls = 0;
  let lastError: SignedCallError | undefined;
  let relearned = false;
  const fail = (error: SignedCallError, retryAfterMs?: number): SubmitOutcome => {
    logFailure(log, batch, error, attempts, retryAfterMs);
    return { kind: "failed", batch, error, attempts, calls, retryAfterMs };
  };
  for (;;) {
    const left = deadline - (options.now ?? Date.now)();
    if (left < MIN_ATTEMPT_MS) {
      return fail(
        lastError ??
          notSent("the invocation's time ran out before HSS could be asked", "DEADLINE_EXCEEDED"),
      );
    }
    const outcome = await sendScan(sender, batch, {
      timeoutMs: Math.min(options.timeoutMs, left),
      urls: options.urls,
    });
    if (outcome.kind === "previewed") {
      log.info("dry_run", {
        image_type: batch.image_type,
        images,
        would_send: outcome.preview.url,
      });
      return { kind: "previewed", batch, sent: outcome.sent, preview: outcome.preview };
    }
    if (outcome.kind === "no_slot") {
      const scope =
        sender.mode === "send" && sender.budget.scope === "shared" ? "queue" : "instance";
      return fail(
        notSent(
          `the HSS call budget (HSS_CALLS_PER_MINUTE per ${scope}) is spent; a slot frees in ${Math.ceil(outcome.retryAfterMs / 1000)} s`,
          "RATE_LIMITED",
        ),
        outcome.retryAfterMs,
      );
    }
    attempts += 1;
    if (outcome.kind === "sent") {
      calls += 1;
      log.info("submitted", {
        image_type: batch.image_type,
        images,
        attempt: attempts,
        hss_request_id: outcome.requestId,
      });
      return {
        kind: "sent",
        batch,
        sent: outcome.sent,
        requestId: outcome.requestId,
        attempts,
        calls,
      };
    }
    const { error, failure } = outcome;
    if (error.errorCode !== "CREDENTIALS_MISSING") calls += 1;
    lastError = error;
    if (failure === "throttled") return fail(error, outcome.retryAfterMs);
    if (failure === "retired" && sender.mode === "send") announceRetired(sender, log, error);
    if (failure === "rejected" && !relearned && options.relearn) {
      relearned = true;
      if (await options.relearn(batch)) continue;
    }
    if (failure !== "transient" || attempts >= retry.attempts) return fail(error);
    if (!(await waitToRetry(batch, error, attempts, options))) return fail(error);
  }
}

/** The retry policy's wait before the next attempt; false when it would end past the deadline. */
async function waitToRetry(
  batch: ScanBatch,
  error: SignedCallError,
  attempts: number,
  options: SubmitBatchesOptions,
): Promise<boolean> {
  const { retry } = options;
  const delayMs = retryDelayMs(
    attempts,
    { firstMs: retry.baseDelayMs, maxMs: MAX_DELAY_MS },
    options.random ?? Math.random,
  );
  if ((options.now ?? Date.now)() + delayMs + MIN_ATTEMPT_MS > options.deadline) return false;
  options.log.warn("retried", {
    image_type: batch.image_type,
    images: imagesOf(batch),
    attempt: attempts,
    delay_ms: delayMs,
    ...failureFieldsOf(error),
  });
  await (options.sleep ?? realSleep)(delayMs);
  return true;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function notSent(why: string, code: string): SignedCallError {
  return new SignedCallError(`not sent: ${why}`, undefined, code, undefined);
}

function imagesOf(batch: ScanBatch): number | "operate_all" {
  return "image_info_list" in batch ? batch.image_info_list.length : "operate_all";
}

function logFailure(
  log: Logger,
  batch: ScanBatch,
  error: SignedCallError,
  attempts: number,
  retryAfterMs: number | undefined,
): void {
  const fields = {
    image_type: batch.image_type,
    images: imagesOf(batch),
    attempts,
    ...failureFieldsOf(error),
  };
  // Rate limiting is expected under load and the sender is told when to come back.
  if (retryAfterMs !== undefined) {
    log.warn("deferred", { ...fields, retry_after_s: Math.ceil(retryAfterMs / 1000) });
  } else {
    log.error("failed", fields);
  }
}
