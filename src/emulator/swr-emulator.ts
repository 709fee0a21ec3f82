import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { EMULATOR_KEY } from "./hss-emulator";
import { flattenHeaders, parseJson, readBody, serveOnLoopback } from "./http";
import { type SigningKey, verifySignature } from "./signature";

/**
 * A loopback stand-in for SWR Enterprise Edition's namespace and webhook-policy ("trigger") API,
 * answering as Huawei's SDK models shape it (huaweicloud-sdk-go-v3 services/swr/v2: Namespace,
 * ListInstanceNamespacesResponse, WebhookPolicyDetail, ListInstanceWebhooksResponse,
 * CreateWebhookPolicyRequestBody / UpdateWebhookPolicyRequestBody, Target, ScopeRule,
 * RuleSelector) and refusing what the models and SWR's rules put out of range:
 *
 *   GET    /v2/{project_id}/instances/{instance_id}/namespaces             offset, limit ≤ 100
 *   GET    /v2/{project_id}/instances/{instance_id}/webhook/policies       namespace_id, name, offset, limit ≤ 100
 *   POST   /v2/{project_id}/instances/{instance_id}/namespaces/{namespace_name}/webhook/policies
 *   PUT    …/webhook/policies/{policy_id}          (the address cannot be changed)
 *   DELETE …/webhook/policies/{policy_id}
 *
 * Validation: name 1–256 characters of letters, digits, `_`, `-` (and CJK characters), unique in
 * its namespace; exactly one target of type `http` with an `address_type` of `internet` or
 * `internal` (a private IP) and an `auth_header` of `key:value[;key:value]`; exactly one scope
 * rule with one tag selector (`matches`/`excludes`) and one `repository` selector
 * (`repoMatches`/`repoExcludes`) of kind `doublestar`, as the provider's documented trigger
 * resource writes them; a target's address, type and address type fixed at creation; event types only
 * `PUSH_ARTIFACT`; `offset` a multiple of `limit`. Errors are `{"error_code", "error_msg"}` with
 * SWR-style codes. Every request must be signed (AK/SK), as the gateway requires.
 */

export interface SwrNamespace {
  name: string;
  namespace_id: number;
}

export interface SwrPolicy {
  id: number;
  name: string;
  description?: string;
  targets: Array<Record<string, unknown>>;
  scope_rules: Array<Record<string, unknown>>;
  event_types: string[];
  enabled: boolean;
  namespace_id: number;
  namespace_name: string;
  creator: string;
  created_at: string;
  updated_at: string;
}

export interface SwrRequestRecord {
  method: string;
  path: string;
  status: number;
}

/** A target SWR accepted into a policy: where that namespace's pushes, and its header, would go. */
export interface SwrTargetWritten {
  namespace: string;
  policy_id: number;
  address: string;
  auth_header?: string;
}

export interface SwrEmulator {
  url: string;
  projectId: string;
  /** Adds a namespace to an instance (the instance exists once it has one). */
  addNamespace(instanceId: string, name: string): SwrNamespace;
  /** Adds a policy as someone else would (the console, another tool). */
  addPolicy(instanceId: string, namespace: string, body: Record<string, unknown>): SwrPolicy;
  policies(instanceId: string): SwrPolicy[];
  /** Answers the calls that touch this namespace's policies with this error (`times` of them). */
  failNamespace(
    namespace: string,
    status: number,
    code: string,
    message: string,
    times?: number,
  ): void;
  /**
   * Answers the calls that touch this namespace's policies with this status and raw body, doing
   * nothing (a proxy's page, another service behind the address): `times` of them.
   */
  answerNamespace(namespace: string, status: number, body: string, times?: number): void;
  readonly received: SwrRequestRecord[];
  /** Every target a policy was created or updated with, in order: who was given which header. */
  readonly targetsWritten: SwrTargetWritten[];
  close(): Promise<void>;
}

const PROJECT_ID = "0b1c2d3e4f5a4b6c8d9e0f1a2b3c4d5e";
const NAME = /^[\p{Script=Han}A-Za-z0-9_-]{1,256}$/u;
const PRIVATE_IP = /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/;

class SwrError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (message: string) => new SwrError(400, "SVCSTG.SWR.4000001", message);

export async function startSwrEmulator(
  options: { keys?: readonly SigningKey[]; port?: number; projectId?: string } = {},
): Promise<SwrEmulator> {
  const keys = options.keys ?? [EMULATOR_KEY];
  const projectId = options.projectId ?? PROJECT_ID;
  const instances = new Map<string, { namespaces: SwrNamespace[]; policies: SwrPolicy[] }>();
  const failures = new Map<string, { error: SwrError; left: number }>();
  const played = new Map<string, { status: number; body: string; left: number }>();
  const received: SwrRequestRecord[] = [];
  const targetsWritten: SwrTargetWritten[] = [];
  const written = (policy: SwrPolicy) => {
    const target = policy.targets[0] ?? {};
    targetsWritten.push({
      namespace: policy.namespace_name,
      policy_id: policy.id,
      address: String(target.address),
      ...(typeof target.auth_header === "string" ? { auth_header: target.auth_header } : {}),
    });
  };
  let nextId = 1;

  const instance = (id: string) => {
    const found = instances.get(id);
    if (!found) throw new SwrError(404, "SVCSTG.SWR.4040001", `instance ${id} not found`);
    return found;
  };
  const namespaceOf = (instanceId: string, name: string) => {
    const found = instance(instanceId).namespaces.find((ns) => ns.name === name);
    if (!found) throw new SwrError(404, "SVCSTG.SWR.4040002", `namespace ${name} not found`);
    return found;
  };
  const now = () => new Date().toISOString();

  const createPolicy = (instanceId: string, namespace: string, raw: unknown): SwrPolicy => {
    const ns = namespaceOf(instanceId, namespace);
    const body = checkPolicyBody(raw, true);
    const policies = instance(instanceId).policies;
    if (policies.some((p) => p.namespace_id === ns.namespace_id && p.name === body.name)) {
      throw new SwrError(409, "SVCSTG.SWR.4090001", `a policy named ${body.name} already exists`);
    }
    const policy: SwrPolicy = {
      ...body,
      id: nextId++,
      namespace_id: ns.namespace_id,
      namespace_name: ns.name,
      creator: "emulated-user",
      created_at: now(),
      updated_at: now(),
    };
    policies.push(policy);
    written(policy);
    return policy;
  };

  const route = async (method: string, url: URL, body: unknown): Promise<[number, unknown]> => {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    // v2 {project} instances {instance} …
    if (parts[0] !== "v2" || parts[2] !== "instances" || !parts[3]) {
      throw new SwrError(404, "APIGW.0101", "The API does not exist or has not been published");
    }
    if (parts[1] !== projectId) throw new SwrError(403, "SVCSTG.SWR.4030001", "project mismatch");
    const instanceId = parts[3];
    const rest = parts.slice(4);
    if (method === "GET" && rest.join("/") === "namespaces") {
      const { offset, limit } = paging(url);
      const all = instance(instanceId).namespaces;
      return [
        200,
        { namespaces: all.slice(offset, offset + limit).map(namespaceAnswer), total: all.length },
      ];
    }
    if (method === "GET" && rest.join("/") === "webhook/policies") {
      const { offset, limit } = paging(url);
      const namespaceId = url.searchParams.get("namespace_id");
      const name = url.searchParams.get("name");
      const all = instance(instanceId).policies.filter(
        (p) =>
          (namespaceId === null || String(p.namespace_id) === namespaceId) &&
          (name === null || p.name.includes(name)),
      );
      return [200, { policies: all.slice(offset, offset + limit), total: all.length }];
    }
    if (rest[0] !== "namespaces" || !rest[1] || rest[2] !== "webhook" || rest[3] !== "policies") {
      throw new SwrError(404, "APIGW.0101", "The API does not exist or has not been published");
    }
    const namespace = rest[1];
    const failure = failures.get(namespace);
    if (failure && failure.left > 0) {
      failure.left -= 1;
      throw failure.error;
    }
    if (rest.length === 4 && method === "POST") {
      return [201, { id: createPolicy(instanceId, namespace, body).id }];
    }
    const ns = namespaceOf(instanceId, namespace);
    const policies = instance(instanceId).policies;
    const index = policies.findIndex(
      (p) => String(p.id) === rest[4] && p.namespace_id === ns.namespace_id,
    );
    if (rest.length !== 5 || index < 0) {
      throw new SwrError(404, "SVCSTG.SWR.4040003", `policy ${rest[4]} not found`);
    }
    const existing = policies[index] as SwrPolicy;
    if (method === "DELETE") {
      policies.splice(index, 1);
      return [200, undefined];
    }
    if (method === "PUT") {
      const update = checkPolicyBody(body, false);
      // A target's address, type and address type are set at creation only.
      for (const field of ["address", "type", "address_type"]) {
        if (update.targets[0]?.[field] !== existing.targets[0]?.[field]) {
          throw invalid(
            `targets.${field} cannot be changed: delete the policy and create it again`,
          );
        }
      }
      if (
        policies.some(
          (p) => p !== existing && p.namespace_id === ns.namespace_id && p.name === update.name,
        )
      ) {
        throw new SwrError(
          409,
          "SVCSTG.SWR.4090001",
          `a policy named ${update.name} already exists`,
        );
      }
      const updated = {
        ...existing,
        ...update,
        event_types: update.event_types.length > 0 ? update.event_types : existing.event_types,
        updated_at: now(),
      };
      policies[index] = updated;
      written(updated);
      return [200, undefined];
    }
    throw new SwrError(405, "SVCSTG.SWR.4050001", `${method} is not allowed here`);
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const { body } = await readBody(req, 1024 * 1024);
    const headers = flattenHeaders(req);
    const answer = (status: number, payload: unknown, raw?: string) => {
      received.push({ method, path: url.pathname, status });
      res.writeHead(status, { "content-type": "application/json", "x-request-id": randomUUID() });
      res.end(raw ?? (payload === undefined ? "" : JSON.stringify(payload)));
    };
    const verification = verifySignature({ method, url: req.url ?? "/", headers, body }, keys);
    if (!verification.valid) {
      answer(401, {
        error_code: "APIGW.0301",
        error_msg: `Incorrect IAM authentication information: ${verification.reason}`,
      });
      return;
    }
    const namespace = /\/namespaces\/([^/]+)\/webhook\//.exec(url.pathname)?.[1];
    const play = namespace ? played.get(decodeURIComponent(namespace)) : undefined;
    if (play && play.left > 0) {
      play.left -= 1;
      answer(play.status, undefined, play.body);
      return;
    }
    try {
      const [status, payload] = await route(method, url, parseJson(body));
      answer(status, payload);
    } catch (error) {
      const failure =
        error instanceof SwrError ? error : new SwrError(500, "SVCSTG.SWR.5000001", String(error));
      answer(failure.status, { error_code: failure.code, error_msg: failure.message });
    }
  });
  const served = await serveOnLoopback(server, options.port);
  return {
    url: served.url,
    projectId,
    received,
    addNamespace(instanceId, name) {
      const entry = instances.get(instanceId) ?? { namespaces: [], policies: [] };
      instances.set(instanceId, entry);
      const ns = { name, namespace_id: nextId++ };
      entry.namespaces.push(ns);
      return ns;
    },
    addPolicy: (instanceId, namespace, body) => createPolicy(instanceId, namespace, body),
    policies: (instanceId) => structuredClone(instance(instanceId).policies),
    failNamespace(namespace, status, code, message, times = Number.POSITIVE_INFINITY) {
      failures.set(namespace, { error: new SwrError(status, code, message), left: times });
    },
    answerNamespace(namespace, status, body, times = Number.POSITIVE_INFINITY) {
      played.set(namespace, { status, body, left: times });
    },
    targetsWritten,
    close: served.close,
  };
}

function paging(url: URL): { offset: number; limit: number } {
  const limit = Number(url.searchParams.get("limit") ?? 10);
  const offset = Number(url.searchParams.get("offset") ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid("limit must be 1–100");
  if (!Number.isInteger(offset) || offset < 0 || offset % limit !== 0) {
    throw invalid("offset must be 0 or a multiple of limit");
  }
  return { offset, limit };
}

function namespaceAnswer(ns: SwrNamespace) {
  return {
    name: ns.name,
    namespace_id: ns.namespace_id,
    metadata: { public: "false" },
    created_at: "2026-11-01T00:00:00Z",
    updated_at: "2026-11-01T00:00:00Z",
    repo_count: 1,
  };
}

/** CreateWebhookPolicyRequestBody / UpdateWebhookPolicyRequestBody, checked as SWR does. */
function checkPolicyBody(raw: unknown, create: boolean) {
  if (typeof raw !== "object" || raw === null) throw invalid("the body must be a JSON object");
  const body = raw as Record<string, unknown>;
  const known = ["name", "description", "targets", "scope_rules", "event_types", "enabled"];
  for (const field of Object.keys(body)) {
    if (!known.includes(field)) throw invalid(`unknown field ${field}`);
  }
  if (typeof body.name !== "string" || !NAME.test(body.name)) {
    throw invalid("name: 1–256 letters, digits, underscores or hyphens");
  }
  if (body.description !== undefined && typeof body.description !== "string") {
    throw invalid("description must be a string");
  }
  if (typeof body.enabled !== "boolean") throw invalid("enabled is required (true or false)");
  const events = body.event_types;
  if (create || events !== undefined) {
    if (
      !Array.isArray(events) ||
      events.length === 0 ||
      events.some((e) => e !== "PUSH_ARTIFACT")
    ) {
      throw invalid("event_types: only PUSH_ARTIFACT is supported");
    }
  }
  return {
    name: body.name,
    ...(body.description !== undefined ? { description: body.description as string } : {}),
    targets: checkTargets(body.targets),
    scope_rules: checkScopeRules(body.scope_rules),
    event_types: (events as string[] | undefined) ?? [],
    enabled: body.enabled,
  };
}

function checkTargets(raw: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(raw) || raw.length !== 1) throw invalid("targets: exactly one target");
  const target = raw[0] as Record<string, unknown>;
  if (target.type !== "http") throw invalid("targets.type: only http");
  if (typeof target.address !== "string" || !/^https?:\/\/\S+$/.test(target.address)) {
    throw invalid("targets.address: an http(s) URL");
  }
  if (target.address_type !== "internet" && target.address_type !== "internal") {
    throw invalid("targets.address_type: internet or internal");
  }
  if (target.address_type === "internal" && !PRIVATE_IP.test(new URL(target.address).hostname)) {
    throw invalid("targets.address_type internal needs a private IP address");
  }
  if (target.auth_header !== undefined) {
    const header = target.auth_header;
    if (typeof header !== "string" || !/^[^:;]+:[^;]+(;[^:;]+:[^;]+)*$/.test(header)) {
      throw invalid("targets.auth_header: key1:value1;key2:value2");
    }
  }
  if (target.skip_cert_verify !== undefined && typeof target.skip_cert_verify !== "boolean") {
    throw invalid("targets.skip_cert_verify must be a boolean");
  }
  return [{ ...target }];
}

function checkScopeRules(raw: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(raw) || raw.length !== 1) throw invalid("scope_rules: exactly one rule");
  const rule = raw[0] as Record<string, unknown>;
  const tags = rule.tag_selectors;
  if (!Array.isArray(tags) || tags.length !== 1)
    throw invalid("tag_selectors: exactly one selector");
  const scope = rule.scope_selectors as Record<string, unknown> | undefined;
  const keys = Object.keys(scope ?? {});
  const repositories = scope?.repository;
  if (keys.length !== 1 || !Array.isArray(repositories) || repositories.length !== 1) {
    throw invalid("scope_selectors: exactly one repository selector");
  }
  const selectors: Array<[Record<string, unknown>, string[]]> = [
    [tags[0], ["matches", "excludes"]],
    [repositories[0], ["repoMatches", "repoExcludes"]],
  ];
  for (const [selector, decorations] of selectors) {
    if (selector.kind !== "doublestar") throw invalid("selector kind: only doublestar");
    if (!decorations.includes(selector.decoration as string)) {
      throw invalid(`selector decoration: ${decorations.join(" or ")}`);
    }
    if (
      typeof selector.pattern !== "string" ||
      selector.pattern.length === 0 ||
      selector.pattern.length > 512
    ) {
      throw invalid("selector pattern: 1–512 characters");
    }
  }
  if (rule.repo_scope_mode !== "regular" && rule.repo_scope_mode !== "selection") {
    throw invalid("repo_scope_mode: regular or selection");
  }
  return [{ ...rule }];
}
