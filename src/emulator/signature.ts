import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * An independent implementation of Huawei Cloud's SDK-HMAC-SHA256 request signature, used by the
 * local HSS emulator to check what the SDK core sends. It follows the published signing guide,
 * not the core's code, so that a mistake in either shows up as a failed verification.
 */

export const ALGORITHM = "SDK-HMAC-SHA256";
/** The API gateway refuses requests whose X-Sdk-Date is further than this from its clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SignableRequest {
  method: string;
  /** Path and query as received, e.g. `/v5/p/image/batch-scan?enterprise_project_id=0`. */
  url: string;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export interface SigningKey {
  ak: string;
  sk: string;
  securityToken?: string;
}

/** RFC 3986 percent-encoding: only unreserved characters stay as they are. */
export function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function canonicalUri(path: string): string {
  const encoded = path
    .split("/")
    .map((segment) => rfc3986(safeDecode(segment)))
    .join("/");
  return encoded.endsWith("/") ? encoded : `${encoded}/`;
}

export function canonicalQueryString(query: string): string {
  return [...new URLSearchParams(query)]
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .sort()
    .join("&");
}

export function canonicalRequest(request: SignableRequest, signedHeaders: string[]): string {
  const [path = "/", query = ""] = request.url.split("?", 2);
  const headerLines = [...signedHeaders]
    .sort()
    .map((name) => `${name}:${(request.headers[name] ?? "").trim()}\n`)
    .join("");
  const payloadHash =
    request.headers["x-sdk-content-sha256"] === "UNSIGNED-PAYLOAD"
      ? "UNSIGNED-PAYLOAD"
      : sha256Hex(request.body);
  return [
    request.method.toUpperCase(),
    canonicalUri(path),
    canonicalQueryString(query),
    headerLines,
    [...signedHeaders].sort().join(";"),
    payloadHash,
  ].join("\n");
}

export function stringToSign(sdkDate: string, canonical: string): string {
  return `${ALGORITHM}\n${sdkDate}\n${sha256Hex(canonical)}`;
}

export function signature(sk: string, toSign: string): string {
  return createHmac("sha256", sk).update(toSign).digest("hex");
}

export function parseSdkDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
}

export type Verification = { valid: true; ak: string } | { valid: false; reason: string };

/** Verifies a signed request against the known keys, as the API gateway would. */
export function verifySignature(
  request: SignableRequest,
  keys: readonly SigningKey[],
  now: Date = new Date(),
): Verification {
  const authorization = request.headers.authorization ?? "";
  const match =
    /^SDK-HMAC-SHA256 Access=([^,\s]+), SignedHeaders=([^,\s]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!match) return { valid: false, reason: "missing or malformed Authorization header" };
  const [, ak = "", signedList = "", presented = ""] = match;
  const key = keys.find((candidate) => candidate.ak === ak);
  if (!key) return { valid: false, reason: "unknown access key" };
  const signedHeaders = signedList.split(";");
  for (const required of ["host", "x-sdk-date"]) {
    if (!signedHeaders.includes(required))
      return { valid: false, reason: `${required} is not signed` };
  }
  const sdkDate = request.headers["x-sdk-date"] ?? "";
  const signedAt = parseSdkDate(sdkDate);
  if (!signedAt) return { valid: false, reason: "X-Sdk-Date is not YYYYMMDDTHHMMSSZ" };
  if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
    return { valid: false, reason: "X-Sdk-Date is more than 15 minutes from the server's clock" };
  }
  if (key.securityToken !== undefined) {
    if (request.headers["x-security-token"] !== key.securityToken) {
      return { valid: false, reason: "temporary credentials need their X-Security-Token" };
    }
    if (!signedHeaders.includes("x-security-token")) {
      return { valid: false, reason: "x-security-token is not signed" };
    }
  }
  const expected = signature(
    key.sk,
    stringToSign(sdkDate, canonicalRequest(request, signedHeaders)),
  );
  const same = timingSafeEqual(Buffer.from(expected), Buffer.from(presented));
  return same ? { valid: true, ak } : { valid: false, reason: "signature does not match" };
}

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
