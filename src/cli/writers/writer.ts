import type { ImageResult } from "../scan-output";

/** What `scan` reports at its end, whatever the format. */
export interface ScanReport {
  results: ImageResult[];
  /** The exit status the results make (scan-output.ts `exitCodeOf`). */
  exitCode: number;
  startedAt: Date;
  endedAt: Date;
}

/**
 * One output format of `scan --format`: one module each in this folder, registered in index.ts;
 * the option's help and its check come from the registry.
 */
export interface ReportWriter {
  /** What the format is, for `--format`'s help. */
  help: string;
  /** It lists each finding: the vulnerabilities of every image are read from HSS for it. */
  needsFindings: boolean;
  /**
   * It is the table people read on a terminal: progress goes to stderr while waiting, and with
   * --output nothing else is printed. Any other format is followed by the table on stdout when
   * written to a file.
   */
  forPeople: boolean;
  write(report: ScanReport): string;
}
