import type { CloudTarget, HssRequestPreview, SignedCaller } from "./cloud/request";
import {
  classifyFailure,
  type FailureKind,
  failureFieldsOf,
  previewOf,
  SignedCallError,
  toSignedCallError,
} from "./cloud/signed-client";
import type { ScanBatch } from "./hss/batch-scan-request";
import type { CallBudget } from "./hss/call-budget";
import type { ScanTarget } from "./images/scan-target";
import type { InstanceUrls } from "./instance-urls";
import { firstInProcess, type Logger } from "./log";
import type { ListedImageOf, ScanApi, ScanSettings } from "./scan-apis";

/**
 * The one way a scan request is sent, and what its failure means, for every sender: direct sends
 * (submit.ts), the flusher (flush/flusher.ts) and the `scan` command. A call first takes a slot of its
 * API's budget; a 429 spends the window (nothing more goes to that API until it has passed, so a
 * throttled caller does not keep the window full itself); any other failure is classified
 * (cloud/signed-client.ts, classifyFailure) and left to the sender to settle: retry later, dead-letter or
 * stop, as its own situation requires.
 */

/** How scan requests go out in this invocation: sent, or shown (a dry run sends nothing). */
export type ScanSender =
  | {
      mode: "send";
      api: ScanApi;
      settings: ScanSettings;
      caller: SignedCaller;
      budget: CallBudget;
      /**
       * True the first time a key is asked about in this function instance: what is said once
       * per instance (`scan_api_retired`). Without it, once per process.
       */
      firstTime?: (key: string) => boolean;
    }
  | { mode: "preview"; api: ScanApi; settings: ScanSettings; target: CloudTarget };

export type SendOutcome =
  /** `sent`: the batch as it went, each enterprise image with the instance_url it was sent with. */
  | { kind: "sent"; requestId?: string; sent: ScanBatch }
  | { kind: "previewed"; preview: HssRequestPreview; sent: ScanBatch }
  /** The budget had no slot: nothing was sent. */
  | { kind: "no_slot"; retryAfterMs: number }
  | {
      kind: "failed";
      error: SignedCallError;
      /** `retired`: HSS no longer serves this API (it has a successor to switch to). */
      failure: FailureKind | "retired";
      /** Throttled: the window was spent; this long until the API may be called again. */
      retryAfterMs?: number;
    };

export async function sendScan(
  sender: ScanSender,
  batch: ScanBatch,
  options: {
    timeoutMs: number;
    listed?: ListedImageOf;
    /** Names enterprise images as HSS records them (src/instance-urls.ts). */
    urls?: InstanceUrls;
    /** HSS's own instance_url of an image known apart from a lookup (a re-send). */
    hssValues?: (target: ScanTarget) => string | undefined;
  },
): Promise<SendOutcome> {
  const { api } = sender;
  // Each enterprise image named as HSS records it: its own listed value, or the instance's form.
  const named = options.urls
    ? await options.urls.name(
        batch,
        (target) =>
          options.listed?.(target)?.instance_url ?? options.hssValues?.(target) ?? undefined,
      )
    : batch;
  const request = api.request(named, sender.settings, options.listed);
  if (sender.mode === "preview") {
    return {
      kind: "previewed",
      preview: previewOf(request, sender.target, api.previewNote),
      sent: named,
    };
  }
  const budgetName = api.name as Parameters<CallBudget["take"]>[0];
  const slot = await sender.budget.take(budgetName);
  if (!slot.granted) return { kind: "no_slot", retryAfterMs: slot.retryAfterMs };
  try {
    const answer = await sender.caller.call(request, { timeoutMs: options.timeoutMs });
    return { kind: "sent", requestId: answer.requestId, sent: named };
  } catch (thrown) {
    const error = toSignedCallError(thrown);
    if (api.successor && isRetiredAnswer(error)) {
      return { kind: "failed", error: retiredError(api, error), failure: "retired" };
    }
    const failure = classifyFailure(error);
    if (failure !== "throttled") return { kind: "failed", error, failure };
    await sender.budget.spendWindow(budgetName);
    return { kind: "failed", error, failure, retryAfterMs: sender.budget.windowMs };
  }
}

/**
 * HSS no longer serves the API: the gateway answers its path as it answers any unknown one,
 * 404 APIGW.0101 ("The API does not exist or has not been published"), or 410 Gone.
 */
export function isRetiredAnswer(error: SignedCallError): boolean {
  return (error.httpStatus === 404 && error.errorCode === "APIGW.0101") || error.httpStatus === 410;
}

/**
 * `scan_api_retired`, once per function instance and API: error level, since HSS_SCAN_API should
 * be changed; `nowUsing` when a queue switched to the successor by itself.
 */
export function announceRetired(
  sender: Extract<ScanSender, { mode: "send" }>,
  log: Logger,
  error: SignedCallError | undefined,
  nowUsing?: string,
): void {
  const { api } = sender;
  if (!(sender.firstTime ?? firstInProcess)(`scan_api_retired:${api.name}`)) return;
  log.error("scan_api_retired", {
    api: api.name,
    ...(nowUsing ? { now_using: nowUsing } : {}),
    ...(error
      ? failureFieldsOf(error)
      : { seen_by: "another function instance (marked in the queue)" }),
    message: nowUsing
      ? `HSS answers ${api.name} as an API that does not exist: this batch and every later one go through ${nowUsing} (each image looked up in HSS first); set HSS_SCAN_API=${nowUsing} to make it the configured API`
      : `HSS answers ${api.name} as an API that does not exist: pushes are answered as failed (the registry retries them) until HSS_SCAN_API=${api.successor} and SCAN_QUEUE are set`,
  });
}

/** The failure of a retired API, with what to change said in it. */
function retiredError(api: ScanApi, error: SignedCallError): SignedCallError {
  return new SignedCallError(
    `HSS no longer serves ${api.name} (${error.message}): set HSS_SCAN_API=${api.successor}, which needs a scan queue (SCAN_QUEUE, a Redis URL); with a queue the function switches by itself`,
    error.httpStatus,
    error.errorCode,
    error.requestId,
  );
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
