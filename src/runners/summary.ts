import { HttpError } from "../errors";
import type { ScanReport } from "../report";

/**
 * A short human summary of an invocation's outcome, for the terminal: what was submitted, what
 * was skipped grouped by rule, what failed grouped by HSS error code.
 */
export function summariseOutcome(outcome: { result?: unknown; error?: Error }): string {
  if (outcome.error) {
    const report =
      outcome.error instanceof HttpError
        ? (outcome.error.report as ScanReport | undefined)
        : undefined;
    return report ? summariseReport(report) : `rejected: ${outcome.error.message}`;
  }
  const result = outcome.result as { statusCode?: number; body?: string } & Partial<ScanReport>;
  if (typeof result?.statusCode === "number") {
    let body: Partial<ScanReport> & { message?: string } = {};
    try {
      body = JSON.parse(result.body ?? "{}");
    } catch {
      return `HTTP ${result.statusCode}`;
    }
    const detail = body.submitted ? summariseReport(body as ScanReport) : (body.message ?? "");
    return `HTTP ${result.statusCode}: ${detail}`;
  }
  const status = result?.status as string | undefined;
  if (
    status === "flushed" ||
    status === "no_queue" ||
    (status === "dry_run" && !("submitted" in result))
  ) {
    return String(result.message);
  }
  return result?.status ? summariseReport(result as ScanReport) : "no report";
}

function summariseReport(report: ScanReport): string {
  if (report.status === "ignored") return `ignored: ${report.message}`;
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const lines = [
    report.queued !== undefined
      ? `submitted ${count(report.submitted.length, "image")} in ${count(report.hss_requests, "HSS request")}, ${report.queued.length} still queued, ${report.dead_lettered?.length ?? 0} dead-lettered, skipped ${report.skipped.length}`
      : report.status === "dry_run"
        ? `dry run: ${count(report.would_submit?.length ?? 0, "image")} would be submitted in ${count(report.would_send?.length ?? 0, "HSS request")}; nothing was sent`
        : `submitted ${count(report.submitted.length, "image")} in ${count(report.hss_requests, "HSS request")}, skipped ${report.skipped.length}, failed ${report.failed.length}`,
  ];
  const byRule = tally(report.skipped.map((skip) => skip.rule));
  if (byRule.length > 0) lines.push(`  skipped by rule: ${byRule.join(", ")}`);
  const byCode = tally(report.failed.map((failure) => failure.error.error_code));
  if (byCode.length > 0) lines.push(`  failed by HSS error: ${byCode.join(", ")}`);
  const deadByCode = tally((report.dead_lettered ?? []).map((letter) => letter.error.error_code));
  if (deadByCode.length > 0) lines.push(`  dead-lettered by HSS error: ${deadByCode.join(", ")}`);
  return lines.join("\n");
}

function tally(keys: string[]): string[] {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return [...counts].map(([key, n]) => `${key} ×${n}`);
}
