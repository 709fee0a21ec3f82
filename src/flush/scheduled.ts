import type { FollowUpResult, FollowUpSettings } from "../follow-up/follow-up";
import type { Notifier } from "../follow-up/notify";
import type { QueueCounts, ScanQueue } from "../queue/scan-queue";
import { QueueUnavailableError } from "../queue/scan-queue";
import { MIN_ATTEMPT_MS } from "../submit";
import type { FlushOptions, FlushResult } from "./claims";
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
  flush?: Omit<FlushResult, "accepted">;
  follow_up?: FollowUpResult;
  queue?: QueueCounts;
}

export interface ScheduledFlushOptions {
  flush: Omit<FlushOptions, "queue">;
  /** The follow-up's settings and notifier; absent when FOLLOW_UP is off. */
  followUp?: { settings: FollowUpSettings; notifier?: () => Promise<Notifier | undefined> };
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
  const { accepted: _accepted, ...result } = await flushQueue({ ...options.flush, queue });
  const followed = await runFollowUp(queue, options);
  if (followed && followed.requeued > 0) {
    const again = await flushQueue({ ...options.flush, queue });
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
  return {
    status: "flushed",
    message: messageOf(result, followed, counts),
    request_id: requestId,
    trigger,
    flush: result,
    ...(followed ? { follow_up: followed } : {}),
    ...(counts ? { queue: counts } : {}),
  };
}

function messageOf(
  result: Omit<FlushResult, "accepted">,
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

/** The follow-up, after the queue's own work, when FOLLOW_UP is on and time is left. */
async function runFollowUp(
  queue: ScanQueue,
  options: ScheduledFlushOptions,
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
      notifier: await follow.notifier?.(),
    });
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    flush.log.warn("queue_unavailable", { during: "follow_up", reason: error.message });
    return undefined;
  }
}
