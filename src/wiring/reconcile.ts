import { SignedCallError } from "../cloud/signed-client";
import { ScanOnPushError } from "../errors";
import { MemoryCallBudget } from "../hss/call-budget";
import type { SwrWebhooks, WebhookPolicy, WebhookPolicyBody } from "../swr/webhooks";
import {
  addressFor,
  decide,
  desiredPolicy,
  headerFingerprint,
  isManaged,
  POLICY_NAMES,
  shownAddress,
} from "./policy";

/**
 * Wires one SWR Enterprise instance to the function: for every namespace that matches, makes sure
 * this product's webhook policy is there and as it should be (policy.ts decides), creates what is
 * missing, updates what differs, replaces a policy whose address changed (SWR does not let an
 * address change), and touches nothing else. `unwire` removes exactly this product's policies.
 * A failure in one namespace is reported for it and the others go on. Every SWR call first takes
 * a slot of the caller's budget; when none is left the run stops and says what it left.
 *
 * The address every policy sends to (with the webhook secret) is this run's own: `--url`,
 * SWR_WIRE_URL, or the deployment's. Never one read from a policy: a policy's name and
 * description are free text anyone allowed to manage one namespace's triggers can write. A policy
 * that claims to be this product's and sends elsewhere is reported (`elsewhere`) and corrected.
 * A replacement is created before the old policy is deleted, so that a failed create leaves the
 * namespace wired as it was.
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
  /**
   * Policies there that carry this product's name and mark but send somewhere else than this
   * run's address (scheme, host and path shown; never the query or the header).
   */
  elsewhere?: Array<{ policy_id: number; address: string }>;
}

export interface WireRun {
  swr: SwrWebhooks;
  instanceId: string;
  /** Which namespaces to wire (SWR_WIRE_NAMESPACES, --namespaces). */
  matches: (namespace: string) => boolean;
  /** The function's trigger URL (--url, SWR_WIRE_URL, the deployment's); unwiring needs none. */
  url?: string;
  header: string;
  secret?: string;
  dryRun: boolean;
  unwire: boolean;
  /** Takes a slot of the SWR call budget; false when none is left for this run. */
  slot: () => Promise<boolean>;
}

/** SWR refused or could not be asked; the message names the call and what it answered. */
export class WireError extends ScanOnPushError {
  override readonly name = "WireError";
}

export interface WireResult {
  rows: WireRow[];
  /** False when the budget stopped the run before every namespace was seen to. */
  complete: boolean;
}

export async function wireInstance(run: WireRun): Promise<WireResult> {
  const { instanceId } = run;
  // Checked before any call: without its own address the run changes nothing.
  const settings = run.unwire ? undefined : settingsOf(run);
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
  const act = run.unwire ? unwireNamespace : wireNamespace;
  let complete = true;
  for (const namespace of names) {
    if (!run.matches(namespace)) continue;
    const held = byNamespace.get(namespace) ?? [];
    const row = { instance_id: instanceId, namespace };
    if (!complete) {
      rows.push({ ...row, action: "postponed", detail: BUDGET_SPENT });
      continue;
    }
    const outcome = await act(run, namespace, held, settings).catch(
      (error: unknown): Outcome =>
        throttled(error)
          ? ["postponed", `SWR throttled the call (${failureOf(error)}): the next run sees to it`]
          : ["failed", failureOf(error)],
    );
    if (outcome[0] === "postponed") complete = false;
    rows.push({ ...row, action: outcome[0], detail: outcome[1], ...outcome[2] });
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

/** The policy every namespace should hold, sending to this run's own address. */
function settingsOf(run: WireRun): Desired {
  const { url } = run;
  if (!url) {
    throw new WireError(
      `instance ${run.instanceId}: no trigger URL: give --url <the function's trigger URL> (npm run deploy and npm run sls -- info print it), or SWR_WIRE_URL; the wiring never takes an address from a policy, which anyone allowed to manage one namespace's triggers could have written`,
    );
  }
  // A dry run can be tried without the secret: it shows where the policies would send, masked.
  if (!run.secret && !run.dryRun) {
    throw new WireError("no WEBHOOK_SECRET: the policies must send the function's webhook secret");
  }
  const target = {
    instanceId: run.instanceId,
    url,
    header: run.header,
    secret: run.secret ?? "(WEBHOOK_SECRET)",
  };
  return {
    body: desiredPolicy(target, headerFingerprint(target)),
    sends: `${addressFor(url, run.instanceId)} (${run.header}: ****)`,
    checkHeader: run.secret !== undefined,
  };
}

interface Desired {
  body: WebhookPolicyBody;
  /** Where and how the policy sends, as a row shows it: the secret masked. */
  sends: string;
  /** False in a dry run without the secret: whether the header is current is not known. */
  checkHeader: boolean;
}

type Outcome = [WireAction, string, Pick<WireRow, "elsewhere">?];

async function wireNamespace(
  run: WireRun,
  namespace: string,
  held: WebhookPolicy[],
  desired: Desired | undefined,
): Promise<Outcome> {
  if (!desired) return ["failed", "no policy to wire"];
  const decision = decide(held, desired.body, { checkHeader: desired.checkHeader });
  if (decision.kind === "skip") return ["skipped", decision.reason];
  const elsewhere =
    decision.elsewhere.length > 0
      ? {
          elsewhere: decision.elsewhere.map((policy) => ({
            policy_id: policy.id,
            address: shownAddress(policy.targets[0]?.address),
          })),
        }
      : {};
  const steps = new Steps(run, namespace);
  const outcome = await carryOut(decision, desired, steps);
  return [outcome[0], outcome[1], elsewhere];
}

/** Carries a namespace's decision out: create first, then update, then delete. */
async function carryOut(
  decision: Extract<ReturnType<typeof decide>, { kind: "act" }>,
  desired: Desired,
  steps: Steps,
): Promise<[WireAction, string]> {
  const { create, keep, remove } = decision;
  const gone = remove.map(
    (policy) => `policy ${policy.id} (to ${shownAddress(policy.targets[0]?.address)})`,
  );
  if (create !== undefined) {
    const created = await steps.create({ ...desired.body, name: create });
    if (created.failed) {
      const kept = gone.length > 0 ? `; ${gone.join(", ")} left as it was` : "";
      return [created.failed[0], `${created.failed[1]}${kept}`];
    }
  }
  if (keep && keep.changes.length > 0) {
    const updated = await steps.update(keep.policy, { ...desired.body, name: keep.policy.name });
    if (updated.failed) return updated.failed;
  }
  for (const policy of remove) {
    const removed = await steps.remove(policy);
    if (removed.failed) {
      const made = create !== undefined ? `created ${steps.createdName}; ` : "";
      return [
        removed.failed[0],
        `${made}deleting policy ${policy.id} (to ${shownAddress(policy.targets[0]?.address)}) ${removed.failed[0] === "postponed" ? "postponed" : "failed"}: ${removed.failed[1]}; it still sends until the next run`,
      ];
    }
  }
  if (create !== undefined && remove.length > 0) {
    return [
      "replaced",
      `${desired.sends}: created before deleting ${gone.join(", ")} (SWR cannot change an address): ${decision.changes.join(", ")}`,
    ];
  }
  if (create !== undefined) return ["created", desired.sends];
  const changes = [
    ...(keep?.changes ?? []),
    ...(remove.length > 0 ? [`deleted ${gone.join(", ")}`] : []),
  ];
  return changes.length > 0 ? ["updated", changes.join(", ")] : ["unchanged", "as it should be"];
}

/** The SWR calls of one namespace, each after a slot of the budget; a dry run calls nothing. */
class Steps {
  createdName = "";
  constructor(
    private readonly run: WireRun,
    private readonly namespace: string,
  ) {}

  create(body: WebhookPolicyBody) {
    return this.step(async () => {
      const { id } = await this.run.swr.create(this.run.instanceId, this.namespace, body);
      this.createdName = `policy ${id ?? "(no id given)"} (${body.name})`;
    }, "could not create the new policy");
  }

  update(policy: WebhookPolicy, body: WebhookPolicyBody) {
    return this.step(
      () => this.run.swr.update(this.run.instanceId, this.namespace, policy.id, body),
      `could not update policy ${policy.id}`,
    );
  }

  remove(policy: WebhookPolicy) {
    return this.step(() => this.run.swr.remove(this.run.instanceId, this.namespace, policy.id), "");
  }

  private async step(
    call: () => Promise<void>,
    what: string,
  ): Promise<{ failed?: [WireAction, string] }> {
    if (this.run.dryRun) return {};
    if (!(await this.run.slot())) return { failed: ["postponed", BUDGET_SPENT] };
    try {
      await call();
      return {};
    } catch (error) {
      const said = failureOf(error);
      const prefix = what ? `${what}: ` : "";
      return {
        failed: throttled(error)
          ? ["postponed", `${prefix}SWR throttled the call (${said}): the next run sees to it`]
          : ["failed", `${prefix}${said}`],
      };
    }
  }
}

async function unwireNamespace(
  run: WireRun,
  namespace: string,
  held: WebhookPolicy[],
): Promise<Outcome> {
  const ours = held.filter(isManaged);
  const foreign = held.filter((p) => POLICY_NAMES.includes(p.name) && !isManaged(p));
  if (ours.length === 0) {
    return foreign.length > 0
      ? [
          "skipped",
          `the policy named ${foreign[0]?.name} there was not created by this product: left alone`,
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

const BUDGET_SPENT = "SWR's call budget is spent for now: the next run sees to it";
const budgetSpent = (): Outcome => ["postponed", BUDGET_SPENT];

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
    throw new WireError(`instance ${run.instanceId}: ${api} failed: ${failureOf(error)}`, {
      cause: error,
    });
  }
}

/** The API gateway's rate limit (429, APIGW.0308): the call may go through a window later. */
const throttled = (error: unknown) =>
  error instanceof SignedCallError &&
  (error.httpStatus === 429 || error.errorCode === "APIGW.0308");

/** SWR's answer in a line: status, code, message, request id. */
export function failureOf(error: unknown): string {
  if (error instanceof SignedCallError) {
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
