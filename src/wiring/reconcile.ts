import { MemoryCallBudget } from "../hss/call-budget";
import { HssCallError } from "../hss/client";
import type { SwrWebhooks, WebhookPolicy } from "../swr/webhooks";
import {
  type Decision,
  decide,
  desiredPolicy,
  headerFingerprint,
  isManaged,
  POLICY_NAME,
  urlOfAddress,
} from "./policy";

/**
 * Wires one SWR Enterprise instance to the function: for every namespace that matches, makes sure
 * this product's webhook policy is there and as it should be (policy.ts decides), creates what is
 * missing, updates what differs, replaces a policy whose address changed (SWR does not let an
 * address change), and touches nothing else. `unwire` removes exactly this product's policies.
 * A failure in one namespace is reported for it and the others go on. Every SWR call first takes
 * a slot of the caller's budget; when none is left the run stops and says what it left.
 */

export type WireAction =
  | "created"
  | "updated"
  | "replaced"
  | "unchanged"
  | "skipped"
  | "removed"
  | "failed"
  | "postponed";

export interface WireRow {
  instance_id: string;
  namespace: string;
  action: WireAction;
  detail: string;
}

export interface WireRun {
  swr: SwrWebhooks;
  instanceId: string;
  /** Which namespaces to wire (SWR_WIRE_NAMESPACES, --namespaces). */
  matches: (namespace: string) => boolean;
  /** The function's trigger URL; when absent, the one this product's policies already use. */
  url?: string;
  /** Where else to find the URL when neither is there (the command: the deployment's info). */
  findUrl?: () => Promise<string | undefined>;
  header: string;
  secret?: string;
  dryRun: boolean;
  unwire: boolean;
  /** Takes a slot of the SWR call budget; false when none is left for this run. */
  slot: () => Promise<boolean>;
}

export class WireError extends Error {
  override readonly name = "WireError";
}

export interface WireResult {
  rows: WireRow[];
  /** False when the budget stopped the run before every namespace was seen to. */
  complete: boolean;
}

export async function wireInstance(run: WireRun): Promise<WireResult> {
  const { instanceId } = run;
  if (!(await run.slot())) return postponed(run, "SWR's call budget is spent for now");
  const { names } = await listed(
    () => run.swr.namespaces(instanceId),
    "ListInstanceNamespaces",
    run,
  );
  if (!(await run.slot())) return postponed(run, "SWR's call budget is spent for now");
  const { policies } = await listed(
    () => run.swr.policies(instanceId),
    "ListInstanceWebhooks",
    run,
  );
  const byNamespace = new Map<string, WebhookPolicy[]>();
  for (const policy of policies) {
    byNamespace.set(policy.namespace_name, [
      ...(byNamespace.get(policy.namespace_name) ?? []),
      policy,
    ]);
  }
  const rows: WireRow[] = [];
  const row = (namespace: string, action: WireAction, detail: string) =>
    rows.push({ instance_id: instanceId, namespace, action, detail });
  const act = run.unwire ? unwireNamespace : wireNamespace;
  const settings = run.unwire ? undefined : await settingsOf(run, policies);
  let complete = true;
  for (const namespace of names) {
    if (!run.matches(namespace)) continue;
    const held = byNamespace.get(namespace) ?? [];
    if (!complete) {
      row(namespace, "postponed", "SWR's call budget is spent for now: the next run sees to it");
      continue;
    }
    const outcome = await act(run, namespace, held, settings).catch(
      (error: unknown): [WireAction, string] =>
        throttled(error)
          ? ["postponed", `SWR throttled the call (${failureOf(error)}): the next run sees to it`]
          : ["failed", failureOf(error)],
    );
    if (outcome[0] === "postponed") complete = false;
    row(namespace, outcome[0], outcome[1]);
  }
  return { rows, complete };
}

/** Several instances in turn; one that cannot be listed is reported, and the others go on. */
export async function wireInstances(
  instanceIds: readonly string[],
  run: Omit<WireRun, "instanceId">,
): Promise<WireResult & { errors: string[] }> {
  const outcome = { rows: [] as WireRow[], errors: [] as string[], complete: true };
  for (const instanceId of instanceIds) {
    try {
      const result = await wireInstance({ ...run, instanceId });
      outcome.rows.push(...result.rows);
      outcome.complete &&= result.complete;
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      outcome.errors.push(error.message);
    }
  }
  return outcome;
}

/** A later run's rows in place of the earlier run's postponed ones (a run is idempotent). */
export function mergeRetried(earlier: WireRow[], later: WireRow[]): WireRow[] {
  const key = (row: WireRow) => `${row.instance_id}/${row.namespace}`;
  const retried = new Map(later.map((row) => [key(row), row]));
  return earlier.map((row) => (row.action === "postponed" ? (retried.get(key(row)) ?? row) : row));
}

/** The policy every namespace should hold, from the URL given or the one already in use. */
async function settingsOf(run: WireRun, policies: WebhookPolicy[]) {
  const url =
    run.url ??
    policies.filter(isManaged).map((p) => urlOfAddress(p.targets[0]?.address ?? ""))[0] ??
    (await run.findUrl?.());
  if (!url) {
    throw new WireError(
      `instance ${run.instanceId}: no trigger URL: give --url <the function's trigger URL> (npm run deploy and npm run sls -- info print it), or SWR_WIRE_URL`,
    );
  }
  if (!run.secret) {
    throw new WireError("no WEBHOOK_SECRET: the policies must send the function's webhook secret");
  }
  const target = { instanceId: run.instanceId, url, header: run.header, secret: run.secret };
  return desiredPolicy(target, headerFingerprint(target));
}

type Outcome = [WireAction, string];

async function wireNamespace(
  run: WireRun,
  namespace: string,
  held: WebhookPolicy[],
  desired: ReturnType<typeof desiredPolicy> | undefined,
): Promise<Outcome> {
  if (!desired) return ["failed", "no policy to wire"];
  const decision: Decision = decide(held, desired);
  const { instanceId, swr } = run;
  switch (decision.kind) {
    case "unchanged":
      return ["unchanged", "as it should be"];
    case "skip":
      return ["skipped", decision.reason];
    case "create":
      if (!run.dryRun && !(await run.slot())) return budgetSpent();
      if (!run.dryRun) await swr.create(instanceId, namespace, desired);
      return ["created", desired.targets[0]?.address ?? ""];
    case "update":
      if (!run.dryRun && !(await run.slot())) return budgetSpent();
      if (!run.dryRun) await swr.update(instanceId, namespace, decision.policy.id, desired);
      return ["updated", decision.changes.join(", ")];
    case "replace":
      // SWR does not let an address change: delete, then create.
      if (!run.dryRun && !(await run.slot())) return budgetSpent();
      if (!run.dryRun) await swr.remove(instanceId, namespace, decision.policy.id);
      if (!run.dryRun && !(await run.slot())) return budgetSpent();
      if (!run.dryRun) await swr.create(instanceId, namespace, desired);
      return [
        "replaced",
        `deleted and created again (SWR cannot change an address): ${decision.changes.join(", ")}`,
      ];
  }
}

async function unwireNamespace(
  run: WireRun,
  namespace: string,
  held: WebhookPolicy[],
): Promise<Outcome> {
  const ours = held.filter(isManaged);
  const foreign = held.filter((p) => p.name === POLICY_NAME && !isManaged(p));
  if (ours.length === 0) {
    return foreign.length > 0
      ? [
          "skipped",
          `the policy named ${POLICY_NAME} there was not created by this product: left alone`,
        ]
      : ["unchanged", "no policy of this product"];
  }
  for (const policy of ours) {
    if (run.dryRun) continue;
    if (!(await run.slot())) return budgetSpent();
    await run.swr.remove(run.instanceId, namespace, policy.id);
  }
  return ["removed", `policy ${ours.map((p) => p.id).join(", ")}`];
}

const budgetSpent = (): Outcome => [
  "postponed",
  "SWR's call budget is spent for now: the next run sees to it",
];

function postponed(run: WireRun, detail: string): WireResult {
  return {
    rows: [{ instance_id: run.instanceId, namespace: "*", action: "postponed", detail }],
    complete: false,
  };
}

async function listed<T>(list: () => Promise<T>, api: string, run: WireRun): Promise<T> {
  try {
    return await list();
  } catch (error) {
    throw new WireError(`instance ${run.instanceId}: ${api} failed: ${failureOf(error)}`);
  }
}

/** The API gateway's rate limit (429, APIGW.0308): the call may go through a window later. */
const throttled = (error: unknown) =>
  error instanceof HssCallError && (error.httpStatus === 429 || error.errorCode === "APIGW.0308");

/** SWR's answer in a line: status, code, message, request id. */
export function failureOf(error: unknown): string {
  if (error instanceof HssCallError) {
    const status = error.httpStatus === undefined ? "no answer" : `HTTP ${error.httpStatus}`;
    const id = error.requestId ? ` (request id ${error.requestId})` : "";
    return `${status} ${error.errorCode}: ${error.message}${id}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The rows as the table `npm run wire` and the deploy print, and a line of counts. */
export function wireTable(rows: WireRow[], dryRun: boolean): string[] {
  const acted = ["created", "updated", "replaced", "removed"];
  const table = [
    ["INSTANCE", "NAMESPACE", "ACTION", "DETAIL"],
    ...rows.map((row) => [
      row.instance_id,
      row.namespace,
      dryRun && acted.includes(row.action) ? `would be ${row.action}` : row.action,
      row.detail,
    ]),
  ];
  const widths = [0, 1, 2].map((col) => Math.max(...table.map((line) => (line[col] ?? "").length)));
  const lines = table.map((line) =>
    line
      .map((cell, col) => (col < 3 ? cell.padEnd(widths[col] ?? 0) : cell))
      .join("  ")
      .trimEnd(),
  );
  const counts = new Map<string, number>();
  for (const row of rows) {
    const action = dryRun && acted.includes(row.action) ? `would be ${row.action}` : row.action;
    counts.set(action, (counts.get(action) ?? 0) + 1);
  }
  const summary =
    [...counts].map(([action, n]) => `${n} ${action}`).join(", ") || "no namespace matched";
  return [...lines, `${summary}${dryRun ? " (dry run: nothing was changed)" : ""}`];
}

/** A slot that waits for the budget (the commands): every call is made, never faster than this. */
export function pacedSlot(callsPerMinute: number, windowMs = 60_000): () => Promise<boolean> {
  const budget = new MemoryCallBudget(callsPerMinute, windowMs);
  return async () => {
    for (;;) {
      const taken = await budget.take("swr-webhooks");
      if (taken.granted) return true;
      await new Promise((resolve) => setTimeout(resolve, taken.retryAfterMs + 10));
    }
  };
}
