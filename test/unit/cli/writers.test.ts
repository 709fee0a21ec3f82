import { describe, expect, it } from "vitest";
import type { ImageResult } from "../../../src/cli/scan-output";
import { REPORT_WRITERS } from "../../../src/cli/writers";

/** `scan --format`'s writers, each from the same results. */

const RESULTS: ImageResult[] = [
  {
    image: "team/api:1 (instance inst-1)",
    reference: "swr.example.com/team/api:1",
    status: "scanned",
    vulnerabilities: 2,
    severity: "high",
    found: [
      {
        id: "CVE-2026-0001",
        severity: "high",
        package: "openssl",
        version: "3.0.1",
        fix: "upgrade to 3.0.9 | or later",
      },
      {
        id: "CVE-2026-0002",
        severity: "low",
        package: "zlib",
        version: "1.2",
        fix: "",
        ignored: "not reachable",
      },
    ],
  },
  {
    image: "team/web:2",
    reference: "swr.example.com/team/web:2",
    status: "failed",
    failure: "image_oversized: too large",
  },
];
const report = {
  results: RESULTS,
  exitCode: 1,
  startedAt: new Date("2026-12-04T00:00:00Z"),
  endedAt: new Date("2026-12-04T00:01:00Z"),
};

describe("the report writers", () => {
  it("markdown: the verdict, one row an image, each image's findings folded, cells escaped", () => {
    const text = REPORT_WRITERS.markdown.write(report);
    const lines = text.split("\n");
    expect(lines[0]).toBe("### HSS image scan: failed: findings at or above --fail-on");
    expect(lines).toContain("| team/api:1 (instance inst-1) | scanned | 2 | high | – |");
    expect(lines).toContain("| team/web:2 | failed | – | – | image_oversized: too large |");
    expect(text).toContain("<details><summary>team/api:1 (instance inst-1): 2 findings</summary>");
    expect(lines).toContain(
      "| CVE-2026-0001 | high | openssl | 3.0.1 | upgrade to 3.0.9 \\| or later | – |",
    );
    expect(lines).toContain("| CVE-2026-0002 | low | zlib | 1.2 | – | not reachable |");
    // Every table row has the same number of unescaped cell separators as its header.
    const rows = lines.filter((line) => line.startsWith("| "));
    for (const row of rows) {
      const cells = row.replace(/\\\|/g, "").split("|").length;
      expect([7, 8], row).toContain(cells);
    }
  });

  it("json: the results and the exit status", () => {
    expect(JSON.parse(REPORT_WRITERS.json.write(report))).toEqual({
      images: RESULTS,
      exit_code: 1,
    });
  });

  it("table: the columns, then the findings of the image that has them", () => {
    const text = REPORT_WRITERS.table.write(report);
    expect(text.split("\n")[0]).toMatch(/^IMAGE\s+STATUS\s+VULNERABILITIES\s+HIGHEST/);
    expect(text).toContain("team/api:1 (instance inst-1)\n  VULNERABILITY");
    expect(text).toContain("not reachable");
  });

  it("sarif: one result a finding, the accepted one suppressed with its reason", () => {
    const sarif = JSON.parse(REPORT_WRITERS.sarif.write(report)) as {
      runs: Array<{ results: Array<{ ruleId: string; suppressions?: unknown[] }> }>;
    };
    const results = sarif.runs[0]?.results ?? [];
    expect(results.map((result) => result.ruleId)).toEqual(["CVE-2026-0001", "CVE-2026-0002"]);
    expect(results[1]?.suppressions).toEqual([
      expect.objectContaining({ justification: "not reachable" }),
    ]);
  });

  it("say which need each finding read, and which is the people's table", () => {
    const needs = Object.entries(REPORT_WRITERS).filter(([, writer]) => writer.needsFindings);
    expect(needs.map(([name]) => name)).toEqual(["sarif"]);
    const people = Object.entries(REPORT_WRITERS).filter(([, writer]) => writer.forPeople);
    expect(people.map(([name]) => name)).toEqual(["table"]);
  });
});
