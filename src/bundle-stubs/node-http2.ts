/**
 * Replaces `http2` for axios in the bundle: axios imports it for HTTP/2 requests, which this
 * function never makes (HSS is called over HTTP/1.1), and loading the built-in costs start time.
 */
export const constants = {};

export function connect(): never {
  throw new Error("HTTP/2 is not included in the swr-scan-on-push bundle");
}

export default { constants, connect };
