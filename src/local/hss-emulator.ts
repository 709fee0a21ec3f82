import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type ScanBatch, type ScanTarget, scanBatchSchema } from "../hss/batch-scan-request";
import { type SigningKey, verifySignature } from "./signature";

/**
 * A local stand-in for HSS's batch-scan API, over real HTTP on loopback. It checks each request
 * the way the service would (AK/SK signature, project, body shape and limits), answers like HSS
 * (200 with an empty body and an X-Request-Id header, or an error body with a code), records what
 * it accepted, and can be told to fail in the ways the real service and network fail.
 */

export const EMULATOR_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
export const EMULATOR_KEY: SigningKey = {
  ak: "LOCALEMULATORAK0000000",
  sk: "local-emulator-secret-key-not-a-real-one-00000",
};

/** A failure to play instead of a normal answer. */
export type EmulatorFault =
  /** Answer this request normally (to place a fault after it). */
  | { kind: "pass" }
  | { kind: "http"; status: number; errorCode: string; errorMsg?: string }
  /** Destroy the connection without answering (connection reset). */
  | { kind: "reset" }
  /** Never answer; the client's timeout has to end the request. */
  | { kind: "hang" }
  /** Answer normally, but only after this many milliseconds. */
  | { kind: "delay"; ms: number };

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Headers as received, except Authorization and X-Security-Token. */
  headers: Record<string, string>;
  body: unknown;
  /** Which access key signed the request, or why the signature was refused. */
  signature: { valid: true; ak: string } | { valid: false; reason: string };
  /** What the emulator answered. */
  status: number | "reset" | "hang";
  requestId: string;
}

/** HSS's documented limit: 5 calls of one API per user, and per source IP, in a rolling minute. */
export const HSS_RATE_LIMIT = { calls: 5, windowMs: 60_000 };

export interface HssEmulatorOptions {
  port?: number;
  /**
   * The API gateway's rate limit, on by default as HSS documents it: beyond it a call is answered
   * 429 APIGW.0308 and not counted. `false` turns it off (tests about other things).
   */
  rateLimit?: { calls: number; windowMs: number } | false;
  /**
   * Images HSS refuses: a batch holding one is answered 400 HSS.0001 naming it, as HSS refuses
   * a request with an invalid image as a whole.
   */
  rejectImage?: (image: ScanTarget) => boolean;
  projectId?: string;
  keys?: readonly SigningKey[];
  /** Called after each request with what was received and answered. */
  onRequest?: (request: ReceivedRequest) => void;
  /**
   * How many received requests and accepted batches it keeps (the oldest are dropped), so that a
   * long-running `npm start` does not grow without bound.
   */
  historyLimit?: number;
}

export interface HssEmulator {
  /** Base URL to use as HSS_ENDPOINT. */
  url: string;
  projectId: string;
  keys: readonly SigningKey[];
  /** Every request received, in order. */
  received: ReceivedRequest[];
  /** The batches HSS accepted (answered 200), in order. */
  acceptedBatches(): ScanBatch[];
  /** How many calls the rate limit answered with 429. */
  throttledCount(): number;
  /** The largest number of requests that were being handled at the same time. */
  maxInFlight(): number;
  /** Queue faults to play, one per incoming request, before normal answers resume. */
  failNext(...faults: EmulatorFault[]): void;
  reset(): void;
  close(): Promise<void>;
}

/** The configuration that points the function at an emulator, signing with its first key. */
export function emulatorEnvironment(emulator: HssEmulator): Record<string, string> {
  const key = emulator.keys[0] ?? EMULATOR_KEY;
  return {
    HSS_ENDPOINT: emulator.url,
    HSS_REGION: "cn-north-4",
    HSS_PROJECT_ID: emulator.projectId,
    CLOUD_SDK_AK: key.ak,
    CLOUD_SDK_SK: key.sk,
    CLOUD_SDK_SECURITY_TOKEN: key.securityToken ?? "",
  };
}

const SENSITIVE_HEADERS = new Set(["authorization", "x-security-token"]);
const MAX_BODY_BYTES = 1024 * 1024;

export async function startHssEmulator(options: HssEmulatorOptions = {}): Promise<HssEmulator> {
  const projectId = options.projectId ?? EMULATOR_PROJECT_ID;
  const keys = options.keys ?? [EMULATOR_KEY];
  const received: ReceivedRequest[] = [];
  const accepted: ScanBatch[] = [];
  const faults: EmulatorFault[] = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  let throttled = 0;
  const rateLimit = options.rateLimit === undefined ? HSS_RATE_LIMIT : options.rateLimit;
  /** Per caller (`user:<ak>`, `ip:<address>`) and API: when its counted calls arrived. */
  const callLog = new Map<string, number[]>();
  const overLimit = (callers: string[], api: string): boolean => {
    if (!rateLimit) return false;
    const now = Date.now();
    const recent = callers.map((caller) => {
      const key = `${caller} ${api}`;
      const calls = (callLog.get(key) ?? []).filter((at) => at > now - rateLimit.windowMs);
      callLog.set(key, calls);
      return calls;
    });
    if (recent.some((calls) => calls.length >= rateLimit.calls)) return true;
    for (const calls of recent) calls.push(now);
    return false;
  };
  const routePattern = /^\/v5\/([^/]+)\/image\/batch-scan$/;

  const historyLimit = options.historyLimit ?? 10_000;
  const keep = <T>(list: T[], item: T) => {
    list.push(item);
    if (list.length > historyLimit) list.splice(0, list.length - historyLimit);
  };
  const record = (request: Omit<ReceivedRequest, "requestId">, requestId: string) => {
    const entry = { ...request, requestId };
    keep(received, entry);
    options.onRequest?.(entry);
  };

  const server = createServer(async (req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => {
      inFlight -= 1;
    });
    const requestId = randomUUID().replaceAll("-", "");
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      // The client went away mid-body; there is no one to answer.
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? "/", "http://emulator");
    const headers = flattenHeaders(req);
    const base = {
      method: req.method ?? "",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(
        Object.entries(headers).filter(([name]) => !SENSITIVE_HEADERS.has(name)),
      ) as Record<string, string>,
      body: parseJson(body),
      signature: verifySignature(
        { method: req.method ?? "", url: req.url ?? "/", headers, body },
        keys,
      ),
    };
    const answer = (status: number, errorCode?: string, errorMsg?: string) => {
      record({ ...base, status }, requestId);
      res.setHeader("X-Request-Id", requestId);
      if (!errorCode) {
        res.writeHead(status).end();
        return;
      }
      res
        .writeHead(status, { "content-type": "application/json" })
        .end(JSON.stringify({ error_code: errorCode, error_msg: errorMsg ?? errorCode }));
    };

    const caller = base.signature.valid ? `user:${base.signature.ak}` : "user:anonymous";
    const api = `${req.method} ${url.pathname.replace(/^\/v5\/[^/]+/, "")}`;
    if (overLimit([caller, `ip:${req.socket.remoteAddress ?? "?"}`], api)) {
      throttled += 1;
      return answer(
        429,
        "APIGW.0308",
        `The throttling threshold has been reached: policy user over ratelimit,limit:${rateLimit ? rateLimit.calls : 0},time:1 minute`,
      );
    }

    const fault = faults.shift();
    if (fault?.kind === "reset") {
      record({ ...base, status: "reset" }, requestId);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "hang") {
      record({ ...base, status: "hang" }, requestId);
      return;
    }
    if (fault?.kind === "http") return answer(fault.status, fault.errorCode, fault.errorMsg);
    if (fault?.kind === "delay") await new Promise((resolve) => setTimeout(resolve, fault.ms));

    const route = routePattern.exec(url.pathname);
    if (req.method !== "POST" || !route) {
      return answer(
        404,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment",
      );
    }
    if (!base.signature.valid) {
      return answer(
        401,
        "APIGW.0301",
        `Incorrect IAM authentication information: ${base.signature.reason}`,
      );
    }
    if (route[1] !== projectId || headers["x-project-id"] !== projectId) {
      return answer(403, "HSS.0010", "access denied: unknown project id");
    }
    const batch = scanBatchSchema.safeParse(base.body);
    if (!batch.success) {
      const issue = batch.error.issues[0];
      return answer(
        400,
        "HSS.0001",
        `invalid parameter: ${issue?.path.join(".")} ${issue?.message}`,
      );
    }
    const rejected =
      "image_info_list" in batch.data && options.rejectImage
        ? batch.data.image_info_list.findIndex((image) => options.rejectImage?.(image))
        : -1;
    if (rejected >= 0) {
      return answer(
        400,
        "HSS.0001",
        `invalid parameter: image_info_list[${rejected}] cannot be scanned`,
      );
    }
    keep(accepted, batch.data);
    return answer(200);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    projectId,
    keys,
    received,
    acceptedBatches: () => [...accepted],
    maxInFlight: () => maxInFlight,
    throttledCount: () => throttled,
    failNext: (...more) => {
      faults.push(...more);
    },
    reset: () => {
      received.length = 0;
      accepted.length = 0;
      faults.length = 0;
      maxInFlight = 0;
      throttled = 0;
      callLog.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return body.toString("utf8").slice(0, 200);
  }
}
