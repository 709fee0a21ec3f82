import { createHash } from "node:crypto";
import type { ImageType, ScanTarget } from "../images/scan-target";

/**
 * What the HSS emulator knows about images, modelled on HSS's documented behaviour:
 * - an image pushed to the registry is unknown to HSS until a sync task has run over it (and a
 *   short delay has passed); the list APIs show only what HSS has synced, and a scan request for
 *   an image HSS does not know is answered 200 and does nothing;
 * - a scan goes `waiting_for_scan` → `scanning` → `success` | `failed` (with a code), each step
 *   after a set delay;
 * - findings are deterministic, chosen by words in the image's name or tag (see `outcomeOf`).
 * Time is read through `now`, and states are worked out from timestamps when asked, so nothing
 * here runs on a timer.
 */

export interface PushedImageInfo {
  image_type: ImageType;
  namespace: string;
  image_name: string;
  image_version: string;
  instance_id?: string;
  /** The registry host (SWR Enterprise instance address), for ListRegistry. */
  host?: string;
  digest?: string;
  /** HSS synced it already (an image pushed before the last sync). */
  synced?: boolean;
  /** HSS synced and scanned it an hour ago (an image of a registry HSS has covered). */
  scanned?: boolean;
}

/**
 * What HSS's pages leave undefined, chosen per emulator so that a client can be tested against
 * each answer (HssEmulatorOptions.unknowns):
 * - `syncStamps`: whether a registry sync sets `latest_sync_time` on every image of the registry
 *   (`all`) or only on images new or changed since their last sync (`new`);
 * - `neverScanned`: where an image never scanned (no `latest_scan_time`) goes in a listing sorted
 *   by `latest_scan_time`, whatever the direction: `first` or `last`.
 */
export interface HssUnknowns {
  syncStamps: "all" | "new";
  neverScanned: "first" | "last";
}

export const DEFAULT_UNKNOWNS: HssUnknowns = { syncStamps: "all", neverScanned: "last" };

/**
 * How this HSS records an enterprise image's `instance_url` (no page of HSS defines it): a
 * template of `{host}` (the registry the image was pushed to), `{namespace}`, `{image}` and
 * `{tag}`. The default is the pull reference, which is also what the function guesses.
 */
export const DEFAULT_INSTANCE_URL_FORM = "{host}/{namespace}/{image}:{tag}";

/** The instance_url this HSS records for an enterprise image, by its form. */
export function recordedInstanceUrl(form: string, info: PushedImageInfo): string {
  return form
    .replaceAll("{host}", info.host ?? "swr-ee.example.com")
    .replaceAll("{namespace}", info.namespace)
    .replaceAll("{image}", info.image_name)
    .replaceAll("{tag}", info.image_version);
}

/** Every combination of the unknowns, for tests and checks that must hold under each. */
export const EVERY_UNKNOWNS: HssUnknowns[] = [
  { syncStamps: "all", neverScanned: "last" },
  { syncStamps: "all", neverScanned: "first" },
  { syncStamps: "new", neverScanned: "last" },
  { syncStamps: "new", neverScanned: "first" },
];

export interface EmulatedVulnerability {
  vul_id: string;
  repair_necessity: "immediate_repair" | "delay_repair" | "not_needed_repair";
  description: string;
  position: string;
  app_name: string;
  app_path: string;
  version: string;
  solution: string;
  url: string;
}

/** What a scan of an image finds, or how it fails. */
export type ScanOutcome =
  | {
      kind: "success";
      severity_level: "Security" | "Low" | "Medium" | "High";
      vulnerabilities: EmulatedVulnerability[];
      malicious_file_num?: number;
      unsafe_setting_num?: number;
    }
  | {
      kind: "failed";
      scan_status: "failed" | "download_failed" | "image_oversized";
      code: string;
      desc: string;
    };

export interface RegistryTimings {
  /** From a sync task to the images it covers being listed. */
  syncMs: number;
  /** From a scan request to `scanning`. */
  scanStartMs: number;
  /** From a scan request to its result. */
  scanMs: number;
}

const HOUR_MS = 3_600_000;

export const DEFAULT_TIMINGS: RegistryTimings = { syncMs: 2000, scanStartMs: 1000, scanMs: 4000 };

interface ImageRecord {
  id: number;
  info: PushedImageInfo;
  digest: string;
  pushedAt: number;
  /** When a sync made HSS know it. */
  syncedAt?: number;
  scans: Array<{ requestedAt: number }>;
}

interface SyncRequest {
  at: number;
  /** Registries it covers (`registryIdOf`); undefined = all. */
  registries?: Set<string>;
  /** For RunImageSynchronize: the basic-edition image type it covers. */
  imageType?: ImageType;
}

/** An image as ListRegistryImages lists it (RegistryImagesInfo's fields this emulator fills). */
export interface ListedImage {
  id: number;
  image_id: string;
  image_digest: string;
  image_type: ImageType;
  registry_id: string;
  registry_name: string;
  registry_type: string;
  instance_id?: string;
  instance_name?: string;
  instance_url?: string;
  namespace: string;
  image_name: string;
  image_version: string;
  scan_status: string;
  scan_failed_code?: string;
  scan_failed_desc?: string;
  vul_num: number;
  unsafe_setting_num: number;
  malicious_file_num: number;
  severity_level?: string;
  latest_scan_time?: number;
  latest_sync_time: number;
  latest_update_time: number;
}

/** A registry as ListRegistry lists it (RegistryInfo): its id is `id`. */
export interface EmulatedRegistryInfo {
  id: string;
  registry_name: string;
  registry_type: string;
  registry_addr: string;
  status: "success";
  images_num: number;
}

export function registryIdOf(info: Pick<PushedImageInfo, "image_type" | "instance_id">): string {
  if (info.image_type === "instance_image") return `ee-${info.instance_id ?? "unknown"}`;
  return info.image_type === "shared_image" ? "swr-shared" : "swr-private";
}

const registryTypeOf = (type: ImageType) =>
  type === "instance_image"
    ? "SwrEnterprise"
    : type === "shared_image"
      ? "SwrShared"
      : "SwrPrivate";

function vulnerability(
  index: number,
  necessity: EmulatedVulnerability["repair_necessity"],
  app: string,
): EmulatedVulnerability {
  return {
    vul_id: `CVE-2026-${String(1000 + index).padStart(5, "0")}`,
    repair_necessity: necessity,
    description: `${app}: emulated ${necessity.replace("_repair", "")} finding`,
    position: `/usr/lib/${app}`,
    app_name: app,
    app_path: `/usr/lib/${app}`,
    version: "1.0.0",
    solution: `upgrade ${app} to 1.0.1`,
    url: `https://nvd.example/CVE-2026-${String(1000 + index).padStart(5, "0")}`,
  };
}

/**
 * Deterministic results by words in `namespace/name:tag`: `nofix` → a High finding with no fix
 * (and a Low one with a fix), `high` or `critical` → High findings,
 * `medium` → Medium, `low` → Low, `oversized` → image_oversized, `broken` → failed
 * (schema_v1_not_support), `flaky` → the first scan times out (response_timed_out) and the next
 * one succeeds; anything else is clean (`Security`, no vulnerabilities).
 */
export function outcomeOf(info: PushedImageInfo, scanNumber: number): ScanOutcome {
  const name = `${info.namespace}/${info.image_name}:${info.image_version}`.toLowerCase();
  if (/oversized/.test(name)) {
    return {
      kind: "failed",
      scan_status: "image_oversized",
      code: "image_over_sized",
      desc: "the image is larger than HSS scans",
    };
  }
  if (/broken/.test(name)) {
    return {
      kind: "failed",
      scan_status: "failed",
      code: "schema_v1_not_support",
      desc: "image manifest schema v1 is not supported",
    };
  }
  if (/flaky/.test(name) && scanNumber === 1) {
    return {
      kind: "failed",
      scan_status: "failed",
      code: "response_timed_out",
      desc: "the scan timed out",
    };
  }
  if (/nofix/.test(name)) {
    // High findings HSS knows no fix for yet.
    return {
      kind: "success",
      severity_level: "High",
      vulnerabilities: [
        { ...vulnerability(4, "immediate_repair", "glibc"), solution: "" },
        vulnerability(3, "not_needed_repair", "bash"),
      ],
    };
  }
  if (/high|critical/.test(name)) {
    return {
      kind: "success",
      severity_level: "High",
      vulnerabilities: [
        vulnerability(1, "immediate_repair", "openssl"),
        vulnerability(2, "delay_repair", "zlib"),
        vulnerability(3, "not_needed_repair", "bash"),
      ],
      malicious_file_num: 0,
      unsafe_setting_num: 1,
    };
  }
  if (/medium/.test(name)) {
    return {
      kind: "success",
      severity_level: "Medium",
      vulnerabilities: [
        vulnerability(2, "delay_repair", "zlib"),
        vulnerability(3, "not_needed_repair", "bash"),
      ],
    };
  }
  if (/low/.test(name)) {
    return {
      kind: "success",
      severity_level: "Low",
      vulnerabilities: [vulnerability(3, "not_needed_repair", "bash")],
    };
  }
  return { kind: "success", severity_level: "Security", vulnerabilities: [] };
}

/** HSS's severity of an image: its most urgent finding's. */
function severityOf(
  vulnerabilities: EmulatedVulnerability[],
): "Security" | "Low" | "Medium" | "High" {
  const needs = new Set(vulnerabilities.map((vulnerability) => vulnerability.repair_necessity));
  if (needs.has("immediate_repair")) return "High";
  if (needs.has("delay_repair")) return "Medium";
  return needs.size > 0 ? "Low" : "Security";
}

/** A vulnerability to publish: its id, the package it is in, how urgent (emulator's fields). */
export function publishedVulnerability(
  vulId: string,
  app: string,
  necessity: EmulatedVulnerability["repair_necessity"] = "immediate_repair",
): EmulatedVulnerability {
  return {
    vul_id: vulId,
    repair_necessity: necessity,
    description: `${app}: ${vulId}, published after the image was first scanned`,
    position: `/usr/lib/${app}`,
    app_name: app,
    app_path: `/usr/lib/${app}`,
    version: "1.0.0",
    solution: `upgrade ${app} to 1.0.2`,
    url: `https://nvd.example/${vulId}`,
  };
}

const keyOf = (
  info: Pick<
    PushedImageInfo,
    "image_type" | "instance_id" | "namespace" | "image_name" | "image_version"
  >,
) =>
  JSON.stringify([
    info.image_type,
    info.instance_id ?? "",
    info.namespace,
    info.image_name,
    info.image_version,
  ]);

export class EmulatedRegistry {
  private readonly images = new Map<string, ImageRecord>();
  private readonly syncs: SyncRequest[] = [];
  private readonly tasks: Array<{
    id: string;
    type: "image_scan" | "image_sync";
    at: number;
    records: ImageRecord[];
  }> = [];
  private nextId = 1;
  /** Vulnerabilities published after the fact: scans requested from `at` on find them. */
  private readonly published: Array<{
    vulnerability: EmulatedVulnerability;
    affects: (image: string) => boolean;
    at: number;
  }> = [];
  /** Every scan request that reached a known image, in order. */
  readonly scansStarted: Array<{ image_type: ImageType; target: ScanTarget; at: number }> = [];

  constructor(
    readonly timings: RegistryTimings = DEFAULT_TIMINGS,
    private readonly now: () => number = Date.now,
    readonly unknowns: HssUnknowns = DEFAULT_UNKNOWNS,
    readonly instanceUrlForm: string = DEFAULT_INSTANCE_URL_FORM,
  ) {}

  /** HSS's record of an enterprise image's instance_url. */
  instanceUrlOf(record: ImageRecord): string | undefined {
    return record.info.instance_id
      ? recordedInstanceUrl(this.instanceUrlForm, record.info)
      : undefined;
  }

  /** The image was pushed to its registry: HSS does not know it until a sync. */
  push(info: PushedImageInfo): void {
    const key = keyOf(info);
    const existing = this.images.get(key);
    const digest =
      info.digest ?? `sha256:${createHash("sha256").update(`${key}${this.now()}`).digest("hex")}`;
    const syncedAt = info.scanned ? this.now() - HOUR_MS : info.synced ? this.now() : undefined;
    // A scan that ended an hour ago: its result is the image's.
    const scans = info.scanned ? [{ requestedAt: this.now() - HOUR_MS - this.timings.scanMs }] : [];
    // An image HSS covered long ago was pushed before that.
    const pushedAt = info.scanned ? this.now() - 2 * HOUR_MS : this.now();
    if (existing) {
      existing.info = { ...existing.info, ...info };
      existing.digest = digest;
      existing.pushedAt = pushedAt;
      if (syncedAt !== undefined) existing.syncedAt = syncedAt;
      existing.scans.push(...scans);
      return;
    }
    this.images.set(key, {
      id: this.nextId++,
      info,
      digest,
      pushedAt,
      scans,
      ...(syncedAt !== undefined ? { syncedAt } : {}),
    });
  }

  has(info: Parameters<typeof keyOf>[0]): boolean {
    return this.images.has(keyOf(info));
  }

  /** A sync task: the registries given (or all) are synced `syncMs` from now. */
  sync(request: { registries?: string[]; imageType?: ImageType }): void {
    this.syncs.push({
      at: this.now(),
      registries: request.registries ? new Set(request.registries) : undefined,
      imageType: request.imageType,
    });
  }

  /** Images HSS knows now. */
  known(): ImageRecord[] {
    this.settleSyncs();
    return [...this.images.values()].filter((record) => record.syncedAt !== undefined);
  }

  find(info: Parameters<typeof keyOf>[0]): ImageRecord | undefined {
    this.settleSyncs();
    const record = this.images.get(keyOf(info));
    return record?.syncedAt !== undefined ? record : undefined;
  }

  findById(id: number | string | undefined): ImageRecord | undefined {
    if (id === undefined) return undefined;
    return this.known().find(
      (record) => record.id === Number(id) || imageIdOf(record) === String(id),
    );
  }

  /** A scan request for a known image; one already waiting or running is left alone. */
  scan(record: ImageRecord): void {
    const state = this.view(record);
    if (state.scan_status === "waiting_for_scan" || state.scan_status === "scanning") return;
    record.scans.push({ requestedAt: this.now() });
    this.scansStarted.push({
      image_type: record.info.image_type,
      target: {
        namespace: record.info.namespace,
        image_name: record.info.image_name,
        image_version: record.info.image_version,
        ...(record.info.instance_id ? { instance_id: record.info.instance_id } : {}),
      },
      at: this.now(),
    });
  }

  /** The image as ListRegistryImages shows it now. */
  view(record: ImageRecord): ListedImage {
    const now = this.now();
    const { info } = record;
    const base: ListedImage = {
      id: record.id,
      image_id: imageIdOf(record),
      image_digest: record.digest,
      image_type: info.image_type,
      registry_id: registryIdOf(info),
      registry_name:
        info.image_type === "instance_image" ? `swr-ee-${info.instance_id ?? ""}` : "SWR",
      registry_type: registryTypeOf(info.image_type),
      namespace: info.namespace,
      image_name: info.image_name,
      image_version: info.image_version,
      scan_status: "unscan",
      vul_num: 0,
      unsafe_setting_num: 0,
      malicious_file_num: 0,
      latest_sync_time: record.syncedAt ?? 0,
      latest_update_time: record.pushedAt,
      ...(info.instance_id
        ? {
            instance_id: info.instance_id,
            instance_name: `swr-ee-${info.instance_id}`,
            instance_url: recordedInstanceUrl(this.instanceUrlForm, info),
          }
        : {}),
    };
    // The newest scan that has a result, and whether a newer one is under way.
    const scans = record.scans;
    const last = scans[scans.length - 1];
    if (!last) return base;
    if (now < last.requestedAt + this.timings.scanMs) {
      const previous = scans.length > 1 ? this.result(record, scans.length - 1) : undefined;
      return {
        ...base,
        ...(previous ?? {}),
        scan_status:
          now < last.requestedAt + this.timings.scanStartMs ? "waiting_for_scan" : "scanning",
      };
    }
    return { ...base, ...this.result(record, scans.length) };
  }

  /**
   * A vulnerability HSS learns of after images were scanned (its database updated): every scan
   * of an image it affects (`namespace/name:tag`) requested from now on finds it; earlier scans
   * keep their results, as HSS's do until the image is scanned again.
   */
  publish(vulnerability: EmulatedVulnerability, affects: (image: string) => boolean): void {
    this.published.push({ vulnerability, affects, at: this.now() });
  }

  /** The vulnerabilities of the image's last finished scan. */
  vulnerabilities(record: ImageRecord): EmulatedVulnerability[] {
    const finished = this.finishedScans(record);
    if (finished === 0) return [];
    return this.outcome(record, finished).vulnerabilities ?? [];
  }

  /** What the scan found: its words' findings, and what was published before it was requested. */
  private outcome(
    record: ImageRecord,
    scanNumber: number,
  ): ScanOutcome & { vulnerabilities?: EmulatedVulnerability[] } {
    const outcome = outcomeOf(record.info, scanNumber);
    const requestedAt = record.scans[scanNumber - 1]?.requestedAt ?? 0;
    if (outcome.kind !== "success") return outcome;
    const name = `${record.info.namespace}/${record.info.image_name}:${record.info.image_version}`;
    const added = this.published
      .filter((entry) => entry.at <= requestedAt && entry.affects(name))
      .map((entry) => entry.vulnerability);
    if (added.length === 0) return outcome;
    const vulnerabilities = [...outcome.vulnerabilities, ...added];
    return { ...outcome, vulnerabilities, severity_level: severityOf(vulnerabilities) };
  }

  /** Registries, as ListRegistry shows them (RegistryInfo): every registry an image was pushed to. */
  registries(): EmulatedRegistryInfo[] {
    const byId = new Map<string, EmulatedRegistryInfo>();
    for (const record of this.images.values()) {
      const { info } = record;
      const id = registryIdOf(info);
      const entry = byId.get(id) ?? {
        id,
        registry_name:
          info.image_type === "instance_image" ? `swr-ee-${info.instance_id ?? ""}` : "SWR",
        registry_type: registryTypeOf(info.image_type),
        registry_addr:
          info.image_type === "instance_image"
            ? (info.host ?? "swr-ee.example.com")
            : "swr.cn-north-4.myhuaweicloud.com",
        status: "success",
        images_num: 0,
      };
      if (record.syncedAt !== undefined) entry.images_num += 1;
      byId.set(id, entry);
    }
    return [...byId.values()];
  }

  /** A task as ListImageScanTask shows it later. */
  recordTask(type: "image_scan" | "image_sync", records: ImageRecord[]): void {
    this.tasks.push({ id: `task-${this.tasks.length + 1}`, type, at: this.now(), records });
  }

  /** Tasks of a type, newest first, with their progress now (100 = done). */
  listTasks(type: "image_scan" | "image_sync") {
    const now = this.now();
    return this.tasks
      .filter((task) => task.type === type)
      .reverse()
      .map((task) => {
        const span = type === "image_sync" ? this.timings.syncMs : this.timings.scanMs;
        const done = now >= task.at + span;
        const views = task.records.map((record) => this.view(record));
        const failed = done
          ? views.filter((view) => view.scan_status !== "success" && view.scan_status !== "unscan")
          : [];
        return {
          task_id: task.id,
          task_type: type === "image_sync" ? "manualSync" : "manual",
          task_status: done ? 100 : Math.floor(((now - task.at) / span) * 100),
          begin_time: task.at,
          ...(done ? { end_time: task.at + span } : {}),
          total_num: task.records.length,
          success_num: done ? task.records.length - failed.length : 0,
          failed_num: failed.length,
          failed_images: failed.map((view) => ({
            image_name: view.image_name,
            image_version: view.image_version,
            namespace: view.namespace,
            failed_reason: view.scan_failed_desc,
          })),
        };
      });
  }

  reset(): void {
    this.images.clear();
    this.syncs.length = 0;
    this.tasks.length = 0;
    this.scansStarted.length = 0;
  }

  private finishedScans(record: ImageRecord): number {
    const now = this.now();
    return record.scans.filter((scan) => now >= scan.requestedAt + this.timings.scanMs).length;
  }

  private result(record: ImageRecord, scanNumber: number): Partial<ListedImage> {
    const scan = record.scans[scanNumber - 1];
    if (!scan) return {};
    const outcome = this.outcome(record, scanNumber);
    const finishedAt = scan.requestedAt + this.timings.scanMs;
    if (outcome.kind === "failed") {
      return {
        scan_status: outcome.scan_status,
        scan_failed_code: outcome.code,
        scan_failed_desc: outcome.desc,
        latest_scan_time: finishedAt,
      };
    }
    return {
      scan_status: "success",
      severity_level: outcome.severity_level,
      vul_num: outcome.vulnerabilities.length,
      malicious_file_num: outcome.malicious_file_num ?? 0,
      unsafe_setting_num: outcome.unsafe_setting_num ?? 0,
      latest_scan_time: finishedAt,
    };
  }

  /** Applies each sync that has ended, once, in order. */
  private settleSyncs(): void {
    const now = this.now();
    while (this.syncs.length > 0) {
      const request = this.syncs[0] as SyncRequest;
      const doneAt = request.at + this.timings.syncMs;
      if (now < doneAt) return;
      this.syncs.shift();
      for (const record of this.images.values()) {
        if (record.pushedAt > request.at) continue;
        if (request.imageType && record.info.image_type !== request.imageType) continue;
        if (request.registries && !request.registries.has(registryIdOf(record.info))) continue;
        // `new`: only what the registry changed since HSS last synced it is stamped again.
        const changed = record.syncedAt === undefined || record.pushedAt > record.syncedAt;
        if (this.unknowns.syncStamps === "new" && !changed) continue;
        if (record.syncedAt === undefined || record.syncedAt < doneAt) record.syncedAt = doneAt;
      }
    }
  }
}

function imageIdOf(record: ImageRecord): string {
  return `img-${String(record.id).padStart(6, "0")}`;
}
