import type { ScanBatch } from "./hss/batch-scan-request";
import type { CallBudget } from "./hss/call-budget";
import {
  classifyFailure,
  type FailureKind,
  type HssCallError,
  previewOf,
  toHssCallError,
} from "./hss/client";
import type { HssCaller, HssRequestPreview, HssTarget } from "./hss/request";
import type { ListedImageOf, ScanApi, ScanSettings } from "./scan-apis";

/**
 * The one way a scan request is sent, and what its failure means, for every sender: direct sends
 * (submit.ts), the flusher (flush/flusher.ts) and the `scan` command. A call first takes a slot of its
 * API's budget; a 429 spends the window (nothing more goes to that API until it has passed, so a
 * throttled caller does not keep the window full itself); any other failure is classified
 * (hss/client.ts, classifyFailure) and left to the sender to settle: retry later, dead-letter or
 * stop, as its own situation requires.
 */

/** How scan requests go out in this invocation: sent, or shown (a dry run sends nothing). */
export type ScanSender =
  | {
      mode: "send";
      api: ScanApi;
      settings: ScanSettings;
      caller: HssCaller;
      budget: CallBudget;
    }
  | { mode: "preview"; api: ScanApi; settings: ScanSettings; target: HssTarget };

export type SendOutcome =
  | { kind: "sent"; requestId?: string }
  | { kind: "previewed"; preview: HssRequestPreview }
  /** The budget had no slot: nothing was sent. */
  | { kind: "no_slot"; retryAfterMs: number }
  | {
      kind: "failed";
      error: HssCallError;
      failure: FailureKind;
      /** Throttled: the window was spent; this long until the API may be called again. */
      retryAfterMs?: number;
    };

export async function sendScan(
  sender: ScanSender,
  batch: ScanBatch,
  options: { timeoutMs: number; listed?: ListedImageOf },
): Promise<SendOutcome> {
  const { api } = sender;
  const request = api.request(batch, sender.settings, options.listed);
  if (sender.mode === "preview") {
    return { kind: "previewed", preview: previewOf(request, sender.target, api.previewNote) };
  }
  const budgetName = api.name as Parameters<CallBudget["take"]>[0];
  const slot = await sender.budget.take(budgetName);
  if (!slot.granted) return { kind: "no_slot", retryAfterMs: slot.retryAfterMs };
  try {
    const answer = await sender.caller.call(request, { timeoutMs: options.timeoutMs });
    return { kind: "sent", requestId: answer.requestId };
  } catch (thrown) {
    const error = toHssCallError(thrown);
    const failure = classifyFailure(error);
    if (failure !== "throttled") return { kind: "failed", error, failure };
    await sender.budget.spendWindow(budgetName);
    return { kind: "failed", error, failure, retryAfterMs: sender.budget.windowMs };
  }
}

/**
 * The one retry policy: exponential from `firstMs`, at most `maxMs`, with jitter in its upper
 * half (never sooner than half the step, so that retries of many callers spread out without
 * crowding at zero).
 */
export function retryDelayMs(
  attempt: number,
  policy: { firstMs: number; maxMs: number },
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxMs, policy.firstMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
