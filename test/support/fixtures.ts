import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { desiredPolicy, POLICY_NAME } from "../../src/wiring/policy";

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

/**
 * A registry's push of `tags` of one repository, delivered through an APIG trigger with the
 * instance id in the webhook URL: pull references on `host`, digests from `digest` (by default
 * the tag padded to 64 characters, so that each tag is its own push).
 */
export function tagsPush(
  tags: string[],
  options: {
    repository?: string;
    host?: string;
    instanceId?: string;
    digest?: (tag: string) => string | undefined;
  } = {},
) {
  const repository = options.repository ?? "team/app";
  const host = options.host ?? "registry.example.com";
  const digestOf = options.digest ?? ((tag: string) => `sha256:${tag.padStart(64, "0")}`);
  return apigEvent(
    harborPush(
      repository,
      tags.map((tag) => {
        const digest = digestOf(tag);
        return { tag, ...(digest ? { digest } : {}), resource_url: `${host}/${repository}:${tag}` };
      }),
    ),
    { query: { instance_id: options.instanceId ?? "inst-1" } },
  );
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

/**
 * A webhook policy with this product's name and mark that someone else wrote (anyone allowed to
 * manage a namespace's triggers can), sending to `address` with a header of their own.
 */
export function forgedPolicy(address: string, name = POLICY_NAME) {
  const body = desiredPolicy(
    { instanceId: "any", url: address, header: "authorization", secret: "their-own-header" },
    "0".repeat(24),
  );
  return { ...body, name, targets: [{ ...body.targets[0], address }] };
}
