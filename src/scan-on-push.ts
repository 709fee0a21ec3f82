import type { Config } from "./config";
import { type Delivery, payloadOf } from "./delivery";
import { httpError } from "./errors";
import { parseRegistryPayload } from "./formats";
import type { RegistryEvent } from "./formats/registry-event";
import { describeTarget, type ScanTarget, targetKey } from "./hss/batch-scan-request";
import type { BatchScanSubmitter } from "./hss/client";
import type { Logger } from "./log";
import type { RecentSubmissions } from "./recent-submissions";
import { ignoredReport, type ScanReport, scanFailedError, scanReport } from "./report";
import { planManualScans, planPushScans, type ScanPlan, splitIntoBatches } from "./scan-plan";
import { submitBatches } from "./submit-batches";
import { authenticateDelivery } from "./webhook-auth";

export interface ScanOnPushDependencies {
  config: Config;
  /** Called only when there is something to send, so ignored events need no credentials. */
  submitter: () => BatchScanSubmitter;
  log: Logger;
  /** Epoch milliseconds by which all HSS calls must have ended. */
  deadline: number;
  recent: RecentSubmissions;
  requestId?: string;
}

/**
 * The whole job for one delivery: authenticate, recognise the payload, plan the scans, submit
 * them, report. Resolves with the report when every image was submitted or skipped; throws a 502
 * error carrying the report when any image could not be submitted, so that the sender retries.
 */
export async function scanOnPush(
  delivery: Delivery,
  deps: ScanOnPushDependencies,
): Promise<ScanReport> {
  const { config, log } = deps;
  if (delivery.kind === "http") authenticateDelivery(delivery, config.webhook, log);
  const event = parseRegistryPayload(payloadOf(delivery, config.limits.bodyBytes));
  log.info("received", {
    delivery: delivery.kind,
    format: event.format,
    event_type: event.eventType,
  });

  if (event.kind === "ignored") {
    log.info("ignored", {
      event_type: event.eventType,
      reason: event.reason ?? "not a push event",
    });
    return ignoredReport(event, deps.requestId);
  }
  for (const passedOver of event.kind === "push" ? (event.ignored ?? []) : []) {
    log.info("ignored", { event_type: passedOver.eventType, reason: passedOver.reason });
  }

  const count = imageCount(event);
  if (count > config.limits.imagesPerDelivery) {
    throw httpError(
      413,
      `${count} images in one delivery; the limit is ${config.limits.imagesPerDelivery} (MAX_IMAGES_PER_DELIVERY): split the list`,
    );
  }

  const planned =
    event.kind === "push"
      ? planPushScans(event.images, {
          queryInstanceId: delivery.kind === "http" ? delivery.query.instance_id : undefined,
          swr: config.swr,
          policy: config.policy,
        })
      : planManualScans(event.request, config.swr);
  // Only registry deliveries are retried by their sender; a manual request is always sent.
  const plan = event.kind === "push" ? withoutRecentSubmissions(planned, deps.recent) : planned;
  for (const skipped of plan.skipped) {
    log.info("skipped", { image: skipped.image, rule: skipped.rule, reason: skipped.reason });
  }

  const outcomes = await submitBatches(splitIntoBatches(plan, config.hss.batchSize), {
    submitter: deps.submitter,
    concurrency: config.hss.concurrency,
    timeoutMs: config.hss.timeoutMs,
    retry: config.hss.retry,
    deadline: deps.deadline,
    log,
  });
  for (const outcome of outcomes) {
    if (config.dryRun || "error" in outcome || !("image_info_list" in outcome.batch)) continue;
    for (const target of outcome.batch.image_info_list) deps.recent.remember(targetKey(target));
  }

  const report = scanReport(event, plan.imageType, plan.skipped, outcomes, {
    requestId: deps.requestId,
    dryRun: config.dryRun,
  });
  log.info("answered", {
    status: report.status,
    submitted: report.submitted.length,
    skipped: report.skipped.length,
    failed: report.failed.length,
  });
  if (report.status === "failed") throw scanFailedError(report);
  return report;
}

function imageCount(event: Exclude<RegistryEvent, { kind: "ignored" }>): number {
  if (event.kind === "push") return event.images.length;
  return event.request.image_info_list?.length ?? 0;
}

function withoutRecentSubmissions(plan: ScanPlan, recent: RecentSubmissions): ScanPlan {
  const targets: ScanTarget[] = [];
  const skipped = [...plan.skipped];
  const now = Date.now();
  for (const target of plan.targets) {
    const at = recent.submittedWithinWindow(targetKey(target));
    if (at === undefined) {
      targets.push(target);
      continue;
    }
    skipped.push({
      image: describeTarget(target),
      rule: "recently-submitted",
      reason: `already submitted to HSS ${Math.round((now - at) / 1000)} s ago by this instance (a retried delivery); not sent again`,
    });
  }
  return { ...plan, targets, skipped };
}
