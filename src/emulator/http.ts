import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What the loopback stand-ins (HSS, FunctionGraph) share to read a request. */

/** Reads a request body, keeping at most `maxBytes` of it; `tooLarge` says when more came. */
export async function readBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<{ body: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return { body: Buffer.concat(chunks), tooLarge: true };
    chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks), tooLarge: false };
}

/** Header names in lower case, repeated headers joined as HTTP allows. */
export function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

/** The body as JSON, or (for the record) the start of what came when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return body.toString("utf8").slice(0, 200);
  }
}

/** Headers that carry credentials: never recorded or printed. */
export const SENSITIVE_HEADERS = new Set(["authorization", "x-security-token"]);

/**
 * Starts a stand-in's server on loopback (a free port unless one is given); `close` ends it with
 * every connection still open, so that a test's teardown never waits on a client's keep-alive.
 */
export async function serveOnLoopback(
  server: Server,
  port = 0,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
