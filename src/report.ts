import type { HssRequestPreview } from "./cloud/request";
import { failureFieldsOf, type SignedCallError } from "./cloud/signed-client";
import { HttpError } from "./errors";
import type { FlushResult } from "./flush/claims";
import type { RegistryEvent } from "./formats/registry-event";
import type { OperateAllFilters, ScanBatch } from "./hss/batch-scan-request";
import { describeTarget, type ImageType, type ScanTarget } from "./images/scan-target";
import type { InstanceUrlStatus } from "./instance-urls";
import type { Durability, FailureRecord } from "./queue/scan-queue";
import type { AdjustedValue, SkippedImage, UnmappedImage } from "./scan-plan";
import type { SubmitOutcome } from "./submit";

/**
 * What the function tells the sender: what was submitted to HSS, what was skipped and why, and
 * what failed with HSS's own error code and request id. The same object is the HTTP body and
 * the return value of a direct invocation.
 */

export type SubmittedScan = (ScanTarget | ({ operate_all: true } & OperateAllFilters)) & {
  hss_request_id?: string;
};

/**
 * What happened to a request that failed: never sent (budget, deadline, credentials, no
 * connection), sent without an answer (timeout, connection lost: HSS may have received it), or
 * refused (HSS or its gateway answered with an error).
 */
export type FailureOutcome = "not_sent" | "sent_unanswered" | "refused";

export interface HssFailure {
  outcome: FailureOutcome;
  http_status?: number;
  /** How many times the request was tried. */
  attempts: number;
  error_code: string;
  error_msg: string;
  hss_request_id?: string;
}

export type FailedScan = (ScanTarget | ({ operate_all: true } & OperateAllFilters)) & {
  error: HssFailure;
};

/** What a dry run reports about the HSS and queue settings: enough to check a deployment. */
export interface SetupSummary {
  hss: {
    endpoint: string;
    region?: string;
    project_id: "configured" | "from the runtime" | "missing";
    credentials: "agency" | "access key" | "missing";
    enterprise_project_id?: string;
  };
  queue: {
    /** The backend's name (src/queue/backends.ts), or `none` in direct mode. */
    backend: string;
    reachable?: boolean;
    problem?: string;
    /** Whether what is queued survives a restart of the queue's server. */
    durability?: Durability;
  };
  /** How HTTP deliveries are authenticated: `none` accepts anyone who reaches the URL. */
  webhook_auth?: "secret" | "none";
  calls_per_minute: number;
  /** Per configured SWR Enterprise instance: the instance_url form in use, and its source. */
  instance_urls?: InstanceUrlStatus[];
  /** The scan API HSS no longer serves, and the one used instead (with a queue). */
  scan_api_retired?: { api: string; since: string; now_using: string };
}

export type ReportStatus =
  | "submitted"
  | "queued"
  | "nothing_to_scan"
  | "ignored"
  | "failed"
  | "rate_limited"
  | "dead_lettered"
  | "dry_run";

/** An image this delivery put on the scan queue (or found there already). */
export type QueuedImage = ScanTarget & { digest?: string };

/** What the flush run right after intake did (queue mode). */
export interface FlushSummary {
  hss_calls: number;
  images_submitted: number;
  dead_lettered: number;
  stopped: FlushResult["stopped"];
  retry_after_seconds?: number;
}

export interface ScanReport {
  status: ReportStatus;
  message: string;
  request_id?: string;
  event: { format: string; type: string };
  image_type?: ImageType;
  /** Queue mode: the images of this delivery that are on the scan queue. */
  queued?: QueuedImage[];
  /**
   * Queue mode: images of this delivery the flush right after intake dead-lettered (HSS refused
   * them), with HSS's error. They are on the dead-letter list (`npm run queue -- status`).
   */
  dead_lettered?: Array<QueuedImage & { error: FailureRecord }>;
  submitted: SubmittedScan[];
  skipped: SkippedImage[];
  failed: FailedScan[];
  /** How many requests this invocation sent to HSS. */
  hss_requests: number;
  /** Queue mode: the flush that ran right after intake. */
  flush?: FlushSummary;
  /** Values the function derived and changed so that an image stays scannable. */
  adjusted?: AdjustedValue[];
  /** Images not sent because their registry maps to no SWR Enterprise instance (answered 422). */
  unmapped?: UnmappedImage[];
  /** Set with status rate_limited: when the sender should try again. */
  retry_after_seconds?: number;
  /** Dry run only: what the function is set up to do with HSS and the queue (no secrets). */
  setup?: SetupSummary;
  /** Dry run only: the images that would have been submitted, and the exact requests. */
  would_submit?: SubmittedScan[];
  would_send?: HssRequestPreview[];
}

export function ignoredReport(event: RegistryEvent, requestId?: string): ScanReport {
  return {
    status: "ignored",
    message: `${event.eventType} ${event.kind === "ignored" && event.reason ? `ignored: ${event.reason}` : "events are acknowledged and ignored; only pushes are scanned"}`,
    request_id: requestId,
    event: { format: event.format, type: event.eventType },
    submitted: [],
    skipped: [],
    failed: [],
    hss_requests: 0,
  };
}

export function scanReport(
  event: RegistryEvent,
  imageType: ImageType,
  skipped: SkippedImage[],
  outcomes: SubmitOutcome[],
  run: { requestId?: string; dryRun: boolean },
): ScanReport {
  const { requestId, dryRun } = run;
  const submitted: SubmittedScan[] = [];
  const failed: FailedScan[] = [];
  const wouldSubmit: SubmittedScan[] = [];
  const wouldSend: HssRequestPreview[] = [];
  let calls = 0;
  let retryAfterMs = 0;
  let onlyDeferred = true;
  for (const outcome of outcomes) {
    if (outcome.kind === "previewed") {
      wouldSubmit.push(...scansOf(outcome.sent ?? outcome.batch));
      wouldSend.push(outcome.preview);
      continue;
    }
    calls += outcome.calls;
    if (outcome.kind === "sent") {
      for (const scan of scansOf(outcome.sent ?? outcome.batch)) {
        submitted.push({ ...scan, hss_request_id: outcome.requestId });
      }
      continue;
    }
    if (outcome.retryAfterMs === undefined) onlyDeferred = false;
    else retryAfterMs = Math.max(retryAfterMs, outcome.retryAfterMs);
    for (const scan of scansOf(outcome.batch)) {
      failed.push({ ...scan, error: hssFailureOf(outcome.error, outcome.attempts) });
    }
  }
  const status: ReportStatus = dryRun
    ? "dry_run"
    : failed.length > 0
      ? onlyDeferred
        ? "rate_limited"
        : "failed"
      : submitted.length > 0
        ? "submitted"
        : "nothing_to_scan";
  const retryAfter = status === "rate_limited" ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 0;
  return {
    status,
    message: dryRun
      ? `dry run: ${describeScans(wouldSubmit)} would be submitted in ${count(wouldSend.length, "HSS request")}${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}; nothing was sent`
      : `${describeScans(submitted)} submitted to HSS${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}${failed.length > 0 ? `, ${failed.length} ${status === "rate_limited" ? `not sent within HSS's rate limit; try again in ${retryAfter} s` : "failed"}` : ""}`,
    request_id: requestId,
    event: { format: event.format, type: event.eventType },
    image_type: imageType,
    submitted,
    skipped,
    failed,
    hss_requests: dryRun ? 0 : calls,
    ...(retryAfter > 0 ? { retry_after_seconds: retryAfter } : {}),
    ...(dryRun ? { would_submit: wouldSubmit, would_send: wouldSend } : {}),
  };
}

/** Queue mode: what intake put on the queue, and what the flush right after it did. */
export function queuedReport(
  event: RegistryEvent,
  imageType: ImageType,
  skipped: SkippedImage[],
  onQueue: Array<{ id: string; image: QueuedImage }>,
  flush: FlushResult | undefined,
  requestId?: string,
): ScanReport {
  // Those the flush right after intake sent are reported submitted, those it dead-lettered as
  // such; the rest wait on the queue.
  const submitted: SubmittedScan[] = [];
  const queued: QueuedImage[] = [];
  const deadLettered: NonNullable<ScanReport["dead_lettered"]> = [];
  for (const { id, image } of onQueue) {
    const buried = flush?.buried.get(id);
    if (flush?.accepted.has(id)) {
      const { digest: _digest, ...target } = image;
      const sentUrl = flush.sent_urls?.get(id);
      submitted.push({
        ...target,
        ...(sentUrl ? { instance_url: sentUrl } : {}),
        hss_request_id: flush.accepted.get(id),
      });
    } else if (buried) deadLettered.push({ ...image, error: buried.error });
    else queued.push(image);
  }
  const summary: FlushSummary | undefined = flush && {
    hss_calls: flush.hss_calls,
    images_submitted: flush.images_submitted,
    dead_lettered: flush.dead_lettered,
    stopped: flush.stopped,
    ...(flush.retry_after_ms !== undefined
      ? { retry_after_seconds: Math.ceil(flush.retry_after_ms / 1000) }
      : {}),
  };
  const next =
    flush && (flush.stopped === "budget" || flush.stopped === "throttled")
      ? ` (HSS's rate limit is reached for now: they go out within ${Math.ceil((flush.retry_after_ms ?? 60_000) / 1000)} s)`
      : " (sent on the next flush)";
  const dead = deadLettered
    .slice(0, 3)
    .map(
      ({ error, ...image }) =>
        `${describeTarget(image)} (${error.error_code}: ${error.error_msg}${error.hss_request_id ? `, request id ${error.hss_request_id}` : ""})`,
    );
  const parts = [
    ...(submitted.length > 0 ? [`${count(submitted.length, "image")} submitted to HSS`] : []),
    ...(queued.length > 0 || (submitted.length === 0 && deadLettered.length === 0)
      ? [`${count(queued.length, "image")} queued${queued.length > 0 ? next : ""}`]
      : []),
    ...(deadLettered.length > 0
      ? [
          `${count(deadLettered.length, "image")} dead-lettered, refused by HSS: ${dead.join("; ")}${deadLettered.length > 3 ? ` and ${deadLettered.length - 3} more` : ""} (npm run queue -- status lists them; retry-dead sends them again)`,
        ]
      : []),
    ...(skipped.length > 0 ? [`${skipped.length} skipped`] : []),
  ];
  return {
    status:
      queued.length > 0
        ? "queued"
        : submitted.length > 0
          ? "submitted"
          : deadLettered.length > 0
            ? "dead_lettered"
            : "nothing_to_scan",
    message: parts.join(", "),
    request_id: requestId,
    event: { format: event.format, type: event.eventType },
    image_type: imageType,
    queued,
    ...(deadLettered.length > 0 ? { dead_lettered: deadLettered } : {}),
    submitted,
    skipped,
    failed: [],
    hss_requests: flush?.hss_calls ?? 0,
    ...(summary ? { flush: summary } : {}),
  };
}

/**
 * The error a report with failures becomes: 503 with Retry-After when HSS's rate limit alone held
 * images back, 502 otherwise; a rejection when invoked directly. Either way the sender retries.
 */
export function scanFailedError(report: ScanReport): HttpError {
  const names = report.failed
    .slice(0, 5)
    .map((scan) => {
      const { error } = scan;
      const id = error.hss_request_id ? `, request id ${error.hss_request_id}` : "";
      return `${describeScan(scan)} (${OUTCOME_WORDS[error.outcome]}: ${error.error_code}: ${error.error_msg}${id})`;
    })
    .join("; ");
  const more = report.failed.length > 5 ? ` and ${report.failed.length - 5} more` : "";
  const message = `${report.message}. Not submitted: ${names}${more}`;
  if (report.status === "rate_limited") {
    return new HttpError(503, message, {
      report,
      headers: { "retry-after": String(report.retry_after_seconds ?? 60) },
    });
  }
  return new HttpError(502, message, { report });
}

export function httpStatusOf(report: ScanReport): number {
  if (report.status === "ignored" || report.status === "dry_run") return 200;
  if (report.status === "failed") return 502;
  if (report.status === "rate_limited") return 503;
  return 202;
}

function scansOf(
  batch: ScanBatch,
): Array<ScanTarget | ({ operate_all: true } & OperateAllFilters)> {
  if ("image_info_list" in batch) return batch.image_info_list;
  const { image_type, ...operateAll } = batch;
  return [operateAll];
}

const NOT_SENT_CODES = new Set(["DEADLINE_EXCEEDED", "RATE_LIMITED", "CREDENTIALS_MISSING"]);

export function failureOutcomeOf(error: SignedCallError): FailureOutcome {
  if (error.httpStatus !== undefined) return "refused";
  if (NOT_SENT_CODES.has(error.errorCode)) return "not_sent";
  // No connection was made, so nothing reached HSS.
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(error.message)) {
    return "not_sent";
  }
  return "sent_unanswered";
}

const OUTCOME_WORDS: Record<FailureOutcome, string> = {
  not_sent: "not sent",
  sent_unanswered: "sent, no answer",
  refused: "refused",
};

function hssFailureOf(error: SignedCallError, attempts: number): HssFailure {
  return { outcome: failureOutcomeOf(error), attempts, ...failureFieldsOf(error) };
}

function describeScan(scan: ScanTarget | { operate_all: true }): string {
  return "operate_all" in scan ? "operate_all request" : describeTarget(scan);
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

function describeScans(scans: SubmittedScan[]): string {
  return scans.some((scan) => "operate_all" in scan)
    ? "a scan of all matching images"
    : count(scans.length, "image");
}
