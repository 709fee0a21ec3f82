import type { IncomingMessage } from "node:http";

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
