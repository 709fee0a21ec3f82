import { mapWithConcurrency } from "./concurrency";
import type { ScanBatch } from "./hss/batch-scan-request";
import { type BatchScanSubmitter, HssCallError, toHssCallError } from "./hss/client";
import type { Logger } from "./log";
import type { BatchOutcome } from "./report";

/**
 * Sends batches to HSS with bounded concurrency, retrying what a retry can fix (429, 5xx,
 * timeouts, connection errors) with exponential backoff and full jitter, and never past the
 * invocation's deadline: an attempt that could not finish in time is not started.
 */

export interface RetryPolicy {
  /** Attempts per batch, the first one included. */
  attempts: number;
  baseDelayMs: number;
}

export interface SubmitBatchesOptions {
  submitter: () => BatchScanSubmitter;
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

export function isRetryable(error: HssCallError): boolean {
  if (error.httpStatus === undefined)
    return error.errorCode === "TIMEOUT" || error.errorCode === "CONNECTION_ERROR";
  return error.httpStatus === 429 || error.httpStatus >= 500;
}

export async function submitBatches(
  batches: readonly ScanBatch[],
  options: SubmitBatchesOptions,
): Promise<BatchOutcome[]> {
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
): Promise<BatchOutcome> {
  const { log, retry, deadline } = options;
  const random = options.random ?? Math.random;
  const images = "image_info_list" in batch ? batch.image_info_list.length : "operate_all";
  let attempt = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left < MIN_ATTEMPT_MS) {
      const error = new HssCallError(
        "not sent: the invocation's time budget ran out before HSS could be asked",
        undefined,
        "DEADLINE_EXCEEDED",
        undefined,
      );
      return failed(batch, error, attempt, options.log, images);
    }
    attempt += 1;
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
        return { batch, preview: result.preview };
      }
      log.info("submitted", {
        image_type: batch.image_type,
        images,
        attempt,
        hss_request_id: result.requestId,
      });
      return { batch, requestId: result.requestId };
    } catch (thrown) {
      const error = toHssCallError(thrown);
      if (!isRetryable(error) || attempt >= retry.attempts) {
        return failed(batch, error, attempt, log, images);
      }
      const ceiling = Math.min(MAX_DELAY_MS, retry.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(random() * ceiling);
      if (Date.now() + delayMs + MIN_ATTEMPT_MS > deadline) {
        return failed(batch, error, attempt, log, images);
      }
      log.warn("retried", {
        image_type: batch.image_type,
        images,
        attempt,
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

function failed(
  batch: ScanBatch,
  error: HssCallError,
  attempts: number,
  log: Logger,
  images: number | string,
): BatchOutcome {
  log.error("failed", {
    image_type: batch.image_type,
    images,
    attempts,
    http_status: error.httpStatus,
    error_code: error.errorCode,
    error_msg: error.message,
    hss_request_id: error.requestId,
  });
  return { batch, error, attempts };
}
