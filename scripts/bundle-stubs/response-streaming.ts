/**
 * Replaces `node:stream/web` and `node:stream/promises` for middy's core in the bundle: middy uses
 * them only for streamed responses (AWS response streaming), which this function does not use,
 * and loading Node's web streams costs start time.
 */
export class ReadableStream {
  constructor() {
    throw new Error("response streaming is not included in the swr-scan-on-push bundle");
  }
}

export function pipeline(): never {
  throw new Error("response streaming is not included in the swr-scan-on-push bundle");
}
