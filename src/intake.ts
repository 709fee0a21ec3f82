import type { Config } from "./config";
import { type Delivery, payloadOf } from "./delivery";
import { HttpError, httpError } from "./errors";
import type { FlushOptions } from "./flush/claims";
import { flushQueue } from "./flush/flusher";
import type { FollowUpSettings } from "./follow-up/follow-up";
import { parseRegistryPayload } from "./formats";
import type { RegistryEvent } from "./formats/registry-event";
import type { HssApiClient } from "./hss/apis";
import type { ScanBatch } from "./hss/batch-scan-request";
import type { CallBudget } from "./hss/call-budget";
import { describeTarget, HSS_FIELD_MAX, namesOf, type ScanTarget } from "./images/scan-target";
import { type InstanceUrls, relearnAfterRefusal } from "./instance-urls";
import type { Logger } from "./log";
import type { Notifier } from "./notify/notifier";
import {
  type EnqueueOutcome,
  type NewScan,
  QUEUE_CLOCK_ALLOWANCE_MS,
  QueueFullError,
  QueueUnavailableError,
  type ScanQueue,
} from "./queue/scan-queue";
import {
  ignoredReport,
  type QueuedImage,
  queuedReport,
  type ScanReport,
  type SetupSummary,
  scanFailedError,
  scanReport,
} from "./report";
import type { NewFindings } from "./rescan/new-findings";
import type { ScanApi } from "./scan-apis";
import {
  planManualScans,
  planPushScans,
  pushOf,
  type ScanPlan,
  type SkippedImage,
  splitIntoBatches,
} from "./scan-plan";
import type { ScanSender } from "./send-scan";
import { MIN_ATTEMPT_MS, submitBatches } from "./submit";
import type { SubmittedImages } from "./submitted-images";
import { authenticateDelivery } from "./webhook-auth";

/** What intake works with, built for each invocation by the composition root. */
export interface IntakeDependencies {
  config: Config;
  log: Logger;
  requestId?: string;
  /** Epoch milliseconds by which all HSS calls must have ended. */
  deadline: number;
  /** The scan queue (SCAN_QUEUE); undefined in direct mode. */
  queue?: ScanQueue;
  /** This instance's own budget and memory: direct mode's, and the fallback when the queue is down. */
  own: { budget: CallBudget; submitted: SubmittedImages };
  scanApi: ScanApi;
  /** Sends the configured API's scans with the budget given (throws without credentials). */
  scanSender(budget: CallBudget): ScanSender;
  /** Sends within this invocation (an API that needs no lookup), with the budget given. */
  directSender(budget: CallBudget): ScanSender;
  /** Shows what would be sent (a dry run). */
  previewSender(): ScanSender;
  /** The calls around a scan, each within `timeoutMs`. */
  hss(timeoutMs?: number): Promise<HssApiClient>;
  /** What the flusher needs besides the queue. */
  flush(deadline: number): Omit<FlushOptions, "queue">;
  /** Names enterprise images as HSS records them, and learns how (src/instance-urls.ts). */
  urls: InstanceUrls;
  /** The follow-up's settings and notifier; undefined when FOLLOW_UP is off. */
  followUp?: {
    settings: FollowUpSettings;
    notifier(queue: ScanQueue): Promise<Notifier | undefined>;
    findings?: (queue: ScanQueue) => NewFindings;
  };
  /** What a dry run says about the HSS and queue settings (never a secret). */
  describeSetup(): Promise<SetupSummary>;
}

/**
 * The whole job for one delivery: authenticate, recognise the payload, plan the scans, then
 * either put the images on the scan queue and flush what the HSS budget allows (queue mode), or
 * submit them within this invocation (direct mode, manual HSS requests, dry runs, and whenever
 * the queue cannot be reached). Resolves with the report when every image was queued, submitted
 * or skipped; throws an error carrying the report when any image could not be (502, or 503 with
 * Retry-After when HSS's rate limit held it back), so that the sender retries.
 */
export async function scanOnPush(
  delivery: Delivery,
  deps: IntakeDependencies,
): Promise<ScanReport> {
  const { config, log } = deps;
  if (delivery.kind === "http") authenticateDelivery(delivery, config.webhook, log);
  // A per-delivery dry run, honoured only once the delivery is authenticated: checking a live
  // trigger (npm run check-deploy) submits nothing.
  const dryRun =
    config.dryRun ||
    (delivery.kind === "http" && /^(1|true|yes)$/i.test(delivery.query.dry_run ?? ""));
  const event = recognise(delivery, deps);
  if (event.kind === "ignored") return ignoredReport(event, deps.requestId);
  const plan = planOf(event, delivery, deps);
  return dryRun ? previewPlan(event, plan, deps) : sendPlan(event, plan, deps);
}

type ScanEvent = Exclude<RegistryEvent, { kind: "ignored" }>;

/** The payload, recognised and checked against what this delivery may ask; what is ignored logged. */
function recognise(delivery: Delivery, deps: IntakeDependencies): RegistryEvent {
  const { config, log } = deps;
  const event = parseRegistryPayload(payloadOf(delivery, config.limits.bodyBytes));
  log.info("received", {
    delivery: delivery.kind,
    format: event.format,
    event_type: event.eventType,
  });
  if (event.kind === "scan-request" && delivery.kind === "http" && !config.webhook.manualRequests) {
    // The registry's secret lets the registry push; an image list or operate_all is an operator's
    // request, made by invoking the function (IAM decides who may).
    throw httpError(
      403,
      "manual HSS requests (image lists, operate_all) are not accepted over HTTP: invoke the function directly, or set HTTP_MANUAL_REQUESTS=true",
    );
  }
  if (event.kind === "ignored") {
    log.info("ignored", {
      event_type: event.eventType,
      reason: event.reason ?? "not a push event",
    });
    return event;
  }
  for (const passedOver of event.kind === "push" ? (event.ignored ?? []) : []) {
    log.info("ignored", { event_type: passedOver.eventType, reason: passedOver.reason });
  }
  const count = imageCount(event);
  if (count > config.limits.imagesPerDelivery) {
    throw tooLarge(count, config.limits.imagesPerDelivery, "MAX_IMAGES_PER_DELIVERY");
  }
  return event;
}

/** The scans the event asks for, mapped to HSS's terms; what is skipped logged with why. */
function planOf(event: ScanEvent, delivery: Delivery, deps: IntakeDependencies): ScanPlan {
  const { config, log } = deps;
  const queryInstanceId = delivery.kind === "http" ? delivery.query.instance_id : undefined;
  if (
    queryInstanceId !== undefined &&
    (queryInstanceId.trim() === "" || queryInstanceId.length > HSS_FIELD_MAX)
  ) {
    // A value the operator configured in the webhook URL: wrong, it fails loudly for every image.
    throw httpError(
      400,
      `the instance_id query parameter must be 1–${HSS_FIELD_MAX} characters (it has ${queryInstanceId.length}): check the webhook URL`,
    );
  }
  const plan =
    event.kind === "push"
      ? planPushScans(event.images, { queryInstanceId, swr: config.swr, policy: config.policy })
      : planManualScans(event.request, config.swr);
  for (const skipped of plan.skipped) {
    log.info("skipped", { image: skipped.image, rule: skipped.rule, reason: skipped.reason });
  }
  return plan;
}

/** A dry run: the requests that would be sent, and what the setup says about HSS and the queue. */
async function previewPlan(
  event: ScanEvent,
  plan: ScanPlan,
  deps: IntakeDependencies,
): Promise<ScanReport> {
  const report = await sendNow(event, plan, deps, {
    dedupe: event.kind !== "scan-request",
    dryRun: true,
  });
  return answered(deps.log, plan, { ...report, setup: await deps.describeSetup() });
}

/** Queued and flushed with a queue; sent within this invocation otherwise, or when it is down. */
async function sendPlan(
  event: ScanEvent,
  plan: ScanPlan,
  deps: IntakeDependencies,
): Promise<ScanReport> {
  const { log } = deps;
  const now = (options: { dedupe: boolean; budget: CallBudget }) =>
    sendNow(event, plan, deps, { ...options, dryRun: false }).then((report) =>
      answered(log, plan, report),
    );
  // A manual request is sent as asked (no dedupe), through the same budget as the queue.
  if (event.kind === "scan-request") return now({ dedupe: false, budget: sharedBudget(deps) });
  // Direct mode, and the fallback when the queue cannot be reached: this instance's budget.
  if (!deps.queue) return now({ dedupe: true, budget: deps.own.budget });
  // Credentials are checked before anything is queued, so a misconfiguration answers 500 at once.
  deps.scanSender(deps.queue.budget);
  const scans: NewScan[] = plan.targets.map((target) => pushOf(plan, target));
  let outcomes: EnqueueOutcome[];
  try {
    outcomes = await deps.queue.enqueue(scans, deps.config.dedupe.windowMs);
  } catch (error) {
    if (error instanceof QueueFullError) throw queueFull(error, deps);
    if (!(error instanceof QueueUnavailableError)) throw error;
    // Sent, and not answered in time: Redis may still queue the images. Sending them now as well
    // could scan them twice, so the sender is told to deliver again once the request can no
    // longer take effect (the repeated delivery is recognised, and each image sent once).
    if (error.outcome === "unknown") throw queueUnanswered(error, deps);
    // Never 202 for an image that is neither queued nor submitted: send it now if this instance's
    // budget allows, otherwise the sender is told to come back (503, Retry-After).
    log.warn("queue_unavailable", { during: "intake", reason: error.message, fallback: "direct" });
    return now({ dedupe: true, budget: deps.own.budget });
  }
  return answered(log, plan, await flushQueued(event, plan, scans, outcomes, deps.queue, deps));
}

/**
 * The queue did not answer the enqueue in time: 503, Retry-After past the moment after which Redis
 * would refuse to run it (QUEUE_TIMEOUT_MS and the clock allowance), nothing sent.
 */
function queueUnanswered(error: QueueUnavailableError, deps: IntakeDependencies): HttpError {
  const seconds = Math.ceil((deps.config.queue.timeoutMs + QUEUE_CLOCK_ALLOWANCE_MS) / 1000) + 1;
  deps.log.warn("queue_unavailable", {
    during: "intake",
    reason: error.message,
    fallback: "retry",
    retry_after_s: seconds,
  });
  return httpError(
    503,
    `the scan queue did not answer in time: the images may or may not be queued, and none was sent to HSS; deliver again after ${seconds} s (a repeated delivery is recognised: no image is scanned twice)`,
    { headers: { "retry-after": String(seconds) } },
  );
}

/**
 * 413, with no Retry-After: the same body would be refused again, at any time. The sender (or
 * the operator who sent a list) must split it.
 */
function tooLarge(count: number, limit: number, variable: string): HttpError {
  return httpError(
    413,
    `${count} images in one delivery; the limit is ${limit} (${variable}): nothing of it was taken, and the same body is refused whenever it comes: send the images in deliveries of at most ${limit}`,
  );
}

/**
 * The queue is at MAX_QUEUED_IMAGES: 503, nothing of the delivery taken, Retry-After when the
 * flusher will have sent enough to make room at the configured rate.
 */
function queueFull(error: QueueFullError, deps: IntakeDependencies): HttpError {
  // A delivery never holds more than the bound (configuration keeps MAX_QUEUED_IMAGES at or
  // above MAX_IMAGES_PER_DELIVERY): room does come at the flusher's rate.
  const { hss } = deps.config;
  const perWindow = hss.callsPerMinute * hss.batchSize;
  const windows = Math.max(1, Math.ceil((error.queued + error.adding - error.max) / perWindow));
  const seconds = Math.ceil((windows * hss.rateWindowMs) / 1000);
  deps.log.warn("queue_full", {
    queued: error.queued,
    adding: error.adding,
    max_queued: error.max,
    retry_after_s: seconds,
  });
  return httpError(
    503,
    `${error.message}: nothing of this delivery was queued; deliver again after ${seconds} s, when the flusher will have made room at HSS's rate`,
    { headers: { "retry-after": String(seconds) } },
  );
}

/**
 * The answer, with what the plan had to say besides: values adjusted to keep images scannable,
 * and images whose registry maps to no instance. Those are named in a 422 (after the rest was
 * queued or sent), so that the sender redelivers them once the configuration knows their registry.
 */
function answered(log: Logger, plan: ScanPlan, result: ScanReport): ScanReport {
  const report: ScanReport = {
    ...result,
    ...(plan.adjusted ? { adjusted: plan.adjusted } : {}),
    ...(plan.unmapped ? { unmapped: plan.unmapped } : {}),
  };
  for (const adjusted of plan.adjusted ?? []) log.info("adjusted", { ...adjusted });
  if (plan.unmapped) {
    const registries = [...new Set(plan.unmapped.map((image) => image.registry))];
    const handled = report.queued?.length ?? 0;
    const rest =
      report.submitted.length + handled > 0
        ? `; the other images were ${handled > 0 ? "queued" : "submitted"}`
        : "; nothing was sent to HSS";
    const message =
      `no SWR Enterprise instance id for registry ${registries.join(", ")} (${plan.unmapped.length} image${plan.unmapped.length === 1 ? "" : "s"} not sent): ` +
      "add ?instance_id=<instance id> to the webhook URL, or set SWR_INSTANCE_ID (one instance) " +
      `or SWR_INSTANCES ({"<registry host>": "<instance id>"})${rest}`;
    log.warn("unmapped", { registries, images: plan.unmapped.length });
    throw new HttpError(422, message, { report: { ...report, message } });
  }
  log.info("answered", {
    status: report.status,
    queued: report.queued?.length,
    submitted: report.submitted.length,
    skipped: report.skipped.length,
    failed: report.failed.length,
  });
  if (report.status === "failed" || report.status === "rate_limited") throw scanFailedError(report);
  return report;
}

/** Queue mode: what the enqueue said of each planned image, then a flush within the budget. */
async function flushQueued(
  event: RegistryEvent,
  plan: ScanPlan,
  scans: NewScan[],
  outcomes: EnqueueOutcome[],
  queue: ScanQueue,
  deps: IntakeDependencies,
): Promise<ScanReport> {
  const { log } = deps;
  const onQueue: Array<{ id: string; image: QueuedImage }> = [];
  const skipped = [...plan.skipped];
  let alreadyQueued = 0;
  const now = Date.now();
  outcomes.forEach((outcome, index) => {
    const scan = scans[index] as NewScan;
    if (outcome.status === "queued" || outcome.status === "already_queued") {
      if (outcome.status === "already_queued") alreadyQueued += 1;
      onQueue.push({
        id: scan.id,
        image: scan.digest ? { ...scan.target, digest: scan.digest } : scan.target,
      });
      return;
    }
    const image = describeTarget(scan.target);
    const skip =
      outcome.status === "submitted_recently"
        ? recentlySubmitted(image, now - outcome.submittedAt, "the queue")
        : {
            image,
            rule: "dead-lettered",
            reason:
              "HSS rejected this image earlier and it is on the dead-letter list; `npm run queue -- retry-dead` sends it again",
          };
    log.info("skipped", { ...skip });
    skipped.push(skip);
  });
  if (onQueue.length > 0) {
    log.info("queued", {
      backend: queue.backend,
      images: onQueue.length - alreadyQueued,
      already_queued: alreadyQueued,
      ...namesOf(onQueue.map((entry) => entry.image)),
    });
  }
  const flush = await flushQueue({ ...deps.flush(deps.deadline), queue });
  if (flush.images_submitted > 0) await checkRightAway(queue, deps);
  return queuedReport(event, plan.imageType, skipped, onQueue, flush, deps.requestId);
}

/**
 * An API that needs no lookup (batch-scan) is answered with the same empty 200 for an image HSS
 * has not synced, so whether HSS knows the images just submitted is learnt from its list. One
 * list call, right away (the budget and the deadline permitting), starts the sync of an image
 * HSS does not know one flush period earlier than the next scheduled follow-up would. An API
 * that looks images up before sending needs no second look.
 */
async function checkRightAway(queue: ScanQueue, deps: IntakeDependencies): Promise<void> {
  const { log, followUp: follow } = deps;
  if (!follow || deps.scanApi.needsLookup) return;
  // At most three calls (list, then ListRegistry and a sync for an image HSS does not know),
  // each given a third of what is left before the answer is due.
  const callTimeoutMs = Math.floor((deps.deadline - Date.now()) / 3);
  if (callTimeoutMs < MIN_ATTEMPT_MS) return;
  const { followUp } = await import("./follow-up/follow-up");
  try {
    await followUp({
      queue,
      hss: await deps.hss(callTimeoutMs),
      settings: follow.settings,
      deadline: deps.deadline,
      log,
      maxListCalls: 1,
      notifier: await follow.notifier(queue),
      urls: deps.urls,
      findings: follow.findings?.(queue),
    });
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    log.warn("queue_unavailable", { during: "follow_up", reason: error.message });
  }
}

/** Submits within this invocation; pushes are checked against this instance's memory first. */
async function sendNow(
  event: RegistryEvent,
  plan: ScanPlan,
  deps: IntakeDependencies,
  /** A dry run sends nothing, and so spends no budget. */
  options: { dedupe: boolean } & ({ dryRun: true } | { dryRun: false; budget: CallBudget }),
): Promise<ScanReport> {
  const { dryRun } = options;
  const { config, log } = deps;
  const memory = deps.own.submitted;
  const keyOf = new Map<ScanTarget, string>();
  const skipped = [...plan.skipped];
  let targets = plan.targets;
  if (options.dedupe) {
    targets = [];
    const now = Date.now();
    for (const target of plan.targets) {
      keyOf.set(target, pushOf(plan, target).id);
    }
    const reservations = memory.reserve([...keyOf.values()]);
    plan.targets.forEach((target, index) => {
      const reservation = reservations[index];
      if (reservation?.status === "reserved") {
        targets.push(target);
        return;
      }
      const image = describeTarget(target);
      const skip =
        reservation?.status === "submitted_recently"
          ? recentlySubmitted(image, now - reservation.submittedAt, "this instance")
          : {
              image,
              rule: "in-flight",
              reason: "a concurrent delivery of the same push is submitting it right now",
            };
      log.info("skipped", { ...skip });
      skipped.push(skip);
    });
  }
  const outcomes = await submitBatches(
    splitIntoBatches({ ...plan, targets }, config.hss.batchSize),
    {
      sender: () => (options.dryRun ? deps.previewSender() : deps.directSender(options.budget)),
      concurrency: config.hss.concurrency,
      timeoutMs: config.hss.timeoutMs,
      retry: config.hss.retry,
      deadline: deps.deadline,
      log,
      urls: deps.urls,
      ...(options.dryRun ? {} : { relearn: relearnOf(deps, options.budget) }),
    },
  );
  for (const outcome of outcomes) {
    if (!("image_info_list" in outcome.batch)) continue;
    const keys = outcome.batch.image_info_list.flatMap((target) => keyOf.get(target) ?? []);
    if (outcome.kind === "sent" && !dryRun) memory.confirm(keys);
    else memory.cancel(keys);
  }
  return scanReport(event, plan.imageType, skipped, outcomes, {
    requestId: deps.requestId,
    dryRun,
  });
}

function recentlySubmitted(image: string, agoMs: number, by: string): SkippedImage {
  return {
    image,
    rule: "recently-submitted",
    reason: `the same push (image and digest) was accepted by HSS ${Math.round(agoMs / 1000)} s ago, as ${by} remembers (a retried delivery); not sent again`,
  };
}

/** The queue's budget when there is a queue, falling back to this instance's when it is down. */
function sharedBudget(deps: IntakeDependencies): CallBudget {
  const { queue, own, log } = deps;
  if (!queue) return own.budget;
  const fallback = async <T>(use: (budget: CallBudget) => Promise<T>): Promise<T> => {
    try {
      return await use(queue.budget);
    } catch (error) {
      if (!(error instanceof QueueUnavailableError)) throw error;
      log.warn("queue_unavailable", {
        during: "budget",
        reason: error.message,
        fallback: "instance budget",
      });
      return use(own.budget);
    }
  };
  return {
    scope: queue.budget.scope,
    windowMs: queue.budget.windowMs,
    check: (api) => fallback((budget) => budget.check(api)),
    take: (api) => fallback((budget) => budget.take(api)),
    spendWindow: (api) => fallback((budget) => budget.spendWindow(api)),
  };
}

function imageCount(event: ScanEvent): number {
  if (event.kind === "push") return event.images.length;
  return event.request.image_info_list?.length ?? 0;
}

/** After HSS refused a direct send: its enterprise images' form learned (once per instance). */
function relearnOf(deps: IntakeDependencies, budget: CallBudget) {
  const tried = new Set<string>();
  return async (batch: ScanBatch) => {
    if (!("image_info_list" in batch)) return false;
    return relearnAfterRefusal(batch.image_info_list, tried, {
      urls: deps.urls,
      hss: () => deps.hss(),
      budget,
    });
  };
}
