import type { SignedRequest } from "../cloud/request";
import type { ScanBatch } from "../hss/batch-scan-request";
import type { ScanTarget } from "../images/scan-target";

/**
 * A scan API of HSS: what the rest of the product asks of it, so that no other module needs to
 * know which one is configured (HSS_SCAN_API). Each API is one module beside this one, registered
 * in index.ts. An API describes its requests; sending them, the call budget (one per API, named
 * after it) and what a failure means are the same for all (src/send-scan.ts).
 */
export interface ScanApi {
  /** Its name in HSS_SCAN_API, and the name of its call budget. */
  readonly name: string;
  /**
   * HSS names the images of a request by its own records: each image is looked up in HSS's image
   * list first (ListRegistryImages), and one HSS does not list yet waits for a sync, which only
   * the scan queue can wait for. An API that needs this cannot be used without a queue.
   */
  readonly needsLookup: boolean;
  /** The request of one call: a batch of one image type, or everything matching its filters. */
  request(batch: ScanBatch, settings: ScanSettings, listed?: ListedImageOf): SignedRequest;
  /**
   * The API that takes over when HSS stops serving this one (answers its path 404 APIGW.0101):
   * the flusher switches to it by itself (flush/retired-api.ts).
   */
  readonly successor?: string;
  /** What a dry run says it cannot show of the request (what only the lookup fills in). */
  readonly previewNote?: string;
  /**
   * For an API that looks images up: the fields it needs from HSS's record that this record
   * lacks (every field of HSS's answers is optional). An image whose record lacks one cannot be
   * named in a request.
   */
  recordLacks?(item: ListedImageIds): string[];
}

/** HSS_SCAN_SCOPE and HSS_SCAN_RATE_LIMIT, for the APIs that take them. */
export interface ScanSettings {
  scope: number;
  rateLimit: number;
}

/** HSS's own record of an image (ListRegistryImages), where it was looked up. */
export type ListedImageOf = (target: ScanTarget) => ListedImageIds | undefined;

/** The fields of a ListRegistryImages record a scan request may name an image by. */
export interface ListedImageIds {
  id?: number | null;
  image_id?: string | null;
  image_digest?: string | null;
  registry_id?: string | null;
  registry_name?: string | null;
  registry_type?: string | null;
  instance_id?: string | null;
  instance_url?: string | null;
}

/**
 * When the follow-up first looks at an image this API accepted: at once for an API that does not
 * look images up (HSS answers such a request for an image it does not know just the same, and only
 * its list tells), at the next regular check (`nextCheckMs`) for one that does (HSS listed the
 * image a moment ago).
 */
export function firstCheckInMs(api: ScanApi, nextCheckMs: number): number {
  return api.needsLookup ? nextCheckMs : 0;
}
