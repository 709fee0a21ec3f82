import { findingOf } from "../follow-up/follow-up";
import { type ImageRef, refKey } from "../follow-up/lookup";
import type { RegistryImage } from "../hss/apis";
import { describeTarget } from "../images/scan-target";
import { atOrAbove, type MinSeverity } from "../notify/alert";

/**
 * What `npm run scan` shows and how it ends: the progress while it waits, the table of results,
 * the vulnerabilities, and the exit status.
 */

export const EXIT = {
  clean: 0,
  /** Findings at or above --fail-on (not accepted by the ignore file). */
  findings: 1,
  usage: 2,
  /** A scan failed for good, or no result came within --timeout. */
  failed: 3,
  /** HSS refused the caller: credentials, or a permission the IAM user lacks. */
  refused: 4,
  /** HSS could not be reached: the endpoint does not resolve, refuses connections, or TLS fails. */
  unreachable: 5,
  /** Interrupted (Ctrl-C): what was known is printed. */
  interrupted: 130,
} as const;

/** One vulnerability of a scanned image (ListImageVulnerabilities), as shown and decided on. */
export interface FoundVulnerability {
  id: string;
  /** From HSS's repair_necessity: high (immediate_repair), medium (delay_repair), low. */
  severity: string;
  package: string;
  version: string;
  /** HSS's solution; empty when HSS knows no fix. */
  fix: string;
  description?: string;
  url?: string;
  /** The ignore file's reason, when it accepts this finding. */
  ignored?: string;
}

export interface Target extends ImageRef {
  reference: string;
}

/** Pull references to what HSS scans, as the function maps pushes (same rules, same messages). */
export type Phase = "looking_up" | "syncing" | "requested" | "finished" | "failed" | "timed_out";

export interface Tracked extends Target {
  phase: Phase;
  requestedAt?: number;
  item?: RegistryImage;
  hssStatus?: string;
  note?: string;
  /** Scans requested again after a failure a new scan fixes. */
  rescans?: number;
}

export const TERMINAL: ReadonlySet<Phase> = new Set(["finished", "failed", "timed_out"]);
const PHASE_LABELS: Record<Phase, string> = {
  looking_up: "looking up in HSS",
  syncing: "waiting for HSS to sync it",
  requested: "scan requested",
  finished: "scanned",
  failed: "scan failed",
  timed_out: "timed out",
};

export interface ImageResult {
  image: string;
  reference: string;
  status: string;
  vulnerabilities?: number;
  severity?: string;
  failure?: string;
  malicious_files?: number;
  unsafe_settings?: number;
  found?: FoundVulnerability[];
}

export function resultOf(image: Tracked): ImageResult {
  const item = image.item;
  const base = { image: describeTarget(image.target), reference: image.reference };
  if (image.phase === "finished" && item) {
    const finding = findingOf(image, item);
    return {
      ...base,
      status: "scanned",
      vulnerabilities: finding.vul_num,
      severity: finding.severity_level,
      malicious_files: finding.malicious_file_num,
      unsafe_settings: finding.unsafe_setting_num,
    };
  }
  if (image.phase === "failed") {
    return {
      ...base,
      status: "failed",
      failure:
        [item?.scan_failed_code, item?.scan_failed_desc].filter(Boolean).join(": ") ||
        image.note ||
        "failed",
    };
  }
  if (image.phase === "timed_out") {
    return {
      ...base,
      status: "timed_out",
      failure: image.note ?? `HSS status ${image.hssStatus ?? "unknown"}`,
    };
  }
  if (image.phase === "requested") return { ...base, status: "submitted" };
  return {
    ...base,
    status: image.phase === "syncing" ? "not_synced" : "not_submitted",
    failure: image.note,
  };
}

/** The findings of a result that count against --fail-on (not accepted; with a fix, if asked). */
export function countedFindings(result: ImageResult, options: { onlyFixed?: boolean }) {
  return (result.found ?? []).filter(
    (finding) => !finding.ignored && (!options.onlyFixed || finding.fix.trim() !== ""),
  );
}

export function exitCodeOf(
  results: ImageResult[],
  options: { wait: boolean; failOn?: MinSeverity; onlyFixed?: boolean },
): number {
  const failOn = options.failOn;
  const fails = (result: ImageResult) => {
    if (!failOn || result.status !== "scanned" || (result.vulnerabilities ?? 0) === 0) {
      return false;
    }
    // With each finding known, each is judged (the ignore file, --only-fixed); without, the
    // image's highest severity as HSS gives it.
    if (result.found) {
      return countedFindings(result, options).some((finding) =>
        atOrAbove(finding.severity, failOn),
      );
    }
    return atOrAbove(result.severity, failOn);
  };
  if (results.some(fails)) return EXIT.findings;
  const good = options.wait ? ["scanned"] : ["scanned", "submitted"];
  return results.every((result) => good.includes(result.status)) ? EXIT.clean : EXIT.failed;
}

export function table(results: ImageResult[]): string {
  const rows = [
    ["IMAGE", "STATUS", "VULNERABILITIES", "HIGHEST", "HSS FAILURE REASON"],
    ...results.map((result) => [
      result.image,
      result.status,
      result.vulnerabilities === undefined ? "-" : String(result.vulnerabilities),
      result.severity ?? "-",
      result.failure ?? "",
    ]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function progressRenderer(stream: NodeJS.WriteStream, enabled: boolean) {
  let drawn = 0;
  const last = new Map<string, string>();
  let lastWaiting = "";
  return (images: Tracked[], elapsedMs: number, final: boolean, waiting?: string) => {
    if (!enabled) return;
    const elapsed = `${Math.round(elapsedMs / 1000)}s`;
    const status = (image: Tracked) =>
      `${PHASE_LABELS[image.phase]}${image.hssStatus && !TERMINAL.has(image.phase) ? ` (HSS: ${image.hssStatus})` : ""}`;
    if (stream.isTTY) {
      if (drawn > 0) stream.write(`\x1b[${drawn}A`);
      const lines = [
        `scanning ${images.length} image(s), ${elapsed} elapsed${waiting ? `; ${waiting}` : ""}`,
        ...images.map((image) => `  ${describeTarget(image.target)}  ${status(image)}`),
      ];
      for (const line of lines) stream.write(`\x1b[2K${line}\n`);
      drawn = final ? 0 : lines.length;
      return;
    }
    // Not a terminal (CI logs): one plain line whenever an image's status, or what the run waits
    // for, changes (the rate limit's countdown is said once, not each second).
    const waitingKind = waiting?.replace(/\d+ s$/, "") ?? "";
    if (waiting && waitingKind !== lastWaiting) stream.write(`[${elapsed}] ${waiting}\n`);
    lastWaiting = waitingKind;
    for (const image of images) {
      const key = refKey(image);
      const now = status(image);
      if (last.get(key) === now) continue;
      last.set(key, now);
      stream.write(`[${elapsed}] ${describeTarget(image.target)}: ${now}\n`);
    }
  };
}

export function vulnerabilityTable(found: FoundVulnerability[]): string {
  const rows = [
    ["VULNERABILITY", "SEVERITY", "PACKAGE", "VERSION", "FIX", "ACCEPTED"],
    ...found.map((v) => [v.id, v.severity, v.package, v.version, v.fix, v.ignored ?? ""]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows
    .map(
      (row) =>
        `  ${row
          .map((cell, column) => cell.padEnd(widths[column] ?? 0))
          .join("  ")
          .trimEnd()}`,
    )
    .join("\n");
}
