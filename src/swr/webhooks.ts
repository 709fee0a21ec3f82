import type { HssCaller, HssRequest } from "../hss/request";

/**
 * SWR Enterprise Edition's namespaces and webhook policies ("triggers"), as Huawei's SDK models
 * describe them (huaweicloud-sdk-go-v3 services/swr/v2: ListInstanceNamespaces,
 * ListInstanceWebhooks, Create/Update/DeleteInstanceWebhook). The calls are signed and sent by the
 * same client as HSS's (src/hss/client.ts knows no API), pointed at SWR's endpoint.
 *
 * Every answer field is optional in the models: a namespace without a name, or a policy without
 * an id or namespace, cannot be acted on and is left out (and counted by the caller).
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

/** ListInstanceNamespaces and ListInstanceWebhooks take at most 100 a page. */
const PAGE = 100;
/** Pages read at most of one list: 100,000 namespaces or policies. */
const MAX_PAGES = 1000;

export type SwrWebhooks = ReturnType<typeof swrWebhooks>;

export function swrWebhooks(caller: HssCaller, timeoutMs: number) {
  const call = (request: HssRequest) => caller.call(request, { timeoutMs });
  const instancePath = "/v2/{project_id}/instances/{instance_id}";
  const policyPath = `${instancePath}/namespaces/{namespace_name}/webhook/policies`;

  const readAll = <T>(pathTemplate: string, instanceId: string, field: string) =>
    readPages<T>(call, pathTemplate, instanceId, field);

  return {
    /** The instance's namespaces by name; `unnamed` counts those the answer does not name. */
    async namespaces(instanceId: string): Promise<{ names: string[]; unnamed: number }> {
      const all = await readAll<{ name?: unknown }>(
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
      const id = (answer.body as { id?: unknown } | undefined)?.id;
      return { id: typeof id === "number" ? id : undefined, requestId: answer.requestId };
    },

    async update(instanceId: string, namespace: string, id: number, body: WebhookPolicyBody) {
      await call({
        method: "PUT",
        pathTemplate: `${policyPath}/{policy_id}`,
        pathParams: { instance_id: instanceId, namespace_name: namespace, policy_id: String(id) },
        query: {},
        body,
      });
    },

    async remove(instanceId: string, namespace: string, id: number) {
      await call({
        method: "DELETE",
        pathTemplate: `${policyPath}/{policy_id}`,
        pathParams: { instance_id: instanceId, namespace_name: namespace, policy_id: String(id) },
        query: {},
      });
    },
  };
}

/** Every page of a list, read until `total` or a short page. */
async function readPages<T>(
  call: (request: HssRequest) => Promise<{ body: unknown }>,
  pathTemplate: string,
  instanceId: string,
  field: string,
): Promise<T[]> {
  const items: T[] = [];
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await call({
      method: "GET",
      pathTemplate,
      pathParams: { instance_id: instanceId },
      query: { offset: String(page * PAGE), limit: String(PAGE) },
    });
    const body = (answer.body ?? {}) as Record<string, unknown>;
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
