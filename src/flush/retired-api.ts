import type { SignedCallError } from "../cloud/signed-client";
import type { Logger } from "../log";
import type { ScanQueue } from "../queue/scan-queue";
import { SCAN_APIS, type ScanApi } from "../scan-apis";
import { announceRetired } from "../send-scan";
import type { SendingScanSender } from "./claims";

/**
 * When HSS stops serving the configured scan API (batch-scan, deprecated by HSS): the flusher
 * sends that batch and every later one through its successor (scan-task, with a lookup first),
 * and says so once per function instance (`scan_api_retired`, error level: HSS_SCAN_API should be
 * changed). The switch is marked in the queue's store, so that every instance sending from the
 * queue switches without trying the retired API first; the mark lasts RETIRED_API_MARK_MS, after
 * which one call tries the configured API again (a gateway that lost the route for a while).
 */

/** How long a retired API is left alone before one call tries it again. */
export const RETIRED_API_MARK_MS = 24 * 3_600_000;

const markOf = (api: ScanApi) => `retired-api:${api.name}`;

/** The sender to flush with: the configured API, or its successor while the API is retired. */
export async function senderInUse(
  sender: SendingScanSender,
  queue: Pick<ScanQueue, "watches">,
  log: Logger,
): Promise<SendingScanSender> {
  const { successor } = sender.api;
  if (!successor) return sender;
  const retiredAt = await queue.watches.kept(markOf(sender.api));
  if (!retiredAt) return sender;
  const next = switched(sender);
  announceRetired(sender, log, undefined, next.api.name);
  return next;
}

/** HSS answered the API as retired: marked for everyone, said once, and the successor's sender. */
export async function switchFromRetired(
  sender: SendingScanSender,
  error: SignedCallError,
  queue: Pick<ScanQueue, "watches">,
  log: Logger,
): Promise<SendingScanSender> {
  await queue.watches.keep(markOf(sender.api), String(Date.now()), RETIRED_API_MARK_MS);
  const next = switched(sender);
  announceRetired(sender, log, error, next.api.name);
  return next;
}

function switched(sender: SendingScanSender): SendingScanSender {
  const successor = SCAN_APIS[sender.api.successor as keyof typeof SCAN_APIS];
  return successor ? { ...sender, api: successor } : sender;
}

/** Since when the API is marked retired in the queue's store, if it is. */
export async function retiredSince(
  api: ScanApi,
  store: Pick<ScanQueue["watches"], "kept">,
): Promise<Date | undefined> {
  if (!api.successor) return undefined;
  const at = Number(await store.kept(markOf(api)));
  return Number.isFinite(at) && at > 0 ? new Date(at) : undefined;
}
