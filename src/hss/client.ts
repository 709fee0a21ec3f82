import { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials";
import { ClientBuilder } from "@huaweicloud/huaweicloud-sdk-core/ClientBuilder";
import type { HcClient, HttpRequestOptions } from "@huaweicloud/huaweicloud-sdk-core/HcClient";
import { Logger4jInstance } from "@huaweicloud/huaweicloud-sdk-core/logger/log4jLogger";
import type { AxiosRequestConfig } from "axios";
import type { Credentials } from "../config";
import { secretScrubber } from "../log";
import type { ScanBatch } from "./batch-scan-request";
import { nodeHttpTransport } from "./http-transport";

/**
 * The only module that talks to HSS. It builds requests on the Huawei SDK core the way the
 * generated service clients do (ClientBuilder + HcClient.sendRequest), so that the core signs
 * them, and works around the core's traps:
 * - it logs failed requests, Authorization and X-Security-Token included, through log4js, to
 *   stdout: its logger is switched off;
 * - without a custom user agent, build() writes ~/.huaweicloud/application_id, which fails on a
 *   read-only function file system: a user agent is always given;
 * - withRegion() replaces withEndpoint() and triggers an IAM project lookup: only withEndpoint()
 *   is used, the project id is always set, and the region travels as the `region` header;
 * - there is no default timeout: every request carries one.
 * Errors leave this module as HssCallError, which holds only what is safe to log and report.
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

/** A batch-scan request as it goes on the wire, less the signature headers. */
export interface HssRequestPreview {
  method: "POST";
  url: string;
  headers: Record<string, string>;
  body: ScanBatch;
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

let coreLoggingSilenced = false;

function silenceCoreLogging(): void {
  if (coreLoggingSilenced) return;
  Logger4jInstance.level = "off";
  coreLoggingSilenced = true;
}

export function createHssClient(options: HssClientOptions): BatchScanSubmitter {
  silenceCoreLogging();
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
  const hcClient = new ClientBuilder<HcClient>((client) => client)
    .withCredential(credentials)
    .withEndpoint(options.endpoint)
    .withOptions({ customUserAgent: USER_AGENT })
    .build();

  return {
    async submitBatchScan(batch, { timeoutMs }) {
      // responseHeaders and axiosRequestConfig are read by the core but missing from its types.
      const call = describeBatchScan(options, batch);
      const request: HttpRequestOptions & {
        responseHeaders: string[];
        axiosRequestConfig: AxiosRequestConfig;
      } = {
        method: call.method,
        url: call.pathTemplate,
        contentType: "application/json",
        pathParams: {},
        queryParams: call.query,
        headers: call.headers,
        data: call.body,
        // The core copies listed response headers into the result, but only into an object
        // body; HSS answers 200 with an empty body, so the body is parsed to {} first.
        responseHeaders: ["X-Request-Id"],
        axiosRequestConfig: {
          timeout: timeoutMs,
          maxRedirects: 0,
          adapter: nodeHttpTransport,
          transformResponse: [parseJsonBody],
        },
      };
      try {
        const response = (await hcClient.sendRequest(request)) as unknown as Record<
          string,
          unknown
        >;
        const requestId = response["X-Request-Id"];
        return { requestId: typeof requestId === "string" ? requestId : undefined };
      } catch (error) {
        const failure = toHssCallError(error);
        // HSS or the gateway may quote the access key back in its message.
        const message = scrub(failure.message);
        throw new HssCallError(message, failure.httpStatus, failure.errorCode, failure.requestId);
      }
    },
  };
}

function parseJsonBody(body: unknown): unknown {
  if (typeof body !== "string" || body.trim() === "") return {};
  try {
    return JSON.parse(body);
  } catch {
    return { error_msg: body.slice(0, 200) };
  }
}

/**
 * Keeps only status, code, message and request id of whatever the core threw. The core's own
 * error objects can hold the request config, and with it the signed headers.
 */
export function toHssCallError(error: unknown): HssCallError {
  if (error instanceof HssCallError) return error;
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
