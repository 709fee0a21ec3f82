import { batchScan } from "./batch-scan";
import type { ScanApi } from "./scan-api";
import { scanTask } from "./scan-task";

/**
 * The scan APIs this product can use, by their name in HSS_SCAN_API. Adding one is a module
 * beside these and a line here; nothing else names an API.
 */
export const SCAN_APIS = {
  "batch-scan": batchScan,
  "scan-task": scanTask,
} as const satisfies Record<string, ScanApi>;

export type ScanApiName = keyof typeof SCAN_APIS;
export const SCAN_API_NAMES = Object.keys(SCAN_APIS) as [ScanApiName, ...ScanApiName[]];

/**
 * The API a send within one invocation uses (direct mode, manual requests): the configured one,
 * unless it looks images up first, which only the queue can wait for; then the API that needs no
 * lookup.
 */
export function directApiOf(api: ScanApi): ScanApi {
  return api.needsLookup ? batchScan : api;
}

export type { ListedImageIds, ListedImageOf, ScanApi, ScanSettings } from "./scan-api";
export { firstCheckInMs } from "./scan-api";
