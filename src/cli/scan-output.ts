import { findingOf } from "../follow-up/follow-up";
import { type ImageRef, refKey } from "../follow-up/lookup";
import { atOrAbove, type MinSeverity } from "../follow-up/notify";
import type { RegistryImage } from "../hss/apis";
import { describeTarget } from "../images/scan-target";

/**
 * What `npm run scan` shows and how it ends: the progress while it waits, the table of results,
 * the vulnerabilities, and the exit status.
 */

export const EXIT = { clean: 0, findings: 1, usage: 2, failed: 3 } as const;

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
  found?: Array<{ id: string; severity: string; package: string; version: string; fix: string }>;
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

export function exitCodeOf(
  results: ImageResult[],
  options: { wait: boolean; failOn?: MinSeverity },
): number {
  const failOn = options.failOn;
  if (
    failOn &&
    results.some(
      (result) =>
        result.status === "scanned" &&
        (result.vulnerabilities ?? 0) > 0 &&
        atOrAbove(result.severity, failOn),
    )
  ) {
    return EXIT.findings;
  }
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
  return (images: Tracked[], elapsedMs: number, final: boolean) => {
    if (!enabled) return;
    const elapsed = `${Math.round(elapsedMs / 1000)}s`;
    const status = (image: Tracked) =>
      `${PHASE_LABELS[image.phase]}${image.hssStatus && !TERMINAL.has(image.phase) ? ` (HSS: ${image.hssStatus})` : ""}`;
    if (stream.isTTY) {
      if (drawn > 0) stream.write(`\x1b[${drawn}A`);
      const lines = [
        `scanning ${images.length} image(s), ${elapsed} elapsed`,
        ...images.map((image) => `  ${describeTarget(image.target)}  ${status(image)}`),
      ];
      for (const line of lines) stream.write(`\x1b[2K${line}\n`);
      drawn = final ? 0 : lines.length;
      return;
    }
    // Not a terminal (CI logs): one plain line whenever an image's status changes.
    for (const image of images) {
      const key = refKey(image);
      const now = status(image);
      if (last.get(key) === now) continue;
      last.set(key, now);
      stream.write(`[${elapsed}] ${describeTarget(image.target)}: ${now}\n`);
    }
  };
}

export function vulnerabilityTable(found: NonNullable<ImageResult["found"]>): string {
  const rows = [
    ["VULNERABILITY", "SEVERITY", "PACKAGE", "VERSION", "FIX"],
    ...found.map((v) => [v.id, v.severity, v.package, v.version, v.fix]),
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
