import { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials";
import { ScanOnPushError } from "../errors";
import { secretScrubber } from "../log";
import { sendRequest, TransportError } from "./http-transport";
import type {
  CallOptions,
  CloudTarget,
  Credentials,
  HssRequestPreview,
  SignedAnswer,
  SignedCaller,
  SignedRequest,
} from "./request";

/**
 * The Huawei Cloud signed-call client: the only module that signs and sends calls to Huawei
 * Cloud's APIs (HSS, SWR's webhook policies, SMN's publish), each built by the composition root for
 * one target (endpoint, project, credentials). Requests are signed by the Huawei SDK core itself
 * (`BasicCredentials.processAuthRequest`, which adds the project and token headers and signs with
 * its AKSKSigner, exactly as its generated clients do) and sent with Node's http/https. The core's
 * HcClient and its axios are not used: they cost a large part of the cold start, and they bring
 * the core's traps along:
 * - it logs failed requests, Authorization and X-Security-Token included, through log4js;
 * - without a custom user agent it writes ~/.huaweicloud/application_id, which fails on a
 *   read-only function file system;
 * - withRegion() triggers an IAM project lookup;
 * - there is no default timeout.
 * Here the project id is always set, the region travels as the `region` header of POST calls
 * (as HSS's own SDK sends it), every request
 * has a timeout, and nothing is logged by the core. Errors leave this module as SignedCallError,
 * which holds only what is safe to log and report. The client knows no API: every call is an
 * SignedRequest (request.ts) that the scan APIs (src/scan-apis/) or the calls around a scan
 * (apis.ts) describe.
 */

export const USER_AGENT = "swr-scan-on-push/0.1";

export interface SignedClientOptions extends CloudTarget {
  credentials: Credentials;
}

/**
 * What a request becomes on the wire, less the signature: the path (project id left to the
 * signer), the query with the enterprise project, and the headers every call carries. The client
 * sends exactly this, and a dry run shows it, so that the two cannot drift apart.
 */
function wireOf(request: SignedRequest, target: CloudTarget) {
  let path = request.pathTemplate;
  for (const [name, value] of Object.entries(request.pathParams ?? {})) {
    // As the core's generated clients do: ":" stays (an SMN topic URN), the signer encodes it.
    path = path.replace(`{${name}}`, encodeURIComponent(value).replace(/%3A/gi, ":"));
  }
  const query = target.enterpriseProjectId
    ? { ...request.query, enterprise_project_id: target.enterpriseProjectId }
    : request.query;
  // As HSS's own SDK sends it: the `region` header on the POST calls only.
  const headers: Record<string, string> =
    target.region && request.method === "POST" ? { region: target.region } : {};
  return { path, query, headers };
}

/** The request the client would send, as a dry run shows it. */
export function previewOf(
  request: SignedRequest,
  target: CloudTarget,
  note?: string,
): HssRequestPreview {
  const wire = wireOf(request, target);
  const path = wire.path.replace("{project_id}", encodeURIComponent(target.projectId));
  const query = new URLSearchParams(wire.query).toString();
  return {
    method: request.method,
    url: `${target.endpoint.replace(/\/$/, "")}${path}${query ? `?${query}` : ""}`,
    headers: {
      "content-type": "application/json",
      "x-project-id": target.projectId,
      ...wire.headers,
    },
    body: request.body,
    ...(note ? { note } : {}),
  };
}

// The signer's own encoding (RFC 3986 unreserved characters only), so that the query sent is the
// query signed.
const encodeQueryPart = (value: string) =>
  encodeURIComponent(value).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );

export class SignedCallError extends ScanOnPushError {
  override readonly name = "SignedCallError";
  constructor(
    message: string,
    /** HTTP status from HSS; undefined when no answer came (timeout, connection error). */
    readonly httpStatus: number | undefined,
    /** HSS or API gateway error code (`HSS.0001`, `APIGW.0308`), or a local code. */
    readonly errorCode: string,
    readonly requestId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function createSignedClient(options: SignedClientOptions): SignedCaller {
  const credentials = new BasicCredentials()
    .withAk(options.credentials.ak)
    .withSk(options.credentials.sk)
    .withProjectId(options.projectId);
  if (options.credentials.securityToken) {
    credentials.withSecurityToken(options.credentials.securityToken);
  }
  const scrub = secretScrubber([
    options.credentials.ak,
    options.credentials.sk,
    options.credentials.securityToken ?? "",
  ]);
  const endpoint = options.endpoint.replace(/\/$/, "");

  const call = async (
    request: SignedRequest,
    { timeoutMs }: CallOptions,
  ): Promise<SignedAnswer> => {
    try {
      const wire = wireOf(request, options);
      const hasBody = request.body !== undefined;
      // The shape the core's generated clients hand to the signer; `data` is hashed as
      // JSON.stringify(data), which is exactly the body sent below.
      const signed = (await credentials.processAuthRequest(
        undefined as never,
        {
          method: request.method,
          url: wire.path,
          endpoint,
          contentType: "application/json",
          headers: {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ...wire.headers,
          },
          queryParams: wire.query,
          pathParams: {},
          data: request.body,
        } as never,
      )) as unknown as { endpoint: string; headers: Record<string, string> };
      const query = Object.entries(wire.query)
        .map(([name, value]) => `${encodeQueryPart(name)}=${encodeQueryPart(value)}`)
        .join("&");
      const url = new URL(`${signed.endpoint}${query ? `?${query}` : ""}`);
      const response = await sendRequest(url, {
        method: request.method,
        headers: signed.headers,
        body: hasBody ? JSON.stringify(request.body) : "",
        timeoutMs,
      });
      const requestId = headerValue(response.headers["x-request-id"]);
      if (response.status >= 200 && response.status < 300) {
        // A GET's answer is its point and must be JSON; a POST's is mostly empty, and read when it
        // is JSON (RunImageSynchronize may say there that it failed).
        const body =
          request.method === "GET"
            ? parseAnswer(response.body, response.status, requestId)
            : parseOptionalAnswer(response.body);
        return { requestId, body, status: response.status, text: response.body };
      }
      throw callErrorOf(response.status, response.body, requestId);
    } catch (error) {
      const failure = toSignedCallError(error);
      // HSS or the gateway may quote the access key back in its message. The cause is kept when
      // it is the socket's own error (TransportError); the core's errors are not kept: they hold
      // the request config, signed headers included.
      const message = scrub(failure.message);
      const cause = failure.cause instanceof TransportError ? { cause: failure.cause } : undefined;
      throw new SignedCallError(
        message,
        failure.httpStatus,
        failure.errorCode,
        failure.requestId,
        cause,
      );
    }
  };
  return { call };
}

function parseAnswer(body: string, status: number, requestId: string | undefined): unknown {
  if (body.trim() === "") return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new SignedCallError(
      `the endpoint answered HTTP ${status} with a body that is not JSON (${bodySummary(body)})`,
      status,
      "BAD_ANSWER",
      requestId,
    );
  }
}

function parseOptionalAnswer(body: string): unknown {
  try {
    return body.trim() === "" ? undefined : (JSON.parse(body) as unknown);
  } catch {
    return undefined;
  }
}

/** The start of a body, printable, for a message that must say what came instead of JSON. */
export function bodySummary(body: string): string {
  const text = body.trim();
  if (text === "") return "an empty body";
  // JSON.stringify escapes control characters: binary shows as text.
  return `${JSON.stringify(text.slice(0, 80))}${text.length > 80 ? `, ${text.length} characters in all` : ""}`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** HSS's and the gateway's error bodies: `{"error_code": …, "error_msg": …}`. */
function callErrorOf(status: number, body: string, requestId: string | undefined): SignedCallError {
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === "object" && parsed !== null) fields = parsed as Record<string, unknown>;
  } catch {
    fields = { error_msg: body.slice(0, 200) };
  }
  const code = typeof fields.error_code === "string" ? fields.error_code : `HTTP_${status}`;
  const message =
    typeof fields.error_msg === "string" && fields.error_msg
      ? fields.error_msg
      : `HSS answered HTTP ${status}`;
  const bodyRequestId = typeof fields.request_id === "string" ? fields.request_id : undefined;
  return new SignedCallError(message.slice(0, 300), status, code, requestId ?? bodyRequestId);
}

/**
 * Keeps only status, code, message and request id of whatever the core threw. The core's own
 * error objects can hold the request config, and with it the signed headers.
 */
export function toSignedCallError(error: unknown): SignedCallError {
  if (error instanceof SignedCallError) return error;
  if (error instanceof TransportError) {
    return new SignedCallError(
      error.message,
      undefined,
      error.kind === "timeout" ? "TIMEOUT" : "CONNECTION_ERROR",
      undefined,
      { cause: error },
    );
  }
  const fields = (typeof error === "object" && error !== null ? error : {}) as Record<
    string,
    unknown
  >;
  const status = typeof fields.httpStatusCode === "number" ? fields.httpStatusCode : undefined;
  const requestId = typeof fields.requestId === "string" ? fields.requestId : undefined;
  const rawMessage =
    (typeof fields.errorMsg === "string" && fields.errorMsg) ||
    (typeof fields.message === "string" && fields.message) ||
    "request failed";
  const message = rawMessage.slice(0, 300);
  let code = typeof fields.errorCode === "string" ? fields.errorCode : undefined;
  if (!code) {
    if (status !== undefined) code = `HTTP_${status}`;
    else if (fields.name === "RequiredError") code = "CREDENTIALS_MISSING";
    else if (/timeout|aborted|canceled/i.test(message)) code = "TIMEOUT";
    else code = "CONNECTION_ERROR";
  }
  return new SignedCallError(message, status, code, requestId);
}

/** The fields a failed call is logged, answered and dead-lettered with: all that is safe to show. */
export function failureFieldsOf(error: SignedCallError): {
  http_status?: number;
  error_code: string;
  error_msg: string;
  hss_request_id?: string;
} {
  return {
    http_status: error.httpStatus,
    error_code: error.errorCode,
    error_msg: error.message,
    hss_request_id: error.requestId,
  };
}

/**
 * What a failed call means for the images it carried:
 * - `throttled`: the API gateway's rate limit (429); the window is spent, do not call again in it;
 * - `transient`: no answer, or a 5xx; the same call may succeed later;
 * - `refused`: HSS refused the caller (signature, permissions, project), not the images; the same
 *   images will go through once the configuration is fixed;
 * - `rejected`: HSS refused what the request asked (an invalid image); sending it again fails again.
 */
export type FailureKind = "throttled" | "transient" | "refused" | "rejected";

/** HSS's own codes for a caller that may not do this (all answered with HTTP 400). */
const CALLER_REFUSED_CODES = new Set(["HSS.0010", "HSS.0013"]);

export function classifyFailure(error: SignedCallError): FailureKind {
  const status = error.httpStatus;
  if (status === 429 || error.errorCode === "APIGW.0308") return "throttled";
  if (status === undefined) {
    return error.errorCode === "CREDENTIALS_MISSING" ? "refused" : "transient";
  }
  if (status >= 500) return "transient";
  if (status === 401 || status === 403 || CALLER_REFUSED_CODES.has(error.errorCode)) {
    return "refused";
  }
  if (error.errorCode.startsWith("APIGW.")) return "refused";
  return "rejected";
}
