/**
 * The base of every error this product names. Errors are told apart with `instanceof` where they
 * become answers and log lines; `cause` keeps what failed underneath (a socket error under a
 * transport error, a Redis error under an unavailable queue) for a debugger, never for an answer.
 */
export class ScanOnPushError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An error that becomes an HTTP answer with this status and message for HTTP deliveries, and a
 * rejected invocation with the same message for direct ones. The message is always safe to show.
 * Checked with `instanceof` where errors are turned into answers and log lines.
 */
export class HttpError extends ScanOnPushError {
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
