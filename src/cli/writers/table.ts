import { table, vulnerabilityTable } from "../scan-output";
import type { ReportWriter, ScanReport } from "./writer";

/** The results as columns, then each image's vulnerabilities when they were read. */
export function tableOf(results: ScanReport["results"]): string {
  let text = `${table(results)}\n`;
  for (const result of results) {
    if (!result.found?.length) continue;
    text += `\n${result.image}\n${vulnerabilityTable(result.found)}\n`;
  }
  return text;
}

export const tableWriter: ReportWriter = {
  help: "columns for a terminal (the default)",
  needsFindings: false,
  forPeople: true,
  write: ({ results }) => tableOf(results),
};
