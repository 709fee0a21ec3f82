import { type FailureKind, failureFieldsOf, type SignedCallError } from "../cloud/signed-client";
import type { ScanBatch } from "../hss/batch-scan-request";
import type { HssApi } from "../hss/call-budget";
import { describeTarget, NAMED_IN_LOGS, namesOf, targetKey } from "../images/scan-target";
import { relearnAfterRefusal } from "../instance-urls";
import {
  nextCheckInMs,
  type QueuedScan,
  QueueUnavailableError,
  watchOf,
} from "../queue/scan-queue";
import { rememberForRescan } from "../rescan/rescan-set";
import { firstCheckInMs } from "../scan-apis";
import { type SendOutcome, sendScan } from "../send-scan";
import { MIN_ATTEMPT_MS } from "../submit";
import {
  type FlushOptions,
  type FlushResult,
  type FlushStep,
  NO_ATTEMPT_LIMIT,
  type ReadyClaim,
  recordDeadLetter,
  releaseAfterFailure,
  releaseUntouched,
  type SendingScanSender,
} from "./claims";
import { senderInUse, switchFromRetired } from "./retired-api";

/**
 * The flusher: takes queued images off the queue in batches of up to HSS_BATCH_SIZE and sends
 * each batch with one call of the scan API, as long as the call budget has a slot, the queue has
 * images and the deadline is not near. It runs right after intake and on a schedule
 * (scheduled.ts); any instance may run it at any time, since claims, leases and the budget
 * live in the queue.
 *
 * What HSS answered decides what becomes of a claim:
 * - accepted → removed, remembered for the dedupe window, and watched by the follow-up;
 * - 429 → back to the queue untouched, the window counted as spent, flushing stops;
 * - no answer or 5xx → back to the queue after a backoff, an attempt counted;
 * - the caller refused (signature, permissions) → likewise, and flushing stops: every batch
 *   would be refused alike;
 * - the images rejected (400) → a batch of several is split in two halves that are retried
 *   separately, so the good images go through and the rejected one ends alone and is
 *   dead-lettered with HSS's code and message.
 *
 * A scan API that names images by HSS's own records (`needsLookup`) has each claim looked up in
 * HSS's image list first (lookup-first.ts): what HSS lists is sent, what it does not
 * list goes to the follow-up, which has its registry synced.
 */

export async function flushQueue(options: FlushOptions): Promise<FlushResult> {
  const result = await drain(options);
  if (
    (result.stopped === "budget" || result.stopped === "throttled") &&
    result.retry_after_ms !== undefined
  ) {
    await announceBudgetWait(options, result.retry_after_ms);
  }
  return result;
}

/**
 * One info line when the call budget (or HSS's 429) holds queued images back: how many, the
 * oldest by name, and until when. A flush every few seconds in the same wait says nothing new.
 */
async function announceBudgetWait(options: FlushOptions, retryAfterMs: number): Promise<void> {
  const { queue, log } = options;
  const until = Math.ceil((Date.now() + retryAfterMs) / 1000) * 1000;
  const said = options.said ?? new Map<string, number>();
  const last = said.get("waiting_for_budget");
  if (last !== undefined && Math.abs(last - until) < 2000) return;
  const counts = await queue.counts().catch(() => undefined);
  if (!counts || counts.pending === 0) return;
  said.set("waiting_for_budget", until);
  const oldest = await queue.waiting(NAMED_IN_LOGS).catch(() => []);
  log.info("waiting_for_budget", {
    images: counts.pending,
    until: new Date(until).toISOString(),
    next_call_in_s: Math.ceil(retryAfterMs / 1000),
    oldest: oldest.map((scan) => describeTarget(scan.target)),
    message: `${counts.pending} image(s) wait for HSS's call budget (HSS_CALLS_PER_MINUTE); next call in ${Math.ceil(retryAfterMs / 1000)} s`,
  });
}

/** What one drain works with: the sender in use (switched when its API is retired). */
interface DrainState {
  sender: SendingScanSender;
  /** Instances whose form was looked up after a refusal in this drain (once each). */
  relearned: Set<string>;
}

async function drain(options: FlushOptions): Promise<FlushResult> {
  const { queue, log } = options;
  const result: FlushResult = {
    hss_calls: 0,
    images_submitted: 0,
    dead_lettered: 0,
    returned: 0,
    stopped: "empty",
    accepted: new Map(),
    buried: new Map(),
  };
  try {
    const state: DrainState = {
      sender: await senderInUse(options.sender(), queue, log),
      relearned: new Set(),
    };
    for (;;) {
      if (options.deadline - Date.now() < MIN_ATTEMPT_MS) return stop(result, { stop: "deadline" });
      const { sender } = state;
      const budget = await queue.budget.check(sender.api.name as HssApi);
      if (budget.remaining <= 0) {
        return stop(result, { stop: "budget", retryAfterMs: budget.retryAfterMs });
      }
      const claimed = await queue.claim(options.settings.batchSize, options.settings.leaseMs);
      if (!claimed) return stop(result, { stop: "empty" });
      let ready: ReadyClaim | FlushStep = { claim: claimed };
      if (sender.api.needsLookup) {
        const { lookUpFirst } = await import("./lookup-first");
        ready = await lookUpFirst(
          claimed,
          { ...options, hss: await options.hss(), api: sender.api },
          result,
        );
      }
      if (ready === "continue") continue;
      if ("stop" in ready) return stop(result, ready);
      const next = await sendClaim(ready, state, options, result);
      if (next !== "continue") return stop(result, next);
    }
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    log.warn("queue_unavailable", { during: "flush", reason: error.message });
    return stop(result, { stop: "queue_unavailable" });
  }
}

function stop(result: FlushResult, step: Exclude<FlushStep, "continue">): FlushResult {
  result.stopped = step.stop;
  if (step.retryAfterMs !== undefined) {
    result.retry_after_ms = Math.max(0, Math.round(step.retryAfterMs));
  }
  return result;
}

/** One call of the scan API for a claim, and what becomes of the claim after it. */
async function sendClaim(
  ready: ReadyClaim,
  state: DrainState,
  options: FlushOptions,
  result: FlushResult,
): Promise<FlushStep> {
  const { queue, settings } = options;
  const { sender } = state;
  const { claim, listed } = ready;
  const [first] = claim.scans;
  if (!first) return "continue";
  const batch: ScanBatch = {
    image_type: first.image_type,
    image_info_list: claim.scans.map((scan) => scan.target),
  };
  const resent = new Map(
    claim.scans.flatMap((scan) =>
      scan.hss_instance_url ? [[targetKey(scan.target), scan.hss_instance_url] as const] : [],
    ),
  );
  const outcome = await sendScan(sender, batch, {
    timeoutMs: Math.min(
      settings.timeoutMs,
      Math.max(MIN_ATTEMPT_MS, options.deadline - Date.now()),
    ),
    listed: listed && ((target) => listed.get(targetKey(target))),
    urls: options.urls,
    hssValues: (target) => resent.get(targetKey(target)),
  });
  if (outcome.kind === "no_slot") {
    // Another flusher took the last slot between the look and the claim.
    await queue.release(claim, { delayMs: 0, countAttempt: false, maxAttempts: NO_ATTEMPT_LIMIT });
    return { stop: "budget", retryAfterMs: outcome.retryAfterMs };
  }
  if (outcome.kind === "previewed") return "continue";
  result.hss_calls += 1;
  if (outcome.kind === "sent") {
    await settleAccepted(ready, outcome, sender, options, result);
    return "continue";
  }
  if (outcome.failure === "retired") {
    // Nothing of the claim reached HSS: back as it was, sent again through the successor.
    await releaseUntouched(claim, options, result);
    state.sender = await switchFromRetired(sender, outcome.error, queue, options.log);
    return "continue";
  }
  if (outcome.failure === "rejected" && (await relearnRefused(claim, state, options))) {
    await releaseUntouched(claim, options, result);
    return "continue";
  }
  return settleFailedClaim(claim, outcome.error, outcome.failure, options, result);
}

/** HSS accepted the claim: removed from the queue, watched, logged. */
async function settleAccepted(
  ready: ReadyClaim,
  outcome: Extract<SendOutcome, { kind: "sent" }>,
  sender: SendingScanSender,
  options: FlushOptions,
  result: FlushResult,
): Promise<void> {
  const { queue, log, settings } = options;
  const { claim, listed } = ready;
  const images = claim.scans.length;
  await queue.accepted(claim, settings.dedupeWindowMs);
  if (settings.rescan && settings.rescan.everyMs > 0) {
    await rememberForRescan(claim.scans, settings.rescan, queue, Date.now());
  }
  const sentUrls = "image_info_list" in outcome.sent ? outcome.sent.image_info_list : [];
  if (settings.followUp) {
    const now = Date.now();
    // With a lookup first, HSS listed each image: its follow-up need not look for it as new.
    await queue.watches.add(
      claim.scans.map((scan, index) => {
        const sentUrl = sentUrls[index]?.instance_url;
        return {
          ...watchOf(scan, "scanning", now),
          ...(listed?.has(targetKey(scan.target)) ? { listed: true } : {}),
          ...(sentUrl && sentUrl !== scan.target.instance_url ? { sent_url: sentUrl } : {}),
        };
      }),
      firstCheckInMs(sender.api, nextCheckInMs(settings.followUpIntervalMs)),
    );
  }
  result.images_submitted += images;
  claim.scans.forEach((scan, index) => {
    result.accepted.set(scan.id, outcome.requestId);
    const sentUrl = sentUrls[index]?.instance_url;
    if (sentUrl && sentUrl !== scan.target.instance_url) {
      result.sent_urls ??= new Map();
      result.sent_urls.set(scan.id, sentUrl);
    }
  });
  log.info("flushed", {
    image_type: claim.scans[0]?.image_type,
    api: sender.api.name,
    images,
    ...namesOf(claim.scans.map((scan) => scan.target)),
    hss_calls: 1,
    wait_ms: Date.now() - Math.min(...claim.scans.map((scan) => scan.queued_at)),
    hss_request_id: outcome.requestId,
  });
}

/**
 * HSS refused a request carrying enterprise images: if the instance_url sent for them was a guess
 * (no URL configured, no form learned in this drain), one listed image of each instance is read
 * to learn HSS's form. True when a form changed: the claim goes out again named as HSS records it
 * (once per instance and drain), instead of being split and dead-lettered for a wrong guess.
 */
async function relearnRefused(
  claim: ReadyClaim["claim"],
  state: DrainState,
  options: FlushOptions,
): Promise<boolean> {
  if (!options.urls) return false;
  return relearnAfterRefusal(
    claim.scans.map((scan) => scan.target),
    state.relearned,
    { urls: options.urls, hss: options.hss, budget: options.queue.budget },
  );
}

/** What becomes of a claim whose call failed, by what the failure means. */
async function settleFailedClaim(
  claim: ReadyClaim["claim"],
  error: SignedCallError,
  failure: FailureKind,
  options: FlushOptions,
  result: FlushResult,
): Promise<FlushStep> {
  const { queue, log } = options;
  const images = claim.scans.length;
  const fields = {
    image_type: claim.scans[0]?.image_type,
    images,
    ...failureFieldsOf(error),
  };
  if (failure === "throttled") {
    await releaseUntouched(claim, options, result);
    log.warn("throttled", { ...fields, retry_after_s: Math.ceil(queue.budget.windowMs / 1000) });
    return { stop: "throttled", retryAfterMs: queue.budget.windowMs };
  }
  if (failure === "rejected") {
    if (images > 1) {
      await queue.release(claim, {
        delayMs: 0,
        countAttempt: false,
        maxAttempts: NO_ATTEMPT_LIMIT,
        error: failureFieldsOf(error),
        split: true,
      });
      result.returned += images;
      log.warn("split", { ...fields, into: [Math.ceil(images / 2), Math.floor(images / 2)] });
      return "continue";
    }
    await queue.deadLetter(claim, failureFieldsOf(error));
    recordDeadLetter(result, log, claim.scans[0] as QueuedScan, error, 1);
    return "continue";
  }
  const { attempts, delayMs } = await releaseAfterFailure(claim, error, options, result);
  const refused = failure === "refused";
  log[refused ? "error" : "warn"](refused ? "refused" : "retry_later", {
    ...fields,
    attempt: attempts,
    retry_in_s: Math.ceil(delayMs / 1000),
  });
  return refused ? { stop: "refused" } : "continue";
}
