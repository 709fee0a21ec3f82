/**
 * An error that becomes an HTTP answer with this status and message for HTTP deliveries, and a
 * rejected invocation with the same message for direct ones. The message is always safe to show.
 * Checked with `instanceof` where errors are turned into answers and log lines.
 */
export class HttpError extends Error {
  override readonly name = "HttpError";
  /** Extra response headers, e.g. `allow` for 405, `retry-after` for 503. */
  readonly headers: Record<string, string>;
  /** The scan report when some images were processed before the failure. */
  readonly report?: ScanReportLike;

  constructor(
    readonly statusCode: number,
    message: string,
    details: { headers?: Record<string, string>; report?: ScanReportLike } = {},
  ) {
    super(message);
    this.headers = details.headers ?? {};
    this.report = details.report;
  }
}

/** The report's shape as far as errors need it (report.ts depends on this module, not back). */
type ScanReportLike = object;

export function httpError(
  statusCode: number,
  message: string,
  details: { headers?: Record<string, string> } = {},
): HttpError {
  return new HttpError(statusCode, message, details);
}
