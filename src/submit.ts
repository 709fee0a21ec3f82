import { mapWithConcurrency } from "./concurrency";
import type { ScanBatch } from "./hss/batch-scan-request";
import { BATCH_SCAN_API, type CallBudget, RATE_WINDOW_MS } from "./hss/call-budget";
import {
  type BatchScanSubmitter,
  classifyFailure,
  HssCallError,
  type HssRequestPreview,
  toHssCallError,
} from "./hss/client";
import type { Logger } from "./log";

/**
 * Sends batches to HSS within the invocation, for direct mode (no queue), manual HSS requests and
 * the fallback when the queue cannot be reached. Every call first takes a slot of the call budget;
 * a batch that gets none is not sent and fails with `RATE_LIMITED`, and a 429 spends the window
 * and is not retried in it. Other retryable failures (5xx, timeouts, connection errors) are
 * retried with exponential backoff and full jitter, never past the invocation's deadline.
 */

/** What became of one batch: the tagged outcome the report is built from. */
export type SubmitOutcome =
  | { kind: "sent"; batch: ScanBatch; requestId?: string; attempts: number; calls: number }
  | { kind: "previewed"; batch: ScanBatch; preview: HssRequestPreview }
  | {
      kind: "failed";
      batch: ScanBatch;
      error: HssCallError;
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
  submitter: () => BatchScanSubmitter;
  /** Undefined for a dry run, which sends nothing and so spends nothing. */
  budget?: CallBudget;
  concurrency: number;
  /** Timeout of one attempt; shortened to what is left before the deadline. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** Epoch milliseconds by which every attempt must have ended. */
  deadline: number;
  log: Logger;
  random?: () => number;
}

/** Below this, an attempt cannot do anything useful: HSS alone takes longer to answer. */
export const MIN_ATTEMPT_MS = 100;
const MAX_DELAY_MS = 5000;

export async function submitBatches(
  batches: readonly ScanBatch[],
  options: SubmitBatchesOptions,
): Promise<SubmitOutcome[]> {
  if (batches.length === 0) return [];
  const submitter = options.submitter();
  return mapWithConcurrency(batches, options.concurrency, (batch) =>
    submitWithRetries(batch, submitter, options),
  );
}

async function submitWithRetries(
  batch: ScanBatch,
  submitter: BatchScanSubmitter,
  options: SubmitBatchesOptions,
): Promise<SubmitOutcome> {
  const { log, retry, deadline, budget } = options;
  const random = options.random ?? Math.random;
  const images = imagesOf(batch);
  let attempts = 0;
  let calls = 0;
  let lastError: HssCallError | undefined;
  const fail = (error: HssCallError, retryAfterMs?: number): SubmitOutcome => {
    logFailure(log, batch, error, attempts, retryAfterMs);
    return { kind: "failed", batch, error, attempts, calls, retryAfterMs };
  };
  for (;;) {
    const left = deadline - Date.now();
    if (left < MIN_ATTEMPT_MS) {
      return fail(
        lastError ??
          new HssCallError(
            "not sent: the invocation's time ran out before HSS could be asked",
            undefined,
            "DEADLINE_EXCEEDED",
            undefined,
          ),
      );
    }
    if (budget) {
      const slot = await budget.take(BATCH_SCAN_API);
      if (!slot.granted) {
        return fail(
          new HssCallError(
            `not sent: the HSS call budget (HSS_CALLS_PER_MINUTE per ${budget.scope === "shared" ? "queue" : "instance"}) is spent; a slot frees in ${Math.ceil(slot.retryAfterMs / 1000)} s`,
            undefined,
            "RATE_LIMITED",
            undefined,
          ),
          slot.retryAfterMs,
        );
      }
    }
    attempts += 1;
    try {
      const result = await submitter.submitBatchScan(batch, {
        timeoutMs: Math.min(options.timeoutMs, left),
      });
      if (result.preview) {
        log.info("dry_run", {
          image_type: batch.image_type,
          images,
          would_send: result.preview.url,
        });
        return { kind: "previewed", batch, preview: result.preview };
      }
      calls += 1;
      log.info("submitted", {
        image_type: batch.image_type,
        images,
        attempt: attempts,
        hss_request_id: result.requestId,
      });
      return { kind: "sent", batch, requestId: result.requestId, attempts, calls };
    } catch (thrown) {
      const error = toHssCallError(thrown);
      if (error.errorCode !== "CREDENTIALS_MISSING") calls += 1;
      lastError = error;
      const kind = classifyFailure(error);
      if (kind === "throttled") {
        // The window is spent: another call in it would only be throttled again.
        await budget?.spendWindow(BATCH_SCAN_API);
        return fail(error, budget?.windowMs ?? RATE_WINDOW_MS);
      }
      if (kind !== "transient" || attempts >= retry.attempts) return fail(error);
      const ceiling = Math.min(MAX_DELAY_MS, retry.baseDelayMs * 2 ** (attempts - 1));
      const delayMs = Math.round(random() * ceiling);
      if (Date.now() + delayMs + MIN_ATTEMPT_MS > deadline) return fail(error);
      log.warn("retried", {
        image_type: batch.image_type,
        images,
        attempt: attempts,
        delay_ms: delayMs,
        http_status: error.httpStatus,
        error_code: error.errorCode,
        error_msg: error.message,
        hss_request_id: error.requestId,
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function imagesOf(batch: ScanBatch): number | "operate_all" {
  return "image_info_list" in batch ? batch.image_info_list.length : "operate_all";
}

function logFailure(
  log: Logger,
  batch: ScanBatch,
  error: HssCallError,
  attempts: number,
  retryAfterMs: number | undefined,
): void {
  const fields = {
    image_type: batch.image_type,
    images: imagesOf(batch),
    attempts,
    http_status: error.httpStatus,
    error_code: error.errorCode,
    error_msg: error.message,
    hss_request_id: error.requestId,
  };
  // Rate limiting is expected under load and the sender is told when to come back.
  if (retryAfterMs !== undefined) {
    log.warn("deferred", { ...fields, retry_after_s: Math.ceil(retryAfterMs / 1000) });
  } else {
    log.error("failed", fields);
  }
}
