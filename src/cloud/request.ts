/**
 * One Huawei Cloud call as this project describes it before it is signed and sent: what every part
 * of the product that calls HSS, SWR or SMN builds (the scan APIs, the calls around a scan, the
 * webhook policies, a publish), and what the signed-call client (signed-client.ts) signs and sends,
 * or a dry run shows. Types only, so that everything may name them.
 */

export interface SignedRequest {
  /** HSS takes GET and POST; SWR's webhook policies (src/swr/) PUT and DELETE too. */
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** The path with `{project_id}`, and `{name}` for each of `pathParams`. */
  pathTemplate: string;
  pathParams?: Record<string, string>;
  query: Record<string, string>;
  body?: unknown;
}

/** An access key, or the agency's temporary one (with its security token). */
export interface Credentials {
  ak: string;
  sk: string;
  securityToken?: string;
}

export interface CallOptions {
  timeoutMs: number;
}

export interface SignedAnswer {
  requestId?: string;
  /** The parsed JSON body; undefined for an empty one. */
  body: unknown;
  /** The HTTP status (2xx) and the body as received: for a caller that checks the answer's shape. */
  status?: number;
  text?: string;
}

/** Sends a signed HSS request: the real client, or a test's fake. */
export interface SignedCaller {
  call(request: SignedRequest, options: CallOptions): Promise<SignedAnswer>;
}

/** Where HSS calls go: the endpoint, the project, and what every call carries. */
export interface CloudTarget {
  endpoint: string;
  region?: string;
  projectId: string;
  enterpriseProjectId?: string;
}

/** A request as it would go on the wire, less the signature headers (a dry run shows this). */
export interface HssRequestPreview {
  method: SignedRequest["method"];
  url: string;
  headers: Record<string, string>;
  body: unknown;
  /** What the preview cannot show. */
  note?: string;
}
