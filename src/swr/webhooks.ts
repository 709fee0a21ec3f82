import * as z from "zod/mini";
import type { SignedAnswer, SignedCaller, SignedRequest } from "../cloud/request";
import { bodySummary, SignedCallError } from "../cloud/signed-client";
import { configureZod } from "../zod-setup";

// This module builds its schemas as it loads (it loads only where its calls are made).
configureZod();

/**
 * SWR Enterprise Edition's namespaces and webhook policies ("triggers"), as Huawei's SDK models
 * describe them (huaweicloud-sdk-go-v3 services/swr/v2: ListInstanceNamespaces,
 * ListInstanceWebhooks, Create/Update/DeleteInstanceWebhook). The calls are signed and sent by the
 * same signed-call client as HSS's (src/cloud/signed-client.ts knows no API), pointed at SWR's endpoint.
 *
 * Every answer field is optional in the models: a namespace without a name, or a policy without
 * an id or namespace, cannot be acted on and is left out (and counted by the caller). An answer
 * that is not the model's shape at all (not JSON, not an object, a list that is not an array: a
 * proxy's page, another service) is a failure, never taken for success.
 */

/** Target: one address SWR posts each event to. */
export interface WebhookTarget {
  type: "http";
  address: string;
  auth_header?: string;
  skip_cert_verify?: boolean;
  address_type: "internet" | "internal";
}

/** RuleSelector: Harbor's doublestar selector. */
export interface RuleSelector {
  kind: "doublestar";
  decoration: string;
  pattern: string;
}

/** ScopeRule: one tag selector and one repository selector. */
export interface ScopeRule {
  tag_selectors: RuleSelector[];
  scope_selectors: { repository: RuleSelector[] };
  repo_scope_mode: "regular";
}

/** CreateWebhookPolicyRequestBody (UpdateWebhookPolicyRequestBody has the same fields). */
export interface WebhookPolicyBody {
  name: string;
  description?: string;
  targets: WebhookTarget[];
  scope_rules: ScopeRule[];
  event_types: string[];
  enabled: boolean;
}

/** WebhookPolicyDetail, with the fields this project acts on known to be there. */
export interface WebhookPolicy {
  id: number;
  name: string;
  namespace_name: string;
  description?: string;
  targets: Array<Partial<WebhookTarget>>;
  scope_rules: Array<Partial<ScopeRule>>;
  event_types: string[];
  enabled?: boolean;
}

/** The response models: every field optional, but an object, with fields of their types. */
const listAnswer = (field: string) =>
  z.object({ [field]: z.optional(z.array(z.unknown())), total: z.optional(z.int()) });
const ANSWERS = {
  ListInstanceNamespaces: listAnswer("namespaces"),
  ListInstanceWebhooks: listAnswer("policies"),
  CreateInstanceWebhook: z.object({ id: z.optional(z.int()) }),
  // UpdateInstanceWebhookResponse and DeleteInstanceWebhookResponse have no fields.
  UpdateInstanceWebhook: z.optional(z.object({})),
  DeleteInstanceWebhook: z.optional(z.object({})),
};
type SwrApi = keyof typeof ANSWERS;

/** The answer's body when it is the model's shape; otherwise a failure that says what came. */
function modelled<A extends SwrApi>(api: A, answer: SignedAnswer): z.output<(typeof ANSWERS)[A]> {
  // The client leaves a body that is not JSON out of `body`: its text tells.
  const notJson = answer.body === undefined && (answer.text ?? "").trim() !== "";
  const parsed = z.safeParse(ANSWERS[api], answer.body);
  if (parsed.success && !notJson) return parsed.data as z.output<(typeof ANSWERS)[A]>;
  throw new SignedCallError(
    `SWR answered ${api} with HTTP ${answer.status ?? "2xx"} but not with its ${api}Response (${bodySummary(answer.text ?? "")}): nothing is known to have changed`,
    answer.status,
    "BAD_ANSWER",
    answer.requestId,
  );
}

/** ListInstanceNamespaces and ListInstanceWebhooks take at most 100 a page. */
const PAGE = 100;
/** Pages read at most of one list: 100,000 namespaces or policies. */
const MAX_PAGES = 1000;

export type SwrWebhooks = ReturnType<typeof swrWebhooks>;

export function swrWebhooks(caller: SignedCaller, timeoutMs: number) {
  const call = (request: SignedRequest) => caller.call(request, { timeoutMs });
  const instancePath = "/v2/{project_id}/instances/{instance_id}";
  const policyPath = `${instancePath}/namespaces/{namespace_name}/webhook/policies`;

  const readAll = <T>(
    api: "ListInstanceNamespaces" | "ListInstanceWebhooks",
    pathTemplate: string,
    instanceId: string,
    field: string,
  ) =>
    readPages<T>(
      (request) => call(request).then((a) => modelled(api, a)),
      pathTemplate,
      instanceId,
      field,
    );

  return {
    /** The instance's namespaces by name; `unnamed` counts those the answer does not name. */
    async namespaces(instanceId: string): Promise<{ names: string[]; unnamed: number }> {
      const all = await readAll<{ name?: unknown }>(
        "ListInstanceNamespaces",
        `${instancePath}/namespaces`,
        instanceId,
        "namespaces",
      );
      const names = all.flatMap((ns) => (typeof ns.name === "string" && ns.name ? [ns.name] : []));
      return { names, unnamed: all.length - names.length };
    },

    /** Every webhook policy of the instance (one list for all namespaces). */
    async policies(instanceId: string): Promise<{ policies: WebhookPolicy[]; unnamed: number }> {
      const all = await readAll<Record<string, unknown>>(
        "ListInstanceWebhooks",
        `${instancePath}/webhook/policies`,
        instanceId,
        "policies",
      );
      const policies = all.flatMap((raw) => {
        const policy = policyOf(raw);
        return policy ? [policy] : [];
      });
      return { policies, unnamed: all.length - policies.length };
    },

    async create(instanceId: string, namespace: string, body: WebhookPolicyBody) {
      const answer = await call({
        method: "POST",
        pathTemplate: policyPath,
        pathParams: { instance_id: instanceId, namespace_name: namespace },
        query: {},
        body,
      });
      const { id } = modelled("CreateInstanceWebhook", answer);
      return { id, requestId: answer.requestId };
    },

    async update(instanceId: string, namespace: string, id: number, body: WebhookPolicyBody) {
      const answer = await call({
        method: "PUT",
        pathTemplate: `${policyPath}/{policy_id}`,
        pathParams: { instance_id: instanceId, namespace_name: namespace, policy_id: String(id) },
        query: {},
        body,
      });
      modelled("UpdateInstanceWebhook", answer);
    },

    async remove(instanceId: string, namespace: string, id: number) {
      const answer = await call({
        method: "DELETE",
        pathTemplate: `${policyPath}/{policy_id}`,
        pathParams: { instance_id: instanceId, namespace_name: namespace, policy_id: String(id) },
        query: {},
      });
      modelled("DeleteInstanceWebhook", answer);
    },
  };
}

/** Every page of a list, read until `total` or a short page. */
async function readPages<T>(
  call: (request: SignedRequest) => Promise<Record<string, unknown>>,
  pathTemplate: string,
  instanceId: string,
  field: string,
): Promise<T[]> {
  const items: T[] = [];
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const body = await call({
      method: "GET",
      pathTemplate,
      pathParams: { instance_id: instanceId },
      query: { offset: String(page * PAGE), limit: String(PAGE) },
    });
    const found = Array.isArray(body[field]) ? (body[field] as T[]) : [];
    items.push(...found);
    const total = typeof body.total === "number" ? body.total : undefined;
    if (found.length < PAGE || (total !== undefined && items.length >= total)) break;
  }
  return items;
}

function policyOf(raw: Record<string, unknown>): WebhookPolicy | undefined {
  const { id, name, namespace_name: namespace } = raw;
  if (typeof id !== "number" || typeof name !== "string" || typeof namespace !== "string") {
    return undefined;
  }
  const list = <T>(value: unknown) => (Array.isArray(value) ? (value as T[]) : []);
  return {
    id,
    name,
    namespace_name: namespace,
    ...(typeof raw.description === "string" ? { description: raw.description } : {}),
    targets: list<Partial<WebhookTarget>>(raw.targets),
    scope_rules: list<Partial<ScopeRule>>(raw.scope_rules),
    event_types: list<string>(raw.event_types),
    ...(typeof raw.enabled === "boolean" ? { enabled: raw.enabled } : {}),
  };
}
