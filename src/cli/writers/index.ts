import { jsonWriter } from "./json";
import { markdownWriter } from "./markdown";
import { sarifWriter } from "./sarif";
import { tableWriter } from "./table";
import type { ReportWriter } from "./writer";

/** `scan --format`'s formats, by name: a new format is one module here and one line below. */
export const REPORT_WRITERS = {
  table: tableWriter,
  json: jsonWriter,
  sarif: sarifWriter,
  markdown: markdownWriter,
} satisfies Record<string, ReportWriter>;

export type Format = keyof typeof REPORT_WRITERS;

export const FORMATS = Object.keys(REPORT_WRITERS) as Format[];
