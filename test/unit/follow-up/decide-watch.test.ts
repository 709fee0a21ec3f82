import { describe, expect, it } from "vitest";
import {
  decideWatch,
  type FollowUpSettings,
  MAX_RESYNCS,
  type WatchDecision,
} from "../../../src/follow-up/follow-up";
import type { RegistryImage } from "../../../src/hss/apis";
import type { Watch } from "../../../src/queue/scan-queue";

/** What the follow-up decides for one watched image, from what HSS lists for it. */

const AT = 10_000_000;
const settings: FollowUpSettings = {
  intervalMs: 20_000,
  timeoutMs: 3_600_000,
  maxRescans: 2,
  syncTimeoutMs: 900_000,
  leaseMs: 60_000,
  dedupeWindowMs: 600_000,
  swr: { defaultInstance: undefined, instancesByHost: {} },
};

const watch = (changes: Partial<Watch> = {}): Watch => ({
  id: "w1",
  image_type: "instance_image",
  target: { namespace: "team", image_name: "api", image_version: "1", instance_id: "i-1" },
  digest: "sha256:abc",
  state: "scanning",
  requested_at: AT - 30_000,
  since: AT - 30_000,
  watched_at: AT - 30_000,
  ...changes,
});

const listed = (changes: Partial<RegistryImage> = {}): RegistryImage => ({
  namespace: "team",
  image_name: "api",
  image_version: "1",
  scan_status: "scanning",
  ...changes,
});

/** The decision in short: its kind, and what it carries that the case is about. */
function summary(decision: WatchDecision) {
  const { action } = decision;
  return {
    kind: action.kind,
    ...(action.kind === "bury" ? { code: action.error.error_code } : {}),
    ...(action.kind === "requeue"
      ? { afterSync: action.afterSync, rescans: action.scan.rescans, resyncs: action.scan.resyncs }
      : {}),
    ...(action.kind === "sync" ? { state: action.watch.state, since: action.watch.since } : {}),
    ...(action.kind === "done" ? { finding: Boolean(action.finding) } : {}),
    ...(decision.ended ? { ended: decision.ended } : {}),
    events: decision.events.map(({ event, fields }) =>
      event === "scan_failed" ? `${event}: rescan ${String(fields.rescan)}` : event,
    ),
  };
}

const finishedAt = AT - 1000;

describe("decideWatch", () => {
  it.each<
    [string, Watch, RegistryImage | null | "running" | undefined, ReturnType<typeof summary>]
  >([
    ["not looked at: due again soon", watch(), undefined, { kind: "not_checked", events: [] }],
    [
      "not listed: its registry synced, said once",
      watch(),
      null,
      { kind: "sync", state: "syncing", since: AT, events: ["not_synced"] },
    ],
    [
      "still not listed while syncing: synced again, said nothing",
      watch({ state: "syncing", since: AT - 60_000 }),
      null,
      { kind: "sync", state: "syncing", since: AT - 60_000, events: [] },
    ],
    [
      "not listed long after its sync: given up",
      watch({ state: "syncing", since: AT - settings.syncTimeoutMs - 1 }),
      null,
      { kind: "bury", code: "NOT_SYNCED", events: [] },
    ],
    [
      "listed after a sync it asked for: scanned again",
      watch({ state: "syncing", since: AT - 60_000 }),
      listed({ scan_status: "unscan", latest_sync_time: AT - 10_000 }),
      { kind: "requeue", afterSync: true, rescans: undefined, resyncs: 1, events: [] },
    ],
    [
      "listed, but synced before it asked: looked at later",
      watch({ state: "syncing", since: AT - 60_000 }),
      listed({ scan_status: "unscan", latest_sync_time: AT - 120_000 }),
      { kind: "check_later", events: [] },
    ],
    [
      "listed after a sync once too often: given up",
      watch({ state: "syncing", since: AT - 60_000, resyncs: MAX_RESYNCS }),
      listed({ scan_status: "unscan", latest_sync_time: AT - 10_000 }),
      { kind: "bury", code: "NOT_SYNCED", events: [] },
    ],
    [
      "waiting for a sync, and HSS scans it (someone asked): its end looked for later",
      watch({ state: "syncing", since: AT - 60_000 }),
      listed({ scan_status: "scanning", latest_sync_time: AT - 10_000 }),
      { kind: "check_later", events: [] },
    ],
    [
      "waiting for a sync, and a scan of it ended since the request: done",
      watch({ state: "syncing", since: AT - 60_000 }),
      listed({ scan_status: "success", latest_scan_time: finishedAt }),
      { kind: "done", finding: true, ended: "finished", events: ["scan_finished"] },
    ],
    [
      "no scan of it ended since the request (running): looked at later",
      watch(),
      "running",
      { kind: "check_later", events: [] },
    ],
    [
      "no scan of it ended long after the request: given up",
      watch({ watched_at: AT - settings.timeoutMs - 1 }),
      "running",
      { kind: "bury", code: "NO_SCAN_RESULT", events: [] },
    ],
    [
      "scanned since it was requested: done, with a finding",
      watch(),
      listed({ scan_status: "success", latest_scan_time: finishedAt, vul_num: 3 }),
      { kind: "done", finding: true, ended: "finished", events: ["scan_finished"] },
    ],
    [
      "scanned, but before it was requested: not its scan yet",
      watch(),
      listed({ scan_status: "success", latest_scan_time: AT - 3_600_000 }),
      { kind: "check_later", events: [] },
    ],
    [
      "failed for good: done",
      watch(),
      listed({
        scan_status: "failed",
        scan_failed_code: "image_oversized",
        latest_scan_time: finishedAt,
      }),
      { kind: "done", finding: false, ended: "failed", events: ["scan_failed: rescan no"] },
    ],
    [
      "timed out: scanned again",
      watch(),
      listed({
        scan_status: "failed",
        scan_failed_code: "response_timed_out",
        latest_scan_time: finishedAt,
      }),
      {
        kind: "requeue",
        afterSync: false,
        rescans: 1,
        resyncs: undefined,
        ended: "failed",
        events: ["scan_failed: rescan queued again"],
      },
    ],
    [
      "timed out once too often: done",
      watch({ rescans: settings.maxRescans }),
      listed({
        scan_status: "failed",
        scan_failed_code: "response_timed_out",
        latest_scan_time: finishedAt,
      }),
      { kind: "done", finding: false, ended: "failed", events: ["scan_failed: rescan no"] },
    ],
    [
      "failed for details HSS must sync again: synced first",
      watch(),
      listed({
        scan_status: "failed",
        scan_failed_code: "get_detail_info_not_found",
        latest_scan_time: finishedAt,
      }),
      {
        kind: "sync",
        state: "syncing",
        since: AT,
        ended: "failed",
        events: ["scan_failed: rescan after a sync"],
      },
    ],
    [
      "no result long after it was requested: given up",
      watch({ watched_at: AT - settings.timeoutMs - 1, requested_at: AT - settings.timeoutMs - 1 }),
      listed({ scan_status: "scanning" }),
      { kind: "bury", code: "NO_SCAN_RESULT", events: [] },
    ],
    [
      "not started, synced after it was requested: HSS did not know it then; asked again at once",
      watch(),
      listed({ scan_status: "unscan", latest_sync_time: AT - 10_000 }),
      { kind: "requeue", afterSync: true, rescans: undefined, resyncs: 1, events: [] },
    ],
    [
      "not started, synced before it was requested: looked at later",
      watch(),
      listed({ scan_status: "unscan", latest_sync_time: AT - 60_000 }),
      { kind: "check_later", events: [] },
    ],
    [
      "never started long after HSS accepted it: asked again",
      watch({ requested_at: AT - 3 * settings.intervalMs - 1 }),
      listed({ scan_status: "unscan" }),
      { kind: "requeue", afterSync: false, rescans: 1, resyncs: undefined, events: [] },
    ],
    [
      "never started, asked again too often: given up",
      watch({ requested_at: AT - 3 * settings.intervalMs - 1, rescans: settings.maxRescans }),
      listed({ scan_status: "unscan" }),
      { kind: "bury", code: "RESCANS_EXHAUSTED", events: [] },
    ],
    [
      "still scanning: looked at later",
      watch(),
      listed({ scan_status: "scanning" }),
      { kind: "check_later", events: [] },
    ],
  ])("%s", (_, watched, item, expected) => {
    expect(summary(decideWatch(watched, item, settings, AT))).toEqual(expected);
  });

  it("carries the image's findings, digest and counts into the finding it notifies", () => {
    const { action } = decideWatch(
      watch(),
      listed({
        scan_status: "success",
        latest_scan_time: finishedAt,
        severity_level: "High",
        vul_num: 3,
        malicious_file_num: 1,
        unsafe_setting_num: 2,
      }),
      settings,
      AT,
    );
    expect(action).toEqual({
      kind: "done",
      finding: {
        image: "team/api:1 (instance i-1)",
        image_type: "instance_image",
        namespace: "team",
        image_name: "api",
        image_version: "1",
        instance_id: "i-1",
        digest: "sha256:abc",
        severity_level: "High",
        vul_num: 3,
        malicious_file_num: 1,
        unsafe_setting_num: 2,
        latest_scan_time: finishedAt,
      },
    });
  });
});

describe("decideWatch, when HSS records the image under another instance_url", () => {
  const guess = "swr-ee.example.com/team/api:1";
  const hssValue = "https://swr-ee.example.com";
  const sent = (changes: Partial<Watch> = {}) =>
    watch({ target: { ...watch().target, instance_url: guess }, ...changes });
  const notStarted = listed({ scan_status: "unscan", instance_url: hssValue });

  const requeued = (decision: WatchDecision) =>
    decision.action.kind === "requeue"
      ? {
          hssUrl: decision.action.hssUrl,
          sentWith: decision.action.scan.hss_instance_url,
          rescans: decision.action.scan.rescans,
        }
      : decision.action.kind;

  it("sends it again at once with HSS's value, not counted as a re-scan", () => {
    expect(requeued(decideWatch(sent(), notStarted, settings, AT))).toEqual({
      hssUrl: hssValue,
      sentWith: hssValue,
      rescans: undefined,
    });
  });

  it("compares with what the request carried (a learned form), not with the target's guess", () => {
    expect(requeued(decideWatch(sent({ sent_url: hssValue }), notStarted, settings, AT))).toBe(
      "check_later",
    );
  });

  it("sends it again only once", () => {
    expect(
      requeued(decideWatch(sent({ hss_instance_url: hssValue }), notStarted, settings, AT)),
    ).toBe("check_later");
  });

  it("leaves a configured URL alone: it wins over HSS's record", () => {
    const configured = {
      ...settings,
      swr: {
        defaultInstance: undefined,
        instancesByHost: { "swr-ee.example.com": { id: "i-1", url: guess } },
      },
    };
    expect(requeued(decideWatch(sent(), notStarted, configured, AT))).toBe("check_later");
  });

  it("does nothing of it when the scan runs or ended: the request was not lost", () => {
    const running = listed({ scan_status: "scanning", instance_url: hssValue });
    const ended = listed({
      scan_status: "success",
      latest_scan_time: finishedAt,
      instance_url: hssValue,
    });
    expect(requeued(decideWatch(sent(), running, settings, AT))).toBe("check_later");
    expect(requeued(decideWatch(sent(), ended, settings, AT))).toBe("done");
  });

  it("carries HSS's value into the scan queued after a sync", () => {
    const syncing = sent({ state: "syncing", since: AT - 60_000 });
    const synced = listed({
      scan_status: "unscan",
      latest_sync_time: AT - 10_000,
      instance_url: hssValue,
    });
    expect(requeued(decideWatch(syncing, synced, settings, AT))).toEqual({
      hssUrl: hssValue,
      sentWith: hssValue,
      rescans: undefined,
    });
  });
});
