import { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials";
import type { Credentials } from "../config";
import { secretScrubber } from "../log";
import type { ScanBatch } from "./batch-scan-request";
import { sendRequest, TransportError } from "./http-transport";

/**
 * The only module that talks to HSS. Requests are signed by the Huawei SDK core itself
 * (`BasicCredentials.processAuthRequest`, which adds the project and token headers and signs with
 * its AKSKSigner, exactly as its generated clients do) and sent with Node's http/https. The core's
 * HcClient and its axios are not used: they cost a large part of the cold start, and they bring
 * the core's traps along:
 * - it logs failed requests, Authorization and X-Security-Token included, through log4js;
 * - without a custom user agent it writes ~/.huaweicloud/application_id, which fails on a
 *   read-only function file system;
 * - withRegion() triggers an IAM project lookup;
 * - there is no default timeout.
 * Here the project id is always set, the region travels as the `region` header, every request
 * has a timeout, and nothing is logged by the core. Errors leave this module as HssCallError,
 * which holds only what is safe to log and report.
 */

export const USER_AGENT = "swr-scan-on-push/0.1";

export interface HssClientOptions {
  endpoint: string;
  region?: string;
  projectId: string;
  enterpriseProjectId?: string;
  credentials: Credentials;
}

export interface SubmitOptions {
  timeoutMs: number;
}

export interface BatchScanResult {
  requestId?: string;
  /** Set by a dry run instead of sending: the request that would have been sent. */
  preview?: HssRequestPreview;
}

/** A scan request as it goes on the wire, less the signature headers. */
export interface HssRequestPreview {
  method: "POST";
  url: string;
  headers: Record<string, string>;
  /** A batch-scan body, or a CreateManualImageScanTask body (HSS_SCAN_API=scan-task). */
  body: unknown;
  /** What the preview cannot show. */
  note?: string;
}

export const BATCH_SCAN_PATH = "/v5/{project_id}/image/batch-scan";

/**
 * One HSS call as this project describes it before sending: the SDK core sends exactly this (and
 * signs it), and a dry run shows it. Kept in one place so that the two cannot drift apart.
 */
export interface HssCall {
  method: "POST";
  /** The path with `{project_id}`, which the core fills from the credential's project id. */
  pathTemplate: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: ScanBatch;
}

export function describeBatchScan(
  options: Pick<HssClientOptions, "region" | "enterpriseProjectId">,
  batch: ScanBatch,
): HssCall {
  return {
    method: "POST",
    pathTemplate: BATCH_SCAN_PATH,
    query: options.enterpriseProjectId
      ? { enterprise_project_id: options.enterpriseProjectId }
      : {},
    headers: options.region ? { region: options.region } : {},
    body: batch,
  };
}

/** The request `createHssClient` sends for a batch (the SDK core adds the signature headers). */
export function previewBatchScan(
  options: Omit<HssClientOptions, "credentials">,
  batch: ScanBatch,
): HssRequestPreview {
  const call = describeBatchScan(options, batch);
  const path = call.pathTemplate.replace("{project_id}", encodeURIComponent(options.projectId));
  const query = new URLSearchParams(call.query).toString();
  return {
    method: call.method,
    url: `${options.endpoint.replace(/\/$/, "")}${path}${query ? `?${query}` : ""}`,
    headers: {
      "content-type": "application/json",
      "x-project-id": options.projectId,
      ...call.headers,
    },
    body: call.body,
  };
}

/** Does everything but send: each batch comes back with the request that would have been sent. */
export function createDryRunSubmitter(
  options: Omit<HssClientOptions, "credentials">,
): BatchScanSubmitter {
  return {
    submitBatchScan: async (batch) => ({ preview: previewBatchScan(options, batch) }),
  };
}

/** Anything that can ask HSS to scan a batch: the real client, or a dry run. */
export interface BatchScanSubmitter {
  submitBatchScan(batch: ScanBatch, options: SubmitOptions): Promise<BatchScanResult>;
}

/** Any HSS request, before signing: `{project_id}` and `pathParams` are filled in the path. */
export interface HssRequest {
  method: "GET" | "POST";
  pathTemplate: string;
  pathParams?: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: unknown;
}

export interface HssAnswer {
  requestId?: string;
  /** The parsed JSON body; undefined for an empty one. */
  body: unknown;
}

/** Sends any signed HSS request (the calls around the scan: src/hss/apis.ts). */
export interface HssCaller {
  call(request: HssRequest, options: SubmitOptions): Promise<HssAnswer>;
}

/** The real client: batch-scan, and every other call. */
export type HssClient = BatchScanSubmitter & HssCaller;

/** Whether a submitter can make the other calls (tests may give a batch-scan-only one). */
export function isHssCaller(candidate: BatchScanSubmitter): candidate is HssClient {
  return typeof (candidate as Partial<HssCaller>).call === "function";
}

// The signer's own encoding (RFC 3986 unreserved characters only), so that the query sent is the
// query signed.
const encodeQueryPart = (value: string) =>
  encodeURIComponent(value).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );

export class HssCallError extends Error {
  override readonly name = "HssCallError";
  constructor(
    message: string,
    /** HTTP status from HSS; undefined when no answer came (timeout, connection error). */
    readonly httpStatus: number | undefined,
    /** HSS or API gateway error code (`HSS.0001`, `APIGW.0308`), or a local code. */
    readonly errorCode: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

export function createHssClient(options: HssClientOptions): HssClient {
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

  const call = async (request: HssRequest, { timeoutMs }: SubmitOptions): Promise<HssAnswer> => {
    try {
      let path = request.pathTemplate;
      for (const [name, value] of Object.entries(request.pathParams ?? {})) {
        // As the core's generated clients do: ":" stays (an SMN topic URN), the signer encodes it.
        path = path.replace(`{${name}}`, encodeURIComponent(value).replace(/%3A/gi, ":"));
      }
      const hasBody = request.body !== undefined;
      // The shape the core's generated clients hand to the signer; `data` is hashed as
      // JSON.stringify(data), which is exactly the body sent below.
      const signed = (await credentials.processAuthRequest(
        undefined as never,
        {
          method: request.method,
          url: path,
          endpoint,
          contentType: "application/json",
          headers: {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ...request.headers,
          },
          queryParams: request.query,
          pathParams: {},
          data: request.body,
        } as never,
      )) as unknown as { endpoint: string; headers: Record<string, string> };
      const query = Object.entries(request.query)
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
        // HSS's POST calls answer an empty body; only the GET calls' bodies are read.
        const body =
          request.method === "GET"
            ? parseAnswer(response.body, response.status, requestId)
            : undefined;
        return { requestId, body };
      }
      throw callErrorOf(response.status, response.body, requestId);
    } catch (error) {
      const failure = toHssCallError(error);
      // HSS or the gateway may quote the access key back in its message.
      const message = scrub(failure.message);
      throw new HssCallError(message, failure.httpStatus, failure.errorCode, failure.requestId);
    }
  };

  return {
    call,
    async submitBatchScan(batch, submitOptions) {
      const described = describeBatchScan(options, batch);
      const answer = await call(
        {
          method: described.method,
          pathTemplate: described.pathTemplate,
          query: described.query,
          headers: described.headers,
          body: described.body,
        },
        submitOptions,
      );
      return { requestId: answer.requestId };
    },
  };
}

function parseAnswer(body: string, status: number, requestId: string | undefined): unknown {
  if (body.trim() === "") return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new HssCallError(
      `HSS answered HTTP ${status} with a body that is not JSON`,
      status,
      "BAD_ANSWER",
      requestId,
    );
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** HSS's and the gateway's error bodies: `{"error_code": …, "error_msg": …}`. */
function callErrorOf(status: number, body: string, requestId: string | undefined): HssCallError {
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
  return new HssCallError(message.slice(0, 300), status, code, requestId ?? bodyRequestId);
}

/**
 * Keeps only status, code, message and request id of whatever the core threw. The core's own
 * error objects can hold the request config, and with it the signed headers.
 */
export function toHssCallError(error: unknown): HssCallError {
  if (error instanceof HssCallError) return error;
  if (error instanceof TransportError) {
    return new HssCallError(
      error.message,
      undefined,
      error.kind === "timeout" ? "TIMEOUT" : "CONNECTION_ERROR",
      undefined,
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
  return new HssCallError(message, status, code, requestId);
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

export function classifyFailure(error: HssCallError): FailureKind {
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
