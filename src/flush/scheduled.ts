import type { FollowUpResult, FollowUpSettings } from "../follow-up/follow-up";
import { describeTarget } from "../images/scan-target";
import type { DeliveryReport } from "../notify/deliver";
import type { Notifier } from "../notify/notifier";
import type { PruneCounts, QueueCounts, QueuedScan, ScanQueue } from "../queue/scan-queue";
import { QueueUnavailableError } from "../queue/scan-queue";
import type { NewFindings } from "../rescan/new-findings";
import type { RescanPass } from "../rescan/rescan-set";
import { MIN_ATTEMPT_MS } from "../submit";
import { deadLettersOf, type FlushOptions, type FlushResult } from "./claims";
import { flushQueue } from "./flusher";

/**
 * A scheduled flush (FunctionGraph TIMER, EventBridge, `npm start`'s interval): the queue's own
 * work, then the follow-up of what was sent, then the queue again for what the follow-up put back
 * (HSS lists it now, or a re-scan can fix it), so that it goes out in this same run when the
 * budget allows, not one flush period later. Answers what it did.
 */

export interface ScheduledFlushReport {
  status: "flushed" | "no_queue" | "dry_run";
  message: string;
  request_id?: string;
  trigger?: string;
  flush?: FlushOutcome;
  follow_up?: FollowUpResult;
  /** What each channel was sent in this flush (when anything was). */
  notify?: DeliveryReport;
  queue?: QueueCounts;
  /** The oldest images still waiting to be sent (at most 10). */
  waiting?: string[];
  /** Dead letters and watches dropped past their retention in this run. */
  pruned?: PruneCounts;
  /** With RESCAN_*: what this flush's rescan pass queued (when it queued or dropped any). */
  rescan?: RescanPass;
}

/** A flush's result as answers and logs show it: dead letters named, not by id. */
export type FlushOutcome = Omit<FlushResult, "accepted" | "buried" | "sent_urls"> & {
  dead_letters?: ReturnType<typeof deadLettersOf>;
};

const WAITING_SHOWN = 10;

export interface ScheduledFlushOptions {
  flush: Omit<FlushOptions, "queue">;
  /** The follow-up's settings and notifier; absent when FOLLOW_UP is off. */
  followUp?: {
    settings: FollowUpSettings;
    notifier?: (queue: ScanQueue) => Promise<Notifier | undefined>;
    /** With RESCAN_*: what is new in each finished scan's digest (src/rescan/new-findings.ts). */
    findings?: (queue: ScanQueue) => NewFindings | undefined;
  };
  /** With RESCAN_*: one rescan pass after the follow-up (src/rescan/rescan-set.ts). */
  rescan?: (queue: ScanQueue) => Promise<RescanPass>;
  dryRun: boolean;
  requestId?: string;
  trigger?: string;
}

export async function scheduledFlush(
  queue: ScanQueue | undefined,
  options: ScheduledFlushOptions,
): Promise<ScheduledFlushReport> {
  const { requestId, trigger } = options;
  const { log } = options.flush;
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
  const flushed = await flushQueue({ ...options.flush, queue });
  const notifier = options.followUp?.notifier ? await options.followUp.notifier(queue) : undefined;
  const followed = await runFollowUp(queue, options, notifier);
  const rescanned = await runRescan(queue, options);
  if ((followed && followed.requeued > 0) || (rescanned?.queued ?? 0) > 0) {
    addFlush(flushed, await flushQueue({ ...options.flush, queue }));
  }
  const { accepted: _accepted, buried: _buried, sent_urls: _sent, ...counted } = flushed;
  const result: FlushOutcome = {
    ...counted,
    ...(flushed.buried.size > 0 ? { dead_letters: deadLettersOf(flushed) } : {}),
  };
  const unavailable = (during: string) => (error: Error) => {
    log.warn("queue_unavailable", { during, reason: error.message });
    return undefined;
  };
  const notified = await deliverAlerts(notifier, options.flush.deadline, unavailable("notify"));
  const notifiedAny = notified !== undefined;
  const pruned = await queue.prune().catch(unavailable("prune"));
  const counts = await queue.counts().catch(unavailable("counts"));
  const waiting =
    counts && counts.pending + counts.claimed > 0
      ? await queue.waiting(WAITING_SHOWN).catch(unavailable("waiting"))
      : undefined;
  // A flush that made no call changed nothing: routine, logged at debug level only.
  const idle =
    result.hss_calls === 0 &&
    result.dead_lettered === 0 &&
    !notifiedAny &&
    !(rescanned && !rescanned.held) &&
    (followed === undefined || (followed.checked === 0 && followed.list_calls === 0));
  const dropped = droppedAny(pruned) ? { pruned } : ({} as { pruned?: never });
  log[idle ? "debug" : "info"]("flush_done", {
    trigger,
    ...result,
    ...(followed ? { follow_up: followed } : {}),
    ...(rescanned && !rescanned.held ? { rescan: rescanned } : {}),
    ...(notifiedAny ? { notify: notified } : {}),
    ...(counts ? { queue: counts } : {}),
    ...dropped,
  });
  return {
    status: "flushed",
    message: messageOf(result, followed, counts),
    request_id: requestId,
    trigger,
    flush: result,
    ...(followed ? { follow_up: followed } : {}),
    ...(rescanned && !rescanned.held ? { rescan: rescanned } : {}),
    ...(notifiedAny ? { notify: notified } : {}),
    ...(counts ? { queue: counts } : {}),
    ...(waiting && waiting.length > 0 ? { waiting: waiting.map(describeQueued) } : {}),
    ...dropped,
  };
}

const describeQueued = (scan: QueuedScan) =>
  describeTarget(scan.target) + (scan.digest ? ` (${scan.digest.slice(0, 19)})` : "");

function messageOf(
  result: FlushOutcome,
  followed: FollowUpResult | undefined,
  counts: QueueCounts | undefined,
): string {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const waiting =
    result.retry_after_ms !== undefined
      ? `; next call possible in ${Math.ceil(result.retry_after_ms / 1000)} s`
      : "";
  const follow = followed
    ? `; follow-up: ${followed.finished} finished, ${followed.failed} failed, ${followed.requeued} queued again, ${followed.syncing} waiting for a sync`
    : "";
  const queued = counts
    ? `; ${counts.pending} pending, ${counts.claimed} claimed, ${counts.watched ?? 0} watched, ${counts.dead_lettered} dead-lettered`
    : "";
  return `${plural(result.images_submitted, "image")} submitted in ${plural(result.hss_calls, "HSS call")}; stopped: ${result.stopped}${waiting}${follow}${queued}`;
}

/** A second flush's outcome, added to the first's. */
function addFlush(
  flushed: Awaited<ReturnType<typeof flushQueue>>,
  again: Awaited<ReturnType<typeof flushQueue>>,
): void {
  flushed.hss_calls += again.hss_calls;
  flushed.images_submitted += again.images_submitted;
  flushed.dead_lettered += again.dead_lettered;
  flushed.returned += again.returned;
  flushed.stopped = again.stopped;
  flushed.retry_after_ms = again.retry_after_ms;
  for (const [id, letter] of again.buried) flushed.buried.set(id, letter);
}

/**
 * The alerts due, the follow-up's of this flush among them, each channel within its rate; what
 * was sent or refused (undefined when nothing was).
 */
async function deliverAlerts(
  notifier: Notifier | undefined,
  deadline: number,
  unavailable: (error: Error) => undefined,
): Promise<DeliveryReport | undefined> {
  if (!notifier) return undefined;
  const report = await notifier.deliver(deadline).catch(unavailable);
  const any = report && Object.values(report).some((channel) => channel.sent + channel.failed > 0);
  return any ? report : undefined;
}

/** The rescan pass (RESCAN_*), after the follow-up: due images queued behind the pushes. */
async function runRescan(
  queue: ScanQueue,
  options: ScheduledFlushOptions,
): Promise<RescanPass | undefined> {
  if (!options.rescan || options.flush.deadline - Date.now() < MIN_ATTEMPT_MS) return undefined;
  try {
    return await options.rescan(queue);
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    options.flush.log.warn("queue_unavailable", { during: "rescan", reason: error.message });
    return undefined;
  }
}

/** The follow-up, after the queue's own work, when FOLLOW_UP is on and time is left. */
async function runFollowUp(
  queue: ScanQueue,
  options: ScheduledFlushOptions,
  notifier: Notifier | undefined,
): Promise<FollowUpResult | undefined> {
  const { flush, followUp: follow } = options;
  if (!follow) return undefined;
  if (flush.deadline - Date.now() < MIN_ATTEMPT_MS) return undefined;
  const { followUp } = await import("../follow-up/follow-up");
  try {
    return await followUp({
      queue,
      hss: await flush.hss(),
      settings: follow.settings,
      deadline: flush.deadline,
      log: flush.log,
      notifier,
      urls: flush.urls,
      findings: follow.findings?.(queue),
    });
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    flush.log.warn("queue_unavailable", { during: "follow_up", reason: error.message });
    return undefined;
  }
}

const droppedAny = (pruned: PruneCounts | undefined) =>
  pruned !== undefined && pruned.dead_letters + pruned.dead_alerts + pruned.watches > 0;
