import type { ReportWriter } from "./writer";

export const jsonWriter: ReportWriter = {
  help: "one JSON value: every image's result and the exit status",
  needsFindings: false,
  forPeople: false,
  write: ({ results, exitCode }) =>
    `${JSON.stringify({ images: results, exit_code: exitCode }, null, 2)}\n`,
};
