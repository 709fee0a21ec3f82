import { failureFieldsOf } from "../cloud/signed-client";
import type { Config } from "../config";
import type { HssApiClient, RegistryImage } from "../hss/apis";
import { configuredUrlOf } from "../images/instance-url";
import { describeTarget } from "../images/scan-target";
import type { InstanceUrls } from "../instance-urls";
import type { Logger } from "../log";
import type { Finding, Notifier } from "../notify/notifier";
import {
  type FailureRecord,
  type NewScan,
  nextCheckInMs,
  type QueueStores,
  type ScanClaims,
  type ScanIntake,
  type Watch,
} from "../queue/scan-queue";
import type { NewFindings } from "../rescan/new-findings";
import { type ImageRef, LIST_PAGE, refKey } from "./lookup";
import { requestSync } from "./sync";
import { lookUpWatches, type RegistryCheck, type Sighting } from "./watch-lookup";

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
 *
 * What becomes of each watched image is decided by a pure function (`decideWatch`, tested as a
 * table); `followUp` looks the images up, then carries the decisions out in a few batched calls.
 */

export type FollowUpSettings = Omit<Config["followUp"], "enabled"> & {
  leaseMs: number;
  dedupeWindowMs: number;
  swr: Config["swr"];
};

export interface FollowUpOptions {
  /** Requeues and burials, the watches, and the budget of the calls around a scan. */
  queue: ScanIntake & Pick<ScanClaims, "bury"> & Pick<QueueStores, "watches" | "budget">;
  /** The calls around a scan, with the timeout each may take. */
  hss: HssApiClient;
  settings: FollowUpSettings;
  deadline: number;
  log: Logger;
  notifier?: Notifier;
  /** Learns how HSS records enterprise images' instance_url from what it lists. */
  urls?: InstanceUrls;
  /** With RESCAN_*: what each finished scan found that is new in its digest. */
  findings?: NewFindings;
  now?: () => number;
  /** List calls this run may make at most (right after intake: one). */
  maxListCalls?: number;
}

export interface FollowUpResult {
  checked: number;
  finished: number;
  failed: number;
  requeued: number;
  syncing: number;
  gave_up: number;
  list_calls: number;
  /**
   * What each registry's check cost: list calls, and the pages and items of its lists of finished
   * scans and of images new to HSS, and its exact lookups.
   */
  lookups?: RegistryCheck[];
  stopped?: "budget" | "deadline" | "error";
}

/** Watches checked per follow-up run at most. */
const WATCHES_PER_RUN = 2000;
/** HSS's clock and ours may differ a little; a scan this close before our request still counts. */
const CLOCK_SKEW_MS = 5000;
const TERMINAL = new Set(["success", "failed", "download_failed", "image_oversized"]);
/** Failures a new scan can fix: a timeout, or image details HSS must sync again. */
export const RESCAN_CODES: ReadonlySet<string> = new Set([
  "response_timed_out",
  "get_detail_info_not_found",
]);
export const RESYNC_CODES: ReadonlySet<string> = new Set(["get_detail_info_not_found"]);
/** Scans requested again after a sync, per image at most (HSS listing it, then losing it). */
export const MAX_RESYNCS = 3;

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
    namespace: watch.target.namespace,
    image_name: watch.target.image_name,
    image_version: watch.target.image_version,
    ...(watch.target.instance_id ? { instance_id: watch.target.instance_id } : {}),
    ...(item.instance_name ? { instance_name: item.instance_name } : {}),
    ...((item.instance_url ?? watch.target.instance_url)
      ? { instance_url: item.instance_url ?? watch.target.instance_url }
      : {}),
    ...(item.image_id ? { image_id: item.image_id } : {}),
    ...(watch.digest ? { digest: watch.digest } : {}),
    severity_level: item.severity_level ?? "Security",
    vul_num: item.vul_num ?? 0,
    malicious_file_num: item.malicious_file_num ?? 0,
    unsafe_setting_num: item.unsafe_setting_num ?? 0,
    ...(item.latest_scan_time ? { latest_scan_time: item.latest_scan_time } : {}),
  };
}

/** What becomes of one watched image, and what is logged about it as it is decided. */
export interface WatchDecision {
  action:
    | { kind: "not_checked" }
    | { kind: "check_later"; watch: Watch }
    /** Its registry synced, and the image looked at again later. */
    | { kind: "sync"; watch: Watch }
    | { kind: "done"; finding?: Finding }
    /** Back on the queue: HSS lists it now after a sync, or its scan is to be run again. */
    | { kind: "requeue"; scan: NewScan; afterSync: boolean; rescan: number; hssUrl?: string }
    | { kind: "bury"; error: FailureRecord };
  /** The scan's end, when this check saw it. */
  ended?: "finished" | "failed";
  events: Array<{ level: "info" | "warn"; event: string; fields: Record<string, unknown> }>;
}

/**
 * Decides what becomes of a watched image from what HSS lists for it: `undefined` when it was not
 * looked at this time, `null` when HSS does not list it, `"running"` when no scan of it has ended
 * since its request (its record not read), its record otherwise.
 */
export function decideWatch(
  watch: Watch,
  item: RegistryImage | null | "running" | undefined,
  settings: FollowUpSettings,
  at: number,
): WatchDecision {
  // Not looked at this time (budget, deadline, an error): due again soon.
  if (item === undefined) return { action: { kind: "not_checked" }, events: [] };
  const about = {
    image: describeTarget(watch.target),
    image_type: watch.image_type,
    instance_id: watch.target.instance_id,
  };
  if (item === null) return decideUnlisted(watch, settings, at, about);
  if (item === "running") {
    return at - watch.watched_at > settings.timeoutMs
      ? noResult(watch, at, "no result listed", settings)
      : later(watch);
  }
  const state = scanStateOf(item, watch.requested_at);
  if (watch.state === "syncing" && state !== "finished" && state !== "failed") {
    // Being scanned (someone asked): its end is read later, as for any scan.
    if (state === "running") return later(watch);
    // Listed now, synced after we asked: the scan request it got before did nothing.
    const synced = (item.latest_sync_time ?? at) >= watch.since - CLOCK_SKEW_MS;
    return synced
      ? requeue(watch, true, settings, hssUrlToResend(watch, item, settings))
      : later(watch);
  }
  if (state === "finished") {
    const finding = findingOf(watch, item);
    return {
      action: { kind: "done", finding },
      ended: "finished",
      events: [
        {
          level: "info",
          event: "scan_finished",
          fields: {
            ...finding,
            scan_status: item.scan_status,
            digest_scanned: item.image_digest ?? undefined,
            seconds_since_submitted: Math.round((at - watch.watched_at) / 1000),
          },
        },
      ],
    };
  }
  if (state === "failed") return decideFailed(watch, item, settings, at, about);
  // HSS records the image under another instance_url than the request named: the request may
  // have been ignored for it. Sent again at once with HSS's own value (once).
  const hssUrl = hssUrlToResend(watch, item, settings);
  if (state === "not_started" && hssUrl) return requeue(watch, false, settings, hssUrl);
  if (at - watch.watched_at > settings.timeoutMs) {
    return noResult(watch, at, item.scan_status ?? "unknown", settings);
  }
  // Not started, and synced after the request: HSS did not know the image when it accepted the
  // request, which did nothing (an image HSS has not synced is answered 200 all the same).
  if (state === "not_started" && (item.latest_sync_time ?? 0) >= watch.requested_at) {
    return requeue(watch, true, settings, hssUrl);
  }
  // Not started long after HSS accepted the request: HSS dropped it; ask again.
  if (state === "not_started" && at - watch.requested_at > 3 * settings.intervalMs) {
    return requeue(watch, false, settings);
  }
  return later(watch);
}

/**
 * HSS's own instance_url of an enterprise image, when it differs from what the scan request
 * carried, no URL is configured for the instance (a configured URL wins), and the image was not
 * sent with HSS's value already: the value to send it again with.
 */
export function hssUrlToResend(
  watch: Watch,
  item: RegistryImage,
  settings: Pick<FollowUpSettings, "swr">,
): string | undefined {
  const id = watch.target.instance_id;
  const hssUrl = item.instance_url;
  if (!id || !hssUrl || watch.hss_instance_url) return undefined;
  if (configuredUrlOf(settings.swr, id)) return undefined;
  return hssUrl !== (watch.sent_url ?? watch.target.instance_url) ? hssUrl : undefined;
}

/** No result long after the request (FOLLOW_UP_TIMEOUT_SECONDS): given up. */
function noResult(
  watch: Watch,
  at: number,
  status: string,
  settings: FollowUpSettings,
): WatchDecision {
  return bury({
    error_code: "NO_SCAN_RESULT",
    error_msg: `HSS reported no result for the scan ${Math.round((at - watch.requested_at) / 1000)} s after it was requested (status ${status}; FOLLOW_UP_TIMEOUT_SECONDS=${settings.timeoutMs / 1000})`,
  });
}

/** HSS does not list the image: it has not synced it from the registry yet. */
function decideUnlisted(
  watch: Watch,
  settings: FollowUpSettings,
  at: number,
  about: Record<string, unknown>,
): WatchDecision {
  if (watch.state === "syncing" && at - watch.since > settings.syncTimeoutMs) {
    return bury({
      error_code: "NOT_SYNCED",
      error_msg: `HSS still did not list the image ${Math.round((at - watch.since) / 1000)} s after a sync was requested (HSS_SYNC_TIMEOUT_SECONDS=${settings.syncTimeoutMs / 1000}): check that HSS can reach the registry (HSS console, Container Images, registry access)`,
    });
  }
  if (watch.state === "syncing") return { action: { kind: "sync", watch }, events: [] };
  return {
    action: { kind: "sync", watch: { ...watch, state: "syncing", since: at } },
    events: [
      {
        level: "info",
        event: "not_synced",
        fields: {
          ...about,
          action:
            "HSS lists it neither among its new tags nor among its finished scans: its registry is synced; the image stays watched and is scanned once HSS lists it (a scan that ends meanwhile is taken as its result)",
        },
      },
    ],
  };
}

/** The scan ended in failure: logged, and scanned again when a re-scan can fix it. */
function decideFailed(
  watch: Watch,
  item: RegistryImage,
  settings: FollowUpSettings,
  at: number,
  about: Record<string, unknown>,
): WatchDecision {
  const code = item.scan_failed_code ?? "";
  const rescan = RESCAN_CODES.has(code) && (watch.rescans ?? 0) < settings.maxRescans;
  const resync = rescan && RESYNC_CODES.has(code);
  const decision: WatchDecision = !rescan
    ? { action: { kind: "done" }, events: [] }
    : resync
      ? { action: { kind: "sync", watch: { ...watch, state: "syncing", since: at } }, events: [] }
      : requeue(watch, false, settings);
  decision.ended = "failed";
  decision.events.unshift({
    level: "warn",
    event: "scan_failed",
    fields: {
      ...about,
      scan_status: item.scan_status,
      scan_failed_code: item.scan_failed_code ?? undefined,
      scan_failed_desc: item.scan_failed_desc ?? undefined,
      rescan: rescan ? (resync ? "after a sync" : "queued again") : "no",
    },
  });
  return decision;
}

/**
 * Back on the queue, within its limits: a scan requested again because HSS lists the image now
 * (after a sync) is the first real one and counts against MAX_RESYNCS; one requested again after a
 * failure or a dropped request counts against FOLLOW_UP_MAX_RESCANS.
 */
function requeue(
  watch: Watch,
  afterSync: boolean,
  settings: FollowUpSettings,
  hssUrl?: string,
): WatchDecision {
  // A re-send with HSS's own instance_url is the first request HSS could act on: not a rescan.
  const rescans = (watch.rescans ?? 0) + (afterSync || hssUrl ? 0 : 1);
  const resyncs = (watch.resyncs ?? 0) + (afterSync ? 1 : 0);
  if (afterSync && resyncs > MAX_RESYNCS) {
    return bury({
      error_code: "NOT_SYNCED",
      error_msg: `HSS lost the image ${MAX_RESYNCS} times after syncing it; check its registry access in the HSS console`,
    });
  }
  if (!afterSync && rescans > settings.maxRescans) {
    return bury({
      error_code: "RESCANS_EXHAUSTED",
      error_msg: `scanned ${watch.rescans ?? 0} more times without a result (FOLLOW_UP_MAX_RESCANS=${settings.maxRescans})`,
    });
  }
  const { id, image_type, target, digest } = watch;
  const hss_instance_url = hssUrl ?? watch.hss_instance_url;
  // Requeued only on HSS's record of it: the next watch of it knows HSS lists it.
  const scan: NewScan = {
    id,
    image_type,
    target,
    ...(digest ? { digest } : {}),
    ...(rescans > 0 ? { rescans } : {}),
    ...(resyncs > 0 ? { resyncs } : {}),
    listed: true,
    ...(hss_instance_url ? { hss_instance_url } : {}),
    ...(watch.rescan ? { rescan: true } : {}),
  };
  return {
    action: { kind: "requeue", scan, afterSync, rescan: rescans, ...(hssUrl ? { hssUrl } : {}) },
    events: [],
  };
}

const later = (watch: Watch): WatchDecision => ({
  action: { kind: "check_later", watch },
  events: [],
});
const bury = (error: FailureRecord): WatchDecision => ({
  action: { kind: "bury", error },
  events: [],
});

/** Looks the due watches up, decides what becomes of each, and carries the decisions out. */
export async function followUp(options: FollowUpOptions): Promise<FollowUpResult> {
  const { queue, settings, log } = options;
  const now = options.now ?? Date.now;
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
  const due = await queue.watches.claimDue(limit, settings.leaseMs);
  if (due.length === 0) return result;
  // A result read already, waiting for its vulnerabilities' list: judged again, no lookup.
  const held = due.filter((watch) => watch.held !== undefined);
  const claimed = due.filter((watch) => watch.held === undefined);
  const lookup = await lookUpWatches(claimed, {
    hss: options.hss,
    budget: queue.budget,
    deadline: options.deadline,
    maxCalls: options.maxListCalls,
    now: now(),
    // A scan with no result after the time HSS is given before a request counts as dropped.
    staleMs: 3 * settings.intervalMs,
    syncTimeoutMs: settings.syncTimeoutMs,
    places: queue.watches,
    placeTtlMs: settings.syncTimeoutMs,
  });
  result.list_calls = lookup.calls;
  if (lookup.registries.length > 0) result.lookups = lookup.registries;
  if (lookup.stopped) result.stopped = lookup.stopped;
  if (lookup.error) log.warn("follow_up_lookup_failed", { ...failureFieldsOf(lookup.error) });
  await learnInstanceUrls(claimed, lookup.sightings, options.urls);
  const at = now();
  const decisions: Decided = claimed.map((claimedWatch) => {
    const key = refKey(claimedWatch);
    const sighting = lookup.sightings.get(key);
    // What the watch keeps of this check: where the lists were read to, whether HSS lists it.
    const watch: Watch = {
      ...claimedWatch,
      ...lookup.progress.get(key),
      ...(sighting?.kind === "listed" ? { listed: true } : {}),
    };
    const decision = decideWatch(watch, seen(sighting), settings, at);
    for (const { level, event, fields } of decision.events) log[level](event, fields);
    return { watch, decision };
  });
  for (const watch of held) {
    const finding = watch.held as unknown as Finding;
    decisions.push({ watch, decision: { action: { kind: "done", finding }, events: [] } });
  }
  await carryOut(decisions, { ...options, retryAfterMs: lookup.retryAfterMs }, result);
  return result;
}

/** HSS's records of the watched enterprise images it listed, compared with what was sent. */
async function learnInstanceUrls(
  watches: readonly Watch[],
  sightings: ReadonlyMap<string, Sighting>,
  urls: InstanceUrls | undefined,
): Promise<void> {
  if (!urls) return;
  await urls.observe(
    watches.flatMap((watch) => {
      const sighting = sightings.get(refKey(watch));
      if (sighting?.kind !== "listed" || !watch.target.instance_id) return [];
      const sent = watch.sent_url ?? watch.target.instance_url;
      return [{ target: watch.target, item: sighting.item, ...(sent ? { sent } : {}) }];
    }),
  );
}

/** A sighting as decideWatch takes it. */
function seen(sighting: Sighting | undefined): RegistryImage | null | "running" | undefined {
  if (!sighting) return undefined;
  if (sighting.kind === "listed") return sighting.item;
  return sighting.kind === "unlisted" ? null : "running";
}

type Decided = Array<{ watch: Watch; decision: WatchDecision }>;
type Carried = FollowUpOptions & { retryAfterMs?: number };

/** The watches whose decision is of this kind, with it. */
function decidedAs<K extends WatchDecision["action"]["kind"]>(decided: Decided, kind: K) {
  return decided.flatMap(({ watch, decision }) =>
    decision.action.kind === kind
      ? [{ watch, action: decision.action as Extract<WatchDecision["action"], { kind: K }> }]
      : [],
  );
}

/** The decisions, written in one batched call per kind. */
async function carryOut(decided: Decided, options: Carried, result: FollowUpResult) {
  for (const { decision } of decided) {
    if (decision.action.kind !== "not_checked") result.checked += 1;
    if (decision.ended === "finished") result.finished += 1;
    if (decision.ended === "failed") result.failed += 1;
  }
  await checkAgain(decided, options, result);
  const requeued = await requeueAll(decidedAs(decided, "requeue"), options);
  result.requeued = requeued.length;
  const buried = await buryAll(decidedAs(decided, "bury"), options);
  result.gave_up = buried.length;
  const done = await alertDone(decidedAs(decided, "done"), options);
  await options.queue.watches.remove(
    [...done, ...requeued, ...buried].map(({ watch }) => watch.id),
  );
}

/**
 * Alerts first: a watch removed before its alert is in the outbox could lose the alert, while an
 * alert put twice is one alert (its key). A push's findings are alerted whole; a rescan's only
 * for what is new in its digest (with RESCAN_*: `findings`, which also keeps each push's baseline).
 * Returns the watches that are done; one whose list could not be read yet stays watched.
 */
async function alertDone(done: ReturnType<typeof decidedAs<"done">>, options: Carried) {
  const settled: typeof done = [];
  const later: Array<{ watch: Watch; inMs: number }> = [];
  for (const entry of done) {
    const { watch, action } = entry;
    const finding = action.finding;
    const verdict = finding && (await options.findings?.judge(finding, watch.rescan === true));
    const heldAt = Number(watch.held?.held_at ?? Date.now());
    if (verdict?.kind === "later" && Date.now() - heldAt <= options.settings.timeoutMs) {
      const held = { ...finding, held_at: heldAt };
      later.push({ watch: { ...watch, held }, inMs: verdict.retryAfterMs });
      continue;
    }
    if (verdict?.kind === "later") {
      options.log.warn("rescan_not_judged", {
        image: finding?.image,
        reason: `its vulnerabilities could not be read for FOLLOW_UP_TIMEOUT_SECONDS=${options.settings.timeoutMs / 1000}`,
      });
    }
    settled.push(entry);
    if (!finding) continue;
    if (!watch.rescan) {
      await options.notifier?.notify(finding);
      continue;
    }
    if (verdict?.kind === "new") {
      await options.notifier?.notifyNew(finding, verdict.vulnerabilities);
    }
    const gone = verdict && "gone" in verdict ? verdict.gone : [];
    if (gone.length > 0 && options.findings?.reportFixed) {
      await options.notifier?.notifyFixed(finding, gone);
    }
    options.log.info("rescan_finished", {
      image: finding.image,
      ...(finding.digest ? { digest: finding.digest } : {}),
      new: verdict?.kind === "new" ? verdict.vulnerabilities.map((vul) => vul.vul_id) : [],
      ...(gone.length > 0 ? { gone } : {}),
      ...(verdict?.kind === "baseline" ? { baseline: true } : {}),
    });
  }
  // Its vulnerabilities not readable now: judged again once that API's budget has a slot.
  for (const { watch, inMs } of later) {
    await options.queue.watches.add([watch], Math.max(1000, inMs));
  }
  return settled;
}

/** Watched again: soon when not looked at, after the interval otherwise; syncs asked for. */
async function checkAgain(decided: Decided, options: Carried, result: FollowUpResult) {
  const { queue, settings, log } = options;
  const nextCheckMs = nextCheckInMs(settings.intervalMs);
  // Not looked at: due when the budget has a slot again (not sooner: nothing could be read).
  await queue.watches.add(
    decidedAs(decided, "not_checked").map(({ watch }) => watch),
    Math.max(1000, options.retryAfterMs ?? 0),
  );
  const syncing = decidedAs(decided, "sync").map(({ action }) => action.watch);
  await queue.watches.add(
    [...decidedAs(decided, "check_later").map(({ action }) => action.watch), ...syncing],
    nextCheckMs,
  );
  if (syncing.length === 0) return;
  result.syncing = syncing.length;
  await requestSync(syncing, {
    hss: options.hss,
    budget: queue.budget,
    marks: queue.watches,
    swr: settings.swr,
    log,
  });
}

async function requeueAll(requeued: ReturnType<typeof decidedAs<"requeue">>, options: Carried) {
  if (requeued.length === 0) return requeued;
  await options.queue.enqueue(
    requeued.map(({ action }) => action.scan),
    options.settings.dedupeWindowMs,
    { force: true },
  );
  for (const { watch, action } of requeued) {
    options.log.info("requeued", {
      image: describeTarget(watch.target),
      image_type: watch.image_type,
      instance_id: watch.target.instance_id,
      ...(action.hssUrl
        ? {
            reason:
              "HSS records the image under another instance_url than the request named: sent again with HSS's own",
            instance_url: action.hssUrl,
            sent: watch.sent_url ?? watch.target.instance_url,
          }
        : action.afterSync
          ? { reason: "HSS lists the image now" }
          : { reason: "the scan is to be run again", rescan: action.rescan }),
    });
  }
  return requeued;
}

async function buryAll(buried: ReturnType<typeof decidedAs<"bury">>, options: Carried) {
  if (buried.length === 0) return buried;
  await options.queue.bury(
    buried.map(({ watch, action }) => {
      const {
        state: _state,
        requested_at: _r,
        since: _s,
        watched_at: _w,
        finished_from: _f,
        looked_at: _l,
        checked_at: _c,
        unrequested: _u,
        sent_url: _sent,
        held: _held,
        ...scan
      } = watch;
      return { scan, error: action.error };
    }),
  );
  for (const { watch, action } of buried) {
    options.log.error("dead_lettered", {
      image: describeTarget(watch.target),
      image_type: watch.image_type,
      instance_id: watch.target.instance_id,
      digest: watch.digest,
      error_code: action.error.error_code,
      error_msg: action.error.error_msg,
    });
  }
  return buried;
}

export type { ImageRef };
