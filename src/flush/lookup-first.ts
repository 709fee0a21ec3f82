import { classifyFailure, failureFieldsOf, SignedCallError } from "../cloud/signed-client";
import { type LookupResult, lookUp, refKey } from "../follow-up/lookup";
import { requestSync } from "../follow-up/sync";
import type { HssApiClient, RegistryImage } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import { describeTarget, targetKey } from "../images/scan-target";
import { nextCheckInMs, type QueuedScan, watchOf } from "../queue/scan-queue";
import type { ScanApi } from "../scan-apis";
import {
  type FlushOptions,
  type FlushResult,
  type FlushStep,
  type ReadyClaim,
  recordDeadLetter,
  releaseAfterFailure,
  releaseUntouched,
} from "./claims";

/**
 * The lookup before a scan, for a scan API that names images by HSS's own records (`needsLookup`,
 * src/scan-apis/): the flusher looks each claimed image up in ListRegistryImages and sends one call
 * for every image HSS lists. Images HSS does not list yet go to the follow-up, which syncs their
 * registry and queues them again once listed; what could not be looked at goes back to the queue
 * (after a backoff when the lookup failed).
 */

interface ClaimLookup {
  found: Array<{ scan: QueuedScan; item: RegistryImage }>;
  unlisted: QueuedScan[];
  unchecked: QueuedScan[];
  lookup: LookupResult;
}

async function lookUpClaim(
  scans: QueuedScan[],
  options: { hss: HssApiClient; budget: CallBudget; deadline: number },
): Promise<ClaimLookup> {
  const lookup = await lookUp(scans, options);
  const result: ClaimLookup = { found: [], unlisted: [], unchecked: [], lookup };
  for (const scan of scans) {
    const key = refKey(scan);
    if (!lookup.found.has(key)) result.unchecked.push(scan);
    else {
      const item = lookup.found.get(key);
      if (item) result.found.push({ scan, item });
      else result.unlisted.push(scan);
    }
  }
  return result;
}

/** Looks a claim up, settles what cannot be sent, and gives back what can. */
export async function lookUpFirst(
  claim: ReadyClaim["claim"],
  options: Omit<FlushOptions, "hss"> & { hss: HssApiClient; api: ScanApi },
  result: FlushResult,
): Promise<ReadyClaim | FlushStep> {
  const { queue, log, hss } = options;
  const looked = await lookUpClaim(claim.scans, {
    hss,
    budget: queue.budget,
    deadline: options.deadline,
  });
  result.list_calls = (result.list_calls ?? 0) + looked.lookup.calls;
  // HSS's own records of enterprise images: how it writes their instance_url.
  await options.urls?.observe(
    looked.found.map(({ scan, item }) => ({ target: scan.target, item })),
  );
  const lookupError = looked.lookup.error;
  if (looked.unchecked.length > 0) {
    const part = { token: claim.token, scans: looked.unchecked };
    if (!lookupError || classifyFailure(lookupError) === "throttled") {
      // Not looked at (the list API's budget, the deadline, its window spent): back as they were.
      await releaseUntouched(part, options, result);
    } else {
      await releaseAfterFailure(part, lookupError, options, result);
    }
    if (lookupError) {
      log.warn("lookup_failed", { images: part.scans.length, ...failureFieldsOf(lookupError) });
    }
  }
  if (looked.unlisted.length > 0)
    await handOverUnlisted(claim.token, looked.unlisted, options, result);
  const usable = await buryIncomplete(claim.token, looked.found, options, result);
  if (usable.length === 0) return stepAfterEmptyLookup(looked.lookup, options);
  return {
    claim: { token: claim.token, scans: usable.map(({ scan }) => scan) },
    listed: new Map(usable.map(({ scan, item }) => [targetKey(scan.target), item])),
  };
}

/**
 * Every field of HSS's answers is optional: an image HSS lists without what the scan API needs
 * to name it (a scan task: its id, digest, registry id and name) cannot be sent. It is
 * dead-lettered with the fields missing, rather than sent and refused with the rest of its call.
 */
async function buryIncomplete(
  token: string,
  found: ClaimLookup["found"],
  options: Pick<FlushOptions, "queue" | "log"> & { api: ScanApi },
  result: FlushResult,
): Promise<ClaimLookup["found"]> {
  const usable: ClaimLookup["found"] = [];
  for (const entry of found) {
    const lacks = options.api.recordLacks?.(entry.item) ?? [];
    if (lacks.length === 0) {
      usable.push(entry);
      continue;
    }
    const error = new SignedCallError(
      `HSS lists the image without ${lacks.join(", ")}, which ${options.api.name} needs to name it; HSS_SCAN_API=batch-scan names images by namespace, name and tag`,
      undefined,
      "HSS_RECORD_INCOMPLETE",
      undefined,
    );
    await options.queue.deadLetter({ token, scans: [entry.scan] }, failureFieldsOf(error));
    recordDeadLetter(result, options.log, entry.scan, error, entry.scan.attempts);
  }
  return usable;
}

/** Images HSS does not list yet: accepted from the queue, watched, and their sync asked for now. */
async function handOverUnlisted(
  token: string,
  unlisted: QueuedScan[],
  options: Omit<FlushOptions, "hss"> & { hss: HssApiClient },
  result: FlushResult,
): Promise<void> {
  const { queue, log, settings } = options;
  const now = Date.now();
  await queue.accepted({ token, scans: unlisted }, settings.dedupeWindowMs);
  // Their sync is asked for below: the first look is worth making once it can have run.
  await queue.watches.add(
    unlisted.map((scan) => ({ ...watchOf(scan, "syncing", now), unrequested: true })),
    nextCheckInMs(settings.followUpIntervalMs),
  );
  result.not_synced = (result.not_synced ?? 0) + unlisted.length;
  for (const scan of unlisted) {
    log.info("not_synced", {
      image: describeTarget({ ...scan.target, instance_id: undefined }),
      image_type: scan.image_type,
      instance_id: scan.target.instance_id,
      action: "HSS does not list it yet: its registry is synced and it is scanned once listed",
    });
  }
  // The sync is asked for now (at most once per window per registry), not at the next
  // follow-up: HSS starts syncing while the image waits.
  await requestSync(unlisted, {
    hss: options.hss,
    budget: queue.budget,
    marks: queue.watches,
    swr: settings.swr,
    log,
  });
}

function stepAfterEmptyLookup(
  lookup: LookupResult,
  options: Pick<FlushOptions, "queue">,
): FlushStep {
  if (lookup.error) {
    const kind = classifyFailure(lookup.error);
    if (kind === "throttled") {
      return { stop: "throttled", retryAfterMs: options.queue.budget.windowMs };
    }
    if (kind === "refused") return { stop: "refused" };
  }
  if (lookup.stopped === "budget") return { stop: "budget", retryAfterMs: lookup.retryAfterMs };
  if (lookup.stopped === "deadline") return { stop: "deadline" };
  return "continue";
}
