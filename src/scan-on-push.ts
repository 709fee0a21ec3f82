import { mapWithConcurrency } from "./concurrency";
import type { Config } from "./config";
import { type Delivery, payloadOf } from "./delivery";
import { parseRegistryPayload } from "./formats";
import type { BatchScanSubmitter } from "./hss/client";
import { toHssCallError } from "./hss/client";
import type { Logger } from "./log";
import {
  type BatchOutcome,
  ignoredReport,
  type ScanReport,
  scanFailedError,
  scanReport,
} from "./report";
import { planManualScans, planPushScans, splitIntoBatches } from "./scan-plan";

export interface ScanOnPushDependencies {
  config: Config;
  /** Called only when there is something to send, so ignored events need no credentials. */
  submitter: () => BatchScanSubmitter;
  log: Logger;
  requestId?: string;
}

/**
 * The whole job for one delivery: recognise the payload, plan the scans, submit them, report.
 * Resolves with the report when every image was submitted or skipped; throws a 502 error that
 * carries the report when any image could not be submitted, so that the sender retries.
 */
export async function scanOnPush(
  delivery: Delivery,
  deps: ScanOnPushDependencies,
): Promise<ScanReport> {
  const { config, log } = deps;
  const event = parseRegistryPayload(payloadOf(delivery));
  log.info("received", {
    delivery: delivery.kind,
    format: event.format,
    event_type: event.eventType,
  });

  if (event.kind === "ignored") {
    log.info("ignored", { event_type: event.eventType, reason: "not a push event" });
    return ignoredReport(event, deps.requestId);
  }

  const plan =
    event.kind === "push"
      ? planPushScans(event.images, {
          queryInstanceId: delivery.kind === "http" ? delivery.query.instance_id : undefined,
          swr: config.swr,
        })
      : planManualScans(event.request, config.swr);
  for (const skipped of plan.skipped)
    log.info("skipped", { image: skipped.image, reason: skipped.reason });

  const batches = splitIntoBatches(plan, config.hss.batchSize);
  const submitter = batches.length > 0 ? deps.submitter() : undefined;
  const outcomes = await mapWithConcurrency(
    batches,
    config.hss.concurrency,
    async (batch): Promise<BatchOutcome> => {
      const images = "image_info_list" in batch ? batch.image_info_list.length : "operate_all";
      try {
        const result = await (submitter as BatchScanSubmitter).submitBatchScan(batch, {
          timeoutMs: config.hss.timeoutMs,
        });
        log.info("submitted", {
          image_type: batch.image_type,
          images,
          hss_request_id: result.requestId,
        });
        return { batch, requestId: result.requestId };
      } catch (thrown) {
        const error = toHssCallError(thrown);
        log.error("failed", {
          image_type: batch.image_type,
          images,
          http_status: error.httpStatus,
          error_code: error.errorCode,
          error_msg: error.message,
          hss_request_id: error.requestId,
        });
        return { batch, error };
      }
    },
  );

  const report = scanReport(event, plan.imageType, plan.skipped, outcomes, deps.requestId);
  if (report.status === "failed") throw scanFailedError(report);
  return report;
}
