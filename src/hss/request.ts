/**
 * One HSS call as this project describes it before it is signed and sent: what every part of the
 * product that calls HSS builds (the scan APIs, the calls around a scan), and what the client
 * (client.ts) signs and sends, or a dry run shows. Types only, so that everything may name them.
 */

export interface HssRequest {
  /** HSS takes GET and POST; SWR's webhook policies (src/swr/) PUT and DELETE too. */
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** The path with `{project_id}`, and `{name}` for each of `pathParams`. */
  pathTemplate: string;
  pathParams?: Record<string, string>;
  query: Record<string, string>;
  body?: unknown;
}

export interface CallOptions {
  timeoutMs: number;
}

export interface HssAnswer {
  requestId?: string;
  /** The parsed JSON body; undefined for an empty one. */
  body: unknown;
  /** The HTTP status (2xx) and the body as received: for a caller that checks the answer's shape. */
  status?: number;
  text?: string;
}

/** Sends a signed HSS request: the real client, or a test's fake. */
export interface HssCaller {
  call(request: HssRequest, options: CallOptions): Promise<HssAnswer>;
}

/** Where HSS calls go: the endpoint, the project, and what every call carries. */
export interface HssTarget {
  endpoint: string;
  region?: string;
  projectId: string;
  enterpriseProjectId?: string;
}

/** A request as it would go on the wire, less the signature headers (a dry run shows this). */
export interface HssRequestPreview {
  method: HssRequest["method"];
  url: string;
  headers: Record<string, string>;
  body: unknown;
  /** What the preview cannot show. */
  note?: string;
}
