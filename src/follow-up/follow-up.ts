import type { Config } from "../config";
import { type HssApiClient, hssApiClient, type RegistryImage } from "../hss/apis";
import { describeTarget } from "../hss/batch-scan-request";
import type { HssCaller } from "../hss/client";
import type { Logger } from "../log";
import { type FailureRecord, nextCheckInMs, type ScanQueue, type Watch } from "../queue/scan-queue";
import { type ImageRef, LIST_PAGE, lookUp, refKey } from "./lookup";
import type { Finding, Notifier } from "./notify";
import { requestSync } from "./sync";

/**
 * The follow-up: for images HSS accepted a scan request for, reads what became of the scan from
 * HSS's own list (ListRegistryImages), a few calls for many images, and
 * - logs `scan_finished` (status, vulnerabilities, highest severity, malicious files, unsafe
 *   settings) or `scan_failed` (HSS's code and description) once per image when the scan ends,
 *   and notifies findings at or above NOTIFY_MIN_SEVERITY;
 * - when HSS does not list the image, asks for a sync of its registry (once per window for all
 *   images waiting) and puts the image back on the queue once HSS lists it, since the scan
 *   request for an image HSS did not know did nothing; gives up after HSS_SYNC_TIMEOUT_SECONDS
 *   with a dead letter that says why;
 * - puts back on the queue what failed for reasons a re-scan can fix (a timeout, a detail that
 *   needs a re-sync), up to FOLLOW_UP_MAX_RESCANS times;
 * - gives up on a scan with no result after FOLLOW_UP_TIMEOUT_SECONDS (a dead letter again).
 * It runs in every scheduled flush, after the queue's own work; each watched image is checked
 * at most every FOLLOW_UP_INTERVAL_SECONDS, and every call takes a slot of its API's budget.
 */

export type FollowUpSettings = Config["followUp"] & {
  leaseMs: number;
  timeoutMs: number;
  dedupeWindowMs: number;
};

export interface FollowUpOptions {
  queue: ScanQueue;
  caller: HssCaller;
  config: Pick<Config, "hss" | "swr" | "followUp" | "queue" | "dedupe">;
  deadline: number;
  log: Logger;
  notifier?: Notifier;
  now?: () => number;
  /** List calls this run may make at most (right after intake: one). */
  maxListCalls?: number;
  /** Timeout of each HSS call, when shorter than HSS_TIMEOUT_MS (right after intake). */
  callTimeoutMs?: number;
}

export interface FollowUpResult {
  checked: number;
  finished: number;
  failed: number;
  requeued: number;
  syncing: number;
  gave_up: number;
  list_calls: number;
  stopped?: "budget" | "deadline" | "error";
}

/** Watches checked per follow-up run at most. */
const WATCHES_PER_RUN = 2000;
/** HSS's clock and ours may differ a little; a scan this close before our request still counts. */
const CLOCK_SKEW_MS = 5000;
const TERMINAL = new Set(["success", "failed", "download_failed", "image_oversized"]);
/** Failures a new scan can fix: a timeout, or image details HSS must sync again. */
const RESCAN_CODES = new Set(["response_timed_out", "get_detail_info_not_found"]);
const RESYNC_CODES = new Set(["get_detail_info_not_found"]);
/** Scans requested again after a sync, per image at most (HSS listing it, then losing it). */
const MAX_RESYNCS = 3;

/** What a listed image says about the scan we asked for at `requestedAt`. */
export function scanStateOf(
  item: RegistryImage,
  requestedAt: number,
): "finished" | "failed" | "running" | "not_started" {
  const status = item.scan_status ?? "unscan";
  if (status === "waiting_for_scan" || status === "scanning") return "running";
  const fresh = (item.latest_scan_time ?? 0) >= requestedAt - CLOCK_SKEW_MS;
  if (TERMINAL.has(status) && fresh) return status === "success" ? "finished" : "failed";
  return "not_started";
}

export function findingOf(
  watch: Pick<Watch, "image_type" | "target" | "digest">,
  item: RegistryImage,
): Finding {
  return {
    image: describeTarget(watch.target),
    image_type: watch.image_type,
    ...(watch.target.instance_id ? { instance_id: watch.target.instance_id } : {}),
    ...(watch.digest ? { digest: watch.digest } : {}),
    severity_level: item.severity_level ?? "Security",
    vul_num: item.vul_num ?? 0,
    malicious_file_num: item.malicious_file_num ?? 0,
    unsafe_setting_num: item.unsafe_setting_num ?? 0,
    ...(item.latest_scan_time ? { latest_scan_time: item.latest_scan_time } : {}),
  };
}

export async function followUp(options: FollowUpOptions): Promise<FollowUpResult> {
  const { queue, config, log } = options;
  const now = options.now ?? Date.now;
  const settings = config.followUp;
  const result: FollowUpResult = {
    checked: 0,
    finished: 0,
    failed: 0,
    requeued: 0,
    syncing: 0,
    gave_up: 0,
    list_calls: 0,
  };
  // A run limited to a few list calls claims no more than those calls can cover (a page each).
  const limit =
    options.maxListCalls === undefined ? WATCHES_PER_RUN : options.maxListCalls * LIST_PAGE;
  const watches = await queue.watches.claimDue(limit, config.queue.leaseMs);
  if (watches.length === 0) return result;
  const hss: HssApiClient = hssApiClient({
    caller: options.caller,
    region: config.hss.region,
    enterpriseProjectId: config.hss.enterpriseProjectId,
    timeoutMs: Math.min(config.hss.timeoutMs, options.callTimeoutMs ?? config.hss.timeoutMs),
  });
  const lookup = await lookUp(watches, {
    hss,
    budget: queue.budget,
    deadline: options.deadline,
    maxCalls: options.maxListCalls,
  });
  result.list_calls = lookup.calls;
  if (lookup.stopped) result.stopped = lookup.stopped;
  if (lookup.error) {
    log.warn("follow_up_lookup_failed", {
      http_status: lookup.error.httpStatus,
      error_code: lookup.error.errorCode,
      error_msg: lookup.error.message,
      hss_request_id: lookup.error.requestId,
    });
  }

  const nextCheckMs = nextCheckInMs(settings.intervalMs);
  // Decided per watch, written at the end in a few batched calls.
  const notChecked: Watch[] = [];
  const checkLater: Watch[] = [];
  const done: string[] = [];
  const needSync: Watch[] = [];
  const requeue: Watch[] = [];
  const bury: Array<{ watch: Watch; error: FailureRecord }> = [];
  const findings: Finding[] = [];
  const at = now();
  for (const watch of watches) {
    const key = refKey(watch);
    if (!lookup.found.has(key)) {
      // Not looked at this time (budget, deadline, an error): due again soon.
      notChecked.push(watch);
      continue;
    }
    result.checked += 1;
    const item = lookup.found.get(key) ?? null;
    const image = describeTarget(watch.target);
    if (item === null) {
      // HSS does not list it: it has not synced the image from the registry yet.
      if (watch.state === "syncing" && at - watch.since > settings.syncTimeoutMs) {
        bury.push({
          watch,
          error: {
            error_code: "NOT_SYNCED",
            error_msg: `HSS still did not list the image ${Math.round((at - watch.since) / 1000)} s after a sync was requested (HSS_SYNC_TIMEOUT_SECONDS=${settings.syncTimeoutMs / 1000}): check that HSS can reach the registry (HSS console, Container Images, registry access)`,
          },
        });
        continue;
      }
      const syncing: Watch =
        watch.state === "syncing" ? watch : { ...watch, state: "syncing", since: at };
      if (watch.state !== "syncing") {
        log.info("not_synced", {
          image,
          image_type: watch.image_type,
          instance_id: watch.target.instance_id,
          action: "sync requested; the image stays watched and is scanned once HSS lists it",
        });
      }
      needSync.push(syncing);
      checkLater.push(syncing);
      continue;
    }
    if (watch.state === "syncing") {
      // Listed now, synced after we asked: the scan request it got before did nothing.
      if ((item.latest_sync_time ?? at) >= watch.since - CLOCK_SKEW_MS) requeue.push(watch);
      else checkLater.push(watch);
      continue;
    }
    const state = scanStateOf(item, watch.requested_at);
    if (state === "finished") {
      result.finished += 1;
      const finding = findingOf(watch, item);
      log.info("scan_finished", {
        ...finding,
        scan_status: item.scan_status,
        digest_scanned: item.image_digest ?? undefined,
        seconds_since_submitted: Math.round((at - watch.watched_at) / 1000),
      });
      done.push(watch.id);
      findings.push(finding);
      continue;
    }
    if (state === "failed") {
      const code = item.scan_failed_code ?? "";
      const rescan = RESCAN_CODES.has(code) && (watch.rescans ?? 0) < settings.maxRescans;
      result.failed += 1;
      log.warn("scan_failed", {
        image,
        image_type: watch.image_type,
        instance_id: watch.target.instance_id,
        scan_status: item.scan_status,
        scan_failed_code: item.scan_failed_code ?? undefined,
        scan_failed_desc: item.scan_failed_desc ?? undefined,
        rescan: rescan ? (RESYNC_CODES.has(code) ? "after a sync" : "queued again") : "no",
      });
      if (!rescan) {
        done.push(watch.id);
      } else if (RESYNC_CODES.has(code)) {
        const syncing: Watch = { ...watch, state: "syncing", since: at };
        needSync.push(syncing);
        checkLater.push(syncing);
      } else {
        requeue.push(watch);
      }
      continue;
    }
    if (at - watch.watched_at > settings.timeoutMs) {
      bury.push({
        watch,
        error: {
          error_code: "NO_SCAN_RESULT",
          error_msg: `HSS reported no result for the scan ${Math.round((at - watch.requested_at) / 1000)} s after it was requested (status ${item.scan_status ?? "unknown"}; FOLLOW_UP_TIMEOUT_SECONDS=${settings.timeoutMs / 1000})`,
        },
      });
      continue;
    }
    // Not started long after HSS accepted the request: HSS dropped it; ask again.
    if (state === "not_started" && at - watch.requested_at > 3 * settings.intervalMs) {
      requeue.push(watch);
      continue;
    }
    checkLater.push(watch);
  }
  await queue.watches.add(
    notChecked,
    Math.min(nextCheckMs, Math.max(1000, lookup.retryAfterMs ?? 0)),
  );
  await queue.watches.add(checkLater, nextCheckMs);

  if (needSync.length > 0) {
    result.syncing = needSync.length;
    await requestSync(needSync, {
      hss,
      budget: queue.budget,
      marks: queue.watches,
      swr: config.swr,
      log,
    });
  }
  if (requeue.length > 0) {
    // A scan requested again because HSS lists the image now (after a sync) is the first real
    // one: it counts against MAX_RESYNCS; one requested again after a failure or a dropped request
    // counts against FOLLOW_UP_MAX_RESCANS.
    const afterSync = (watch: Watch) => watch.state === "syncing";
    const within = requeue.filter((watch) =>
      afterSync(watch)
        ? (watch.resyncs ?? 0) < MAX_RESYNCS
        : (watch.rescans ?? 0) < settings.maxRescans,
    );
    for (const watch of requeue) {
      if (within.includes(watch)) continue;
      bury.push({
        watch,
        error: afterSync(watch)
          ? {
              error_code: "NOT_SYNCED",
              error_msg: `HSS lost the image ${MAX_RESYNCS} times after syncing it; check its registry access in the HSS console`,
            }
          : {
              error_code: "RESCANS_EXHAUSTED",
              error_msg: `scanned ${watch.rescans ?? 0} more times without a result (FOLLOW_UP_MAX_RESCANS=${settings.maxRescans})`,
            },
      });
    }
    const scans = within.map(({ id, image_type, target, digest, rescans, resyncs, state }) => {
      const synced = state === "syncing";
      const next = {
        rescans: (rescans ?? 0) + (synced ? 0 : 1),
        resyncs: (resyncs ?? 0) + (synced ? 1 : 0),
      };
      return {
        id,
        image_type,
        target,
        ...(digest ? { digest } : {}),
        ...(next.rescans > 0 ? { rescans: next.rescans } : {}),
        ...(next.resyncs > 0 ? { resyncs: next.resyncs } : {}),
      };
    });
    await queue.enqueue(scans, config.dedupe.windowMs, { force: true });
    done.push(...within.map((watch) => watch.id));
    result.requeued = within.length;
    for (const watch of within) {
      log.info("requeued", {
        image: describeTarget(watch.target),
        image_type: watch.image_type,
        instance_id: watch.target.instance_id,
        ...(afterSync(watch)
          ? { reason: "HSS lists the image now" }
          : { reason: "the scan is to be run again", rescan: (watch.rescans ?? 0) + 1 }),
      });
    }
  }
  if (bury.length > 0) {
    await queue.bury(
      bury.map(({ watch, error }) => {
        const { state: _state, requested_at: _r, since: _s, watched_at: _w, ...scan } = watch;
        return { scan, error };
      }),
    );
  }
  for (const { watch, error } of bury) {
    result.gave_up += 1;
    log.error("dead_lettered", {
      image: describeTarget(watch.target),
      image_type: watch.image_type,
      instance_id: watch.target.instance_id,
      digest: watch.digest,
      error_code: error.error_code,
      error_msg: error.error_msg,
    });
  }
  await queue.watches.remove([...done, ...bury.map(({ watch }) => watch.id)]);
  for (const finding of findings) await options.notifier?.notify(finding);
  return result;
}

export type { ImageRef };
