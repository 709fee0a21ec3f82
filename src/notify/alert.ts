import { createHash } from "node:crypto";

/**
 * What people are told about one scanned image: the image (every tag pushed for its digest),
 * what HSS found, and where to see it. Built from HSS's own records (ListRegistryImages, and
 * ListImageVulnerabilities when the call budget allows); every channel renders the same alert.
 */

/** Severities from the highest down, as HSS spells them (`severity_level`). */
export const SEVERITIES = ["Critical", "High", "Medium", "Low", "Security"] as const;
export type Severity = (typeof SEVERITIES)[number];
export type MinSeverity = "critical" | "high" | "medium" | "low";

/** 4 for Critical down to 0 for Security (no vulnerability); unknown text ranks 0. */
export function severityRank(severity: string | null | undefined): number {
  const index = SEVERITIES.findIndex(
    (name) => name.toLowerCase() === (severity ?? "").toLowerCase(),
  );
  return index < 0 ? 0 : SEVERITIES.length - 1 - index;
}

/**
 * Whether a severity is at or above `min`. HSS rates an image Security, Low, Medium or High:
 * `critical` asks for its highest, High.
 */
export function atOrAbove(severity: string | null | undefined, min: MinSeverity): boolean {
  return severityRank(severity) >= severityRank(min === "critical" ? "high" : min);
}

/**
 * HSS's per-image list says how urgent a fix is, not a CVSS severity: immediate_repair is High,
 * delay_repair Medium, not_needed_repair Low (the API reference's own mapping).
 */
const NECESSITY: Record<string, Severity> = {
  immediate_repair: "High",
  delay_repair: "Medium",
  not_needed_repair: "Low",
};

export interface AlertVulnerability {
  id: string;
  severity: Severity;
  /** The package (HSS's app_name). */
  package?: string;
  /** The installed version. */
  installed?: string;
  /** HSS's solution text (it gives no fixed version of its own). */
  fix?: string;
  url?: string;
}

export interface Alert {
  /**
   * `scan_finished`: a push's scan, its findings whole; `new_vulnerabilities`: a rescan found
   * vulnerabilities not seen before in this digest (src/rescan/): only those, counted in `vul_num`.
   */
  event: "scan_finished" | "new_vulnerabilities" | "exception_ending" | "vulnerabilities_fixed";
  /** `exception_ending`: the exceptions file's entry that ends soon, for this image's finding. */
  exception?: { id: string; until: string; owner?: string; reason: string };
  image_type: string;
  instance_id?: string;
  instance_name?: string;
  /** The registry's address (SWR Enterprise's instance URL host), where known. */
  registry?: string;
  namespace: string;
  repository: string;
  /** Every tag pushed for this digest that the alert covers, in the order they were seen. */
  tags: string[];
  digest?: string;
  /** HSS's `severity_level`: the highest severity found. */
  severity: string;
  vul_num: number;
  malicious_file_num: number;
  unsafe_setting_num: number;
  /** Counts per severity, when HSS's vulnerability list was read for this image. */
  counts?: Partial<Record<Severity, number>>;
  /** The vulnerabilities read, the most urgent first (empty when they were not read). */
  vulnerabilities: AlertVulnerability[];
  /** Vulnerabilities left out because the exceptions file accepts them (not in `vul_num`). */
  excepted?: number;
  scanned_at?: number;
  /** The image in HSS's console. */
  console_url?: string;
}

/** One vulnerability as HSS's ListImageVulnerabilities lists it (ImageVulInfo). */
export interface ListedVulnerability {
  vul_id: string;
  repair_necessity?: string | null;
  app_name?: string | null;
  version?: string | null;
  solution?: string | null;
  url?: string | null;
}

/** The vulnerabilities HSS listed, most urgent first, with the counts per severity. */
export function detailsOf(list: readonly ListedVulnerability[]): {
  counts: Partial<Record<Severity, number>>;
  vulnerabilities: AlertVulnerability[];
} {
  const counts: Partial<Record<Severity, number>> = {};
  const vulnerabilities = list.map((vulnerability): AlertVulnerability => {
    const severity = NECESSITY[vulnerability.repair_necessity ?? ""] ?? "Low";
    counts[severity] = (counts[severity] ?? 0) + 1;
    return {
      id: vulnerability.vul_id,
      severity,
      ...(vulnerability.app_name ? { package: vulnerability.app_name } : {}),
      ...(vulnerability.version ? { installed: vulnerability.version } : {}),
      ...(vulnerability.solution ? { fix: vulnerability.solution } : {}),
      ...(vulnerability.url ? { url: vulnerability.url } : {}),
    };
  });
  vulnerabilities.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  return { counts, vulnerabilities };
}

/** The image an alert is about, whatever its tags: its digest, or its name when HSS gave none. */
export function subjectOf(alert: Alert): string {
  return (
    alert.digest ??
    `${alert.instance_id ?? alert.image_type}/${alert.namespace}/${alert.repository}:${alert.tags[0]}`
  );
}

/**
 * An alert's key: (route, channel, digest, the findings alerted). The same digest under another
 * tag, a re-scan with the same findings, a second instance or a redelivery: the same key, one message.
 */
export function alertKey(route: string, channel: string, alert: Alert): string {
  return createHash("sha256")
    .update(`${route}\0${channel}\0${subjectOf(alert)}\0${counted(alert)}`)
    .digest("hex")
    .slice(0, 32);
}

/**
 * The findings as the key counts them: HSS's totals. The vulnerability ids are left out on
 * purpose: whether they were read depends on the call budget at the time, not on the image.
 */
function counted(alert: Alert): string {
  const totals = `${alert.severity}/${alert.vul_num}/${alert.malicious_file_num}/${alert.unsafe_setting_num}`;
  if (alert.exception) return `ending/${alert.exception.id}/${alert.exception.until}`;
  if (alert.event === "vulnerabilities_fixed") {
    return `fixed/${alert.vulnerabilities
      .map((vulnerability) => vulnerability.id)
      .sort()
      .join(",")}`;
  }
  // What is new is the point of a rescan's alert: the same new ids are one alert.
  if (alert.event !== "new_vulnerabilities") return totals;
  return `new/${alert.vulnerabilities
    .map((vulnerability) => vulnerability.id)
    .sort()
    .join(",")}`;
}

/** The image's name as people read it: `namespace/repository:tag1, tag2`. */
export function imageName(alert: Alert, maxTags = 5): string {
  const tags = alert.tags.slice(0, maxTags).join(", ");
  const more = alert.tags.length > maxTags ? ` +${alert.tags.length - maxTags}` : "";
  return `${alert.namespace}/${alert.repository}:${tags}${more}`;
}

/** "High 3 · Medium 5 · Low 1", the highest first; HSS's totals when its list was not read. */
export function countsText(alert: Alert): string {
  if (alert.counts && Object.keys(alert.counts).length > 0) {
    return SEVERITIES.filter((severity) => alert.counts?.[severity])
      .map((severity) => `${severity} ${alert.counts?.[severity]}`)
      .join(" · ");
  }
  if (alert.vul_num === 0) return "no vulnerabilities";
  return `${alert.vul_num} vulnerabilit${alert.vul_num === 1 ? "y" : "ies"}, the highest ${alert.severity}`;
}

/** Malicious files and unsafe settings, when there are any. */
export function otherFindings(alert: Alert): string | undefined {
  const parts = [
    ...(alert.excepted ? [`${alert.excepted} accepted in the exceptions file`] : []),
    alert.malicious_file_num
      ? `${alert.malicious_file_num} malicious file${alert.malicious_file_num === 1 ? "" : "s"}`
      : "",
    alert.unsafe_setting_num
      ? `${alert.unsafe_setting_num} unsafe setting${alert.unsafe_setting_num === 1 ? "" : "s"}`
      : "",
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : undefined;
}

/** One line for a vulnerability: id, severity, package installed → fix. */
export function vulnerabilityText(vulnerability: AlertVulnerability, maxFix = 80): string {
  const pkg = vulnerability.package
    ? ` ${vulnerability.package}${vulnerability.installed ? ` ${vulnerability.installed}` : ""}`
    : "";
  const fix = vulnerability.fix ? ` → ${clip(vulnerability.fix, maxFix)}` : "";
  return `${vulnerability.id} (${vulnerability.severity})${pkg}${fix}`;
}

export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The digest as people compare it: the algorithm and the first 12 hex digits. */
export function shortDigest(digest: string | undefined): string | undefined {
  if (!digest) return undefined;
  const [algorithm, hex] = digest.includes(":") ? digest.split(":", 2) : ["sha256", digest];
  return `${algorithm}:${(hex ?? "").slice(0, 12)}`;
}

/** What every message shows about the image, in order: name, where, digest, findings, the rest. */
export function facts(alert: Alert): Array<[string, string]> {
  const also = otherFindings(alert);
  const exception = alert.exception;
  return [
    ...(exception
      ? [
          ["Exception", `${exception.id} accepted until ${exception.until}: ${exception.reason}`],
          ...(exception.owner ? [["Owner", exception.owner]] : []),
        ].map((row) => row as [string, string])
      : []),
    ["Image", imageName(alert, 20)],
    ["Where", whereText(alert)],
    ...(alert.digest ? [["Digest", shortDigest(alert.digest) as string] as [string, string]] : []),
    ["Found", countsText(alert)],
    ...(also ? [["Also", also] as [string, string]] : []),
  ];
}

/** The headline of an alert: "High: 12 vulnerabilities in team/app:1.2". */
export function headline(alert: Alert): string {
  if (alert.exception) {
    return `Exception ending ${alert.exception.until}: ${alert.exception.id} in ${imageName(alert, 3)}`;
  }
  if (alert.event === "vulnerabilities_fixed") {
    return `Fixed: ${alert.vul_num} vulnerabilit${alert.vul_num === 1 ? "y" : "ies"} no longer found in ${imageName(alert, 3)}`;
  }
  const fresh = alert.event === "new_vulnerabilities" ? "new " : "";
  return `${alert.severity}: ${alert.vul_num} ${fresh}vulnerabilit${alert.vul_num === 1 ? "y" : "ies"} in ${imageName(alert, 3)}`;
}

/** Where the image is: the SWR Enterprise instance, or SWR's shared registry. */
export function whereText(alert: Alert): string {
  if (alert.image_type === "instance_image") {
    return `SWR Enterprise ${alert.instance_name ?? alert.instance_id ?? ""}${alert.registry ? ` (${alert.registry})` : ""}`.trim();
  }
  return alert.image_type === "shared_image" ? "SWR (shared with you)" : "SWR";
}

/**
 * An alert without the vulnerabilities the exceptions file accepts (`accepts(id, package)`):
 * they leave the list, the counts and `vul_num`, and are counted in `excepted`. Undefined when
 * nothing is left to tell (every vulnerability accepted, nothing else found).
 */
export function withoutAccepted(
  alert: Alert,
  accepts: (id: string, pkg: string | undefined) => boolean,
): Alert | undefined {
  if (alert.vulnerabilities.length === 0) return alert;
  const kept = alert.vulnerabilities.filter((item) => !accepts(item.id, item.package));
  const excepted = alert.vulnerabilities.length - kept.length;
  if (excepted === 0) return alert;
  const vulNum = Math.max(0, alert.vul_num - excepted);
  if (vulNum === 0 && alert.malicious_file_num === 0 && alert.unsafe_setting_num === 0) {
    return undefined;
  }
  const counts: Partial<Record<Severity, number>> = {};
  for (const item of kept) counts[item.severity] = (counts[item.severity] ?? 0) + 1;
  const highest = SEVERITIES.find((name) => (counts[name] ?? 0) > 0);
  return {
    ...alert,
    vulnerabilities: kept,
    counts,
    vul_num: vulNum,
    excepted: (alert.excepted ?? 0) + excepted,
    // Read whole: the highest of what is left is the alert's (HSS's otherwise).
    ...(highest && vulNum === kept.length ? { severity: highest } : {}),
  };
}
