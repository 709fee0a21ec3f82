import { EXIT, type FoundVulnerability, type ImageResult } from "../scan-output";
import type { ReportWriter } from "./writer";

/**
 * `scan --format markdown`: a CI job's summary (GitHub's $GITHUB_STEP_SUMMARY, GitLab's and
 * Gitee's Markdown reports): the verdict, a table of the images, and each image's findings in a
 * collapsed section. Cells are escaped: an image or a fix text cannot break the table.
 */

const VERDICT: Record<number, string> = {
  [EXIT.clean]: "passed",
  [EXIT.findings]: "failed: findings at or above --fail-on",
  [EXIT.failed]: "failed: a scan failed or gave no result in time",
  [EXIT.interrupted]: "interrupted: what was known when it stopped",
};

const cell = (text: string | number | undefined) =>
  String(text ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\r?\n/g, " ")
    .trim() || "–";

function imageRow(result: ImageResult): string {
  return `| ${[
    cell(result.image),
    cell(result.status),
    cell(result.vulnerabilities),
    cell(result.severity),
    cell(result.failure),
  ].join(" | ")} |`;
}

function findings(image: string, found: readonly FoundVulnerability[]): string {
  const rows = found.map(
    (v) =>
      `| ${[v.id, v.severity, v.package, v.version, v.fix, v.ignored].map(cell).join(" | ")} |`,
  );
  return [
    `<details><summary>${cell(image)}: ${found.length} finding${found.length === 1 ? "" : "s"}</summary>`,
    "",
    "| Vulnerability | Severity | Package | Version | Fix | Accepted |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    "</details>",
  ].join("\n");
}

export const markdownWriter: ReportWriter = {
  help: "Markdown for a CI job's summary",
  needsFindings: false,
  forPeople: false,
  write({ results, exitCode }) {
    const verdict = VERDICT[exitCode] ?? `exit status ${exitCode}`;
    const parts = [
      `### HSS image scan: ${verdict}`,
      "",
      "| Image | Status | Vulnerabilities | Highest | HSS failure reason |",
      "| --- | --- | --- | --- | --- |",
      ...results.map(imageRow),
    ];
    for (const result of results) {
      if (result.found?.length) parts.push("", findings(result.image, result.found));
    }
    return `${parts.join("\n")}\n`;
  },
};
