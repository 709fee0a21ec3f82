import { createError } from "@middy/util";

export interface HttpErrorDetails {
  /** Extra response headers, e.g. `allow` for 405. */
  headers?: Record<string, string>;
  /** The scan report when some images were processed before the failure. */
  report?: unknown;
}

/**
 * An error that becomes an HTTP answer with this status and message for HTTP deliveries, and a
 * rejected invocation with the same message for direct ones. The message is always safe to show.
 */
export function httpError(statusCode: number, message: string, details: HttpErrorDetails = {}) {
  return Object.assign(createError(statusCode, message, { expose: true }), details);
}
