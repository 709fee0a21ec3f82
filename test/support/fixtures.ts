import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const EVENTS_DIR = join(__dirname, "..", "..", "events");

export const eventFiles = (): string[] =>
  readdirSync(EVENTS_DIR)
    .filter((name) => name.endsWith(".json"))
    .sort();

export function loadEvent<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(join(EVENTS_DIR, name), "utf8")) as T;
}

/** The published Harbor Default-format sample (Harbor documentation). */
export const harborSample = () => loadEvent("harbor-push.json");

/** The webhook secret the sample events in events/ carry. */
export const SAMPLE_WEBHOOK_SECRET = "sample-webhook-secret-change-me";

export function apigEvent(
  body: unknown,
  options: {
    query?: Record<string, string>;
    headers?: Record<string, string>;
    method?: string;
  } = {},
) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return {
    body: Buffer.from(text).toString("base64"),
    isBase64Encoded: true,
    httpMethod: options.method ?? "POST",
    path: "/swr-scan-on-push",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${SAMPLE_WEBHOOK_SECRET}`,
      ...options.headers,
    },
    queryStringParameters: options.query ?? {},
    pathParameters: {},
    requestContext: { apiId: "test", requestId: "apig-request", stage: "RELEASE" },
  };
}

export function harborPush(
  repository: string,
  resources: Array<{ tag?: string | null; digest?: string; resource_url?: string }>,
  type = "PUSH_ARTIFACT",
) {
  const [namespace = "", ...rest] = repository.split("/");
  return {
    type,
    occur_at: 1732700000,
    operator: "admin",
    event_data: {
      resources,
      repository: {
        name: rest.join("/"),
        namespace,
        repo_full_name: repository,
        repo_type: "private",
      },
    },
  };
}

/** The error `run` throws, for assertions on its status and message. */
export function errorOf(run: () => unknown): Error & { statusCode?: number } {
  try {
    run();
  } catch (error) {
    return error as Error & { statusCode?: number };
  }
  throw new Error("expected an error");
}
