import picomatch from "picomatch";
import type { Config } from "../config";
import { MemoryCallBudget } from "../hss/call-budget";
import type { Logger } from "../log";
import type { SwrWebhooks } from "../swr/webhooks";
import { failureOf, type WireAction, type WireRow, wireInstances } from "./reconcile";

/**
 * Keeps SWR Enterprise wired from the scheduled flush (SWR_WIRE_INSTANCES): at most every
 * SWR_WIRE_INTERVAL_MINUTES, across every instance sharing the queue (a mark in it: one run per
 * interval), each listed instance is reconciled as `npm run wire` does, so that a namespace
 * created since is covered and a rotated secret (WEBHOOK_SECRET with the new value first) reaches
 * every policy. Its SWR calls take slots of a budget of their own (SWR_CALLS_PER_MINUTE, per warm
 * instance) and stop before the invocation's deadline; a run cut short is taken up again at the
 * next flush of the same instance.
 *
 * It runs only with SWR_WIRE_URL (the deploy that wires writes it): the address the policies send
 * the webhook secret to is never read from a policy, which anyone allowed to manage one
 * namespace's triggers can write. A policy that claims to be this product's and sends elsewhere
 * is logged (`swr_policy_elsewhere`: namespace and policy id, the address without its query)
 * and corrected.
 */

export interface WiringSummary {
  counts: Partial<Record<WireAction, number>>;
  /** What changed or failed (at most 20 rows; unchanged namespaces are only counted). */
  changes: WireRow[];
  errors: string[];
  complete: boolean;
}

export interface KeepWiredOptions {
  settings: Config["wiring"];
  webhook: Config["webhook"];
  swr: () => SwrWebhooks;
  marks: { once(key: string, ttlMs: number): Promise<boolean> };
  /** Kept by the warm instance between runs (the composition root's). */
  state: WiringState;
  deadline: number;
  log: Logger;
}

const CHANGES_SHOWN = 20;
/** Per warm instance: the budget of SWR calls, and whether the last run was cut short. */
export interface WiringState {
  budget?: MemoryCallBudget;
  unfinished?: boolean;
}

export async function keepWired(options: KeepWiredOptions): Promise<WiringSummary | undefined> {
  const { settings, log } = options;
  const { state } = options;
  state.budget ??= new MemoryCallBudget(settings.callsPerMinute, settings.windowMs);
  if (!(await due(options, state.unfinished ?? false))) return undefined;
  if (!settings.url) {
    const summary = {
      counts: {},
      changes: [],
      errors: [
        "SWR_WIRE_URL is not set: the scheduled wiring needs the function's own trigger URL (a deploy with wireInstances sets it; npm run sls -- info prints it), and never takes one from a policy",
      ],
      complete: false,
    };
    log.warn("swr_wired", { ...summary });
    return summary;
  }
  const budget = state.budget;
  const slot = async () =>
    Date.now() < options.deadline - 3000 && (await budget.take("swr-webhooks")).granted;
  const matches = picomatch(settings.namespaces);
  const summary: WiringSummary = { counts: {}, changes: [], errors: [], complete: true };
  try {
    const result = await wireInstances(settings.instances, {
      swr: options.swr(),
      matches: (namespace) => matches(namespace),
      url: settings.url,
      header: options.webhook.header,
      secret: options.webhook.secrets[0],
      dryRun: false,
      unwire: false,
      slot,
    });
    summary.complete = result.complete;
    summary.errors.push(...result.errors);
    for (const row of result.rows) {
      summary.counts[row.action] = (summary.counts[row.action] ?? 0) + 1;
      for (const policy of row.elsewhere ?? []) {
        log.warn("swr_policy_elsewhere", {
          instance_id: row.instance_id,
          namespace: row.namespace,
          policy_id: policy.policy_id,
          address: policy.address,
          action: row.action,
          message:
            "a policy with this product's name and mark sends this namespace's pushes elsewhere",
        });
      }
      if (row.action !== "unchanged" && summary.changes.length < CHANGES_SHOWN) {
        summary.changes.push(row);
      }
    }
  } catch (error) {
    summary.errors.push(failureOf(error));
  }
  state.unfinished = !summary.complete;
  const failed = summary.errors.length > 0 || (summary.counts.failed ?? 0) > 0;
  log[failed ? "warn" : "info"]("swr_wired", { ...summary });
  return summary;
}

/** Due once per interval (0: at every flush), and at the next flush after a run cut short. */
async function due(options: KeepWiredOptions, unfinished: boolean): Promise<boolean> {
  const interval = options.settings.intervalMs;
  if (interval === 0 || unfinished) return true;
  return options.marks.once(`swr-wire:${Math.floor(Date.now() / interval)}`, interval);
}
