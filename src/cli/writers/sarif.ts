import { PRODUCT, VERSION } from "../command";
import type { FoundVulnerability, ImageResult } from "../scan-output";
import type { ReportWriter } from "./writer";

/**
 * `scan --format sarif`: the findings as SARIF 2.1.0, the format GitHub code scanning and GitLab
 * take. One rule per vulnerability id, one result per finding of an image, located at the image
 * reference (an image has no source lines: the reference is the artifact, line 1). HSS's levels
 * map to SARIF's: high → error, medium → warning, low → note, and to GitHub's
 * `security-severity` (high 8.0, medium 5.5, low 2.0). A finding the ignore file accepts is kept,
 * with a suppression that carries the reason. An image whose scan failed or gave no result is a
 * tool notification, not a finding.
 */

const LEVEL: Record<string, "error" | "warning" | "note"> = {
  high: "error",
  medium: "warning",
  low: "note",
};
const SECURITY_SEVERITY: Record<string, string> = { high: "8.0", medium: "5.5", low: "2.0" };

interface Rule {
  id: string;
  name: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  help: { text: string };
  helpUri?: string;
  defaultConfiguration: { level: string };
  properties: { "security-severity": string; tags: string[] };
}

function ruleOf(finding: FoundVulnerability): Rule {
  const text = finding.description?.trim() || `${finding.id} in ${finding.package || "a package"}`;
  return {
    id: finding.id,
    name: finding.id.replace(/[^A-Za-z0-9]/g, ""),
    shortDescription: { text: `${finding.id} (${finding.severity})` },
    fullDescription: { text },
    help: { text: finding.fix ? `Fix: ${finding.fix}` : "HSS knows no fix yet." },
    ...(finding.url ? { helpUri: finding.url } : {}),
    defaultConfiguration: { level: LEVEL[finding.severity] ?? "warning" },
    properties: {
      "security-severity": SECURITY_SEVERITY[finding.severity] ?? "5.5",
      tags: ["security", "vulnerability", "container"],
    },
  };
}

export function sarifOf(results: ImageResult[], startedAt: Date, endedAt: Date): object {
  const rules = new Map<string, Rule>();
  const sarifResults = [];
  for (const result of results) {
    for (const finding of result.found ?? []) {
      if (!rules.has(finding.id)) rules.set(finding.id, ruleOf(finding));
      const fix = finding.fix ? ` Fix: ${finding.fix}` : "";
      sarifResults.push({
        ruleId: finding.id,
        ruleIndex: [...rules.keys()].indexOf(finding.id),
        level: LEVEL[finding.severity] ?? "warning",
        message: {
          text: `${finding.id} (${finding.severity}) in ${finding.package || "a package"} ${finding.version} of ${result.reference}.${fix}`,
        },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: result.reference },
              region: { startLine: 1, startColumn: 1, endLine: 1, endColumn: 1 },
            },
            message: { text: result.image },
          },
        ],
        partialFingerprints: {
          imageVulnerability: `${result.image}/${finding.id}/${finding.package}`,
        },
        ...(finding.ignored
          ? { suppressions: [{ kind: "external", justification: finding.ignored }] }
          : {}),
      });
    }
  }
  const notifications = results
    .filter((result) => result.status !== "scanned")
    .map((result) => ({
      level: "error",
      message: {
        text: `${result.reference}: ${result.status}${result.failure ? ` (${result.failure})` : ""}`,
      },
    }));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: PRODUCT,
            version: VERSION,
            semanticVersion: VERSION,
            rules: [...rules.values()],
          },
        },
        invocations: [
          {
            executionSuccessful: notifications.length === 0,
            startTimeUtc: startedAt.toISOString(),
            endTimeUtc: endedAt.toISOString(),
            ...(notifications.length > 0 ? { toolExecutionNotifications: notifications } : {}),
          },
        ],
        results: sarifResults,
      },
    ],
  };
}

export const sarifWriter: ReportWriter = {
  help: "SARIF 2.1.0, for code scanning",
  needsFindings: true,
  forPeople: false,
  write: ({ results, startedAt, endedAt }) =>
    `${JSON.stringify(sarifOf(results, startedAt, endedAt), null, 2)}\n`,
};
