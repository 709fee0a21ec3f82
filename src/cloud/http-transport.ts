import type { IncomingHttpHeaders } from "node:http";
import { ScanOnPushError } from "../errors";

/**
 * One HTTP request to HSS on Node's own http/https, with a timeout that covers the whole exchange.
 * HSS answers with an empty body or a small JSON error; nothing else needs an HTTP library, and
 * loading one (the SDK core's axios) was a large part of the function's cold start. The modules
 * are required on first use, so that an invocation that sends nothing does not load them.
 */

/** HSS answers with an empty body or a small JSON error; anything bigger is not HSS. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request that got no HTTP answer: `timeout`, or the connection failed (`code` from Node). */
export class TransportError extends ScanOnPushError {
  override readonly name = "TransportError";
  constructor(
    message: string,
    readonly kind: "timeout" | "connection",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function sendRequest(
  url: URL,
  options: { method: string; headers: Record<string, string>; body: string; timeoutMs: number },
): Promise<TransportResponse> {
  const { request } =
    url.protocol === "https:"
      ? (require("node:https") as typeof import("node:https"))
      : (require("node:http") as typeof import("node:http"));
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settle();
    };
    const outgoing = request(url, {
      method: options.method,
      headers: {
        ...options.headers,
        "accept-encoding": "identity",
        "content-length": String(Buffer.byteLength(options.body)),
      },
    });
    const timer = setTimeout(() => {
      outgoing.destroy();
      finish(() =>
        reject(new TransportError(`timeout of ${options.timeoutMs}ms exceeded`, "timeout")),
      );
    }, options.timeoutMs);
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          new TransportError(
            `${error.code ? `${error.code}: ` : ""}${error.message}`.slice(0, 200),
            "connection",
            { cause: error },
          ),
        ),
      );
    });
    outgoing.on("response", (incoming) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          outgoing.destroy();
          finish(() => reject(new TransportError("response too large", "connection")));
          return;
        }
        chunks.push(chunk);
      });
      incoming.on("error", (error) =>
        finish(() => reject(new TransportError(error.message, "connection", { cause: error }))),
      );
      incoming.on("end", () =>
        finish(() =>
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        ),
      );
    });
    outgoing.end(options.body);
  });
}
