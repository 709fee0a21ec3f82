import { httpError } from "./errors";
import type { RegistryEvent } from "./formats/registry-event";
import {
  describeTarget,
  type ImageType,
  type OperateAllFilters,
  type ScanBatch,
  type ScanTarget,
} from "./hss/batch-scan-request";
import type { HssCallError, HssRequestPreview } from "./hss/client";
import type { SkippedImage } from "./scan-plan";

/**
 * What the function tells the sender: what was submitted to HSS, what was skipped and why, and
 * what failed with HSS's own error code and request id. The same object is the HTTP body and
 * the return value of a direct invocation.
 */

export type SubmittedScan = (ScanTarget | ({ operate_all: true } & OperateAllFilters)) & {
  hss_request_id?: string;
};

export interface HssFailure {
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

export type ReportStatus = "submitted" | "nothing_to_scan" | "ignored" | "failed" | "dry_run";

export interface ScanReport {
  status: ReportStatus;
  message: string;
  request_id?: string;
  event: { format: string; type: string };
  image_type?: ImageType;
  submitted: SubmittedScan[];
  skipped: SkippedImage[];
  failed: FailedScan[];
  /** How many requests were sent to HSS. */
  hss_requests: number;
  /** Dry run only: the images that would have been submitted, and the exact requests. */
  would_submit?: SubmittedScan[];
  would_send?: HssRequestPreview[];
}

export type BatchOutcome =
  | { batch: ScanBatch; requestId?: string; preview?: undefined }
  | { batch: ScanBatch; preview: HssRequestPreview }
  | { batch: ScanBatch; error: HssCallError; attempts: number; preview?: undefined };

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
  outcomes: BatchOutcome[],
  run: { requestId?: string; dryRun: boolean },
): ScanReport {
  const { requestId, dryRun } = run;
  const submitted: SubmittedScan[] = [];
  const failed: FailedScan[] = [];
  const wouldSubmit: SubmittedScan[] = [];
  const wouldSend: HssRequestPreview[] = [];
  for (const outcome of outcomes) {
    if (outcome.preview) {
      wouldSubmit.push(...scansOf(outcome.batch));
      wouldSend.push(outcome.preview);
      continue;
    }
    for (const scan of scansOf(outcome.batch)) {
      if ("error" in outcome) {
        failed.push({ ...scan, error: hssFailureOf(outcome.error, outcome.attempts) });
      } else submitted.push({ ...scan, hss_request_id: outcome.requestId });
    }
  }
  const status: ReportStatus = dryRun
    ? "dry_run"
    : failed.length > 0
      ? "failed"
      : submitted.length > 0
        ? "submitted"
        : "nothing_to_scan";
  return {
    status,
    message: dryRun
      ? `dry run: ${describeScans(wouldSubmit)} would be submitted in ${count(wouldSend.length, "HSS request")}${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}; nothing was sent`
      : `${describeScans(submitted)} submitted to HSS${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}${failed.length > 0 ? `, ${failed.length} failed` : ""}`,
    request_id: requestId,
    event: { format: event.format, type: event.eventType },
    image_type: imageType,
    submitted,
    skipped,
    failed,
    hss_requests: dryRun ? 0 : outcomes.length,
    ...(dryRun ? { would_submit: wouldSubmit, would_send: wouldSend } : {}),
  };
}

/** The error a report with failures becomes: 502 over HTTP, a rejection when invoked directly. */
export function scanFailedError(report: ScanReport) {
  const names = report.failed
    .slice(0, 5)
    .map((scan) => {
      const { error } = scan;
      const id = error.hss_request_id ? `, request id ${error.hss_request_id}` : "";
      return `${describeScan(scan)} (${error.error_code}: ${error.error_msg}${id})`;
    })
    .join("; ");
  const more = report.failed.length > 5 ? ` and ${report.failed.length - 5} more` : "";
  return httpError(502, `${report.message}. Not submitted: ${names}${more}`, { report });
}

export function httpStatusOf(report: ScanReport): number {
  if (report.status === "ignored" || report.status === "dry_run") return 200;
  if (report.status === "failed") return 502;
  return 202;
}

function scansOf(
  batch: ScanBatch,
): Array<ScanTarget | ({ operate_all: true } & OperateAllFilters)> {
  if ("image_info_list" in batch) return batch.image_info_list;
  const { image_type, ...operateAll } = batch;
  return [operateAll];
}

function hssFailureOf(error: HssCallError, attempts: number): HssFailure {
  return {
    http_status: error.httpStatus,
    attempts,
    error_code: error.errorCode,
    error_msg: error.message,
    hss_request_id: error.requestId,
  };
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
