import type { HssApiClient, RegistryImage } from "../hss/apis";
import type { CallBudget } from "../hss/call-budget";
import type { QueuedScan } from "../queue/scan-queue";
import { type LookupResult, lookUp, refKey } from "./lookup";

/**
 * The lookup before a scan task (`HSS_SCAN_API=scan-task`): HSS identifies the images of a task by
 * its own records, so the flusher first looks each claimed image up in ListRegistryImages and
 * sends one task for every image HSS lists (src/hss/scan-task-request.ts). Images HSS does not
 * list yet go to the follow-up, which syncs their registry and queues them again once listed.
 */

export interface ClaimLookup {
  found: Array<{ scan: QueuedScan; item: RegistryImage }>;
  unlisted: QueuedScan[];
  unchecked: QueuedScan[];
  lookup: LookupResult;
}

export async function lookUpClaim(
  scans: QueuedScan[],
  options: { hss: HssApiClient; budget: CallBudget; deadline: number },
): Promise<ClaimLookup> {
  const lookup = await lookUp(scans, options);
  const result: ClaimLookup = { found: [], unlisted: [], unchecked: [], lookup };
  for (const scan of scans) {
    const key = refKey(scan);
    if (!lookup.found.has(key)) result.unchecked.push(scan);
    else {
      const item = lookup.found.get(key);
      if (item) result.found.push({ scan, item });
      else result.unlisted.push(scan);
    }
  }
  return result;
}
